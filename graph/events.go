package graph

import (
	"context"
	"fmt"

	"golang.org/x/sync/singleflight"

	"itemsrv/graph/model"
	"itemsrv/items"
	"itemsrv/requestid"
)

var eventTypes = map[items.EventType]model.ItemEventType{
	items.EventCreated:  model.ItemEventTypeCreated,
	items.EventUpdated:  model.ItemEventTypeUpdated,
	items.EventDeleted:  model.ItemEventTypeDeleted,
	items.EventEnriched: model.ItemEventTypeEnriched,
}

// subscribe starts an itemEvents subscription of the caller: the broker
// delivers the caller's committed events in commit order, and the
// subscription ends when the client goes away, the server shuts down, or the
// subscriber falls behind (its reason is logged).
func (r *Resolver) subscribe(ctx context.Context) (<-chan *model.ItemEvent, error) {
	if r.Broker == nil {
		return nil, &items.Error{Code: items.CodeServiceUnavailable, Message: "subscriptions are not available"}
	}
	sub, err := r.Broker.Subscribe(ctx, owner(ctx))
	if err != nil {
		return nil, err
	}
	out := make(chan *model.ItemEvent)
	go func() {
		defer close(out)
		for e := range sub.C {
			ev := &model.ItemEvent{Type: eventTypes[e.Type], ID: items.FormatID(e.ID), Event: e}
			select {
			case out <- ev:
			case <-ctx.Done():
				sub.Close()
				return
			}
		}
		if err := sub.Err(); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.InfoContext(ctx, "subscription ended by the server", "reason", err.Error(), "requestId", requestid.From(ctx))
		}
	}()
	return out, nil
}

// eventItems loads the item of an event once for all the subscribers that
// ask for it at the same time.
var eventItems singleflight.Group

// eventItem returns the item of an event as it is now, or nil when it is gone.
func (r *Resolver) eventItem(ctx context.Context, e items.Event) (*items.Item, error) {
	if e.Type == items.EventDeleted {
		return nil, nil
	}
	if e.Item != nil {
		// The item as this change committed it.
		it := *e.Item
		return &it, nil
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", e.Owner, e.ID, e.Version)
	v, err, _ := eventItems.Do(key, func() (any, error) {
		return r.Store.GetItem(context.WithoutCancel(ctx), e.Owner, e.ID)
	})
	if items.ErrorCode(err) == items.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it := *v.(*items.Item)
	return &it, nil
}

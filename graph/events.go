package graph

import (
	"context"

	"itemsrv/graph/model"
	"itemsrv/items"
)

// subscribe starts an itemEvents subscription of the caller.
func (r *Resolver) subscribe(ctx context.Context) (<-chan *model.ItemEvent, error) {
	return nil, &items.Error{Code: items.CodeServiceUnavailable, Message: "subscriptions are not available yet"}
}

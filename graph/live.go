package graph

import (
	"context"
	"sync/atomic"
	"time"
)

// Live counts the subscriptions being served over WebSocket and SSE, from
// their start until their last message (complete or error) has been
// written, or their socket is gone. At shutdown the server ends every
// subscription, then waits for the count to reach zero before it closes the
// sockets: closing them first would cancel gqlgen's subscriptions before
// they send their complete.
type Live struct{ n atomic.Int64 }

func (l *Live) add(d int) {
	if l != nil && d != 0 {
		l.n.Add(int64(d))
	}
}

// Count is the number of subscriptions being served.
func (l *Live) Count() int { return int(l.n.Load()) }

// Wait returns when no subscription is being served, or with ctx's error.
func (l *Live) Wait(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for l.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

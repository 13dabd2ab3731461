// Package events fans committed item events out to the subscriptions of
// this process. Events reach the Broker from one source in commit order (the
// PostgreSQL listener, or the SQLite store's commit hook); the Broker hands
// each to every subscription of the event's owner without ever blocking the
// source. It imports only the standard library and items.
package events

import (
	"context"
	"log/slog"
	"sync"

	"itemsrv/items"
)

// DefaultBufferSize is how many events a subscription may hold unread before
// it is dropped, when Options.BufferSize is not set.
const DefaultBufferSize = 64

// Why a subscription ended, as Subscription.Err reports it. They are public
// errors (SERVICE_UNAVAILABLE): a client may be told and resubscribe. A
// subscription ended by its context reports the context's cause instead.
var (
	// ErrFellBehind ends a subscription whose reader did not keep up: its
	// buffer was full when an event arrived, so it would have missed one.
	ErrFellBehind = &items.Error{Code: items.CodeServiceUnavailable,
		Message: "subscriber fell behind: events arrived faster than they were read; subscribe again"}
	// ErrClosed ends every subscription when the Broker closes (the server
	// is shutting down), and is returned by Subscribe afterwards.
	ErrClosed = &items.Error{Code: items.CodeServiceUnavailable,
		Message: "the server is shutting down; subscribe again later"}
	// ErrEventsLost is meant for EndAll when the event source lost events,
	// such as when the listener's connection to the database dropped.
	ErrEventsLost = &items.Error{Code: items.CodeServiceUnavailable,
		Message: "events may have been missed while the server reconnected to the database; subscribe again"}
	// ErrUnsubscribed is the Err of a subscription ended by its Close.
	ErrUnsubscribed = &items.Error{Code: items.CodeServiceUnavailable,
		Message: "unsubscribed"}
)

// Options tune a Broker. Zero values take the defaults.
//
// The hooks are for metrics. They are called while the Broker holds its
// lock, so that a gauge never goes back to a stale value: they must be quick
// and must not call the Broker.
type Options struct {
	// BufferSize is how many unread events a subscription may hold
	// (default DefaultBufferSize). One more and it is dropped.
	BufferSize int
	// Logger receives a warning for each dropped subscription
	// (default slog.Default()).
	Logger *slog.Logger
	// OnPublish is called once for every published event.
	OnPublish func()
	// OnDrop is called once for every subscription dropped for falling
	// behind.
	OnDrop func()
	// OnSubscribersChange is called with the number of open subscriptions
	// whenever it changes.
	OnSubscribersChange func(n int)
}

// Broker fans events out to subscriptions, filtered by owner. Publish never
// blocks: each subscription has a bounded buffer and is dropped when it is
// full. There is no goroutine per subscription; a subscription's context is
// watched with context.AfterFunc. The zero Broker is not usable; use
// NewBroker.
type Broker struct {
	opts Options
	log  *slog.Logger

	// mu guards everything below and the bookkeeping fields of every
	// Subscription. Publish holds it while it sends, which keeps events in
	// publish order for every subscription and lets ending a subscription
	// close its channel without racing a send.
	mu     sync.Mutex
	owners map[string]*ownerSubs
	n      int
	closed bool
}

// ownerSubs are the open subscriptions of one owner. A slice rather than a
// map: Publish walks it on every event, and removal is O(1) by swapping with
// the last element.
type ownerSubs struct {
	list []*Subscription
}

// NewBroker returns a Broker with opts.
func NewBroker(opts Options) *Broker {
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Broker{opts: opts, log: log, owners: make(map[string]*ownerSubs)}
}

// Subscription receives the events of one owner on C, in publish order, until
// it ends: then C is closed and Err says why.
type Subscription struct {
	// C delivers the events. It is closed when the subscription ends.
	C <-chan items.Event

	ch    chan items.Event
	b     *Broker
	owner string

	// Guarded by b.mu.
	idx   int         // position in b.owners[owner].list while open
	ended bool        // C has been closed
	err   error       // why it ended
	stop  func() bool // releases the context.AfterFunc registration
}

// Subscribe opens a subscription to the events whose Owner is owner. It ends
// when ctx is done (Err then reports context.Cause(ctx)), when Close is
// called, when the reader falls behind (ErrFellBehind), or when the Broker
// closes or EndAll is called. Subscribe fails with ctx's cause if ctx is
// already done and with ErrClosed if the Broker is closed.
func (b *Broker) Subscribe(ctx context.Context, owner string) (*Subscription, error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	ch := make(chan items.Event, b.opts.BufferSize)
	s := &Subscription{C: ch, ch: ch, b: b, owner: owner}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	subs := b.owners[owner]
	if subs == nil {
		subs = &ownerSubs{}
		b.owners[owner] = subs
	}
	s.idx = len(subs.list)
	subs.list = append(subs.list, s)
	b.n++
	// Registered under the lock, so s.stop is set before anything else can
	// end s. If ctx is already done, the function runs in its own goroutine
	// and waits for the lock.
	s.stop = context.AfterFunc(ctx, func() { b.end(s, context.Cause(ctx)) })
	b.subscribersChanged()
	return s, nil
}

// Publish hands e to every open subscription of e.Owner. It never blocks: a
// subscription whose buffer is full is ended with ErrFellBehind. Events
// published one after another reach every subscription in that order.
// After Close, Publish does nothing.
func (b *Broker) Publish(e items.Event) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if b.opts.OnPublish != nil {
		b.opts.OnPublish()
	}
	dropped := 0
	if subs := b.owners[e.Owner]; subs != nil {
		// Backwards, so that removing the current element, which swaps the
		// last one into its place, only moves one already visited.
		for i := len(subs.list) - 1; i >= 0; i-- {
			s := subs.list[i]
			select {
			case s.ch <- e:
			default:
				b.endLocked(s, ErrFellBehind)
				dropped++
				if b.opts.OnDrop != nil {
					b.opts.OnDrop()
				}
			}
		}
		if dropped > 0 {
			b.subscribersChanged()
		}
	}
	b.mu.Unlock()
	if dropped > 0 {
		b.log.Warn("dropped event subscribers that fell behind",
			"dropped", dropped, "buffer", b.opts.BufferSize, "event", string(e.Type), "item", e.ID)
	}
}

// EndAll ends every open subscription with reason; the Broker stays open for
// new ones. Use it when the source may have lost events (ErrEventsLost), so
// that clients resubscribe and refetch instead of silently missing changes.
func (b *Broker) EndAll(reason error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endAllLocked(reason)
}

// Close ends every subscription with ErrClosed and refuses new ones, for a
// graceful shutdown. It is safe to call more than once.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.endAllLocked(ErrClosed)
}

// Subscribers returns the number of open subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func (b *Broker) endAllLocked(reason error) {
	if b.n == 0 {
		return
	}
	for _, subs := range b.owners {
		for i := len(subs.list) - 1; i >= 0; i-- {
			b.endLocked(subs.list[i], reason)
		}
	}
	b.subscribersChanged()
}

// end ends s with reason unless it has ended already.
func (b *Broker) end(s *Subscription, reason error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.ended {
		return
	}
	b.endLocked(s, reason)
	b.subscribersChanged()
}

// endLocked removes s, records reason and closes its channel. The caller
// holds b.mu, knows s is open, and reports the new count.
func (b *Broker) endLocked(s *Subscription, reason error) {
	subs := b.owners[s.owner]
	last := len(subs.list) - 1
	moved := subs.list[last]
	subs.list[s.idx] = moved
	moved.idx = s.idx
	subs.list[last] = nil
	subs.list = subs.list[:last]
	if last == 0 {
		delete(b.owners, s.owner)
	}
	b.n--
	s.ended = true
	s.err = reason
	close(s.ch)
	// Frees the registration in ctx now rather than when ctx ends. Called
	// from the AfterFunc itself it is a no-op.
	s.stop()
}

func (b *Broker) subscribersChanged() {
	if b.opts.OnSubscribersChange != nil {
		b.opts.OnSubscribersChange(b.n)
	}
}

// Err returns why the subscription ended, or nil while it is open. Once C is
// closed, Err is not nil.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription (Err: ErrUnsubscribed) unless it has ended
// already. Cancelling its context does the same; Close is for callers that
// stop reading before their context ends.
func (s *Subscription) Close() {
	s.b.end(s, ErrUnsubscribed)
}

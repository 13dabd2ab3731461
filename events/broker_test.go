package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"itemsrv/events"
	"itemsrv/items"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func event(t items.EventType, id int64, owner string, version int) items.Event {
	return items.Event{Type: t, ID: id, Owner: owner, Version: version}
}

// receive returns the next event of s, failing t if none comes within a
// second or C is closed.
func receive(t *testing.T, s *events.Subscription) items.Event {
	t.Helper()
	select {
	case e, ok := <-s.C:
		if !ok {
			t.Fatalf("subscription ended (%v), want an event", s.Err())
		}
		return e
	case <-time.After(time.Second):
		t.Fatal("no event within 1s")
	}
	panic("unreachable")
}

// ended waits for C to be closed, draining it, and returns Err.
func ended(t *testing.T, s *events.Subscription) error {
	t.Helper()
	timeout := time.After(time.Second)
	for {
		select {
		case _, ok := <-s.C:
			if !ok {
				err := s.Err()
				if err == nil {
					t.Fatal("C closed but Err is nil")
				}
				return err
			}
		case <-timeout:
			t.Fatal("subscription did not end within 1s")
		}
	}
}

// empty fails t if s holds an event.
func empty(t *testing.T, s *events.Subscription) {
	t.Helper()
	select {
	case e, ok := <-s.C:
		t.Fatalf("got %+v (open %v), want nothing", e, ok)
	default:
	}
}

func TestFanoutTo1000Subscribers(t *testing.T) {
	defer goleak.VerifyNone(t)
	var gauge atomic.Int64
	b := events.NewBroker(events.Options{Logger: quiet, OnSubscribersChange: func(n int) { gauge.Store(int64(n)) }})
	ctx, cancel := context.WithCancel(context.Background())
	subs := make([]*events.Subscription, 1000)
	for i := range subs {
		s, err := b.Subscribe(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = s
	}
	if n := b.Subscribers(); n != 1000 || gauge.Load() != 1000 {
		t.Fatalf("Subscribers() = %d, gauge %d, want 1000", n, gauge.Load())
	}

	want := event(items.EventCreated, 7, "alice", 1)
	b.Publish(want)
	for i, s := range subs {
		if got := receive(t, s); got != want {
			t.Fatalf("subscriber %d got %+v, want %+v", i, got, want)
		}
	}

	cancel()
	for i, s := range subs {
		if err := ended(t, s); !errors.Is(err, context.Canceled) {
			t.Fatalf("subscriber %d: Err() = %v, want context.Canceled", i, err)
		}
	}
	if n := b.Subscribers(); n != 0 || gauge.Load() != 0 {
		t.Fatalf("after cancel Subscribers() = %d, gauge %d, want 0", n, gauge.Load())
	}
	b.Publish(want) // nobody left: must neither panic nor deliver
}

func TestOwnerFiltering(t *testing.T) {
	b := events.NewBroker(events.Options{Logger: quiet})
	ctx := t.Context()
	alice, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := b.Subscribe(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// With authentication off every item has the empty owner.
	anon, err := b.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	ea := event(items.EventCreated, 1, "alice", 1)
	eb := event(items.EventCreated, 2, "bob", 1)
	en := event(items.EventCreated, 3, "", 1)
	b.Publish(ea)
	b.Publish(eb)
	b.Publish(en)
	b.Publish(event(items.EventCreated, 4, "carol", 1))

	tests := []struct {
		name string
		sub  *events.Subscription
		want items.Event
	}{
		{"alice", alice, ea},
		{"bob", bob, eb},
		{"no owner", anon, en},
	}
	for _, tt := range tests {
		if got := receive(t, tt.sub); got != tt.want {
			t.Errorf("%s got %+v, want %+v", tt.name, got, tt.want)
		}
		empty(t, tt.sub)
	}
}

func TestSlowSubscriberIsDroppedOthersKeepReceiving(t *testing.T) {
	const buffer, total = 4, 1000
	var drops, publishes atomic.Int64
	b := events.NewBroker(events.Options{
		BufferSize: buffer,
		Logger:     quiet,
		OnDrop:     func() { drops.Add(1) },
		OnPublish:  func() { publishes.Add(1) },
	})
	ctx := t.Context()
	slow, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	// The fast reader takes every event as it comes; the slow one reads
	// nothing until the end. Publish must return at once all the same.
	got := make(chan []items.Event)
	go func() {
		var seen []items.Event
		for e := range fast.C {
			seen = append(seen, e)
			if len(seen) == total {
				break
			}
		}
		got <- seen
	}()

	types := []items.EventType{items.EventCreated, items.EventUpdated, items.EventEnriched, items.EventDeleted}
	var sent []items.Event
	for i := range total {
		e := event(types[i%len(types)], int64(i/len(types)+1), "alice", i%len(types)+1)
		sent = append(sent, e)
		start := time.Now()
		b.Publish(e)
		// The fast reader may fall behind on a loaded machine: that
		// would be a drop, not a block. Wait for it to catch up so that
		// only the slow one overflows.
		for len(fast.C) >= buffer-1 {
			time.Sleep(10 * time.Microsecond)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("Publish %d took %v: it must not block", i, d)
		}
	}

	var seen []items.Event
	select {
	case seen = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the fast subscriber did not receive every event")
	}
	for i := range sent {
		if seen[i] != sent[i] {
			t.Fatalf("fast subscriber event %d = %+v, want %+v (order kept)", i, seen[i], sent[i])
		}
	}
	if fast.Err() != nil {
		t.Fatalf("fast subscriber ended: %v", fast.Err())
	}

	// The slow one kept the first events it had room for, then was ended.
	for i := range buffer {
		if e := receive(t, slow); e != sent[i] {
			t.Fatalf("slow subscriber event %d = %+v, want %+v", i, e, sent[i])
		}
	}
	if err := ended(t, slow); !errors.Is(err, events.ErrFellBehind) {
		t.Fatalf("slow Err() = %v, want ErrFellBehind", err)
	}
	if items.ErrorCode(slow.Err()) != items.CodeServiceUnavailable {
		t.Fatalf("slow Err() code = %s", items.ErrorCode(slow.Err()))
	}
	if drops.Load() != 1 || publishes.Load() != total {
		t.Fatalf("OnDrop called %d times, OnPublish %d; want 1 and %d", drops.Load(), publishes.Load(), total)
	}
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("Subscribers() = %d, want 1", n)
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	b := events.NewBroker(events.Options{BufferSize: 1, Logger: quiet})
	for range 100 {
		if _, err := b.Subscribe(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10_000 {
			b.Publish(event(items.EventUpdated, 1, "alice", i+1))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on subscribers that never read")
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("Subscribers() = %d, want every non-reader dropped", n)
	}
}

func TestContextEndsSubscription(t *testing.T) {
	b := events.NewBroker(events.Options{Logger: quiet})

	ctx, cancel := context.WithCancelCause(context.Background())
	s, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Subscribe(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("client went away")
	cancel(cause)
	if err := ended(t, s); !errors.Is(err, cause) {
		t.Fatalf("Err() = %v, want the context's cause", err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("Subscribers() = %d, want 1", n)
	}
	e := event(items.EventDeleted, 3, "alice", 0)
	b.Publish(e)
	if got := receive(t, other); got != e {
		t.Fatalf("other got %+v", got)
	}
	s.Close() // already ended: no effect, no panic
	if !errors.Is(s.Err(), cause) {
		t.Fatalf("Err() after Close = %v, want the context's cause", s.Err())
	}
}

func TestSubscribeWithDoneContext(t *testing.T) {
	b := events.NewBroker(events.Options{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := b.Subscribe(ctx, "alice")
	if !errors.Is(err, context.Canceled) || s != nil {
		t.Fatalf("Subscribe = %v, %v; want context.Canceled", s, err)
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("Subscribers() = %d", n)
	}
}

func TestSubscriptionClose(t *testing.T) {
	b := events.NewBroker(events.Options{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := ended(t, s); !errors.Is(err, events.ErrUnsubscribed) {
		t.Fatalf("Err() = %v, want ErrUnsubscribed", err)
	}
	cancel() // must not end it a second time
	b.Publish(event(items.EventCreated, 1, "alice", 1))
	if !errors.Is(s.Err(), events.ErrUnsubscribed) || b.Subscribers() != 0 {
		t.Fatalf("Err() = %v, Subscribers() = %d", s.Err(), b.Subscribers())
	}
}

func TestCloseAndEndAll(t *testing.T) {
	var gauge atomic.Int64
	gauge.Store(-1)
	b := events.NewBroker(events.Options{Logger: quiet, OnSubscribersChange: func(n int) { gauge.Store(int64(n)) }})
	ctx := t.Context()
	var subs []*events.Subscription
	for _, owner := range []string{"alice", "alice", "bob"} {
		s, err := b.Subscribe(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}

	b.EndAll(events.ErrEventsLost)
	for i, s := range subs {
		if err := ended(t, s); !errors.Is(err, events.ErrEventsLost) {
			t.Fatalf("subscription %d: Err() = %v, want ErrEventsLost", i, err)
		}
	}
	if gauge.Load() != 0 {
		t.Fatalf("gauge = %d after EndAll", gauge.Load())
	}

	// The broker stays open after EndAll.
	s, err := b.Subscribe(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e := event(items.EventCreated, 9, "alice", 1)
	b.Publish(e)
	if got := receive(t, s); got != e {
		t.Fatalf("got %+v", got)
	}

	b.Close()
	if err := ended(t, s); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Err() = %v, want ErrClosed", err)
	}
	b.Close()
	b.Publish(e)
	if _, err := b.Subscribe(ctx, "alice"); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if gauge.Load() != 0 || b.Subscribers() != 0 {
		t.Fatalf("gauge = %d, Subscribers() = %d after Close", gauge.Load(), b.Subscribers())
	}
}

// TestConcurrentChurn runs subscribing, cancelling, closing and publishing at
// once, for the race detector, and checks that every subscription that
// stays open sees the events of its owner in order.
func TestConcurrentChurn(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := events.NewBroker(events.Options{BufferSize: 1024, Logger: quiet})
	const owners, perOwner = 4, 200

	keep := make([]*events.Subscription, owners)
	for o := range owners {
		s, err := b.Subscribe(t.Context(), fmt.Sprint("owner", o))
		if err != nil {
			t.Fatal(err)
		}
		keep[o] = s
	}

	var wg sync.WaitGroup
	for o := range owners {
		owner := fmt.Sprint("owner", o)
		wg.Go(func() {
			for i := range perOwner {
				b.Publish(event(items.EventUpdated, int64(o), owner, i+1))
			}
		})
		wg.Go(func() {
			for i := range perOwner {
				ctx, cancel := context.WithCancel(context.Background())
				s, err := b.Subscribe(ctx, owner)
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				if i%2 == 0 {
					s.Close()
				}
				cancel()
				// Its channel is closed, whichever ended it.
				for range s.C {
				}
			}
		})
	}
	wg.Wait()

	for o, s := range keep {
		for i := range perOwner {
			if e := receive(t, s); e.Version != i+1 || e.ID != int64(o) {
				t.Fatalf("owner %d event %d = %+v, want version %d", o, i, e, i+1)
			}
		}
		empty(t, s)
	}
	if n := b.Subscribers(); n != owners {
		t.Fatalf("Subscribers() = %d, want %d", n, owners)
	}
}

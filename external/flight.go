package external

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"
)

// flights shares one upstream call among concurrent identical cache misses.
//
// singleflight alone ties the shared call to the first caller's context, so
// that caller going away would fail everyone else's read. Here the shared
// call runs on a context of its own (the first caller's values, no
// deadline, no cancellation), each caller waits on its own context, and the
// shared call is cancelled only when every caller waiting for it has gone:
// a client that goes away still cancels an upstream call nobody else needs.
type flights struct {
	mu      sync.Mutex
	group   singleflight.Group
	waiting map[string]*flight
}

// flight is one shared call. It is in flights.waiting exactly while its
// function is the one that group runs for its key; both are removed
// together, under mu.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
}

func (s *flights) init() { s.waiting = make(map[string]*flight) }

// do returns the result of fn for key, calling fn at most once for
// concurrent callers with the same key. A caller whose ctx ends stops
// waiting at once with ctx's error, wrapped with what.
func (s *flights) do(ctx context.Context, key, what string, fn func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	f := s.waiting[key]
	if f == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{ctx: fctx, cancel: cancel}
		s.waiting[key] = f
	}
	f.waiters++
	ch := s.group.DoChan(key, func() (any, error) {
		defer s.end(key, f)
		return fn(f.ctx)
	})
	s.mu.Unlock()

	select {
	case r := <-ch:
		s.mu.Lock()
		f.waiters--
		s.mu.Unlock()
		return r.Val, r.Err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			s.detach(key, f)
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// end runs when f's call returns.
func (s *flights) end(key string, f *flight) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detach(key, f)
}

// detach cancels f and, if it is still the flight for key, forgets it, so
// the next caller starts a new call. s.mu must be held.
func (s *flights) detach(key string, f *flight) {
	f.cancel()
	if s.waiting[key] == f {
		delete(s.waiting, key)
		s.group.Forget(key)
	}
}

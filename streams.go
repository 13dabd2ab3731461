package main

import (
	"context"
	"net/http"
	"sync"
)

// streams ends subscriptions (WebSocket and SSE) at shutdown. They never end
// by themselves, and http.Server.Shutdown neither sees a hijacked WebSocket
// nor tells anything to end: it only waits. Cancelling a subscription's
// context makes gqlgen send the close frame (or end the event stream), and
// wait lets those goodbyes finish before the process exits.
type streams struct {
	ctx    context.Context // done at shutdown
	cancel context.CancelFunc
	mu     sync.Mutex
	ended  bool
	open   int // streams being served, under mu
	wg     sync.WaitGroup
}

func newStreams() *streams {
	ctx, cancel := context.WithCancel(context.Background())
	return &streams{ctx: ctx, cancel: cancel}
}

func (s *streams) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		ended := s.ended
		if !ended {
			s.wg.Add(1)
			s.open++
		}
		s.mu.Unlock()
		if ended {
			w.Header().Set("Connection", "close")
			http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
			return
		}
		defer func() {
			s.mu.Lock()
			s.open--
			s.mu.Unlock()
			s.wg.Done()
		}()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(s.ctx, cancel)()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// refuse refuses new subscriptions; those open go on.
func (s *streams) refuse() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

// end tells every subscription to end, and refuses new ones.
func (s *streams) end() {
	s.refuse()
	s.cancel()
}

// wait waits for the subscriptions to have ended, or for ctx.
func (s *streams) wait(ctx context.Context) error {
	s.end()
	s.mu.Lock()
	open := s.open
	s.mu.Unlock()
	if open == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

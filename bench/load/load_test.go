package load

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var h Histogram
	for i := 100; i >= 1; i-- { // recorded out of order on purpose
		h.Record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		give float64
		want time.Duration
	}{
		{0, 1 * time.Millisecond},
		{0.5, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.999, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := h.Quantile(tt.give); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
	var empty Histogram
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile(0.5) = %v, want 0", got)
	}
}

func TestRunCountsRequestsAndErrors(t *testing.T) {
	var calls atomic.Int64
	res := Run(context.Background(), 4, 0, 50*time.Millisecond, func(ctx context.Context, worker int) error {
		if worker < 0 || worker >= 4 {
			t.Errorf("worker %d out of range", worker)
		}
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		if n%2 == 0 {
			return errors.New("even")
		}
		return nil
	})
	if res.Requests == 0 || res.Requests > int(calls.Load()) {
		t.Fatalf("Requests = %d with %d calls", res.Requests, calls.Load())
	}
	if res.Errors == 0 || res.Errors >= res.Requests {
		t.Errorf("Errors = %d of %d, want some but not all", res.Errors, res.Requests)
	}
	if res.FirstError != "even" {
		t.Errorf("FirstError = %q, want %q", res.FirstError, "even")
	}
	if res.Latency.Quantile(0.5) < time.Millisecond {
		t.Errorf("p50 = %v, want at least the 1ms each call sleeps", res.Latency.Quantile(0.5))
	}
}

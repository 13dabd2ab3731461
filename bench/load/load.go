// Package load is the benchmark's closed-loop load generator: a fixed number
// of workers each send a request, wait for its answer and send the next, so
// the offered load follows the server's speed and no request waits in a
// queue the generator made. Every latency is kept and sorted for the
// percentiles.
package load

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Histogram is a set of latency samples. The zero value is empty and ready.
type Histogram struct {
	samples []time.Duration
	sorted  bool
}

// Record adds one sample.
func (h *Histogram) Record(d time.Duration) {
	h.samples = append(h.samples, d)
	h.sorted = false
}

// Merge adds every sample of o.
func (h *Histogram) Merge(o *Histogram) {
	h.samples = append(h.samples, o.samples...)
	h.sorted = false
}

// Count is the number of samples.
func (h *Histogram) Count() int { return len(h.samples) }

// Quantile returns the sample at quantile q (0 ≤ q ≤ 1) by the nearest-rank
// method: the smallest sample with at least q of the samples at or below it.
// An empty histogram has quantile 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if len(h.samples) == 0 {
		return 0
	}
	if !h.sorted {
		slices.Sort(h.samples)
		h.sorted = true
	}
	rank := int(math.Ceil(q * float64(len(h.samples))))
	rank = min(max(rank, 1), len(h.samples))
	return h.samples[rank-1]
}

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return h.Quantile(1) }

// Op is one request of a worker; worker is its index, from 0. It returns an
// error when the request failed (transport error, bad status or an error in
// the answer).
type Op func(ctx context.Context, worker int) error

// Result is what one run measured.
type Result struct {
	Requests int
	Errors   int
	// FirstError is the text of the first error seen, for the report.
	FirstError string
	Elapsed    time.Duration
	Latency    *Histogram
}

// RPS is the rate of answered requests, errors included.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run runs op in a closed loop on concurrency workers: first for warmup,
// whose requests are not recorded, then for duration. A request still in
// flight when the time is up is waited for but not recorded, so that the
// measured window holds only whole requests.
func Run(ctx context.Context, concurrency int, warmup, duration time.Duration, op Op) *Result {
	type workerResult struct {
		h          Histogram
		errors     int
		firstError string
	}
	results := make([]workerResult, concurrency)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			res := &results[w]
			res.h.samples = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(ctx, w)
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(end) {
					continue
				}
				res.h.Record(t1.Sub(t0))
				if err != nil {
					if res.errors == 0 {
						res.firstError = err.Error()
					}
					res.errors++
				}
			}
		})
	}
	wg.Wait()
	out := &Result{Elapsed: duration, Latency: &Histogram{}}
	for i := range results {
		out.Latency.Merge(&results[i].h)
		out.Errors += results[i].errors
		if out.FirstError == "" {
			out.FirstError = results[i].firstError
		}
	}
	out.Requests = out.Latency.Count()
	return out
}

package events_test

import (
	"context"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"itemsrv/events"
	"itemsrv/items"
)

// BenchmarkFanout1000 measures the fan-out of one event to 1,000
// subscriptions of one owner, each read by its own goroutine as a GraphQL
// subscription would be. It reports:
//
//   - p50-ns, p99-ns: from the start of Publish until the last of the 1,000
//     readers has the event;
//   - publish-ns: how long Publish itself takes (what the listener pays);
//   - bytes/sub: heap held by one idle subscription (default buffer).
func BenchmarkFanout1000(b *testing.B) {
	const n = 1000
	broker := events.NewBroker(events.Options{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	subs := make([]*events.Subscription, n)
	before := heapInUse()
	for i := range subs {
		s, err := broker.Subscribe(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = s
	}
	bytesPerSub := float64(heapInUse()-before) / n

	// Each reader counts down; the last one of a round signals done.
	var pending atomic.Int64
	done := make(chan struct{}, 1)
	for _, s := range subs {
		go func() {
			for range s.C {
				if pending.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		}()
	}

	var fanout, publish []time.Duration
	e := items.Event{Type: items.EventUpdated, ID: 1, Owner: "alice", Version: 1}
	b.ResetTimer()
	for b.Loop() {
		pending.Store(n)
		start := time.Now()
		broker.Publish(e)
		published := time.Now()
		<-done
		fanout = append(fanout, time.Since(start))
		publish = append(publish, published.Sub(start))
		e.Version++
	}
	b.StopTimer()
	if broker.Subscribers() != n {
		b.Fatalf("%d subscribers left of %d: some fell behind", broker.Subscribers(), n)
	}
	slices.Sort(fanout)
	slices.Sort(publish)
	b.ReportMetric(float64(percentile(fanout, 50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(fanout, 99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(percentile(publish, 50).Nanoseconds()), "publish-p50-ns")
	b.ReportMetric(bytesPerSub, "bytes/sub")
	broker.Close()
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

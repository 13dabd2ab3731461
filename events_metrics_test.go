package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Live-event metrics: a committed write is counted as published, and open
// subscriptions are a gauge.
func TestEventMetrics(t *testing.T) {
	base, _ := hStart(t, nil)
	res, err := http.Post(base+"/graphql", "application/json",
		strings.NewReader(`{"query":"mutation { createItem(input: {title: \"counted\"}) { id } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	res, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		"itemsrv_events_published_total 1",
		"itemsrv_subscriptions_active 0",
		"itemsrv_events_dropped_subscribers_total 0",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

package metrics

import "github.com/prometheus/client_golang/prometheus"

// Events are the live-event metrics, fed by the broker's hooks.
type Events struct {
	subscriptions prometheus.Gauge
	published     prometheus.Counter
	dropped       prometheus.Counter
}

// Events registers and returns the live-event metrics.
func (m *Metrics) Events() *Events {
	e := &Events{
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "subscriptions_active",
			Help: "itemEvents subscriptions open in this process.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_published_total",
			Help: "Committed item events fanned out in this process.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_dropped_subscribers_total",
			Help: "Subscriptions ended because they fell behind.",
		}),
	}
	m.Registry.MustRegister(e.subscriptions, e.published, e.dropped)
	return e
}

// Published counts one published event (events.Options.OnPublish).
func (e *Events) Published() { e.published.Inc() }

// Dropped counts one subscriber that fell behind (events.Options.OnDrop).
func (e *Events) Dropped() { e.dropped.Inc() }

// Subscribers sets the number of open subscriptions
// (events.Options.OnSubscribersChange).
func (e *Events) Subscribers(n int) { e.subscriptions.Set(float64(n)) }

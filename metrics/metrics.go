// Package metrics holds the server's Prometheus metrics in a registry of its
// own (never the global one, so tests and several servers in one process
// do not collide) and serves them in the text format.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "itemsrv"

// Metrics records what the server does. Its methods are safe for
// concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests     *prometheus.CounterVec
	operations       *prometheus.CounterVec
	operationSeconds *prometheus.HistogramVec
	resolverSeconds  *prometheus.HistogramVec
	upstreamCalls    *prometheus.CounterVec
	upstreamAttempts *prometheus.CounterVec
	upstreamSeconds  *prometheus.HistogramVec
	breakerState     *prometheus.GaugeVec

	namesMu sync.Mutex
	names   map[string]struct{} // operation names with series of their own
}

// breakerStates are the values of the breaker state gauge.
var breakerStates = []string{"closed", "half-open", "open"}

// New returns metrics registered with a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	m := &Metrics{Registry: reg}
	m.httpRequests = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by method and status code.",
	}, []string{"method", "status"})).(*prometheus.CounterVec)
	m.operations = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "graphql_operations_total",
		Help: `GraphQL operations, by operation name and outcome (the first error code, or "ok").`,
	}, []string{"operation", "outcome"})).(*prometheus.CounterVec)
	m.operationSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "graphql_operation_duration_seconds",
		Help:    "Time from the start of a GraphQL request to its response, by operation name.",
		Buckets: prometheus.DefBuckets,
	}, []string{"operation"})).(*prometheus.HistogramVec)
	m.resolverSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "graphql_resolver_duration_seconds",
		Help:    "Time spent in resolver methods (fields that are not plain struct fields), by Type.field.",
		Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"field"})).(*prometheus.HistogramVec)
	m.upstreamCalls = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_calls_total",
		Help: "Calls to the upstream API after their retries (and reads served from the cache), by operation and outcome.",
	}, []string{"op", "outcome"})).(*prometheus.CounterVec)
	m.upstreamAttempts = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_attempts_total",
		Help: "HTTP attempts made to the upstream API, retries included, by operation.",
	}, []string{"op"})).(*prometheus.CounterVec)
	m.upstreamSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_call_duration_seconds",
		Help:    "Duration of upstream calls, retries included, by operation.",
		Buckets: prometheus.DefBuckets,
	}, []string{"op"})).(*prometheus.HistogramVec)
	m.breakerState = f(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "upstream_breaker_state",
		Help: "1 for the upstream circuit breaker's current state (closed, half-open, open), 0 for the others.",
	}, []string{"state"})).(*prometheus.GaugeVec)
	m.BreakerState("closed")
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveHTTP counts one answered HTTP request. Methods other than the
// standard ones count as "other": label values a client chooses must not
// grow the series without bound.
func (m *Metrics) ObserveHTTP(method string, status int) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodOptions, http.MethodHead,
		http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		method = "other"
	}
	m.httpRequests.WithLabelValues(method, strconv.Itoa(status)).Inc()
}

// MaxOperationNames bounds the distinct operation names that get series of
// their own; later new names count as "other".
const MaxOperationNames = 500

// ObserveOperation counts one GraphQL operation and its latency.
func (m *Metrics) ObserveOperation(name, outcome string, d time.Duration) {
	name = m.operationLabel(name)
	m.operations.WithLabelValues(name, outcome).Inc()
	m.operationSeconds.WithLabelValues(name).Observe(d.Seconds())
}

// operationLabel is name, or "other" once MaxOperationNames names are known.
func (m *Metrics) operationLabel(name string) string {
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	if _, ok := m.names[name]; ok {
		return name
	}
	if len(m.names) >= MaxOperationNames {
		return "other"
	}
	if m.names == nil {
		m.names = make(map[string]struct{})
	}
	m.names[name] = struct{}{}
	return name
}

// ObserveResolver records the time one resolver took.
func (m *Metrics) ObserveResolver(field string, d time.Duration) {
	m.resolverSeconds.WithLabelValues(field).Observe(d.Seconds())
}

// UpstreamCall has the shape of external.Config.OnCall.
func (m *Metrics) UpstreamCall(op, outcome string, attempts int, d time.Duration) {
	m.upstreamCalls.WithLabelValues(op, outcome).Inc()
	if attempts > 0 {
		m.upstreamAttempts.WithLabelValues(op).Add(float64(attempts))
		m.upstreamSeconds.WithLabelValues(op).Observe(d.Seconds())
	}
}

// BreakerState has the shape of external.Config.OnBreakerState.
func (m *Metrics) BreakerState(state string) {
	for _, s := range breakerStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breakerState.WithLabelValues(s).Set(v)
	}
}

// DBStats exports the connection pool's statistics, read from stats at
// every scrape.
func (m *Metrics) DBStats(stats func() sql.DBStats) {
	gauge := func(name, help string, v func(sql.DBStats) float64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "db", Name: name, Help: help,
		}, func() float64 { return v(stats()) }))
	}
	counter := func(name, help string, v func(sql.DBStats) float64) {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "db", Name: name, Help: help,
		}, func() float64 { return v(stats()) }))
	}
	gauge("max_open_connections", "Maximum number of open connections to the database.", func(s sql.DBStats) float64 { return float64(s.MaxOpenConnections) })
	gauge("open_connections", "Open connections, in use and idle.", func(s sql.DBStats) float64 { return float64(s.OpenConnections) })
	gauge("in_use_connections", "Connections in use.", func(s sql.DBStats) float64 { return float64(s.InUse) })
	gauge("idle_connections", "Idle connections.", func(s sql.DBStats) float64 { return float64(s.Idle) })
	counter("wait_count_total", "Connections waited for.", func(s sql.DBStats) float64 { return float64(s.WaitCount) })
	counter("wait_duration_seconds_total", "Time spent waiting for a connection.", func(s sql.DBStats) float64 { return s.WaitDuration.Seconds() })
	counter("max_idle_closed_total", "Connections closed for SetMaxIdleConns.", func(s sql.DBStats) float64 { return float64(s.MaxIdleClosed) })
	counter("max_lifetime_closed_total", "Connections closed for SetConnMaxLifetime.", func(s sql.DBStats) float64 { return float64(s.MaxLifetimeClosed) })
}

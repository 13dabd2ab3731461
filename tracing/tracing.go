// Package tracing exports OpenTelemetry traces over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set:
// HTTP server spans, a span per GraphQL operation with one per resolver
// field, upstream HTTP calls and SQL statements. When neither is set, Setup
// installs nothing and main adds none of the instrumentation, so tracing
// costs nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation is the name of the tracers this package makes.
const instrumentation = "itemsrv/tracing"

// Enabled reports whether the environment asks for traces to be exported:
// an OTLP endpoint is set and the SDK is not disabled.
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs, when Enabled, a global tracer provider that batches spans
// to the OTLP/HTTP exporter, and the W3C trace-context and baggage
// propagators. The exporter reads the standard OTEL_EXPORTER_OTLP_* settings
// (endpoint, headers, timeout, compression), the provider
// OTEL_TRACES_SAMPLER and its argument, and the resource OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES, which win over serviceName. Export errors go
// to log at warn level.
//
// shutdown flushes the spans still buffered and stops the exporter; it is
// never nil. When tracing is not enabled Setup changes nothing global and
// shutdown does nothing.
func Setup(ctx context.Context, serviceName string, log *slog.Logger) (shutdown func(context.Context) error, enabled bool, err error) {
	noop := func(context.Context) error { return nil }
	if !Enabled() {
		return noop, false, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, false, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // last: the environment wins
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, false, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "err", err)
	}))
	return tp.Shutdown, true, nil
}

// HandlerOptions tune Handler.
type HandlerOptions struct {
	// Routes are the paths whose spans are named "METHOD /path"; any other
	// path is named by its method only, so that random paths cannot multiply
	// span names.
	Routes []string
	// Skip are paths not traced at all, such as health probes and metric
	// scrapes.
	Skip []string
	// Provider defaults to the global tracer provider.
	Provider trace.TracerProvider
}

// Handler traces every request to next in a server span, continuing a trace
// the caller propagated.
func Handler(next http.Handler, o HandlerOptions) http.Handler {
	opts := []otelhttp.Option{
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if slices.Contains(o.Routes, r.URL.Path) {
				return r.Method + " " + r.URL.Path
			}
			return r.Method
		}),
		otelhttp.WithFilter(func(r *http.Request) bool { return !slices.Contains(o.Skip, r.URL.Path) }),
	}
	if o.Provider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(o.Provider))
	}
	return otelhttp.NewHandler(next, "http.server", opts...)
}

// Transport wraps base so that every request it sends is a client span
// carrying the trace context to the server. A nil provider is the global
// one.
func Transport(base http.RoundTripper, provider trace.TracerProvider) http.RoundTripper {
	var opts []otelhttp.Option
	if provider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(provider))
	}
	return otelhttp.NewTransport(base, opts...)
}

// tracer returns the package's tracer from p, or from the global provider.
func tracer(p trace.TracerProvider) trace.Tracer {
	if p == nil {
		p = otel.GetTracerProvider()
	}
	return p.Tracer(instrumentation)
}

package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/jsonplaceholder"
	"itemsrv/tracing"
)

// tracedServer serves the real GraphQL handler on a fresh SQLite database,
// with the stand-in upstream, and every piece of tracing main adds when
// tracing is on, recording spans in memory.
func tracedServer(t *testing.T) (url string, spans *tracetest.InMemoryExporter) {
	t.Helper()
	spans = tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	d := dbtest.Open(t, dbtest.SQLiteURL(t))
	d.AddQueryHook(tracing.QueryHook{Provider: tp})
	upstream, _ := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	client, err := external.New(external.Config{
		BaseURL: upstream.URL,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return tracing.Transport(rt, tp)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r := &graph.Resolver{Store: db.NewStore(d), Upstream: client, Log: log}
	gql := graph.NewHandler(r, graph.Options{
		Introspection: true,
		Extensions:    []graphql.HandlerExtension{tracing.Extension{Provider: tp}},
		Log:           log,
	})
	mux := http.NewServeMux()
	mux.Handle("/graphql", r.LoadersMiddleware(gql))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	h := tracing.Handler(mux, tracing.HandlerOptions{
		Routes:   []string{"/graphql"},
		Skip:     []string{"/healthz"},
		Provider: tp,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, spans
}

// post sends a GraphQL request and fails the test on any error in the
// answer.
func post(t *testing.T, url, query string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	resp, err := http.Post(url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Errors []json.RawMessage `json:"errors"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		t.Fatalf("%s: %d %s", query, resp.StatusCode, raw)
	}
}

func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// find returns the one span named name, failing when there is not exactly
// one.
func find(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %s", len(found), name, strings.Join(names, ", "))
	}
	return found[0]
}

func childOf(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %q is not a child of %q", child.Name, parent.Name)
	}
}

func TestRequestSpans(t *testing.T) {
	url, exp := tracedServer(t)
	post(t, url, `mutation Make { createItem(input: {title: "traced"}) { id } }`)
	exp.Reset()

	post(t, url, `query List {
		items(first: 5) { nodes { id title } }
		externalPost(id: 1) { title author { name } }
	}`)
	spans := exp.GetSpans()

	server := find(t, spans, "POST /graphql")
	op := find(t, spans, "graphql query List")
	childOf(t, op, server)
	if got := attr(op, "graphql.operation.type"); got != "query" {
		t.Errorf("operation type = %q, want query", got)
	}

	items := find(t, spans, "Query.items")
	childOf(t, items, op)
	if got := attr(items, "graphql.field.path"); got != "items" {
		t.Errorf("Query.items path = %q", got)
	}
	post1 := find(t, spans, "Query.externalPost")
	childOf(t, post1, op)

	// Fields read from a struct get no span.
	for _, s := range spans {
		if s.Name == "Item.title" || s.Name == "Item.id" || s.Name == "Post.title" {
			t.Errorf("field %s has a span; only resolvers should", s.Name)
		}
	}

	// The store's SELECT runs under the resolver, with its text holding
	// placeholders, never values.
	var selects int
	for _, s := range spans {
		if s.Parent.SpanID() != items.SpanContext.SpanID() || attr(s, "db.operation.name") != "SELECT" {
			continue
		}
		selects++
		if got := attr(s, "db.system.name"); got != "sqlite" {
			t.Errorf("db.system.name = %q, want sqlite", got)
		}
		if q := attr(s, "db.query.text"); q == "" || strings.Contains(q, "traced") {
			t.Errorf("db.query.text = %q: want the statement without its values", q)
		}
	}
	if selects == 0 {
		t.Error("no SELECT span under Query.items")
	}

	// Upstream calls are client spans under the resolver that made them:
	// the post and its author, which externalPost fills in in one batch.
	var upstream int
	for _, s := range spans {
		if attr(s, "http.request.method") == "GET" && s.Parent.SpanID() == post1.SpanContext.SpanID() {
			upstream++
		}
	}
	if upstream != 2 {
		t.Errorf("%d upstream spans under Query.externalPost, want 2", upstream)
	}
}

func TestMutationAndErrors(t *testing.T) {
	url, exp := tracedServer(t)
	post(t, url, `mutation { createItem(input: {title: "a secret title"}) { id } }`)
	spans := exp.GetSpans()
	op := find(t, spans, "graphql mutation")
	create := find(t, spans, "Mutation.createItem")
	childOf(t, create, op)
	var inserts int
	for _, s := range spans {
		if attr(s, "db.operation.name") == "INSERT" {
			inserts++
			if q := attr(s, "db.query.text"); strings.Contains(q, "secret") {
				t.Errorf("db.query.text holds a value: %q", q)
			}
		}
	}
	if inserts == 0 {
		t.Error("no INSERT span")
	}

	// A resolver error marks its span and the operation's.
	exp.Reset()
	body := `{"query":"mutation { deleteItem(id: \"999\") }"}`
	resp, err := http.Post(url+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans = exp.GetSpans()
	del := find(t, spans, "Mutation.deleteItem")
	if del.Status.Code.String() != "Error" || len(del.Events) == 0 {
		t.Errorf("deleteItem span status = %v, events %d: want the error recorded", del.Status, len(del.Events))
	}
	if op := find(t, spans, "graphql mutation"); op.Status.Code.String() != "Error" {
		t.Errorf("operation span status = %v, want Error", op.Status)
	}
}

func TestHandlerSkipsAndNamesPaths(t *testing.T) {
	url, exp := tracedServer(t)
	for _, p := range []string{"/healthz", "/no/such/path"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET" {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("spans = %v, want one named GET (an unknown path is not named, /healthz not traced)", names)
	}
}

// keepGlobals restores OpenTelemetry's globals when t ends.
func keepGlobals(t *testing.T) {
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
}

func TestSetupDisabled(t *testing.T) {
	keepGlobals(t)
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"no endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
			shutdown, enabled, err := tracing.Setup(context.Background(), "itemsrv", nil)
			if err != nil || enabled {
				t.Fatalf("Setup = enabled %v, err %v; want disabled, no error", enabled, err)
			}
			if shutdown == nil || shutdown(context.Background()) != nil {
				t.Error("shutdown should be a function that does nothing")
			}
			if otel.GetTracerProvider() != tp || otel.GetTextMapPropagator() != prop {
				t.Error("Setup installed a tracer provider or propagator while disabled")
			}
			if tracing.Enabled() {
				t.Error("Enabled() = true")
			}
		})
	}
}

func TestSetupExportsOverOTLP(t *testing.T) {
	keepGlobals(t)
	var posts, bytesIn atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
			bytesIn.Add(int64(len(b)))
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SDK_DISABLED", "")

	shutdown, enabled, err := tracing.Setup(context.Background(), "itemsrv-test", nil)
	if err != nil || !enabled {
		t.Fatalf("Setup = enabled %v, err %v; want enabled", enabled, err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "work")
	span.End()
	if posts.Load() != 0 {
		t.Fatal("spans were sent before the batch was flushed")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if posts.Load() != 1 || bytesIn.Load() == 0 {
		t.Errorf("collector got %d POSTs to /v1/traces (%d bytes), want 1 with the span", posts.Load(), bytesIn.Load())
	}
}

// BenchmarkQuery measures what tracing adds to a request for a page of
// items: "off" is the handler as main builds it without an endpoint,
// "on" samples every request into an exporter that drops the spans.
func BenchmarkQuery(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			d := dbtest.Open(b, dbtest.SQLiteURL(b))
			var exts []graphql.HandlerExtension
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			defer tp.Shutdown(context.Background())
			if on {
				d.AddQueryHook(tracing.QueryHook{Provider: tp})
				exts = append(exts, tracing.Extension{Provider: tp})
			}
			log := slog.New(slog.DiscardHandler)
			r := &graph.Resolver{Store: db.NewStore(d), Log: log}
			var h http.Handler = r.LoadersMiddleware(graph.NewHandler(r, graph.Options{Extensions: exts, Log: log}))
			if on {
				h = tracing.Handler(h, tracing.HandlerOptions{Routes: []string{"/graphql"}, Provider: tp})
			}
			do := func(q string) {
				body, _ := json.Marshal(map[string]any{"query": q})
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
			for i := range 20 {
				do(`mutation { createItem(input: {title: "item ` + string(rune('a'+i)) + `"}) { id } }`)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				do(`{ items(first: 20) { totalCount nodes { id title createdAt } } }`)
			}
		})
	}
}

package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/jsonplaceholder"
)

// testEnv is the GraphQL handler served over HTTP on a real database, with
// the in-process JSONPlaceholder stand-in as its upstream.
type testEnv struct {
	// URL is the GraphQL endpoint.
	URL   string
	Store *db.Store
	Fake  *jsonplaceholder.Fake
	// upstreamHost is the stand-in's host:port, which no response may show.
	upstreamHost string
	// handlers counts GraphQL requests still being served.
	handlers sync.WaitGroup
}

// envOption changes the upstream client's settings of a testEnv.
type envOption func(*external.Config)

// newEnv serves the GraphQL handler on d. The upstream client retries 3
// times with millisecond waits, and has no cache and no breaker unless an
// option says otherwise, so upstream requests can be counted exactly.
func newEnv(t *testing.T, d *db.DB, opts ...envOption) *testEnv {
	t.Helper()
	upstream, fake := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	cfg := external.Config{
		BaseURL:      upstream.URL,
		Timeout:      5 * time.Second,
		MaxRetries:   3,
		RetryWait:    time.Millisecond,
		RetryMaxWait: 5 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	client, err := external.New(cfg)
	if err != nil {
		t.Fatalf("external.New: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	store := db.NewStore(d)
	r := &graph.Resolver{Store: store, Upstream: client, Log: log}
	h := r.LoadersMiddleware(graph.NewHandler(r, graph.Options{
		ComplexityLimit: 100000,
		Introspection:   true,
		AllowedOrigins:  []string{"*"},
		Log:             log,
	}))
	e := &testEnv{Store: store, Fake: fake}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		e.handlers.Add(1)
		defer e.handlers.Done()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL + "/graphql"
	u, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.upstreamHost = u.Host
	return e
}

// gqlResponse is a decoded GraphQL response.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	// Status is the HTTP status and Body the response as sent.
	Status int    `json:"-"`
	Body   string `json:"-"`
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// vars are the variables of an operation.
type vars = map[string]any

// send posts one operation with ctx and decodes the answer, without
// checking it; it is safe to call from any goroutine.
func (e *testEnv) send(ctx context.Context, query string, v vars) (*gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": v})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post %s: %w", firstLine(query), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("response is not JSON (status %d): %w\n%s", resp.StatusCode, err, raw)
	}
	r.Status, r.Body = resp.StatusCode, string(raw)
	return &r, nil
}

// check reports, with t.Errorf (so from any goroutine), what no response
// may hold: the upstream's address, or an error without extensions.code.
func (e *testEnv) check(t testing.TB, r *gqlResponse) {
	if strings.Contains(r.Body, e.upstreamHost) {
		t.Errorf("response shows the upstream address %s:\n%s", e.upstreamHost, r.Body)
	}
	for i, ge := range r.Errors {
		if ge.code() == "" {
			t.Errorf("errors[%d] has no extensions.code: %s", i, r.Body)
		}
	}
}

// do posts one operation with ctx and checks the answer.
func (e *testEnv) do(ctx context.Context, t testing.TB, query string, v vars) *gqlResponse {
	t.Helper()
	r, err := e.send(ctx, query, v)
	if err != nil {
		t.Fatal(err)
	}
	e.check(t, r)
	return r
}

// post posts one operation.
func (e *testEnv) post(t testing.TB, query string, v vars) *gqlResponse {
	t.Helper()
	return e.do(context.Background(), t, query, v)
}

// ok posts one operation that must succeed and decodes its data into out.
func (e *testEnv) ok(t testing.TB, query string, v vars, out any) {
	t.Helper()
	r := e.post(t, query, v)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: unexpected errors: %s", firstLine(query), r.Body)
	}
	if out != nil {
		r.decodeData(t, out)
	}
}

// fail posts one operation that must fail with code (and field, when not
// empty) and returns the response.
func (e *testEnv) fail(t testing.TB, query string, v vars, code, field string) *gqlResponse {
	t.Helper()
	r := e.post(t, query, v)
	r.wantError(t, code, field)
	return r
}

// decodeData decodes the response's data into out.
func (r *gqlResponse) decodeData(t testing.TB, out any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data: %v\n%s", err, r.Body)
	}
}

// wantError checks that the response holds exactly one error, with code
// and, when field is not empty, extensions.field; a field of "-" requires
// that there be no extensions.field.
func (r *gqlResponse) wantError(t testing.TB, code, field string) *gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one %s error, got %d: %s", code, len(r.Errors), r.Body)
	}
	ge := &r.Errors[0]
	if got := ge.code(); got != code {
		t.Errorf("extensions.code = %q, want %q: %s", got, code, r.Body)
	}
	gotField, hasField := ge.Extensions["field"]
	switch {
	case field == "-" && hasField:
		t.Errorf("extensions.field = %v, want none: %s", gotField, r.Body)
	case field != "" && field != "-" && gotField != field:
		t.Errorf("extensions.field = %v, want %q: %s", gotField, field, r.Body)
	}
	return ge
}

func (ge *gqlError) code() string {
	c, _ := ge.Extensions["code"].(string)
	return c
}

// extInt returns an integer extension, failing t when it is missing.
func (ge *gqlError) extInt(t testing.TB, name string) int {
	t.Helper()
	f, ok := ge.Extensions[name].(float64)
	if !ok {
		t.Fatalf("extensions.%s = %v, want a number", name, ge.Extensions[name])
	}
	return int(f)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// itemFields is every field of Item but the upstream ones.
const itemFields = `id title description version createdAt updatedAt enrichedAt externalData`

// item is an Item as the API sends it.
type item struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	Description  *string         `json:"description"`
	Version      int             `json:"version"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
	EnrichedAt   *string         `json:"enrichedAt"`
	ExternalData json.RawMessage `json:"externalData"`
}

// createItem creates an item through the API.
func (e *testEnv) createItem(t testing.TB, title string, description *string) item {
	t.Helper()
	var out struct{ CreateItem item }
	e.ok(t, `mutation($in: CreateItemInput!) { createItem(input: $in) { `+itemFields+` } }`,
		vars{"in": vars{"title": title, "description": description}}, &out)
	return out.CreateItem
}

// getItem reads an item through the API; nil when it is null.
func (e *testEnv) getItem(t testing.TB, id string) *item {
	t.Helper()
	var out struct{ Item *item }
	e.ok(t, `query($id: ID!) { item(id: $id) { `+itemFields+` } }`, vars{"id": id}, &out)
	return out.Item
}

// totalCount is the number of items the caller can list.
func (e *testEnv) totalCount(t testing.TB) int {
	t.Helper()
	var out struct{ Items struct{ TotalCount int } }
	e.ok(t, `{ items { totalCount } }`, nil, &out)
	return out.Items.TotalCount
}

// sameItem fails t when got differs from want in any field.
func sameItem(t testing.TB, got, want *item) {
	t.Helper()
	if got == nil {
		t.Fatalf("item %s is gone", want.ID)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("item changed:\n got %s\nwant %s", g, w)
	}
}

func ptr[T any](v T) *T { return &v }

package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/uptrace/bun"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/jsonplaceholder"
	"itemsrv/requestid"
)

// harness serves the real GraphQL handler over HTTP on a real database, with
// the JSONPlaceholder stand-in as its upstream.
type harness struct {
	URL string
	DB  *db.DB
	// Queries counts the SQL statements run since the harness started.
	Queries *queryCounter
	Fake    *jsonplaceholder.Fake
	Log     *syncBuffer
}

// syncBuffer is a log sink that tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHarness serves NewHandler(o) on a fresh SQLite database unless d is
// given. o.Log is set to a buffer the test can read.
func newHarness(t *testing.T, d *db.DB, o Options) *harness {
	t.Helper()
	if d == nil {
		d = dbtest.Open(t, dbtest.SQLiteURL(t))
	}
	qc := &queryCounter{}
	d.AddQueryHook(qc)
	upstream, fake := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	client, err := external.New(external.Config{
		BaseURL: upstream.URL, Timeout: 5 * time.Second,
		RetryWait: time.Millisecond, RetryMaxWait: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("external.New: %v", err)
	}
	buf := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, nil))
	o.Log = log
	r := &Resolver{Store: db.NewStore(d), Upstream: client, Log: log}
	h := r.LoadersMiddleware(NewHandler(r, o))
	srv := httptest.NewServer(requestid.Middleware(h))
	t.Cleanup(srv.Close)
	return &harness{URL: srv.URL + "/graphql", DB: d, Queries: qc, Fake: fake, Log: buf}
}

// httpResult is a raw HTTP answer and its decoded GraphQL body.
type httpResult struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

func (r *httpResult) errorCode(t testing.TB) string {
	t.Helper()
	errs, _ := r.Body["errors"].([]any)
	if len(errs) == 0 {
		raw := r.Raw
		if len(raw) > 300 {
			raw = raw[:300] + "…"
		}
		t.Fatalf("no errors in %d %s", r.Status, raw)
	}
	ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
	code, _ := ext["code"].(string)
	return code
}

// do sends one HTTP request to the endpoint.
func (h *harness) do(t testing.TB, method, contentType, accept, body string) *httpResult {
	t.Helper()
	u := h.URL
	var rd io.Reader
	if method == http.MethodGet {
		u += "?" + body
	} else {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := &httpResult{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	if err := json.Unmarshal(b, &out.Body); err != nil {
		t.Fatalf("%s: %d body is not JSON: %q", method, res.StatusCode, b)
	}
	return out
}

// post sends a GraphQL request as application/json.
func (h *harness) post(t testing.TB, params map[string]any) *httpResult {
	t.Helper()
	b, _ := json.Marshal(params)
	return h.do(t, http.MethodPost, "application/json", "application/json", string(b))
}

// queryCounter is a bun query hook counting statements.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

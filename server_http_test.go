package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"itemsrv/jsonplaceholder"
)

// hStart runs the whole server on :0 over SQLite with env on top of the
// test defaults, and returns its base URL and log.
func hStart(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	upstream, _ := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	vars := map[string]string{
		"PORT":             "0",
		"DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "items.db"),
		"EXTERNAL_API_URL": upstream.URL,
		"LOG_LEVEL":        "info",
	}
	for k, v := range env {
		vars[k] = v
	}
	srv := startServer(t, vars)
	return srv.URL, srv.Log
}

func TestBodyLimit(t *testing.T) {
	base, _ := hStart(t, map[string]string{"MAX_BODY_BYTES": "1000"})
	big := `{"query":"{ __typename }","variables":{"pad":"` + strings.Repeat("x", 2000) + `"}}`
	tests := []struct {
		name    string
		body    io.Reader
		chunked bool
		want    int
	}{
		{"under the limit", strings.NewReader(`{"query":"{ __typename }"}`), false, 200},
		{"declared length over", strings.NewReader(big), false, 413},
		{"chunked, no length, over", io.MultiReader(strings.NewReader(big[:500]), strings.NewReader(big[500:])), true, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/graphql", tt.body)
			req.Header.Set("Content-Type", "application/json")
			if tt.chunked {
				req.ContentLength = -1
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.want, b)
			}
			if tt.want == 413 && !strings.Contains(string(b), "PAYLOAD_TOO_LARGE") {
				t.Errorf("body %s", b)
			}
		})
	}
}

// An endless chunked body is refused once it passes the limit: the server
// does not read it to its end.
func TestBodyLimitStopsReading(t *testing.T) {
	base, _ := hStart(t, map[string]string{"MAX_BODY_BYTES": "1000"})
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		pw.Write([]byte(`{"query":"{ __typename }","pad":"`))
		chunk := []byte(strings.Repeat("x", 512))
		for i := 0; i < 1<<14; i++ { // at most 8 MiB, far more than read
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", pr)
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", res.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	base, _ := hStart(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example"})
	pre, _ := http.NewRequest(http.MethodOptions, base+"/graphql", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	for _, tt := range []struct{ origin, want string }{
		{"https://app.example", "https://app.example"},
		{"https://evil.example", ""},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", tt.origin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q, want %q", tt.origin, got, tt.want)
		}
	}
}

func TestPlaygroundOff(t *testing.T) {
	base, _ := hStart(t, map[string]string{"GRAPHQL_PLAYGROUND": "false"})
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET / with the playground off: %d", res.StatusCode)
	}
}

func TestMetricsAndRequestLog(t *testing.T) {
	base, logs := hStart(t, nil)
	for _, q := range []string{
		`{"query":"query ListThem { items(first: 2) { totalCount } }","operationName":"ListThem"}`,
		`{"query":"query Broken { nope }","operationName":"Broken"}`,
		`{"query":"query Posts { externalPosts(limit: 2) { id author { name } } }"}`,
	} {
		res, err := http.Post(base+"/graphql", "application/json", strings.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	text := string(b)
	for _, want := range []string{
		`itemsrv_http_requests_total{method="POST",status="200"} 3`,
		`itemsrv_graphql_operations_total{operation="ListThem",outcome="ok"} 1`,
		`itemsrv_graphql_operations_total{operation="Broken",outcome="GRAPHQL_VALIDATION_FAILED"} 1`,
		`itemsrv_graphql_operation_duration_seconds_count{operation="ListThem"} 1`,
		`itemsrv_graphql_resolver_duration_seconds_count{field="Query.items"} 1`,
		`itemsrv_upstream_calls_total{op="posts",outcome="ok"} 1`,
		`itemsrv_upstream_calls_total{op="users",outcome="ok"} 1`,
		`itemsrv_upstream_breaker_state{state="closed"} 1`,
		`itemsrv_db_max_open_connections`,
		`go_goroutines`,
		`process_cpu_seconds_total`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct {
			Msg, RequestID, Path string
			Status               int
			Operations           []string
			ErrorCodes           []string
			Duration             any
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" || l.Path != "/graphql" {
			continue
		}
		if len(l.Operations) == 1 && l.Operations[0] == "Broken" {
			found = true
			if l.RequestID == "" || l.Status != 200 || l.Duration == nil || fmt.Sprint(l.ErrorCodes) != "[GRAPHQL_VALIDATION_FAILED]" {
				t.Errorf("request log line: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no request line for the operation Broken:\n%s", logs)
	}
}

func TestMetricsOnTheirOwnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base, _ := hStart(t, map[string]string{"METRICS_ADDR": addr})
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main port with METRICS_ADDR set: %d", res.StatusCode)
	}
	res, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "itemsrv_http_requests_total") {
		t.Errorf("/metrics on METRICS_ADDR: %d %.200s", res.StatusCode, b)
	}
}

// A cursor is valid on the database that issued it only: each database has
// a signing key of its own.
func TestCursorFromAnotherDatabaseIsRefused(t *testing.T) {
	a, _ := hStart(t, nil)
	b, _ := hStart(t, nil)
	page := func(base, after string) (*http.Response, map[string]any) {
		body, _ := json.Marshal(map[string]any{
			"query":     `query($after: String) { items(first: 1, after: $after) { pageInfo { endCursor } } }`,
			"variables": map[string]any{"after": after},
		})
		if after == "" {
			body, _ = json.Marshal(map[string]any{"query": `{ items(first: 1) { pageInfo { endCursor } } }`})
		}
		res, err := http.Post(base+"/graphql", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return res, out
	}
	for _, base := range []string{a, b} {
		for _, title := range []string{"one", "two"} {
			res, err := http.Post(base+"/graphql", "application/json",
				strings.NewReader(`{"query":"mutation { createItem(input: {title: \"`+title+`\"}) { id } }"}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
	}
	_, out := page(a, "")
	cursor := out["data"].(map[string]any)["items"].(map[string]any)["pageInfo"].(map[string]any)["endCursor"].(string)
	if _, out := page(a, cursor); out["errors"] != nil {
		t.Fatalf("the issuing server refused its own cursor: %v", out)
	}
	_, out = page(b, cursor)
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("another database's server took the cursor: %v", out)
	}
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	if ext["code"] != "BAD_USER_INPUT" || ext["field"] != "after" {
		t.Fatalf("error %v, want BAD_USER_INPUT on after", ext)
	}
}

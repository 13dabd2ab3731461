package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"itemsrv/db/dbtest"
	"itemsrv/internal/pgcluster"
	"itemsrv/jsonplaceholder"
)

// syncBuffer is the server's log, written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a server's environment: port 0, the given upstream and
// database, quick retries and quiet logs; more overrides it.
func testEnv(upstream, database string, more ...string) map[string]string {
	env := map[string]string{
		"PORT":                     "0",
		"DATABASE_URL":             database,
		"EXTERNAL_API_URL":         upstream,
		"EXTERNAL_API_RETRY_WAIT":  "1ms",
		"EXTERNAL_API_MAX_RETRIES": "1",
		"SHUTDOWN_TIMEOUT":         "10s",
		"LOG_LEVEL":                "warn",
	}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return env
}

// testServer is the whole program started by run in this process.
type testServer struct {
	URL  string // http://127.0.0.1:port
	Log  *syncBuffer
	stop func() error
}

// startServer runs the program with env until Stop or the end of t.
func startServer(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, log, func(addr string) { addrc <- addr })
	}()
	s := &testServer{Log: log}
	select {
	case addr := <-addrc:
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			cancel()
			t.Fatalf("ready with %q: %v", addr, err)
		}
		s.URL = "http://127.0.0.1:" + port
	case err := <-done:
		cancel()
		t.Fatalf("run returned before serving: %v\n%s", err, log)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("the server did not start in 30s\n%s", log)
	}
	s.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return 30s after its context ended")
		}
	})
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// Stop ends run's context and waits for it to return nil.
func (s *testServer) Stop(t *testing.T) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.Log)
	}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// post sends one GraphQL request and decodes the answer.
func post(ctx context.Context, client *http.Client, url, query string, vars map[string]any) (int, gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return 0, gqlResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return 0, gqlResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, gqlResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, gqlResponse{}, err
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, gqlResponse{}, fmt.Errorf("decode %q: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}

// query sends a GraphQL request that must succeed and decodes its data into
// out.
func query(t *testing.T, url, q string, vars map[string]any, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, resp, err := post(ctx, http.DefaultClient, url, q, vars)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if status != http.StatusOK || len(resp.Errors) > 0 {
		t.Fatalf("%s: HTTP %d, errors %+v", q, status, resp.Errors)
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		t.Fatalf("%s: decode data %s: %v", q, resp.Data, err)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type item struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	Description  *string         `json:"description"`
	ExternalData json.RawMessage `json:"externalData"`
	ExternalPost *struct {
		ID     string `json:"id"`
		UserID int    `json:"userId"`
		Title  string `json:"title"`
		Author *struct {
			Name string `json:"name"`
		} `json:"author"`
	} `json:"externalPost"`
	EnrichedAt *string `json:"enrichedAt"`
	Version    int     `json:"version"`
	CreatedAt  string  `json:"createdAt"`
	UpdatedAt  string  `json:"updatedAt"`
}

const itemFields = `id title description externalData externalPost { id userId title author { name } } enrichedAt version createdAt updatedAt`

func TestSmoke(t *testing.T) {
	engines := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", dbtest.SQLiteURL},
		{"postgres", dbtest.PostgresURL},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			upstream, _ := jsonplaceholder.NewServer()
			defer upstream.Close()
			env := testEnv(upstream.URL, e.url(t))
			s := startServer(t, env)

			if got := getStatus(t, s.URL+"/healthz"); got != http.StatusOK {
				t.Errorf("/healthz: %d", got)
			}
			if got := getStatus(t, s.URL+"/readyz"); got != http.StatusOK {
				t.Errorf("/readyz: %d", got)
			}

			var created struct{ CreateItem item }
			query(t, s.URL, `mutation($in: CreateItemInput!) { createItem(input: $in) { `+itemFields+` } }`,
				map[string]any{"in": map[string]any{"title": "  Buy milk  ", "description": "two litres"}}, &created)
			kept := created.CreateItem
			if kept.Title != "Buy milk" || kept.Description == nil || *kept.Description != "two litres" || kept.Version != 1 || kept.EnrichedAt != nil {
				t.Fatalf("created %+v", kept)
			}

			var read struct{ Item *item }
			query(t, s.URL, `query($id: ID!) { item(id: $id) { `+itemFields+` } }`, map[string]any{"id": kept.ID}, &read)
			if read.Item == nil || read.Item.Title != kept.Title || read.Item.CreatedAt != kept.CreatedAt {
				t.Fatalf("read back %+v, want %+v", read.Item, kept)
			}

			var updated struct{ UpdateItem item }
			query(t, s.URL, `mutation($id: ID!) { updateItem(id: $id, input: {title: "Buy oat milk", description: null, expectedVersion: 1}) { `+itemFields+` } }`,
				map[string]any{"id": kept.ID}, &updated)
			if u := updated.UpdateItem; u.Title != "Buy oat milk" || u.Description != nil || u.Version != 2 {
				t.Fatalf("updated %+v", u)
			}

			var enriched struct{ EnrichItem item }
			query(t, s.URL, `mutation($id: ID!) { enrichItem(id: $id, postId: "3") { `+itemFields+` } }`,
				map[string]any{"id": kept.ID}, &enriched)
			en := enriched.EnrichItem
			if en.Version != 3 || en.EnrichedAt == nil || en.ExternalPost == nil || en.ExternalPost.ID != "3" ||
				en.ExternalPost.Author == nil || en.ExternalPost.Author.Name == "" || len(en.ExternalData) == 0 {
				t.Fatalf("enriched %+v", en)
			}

			var doomed struct{ CreateItem item }
			query(t, s.URL, `mutation { createItem(input: {title: "Throw away"}) { id } }`, nil, &doomed)
			var list struct {
				Items struct {
					Nodes      []item
					TotalCount int
				}
			}
			query(t, s.URL, `{ items(first: 10) { nodes { id title } totalCount } }`, nil, &list)
			if list.Items.TotalCount != 2 || len(list.Items.Nodes) != 2 || list.Items.Nodes[0].ID != doomed.CreateItem.ID {
				t.Fatalf("listed %+v, want the two items, newest first", list.Items)
			}
			var deleted struct{ DeleteItem string }
			query(t, s.URL, `mutation($id: ID!) { deleteItem(id: $id) }`, map[string]any{"id": doomed.CreateItem.ID}, &deleted)
			if deleted.DeleteItem != doomed.CreateItem.ID {
				t.Fatalf("deleteItem returned %q, want %q", deleted.DeleteItem, doomed.CreateItem.ID)
			}
			var gone struct{ Item *item }
			query(t, s.URL, `query($id: ID!) { item(id: $id) { id } }`, map[string]any{"id": doomed.CreateItem.ID}, &gone)
			if gone.Item != nil {
				t.Fatalf("a deleted item is still there: %+v", gone.Item)
			}

			// The data outlives the process.
			s.Stop(t)
			s = startServer(t, env)
			var again struct {
				Item  *item
				Items struct{ TotalCount int }
			}
			query(t, s.URL, `query($id: ID!) { item(id: $id) { `+itemFields+` } items { totalCount } }`,
				map[string]any{"id": kept.ID}, &again)
			if again.Item == nil || again.Item.Version != 3 || again.Item.Title != "Buy oat milk" ||
				again.Item.EnrichedAt == nil || *again.Item.EnrichedAt != *en.EnrichedAt || again.Item.UpdatedAt != en.UpdatedAt ||
				string(again.Item.ExternalData) != string(en.ExternalData) {
				t.Fatalf("after a restart: %+v, want %+v", again.Item, en)
			}
			if again.Items.TotalCount != 1 {
				t.Fatalf("after a restart totalCount = %d, want 1", again.Items.TotalCount)
			}
		})
	}
}

// badSettings are settings of the contract with bad values, each with the
// variable the error must name.
var badSettings = []struct {
	name string
	give map[string]string
}{
	{"PORT", map[string]string{"PORT": "-1"}},
	{"DATABASE_URL", map[string]string{"DATABASE_URL": "mysql://root@localhost/items"}},
	{"EXTERNAL_API_URL", map[string]string{"EXTERNAL_API_URL": "ftp://example.com"}},
	{"EXTERNAL_API_TIMEOUT", map[string]string{"EXTERNAL_API_TIMEOUT": "ten seconds"}},
	{"EXTERNAL_API_MAX_RETRIES", map[string]string{"EXTERNAL_API_MAX_RETRIES": "-1"}},
	{"EXTERNAL_API_RETRY_WAIT", map[string]string{"EXTERNAL_API_RETRY_WAIT": "200"}},
	{"EXTERNAL_API_RETRY_MAX_WAIT", map[string]string{"EXTERNAL_API_RETRY_MAX_WAIT": "-5s"}},
	{"EXTERNAL_API_BREAKER_THRESHOLD", map[string]string{"EXTERNAL_API_BREAKER_THRESHOLD": "-3"}},
	{"EXTERNAL_API_BREAKER_COOLDOWN", map[string]string{"EXTERNAL_API_BREAKER_COOLDOWN": "soon"}},
	{"EXTERNAL_CACHE_TTL", map[string]string{"EXTERNAL_CACHE_TTL": "1 minute"}},
	{"GRAPHQL_COMPLEXITY_LIMIT", map[string]string{"GRAPHQL_COMPLEXITY_LIMIT": "-10"}},
	{"GRAPHQL_INTROSPECTION", map[string]string{"GRAPHQL_INTROSPECTION": "maybe"}},
	{"GRAPHQL_PLAYGROUND", map[string]string{"GRAPHQL_PLAYGROUND": "sometimes"}},
	{"MAX_BODY_BYTES", map[string]string{"MAX_BODY_BYTES": "-1"}},
	{"SHUTDOWN_TIMEOUT", map[string]string{"SHUTDOWN_TIMEOUT": "15"}},
	{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "chatty"}},
	{"AUTH_JWT_SECRET", map[string]string{"AUTH_JWT_SECRET": "s3cret", "AUTH_JWKS_URL": "http://127.0.0.1:1/jwks.json"}},
	{"METRICS_ADDR", map[string]string{"METRICS_ADDR": "nine thousand"}},
}

func TestRunRefusesBadSettings(t *testing.T) {
	for _, tt := range badSettings {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv("http://127.0.0.1:1", dbtest.SQLiteURL(t))
			for k, v := range tt.give {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Should it start after all, ready ends it: run then returns nil.
			err := run(ctx, func(k string) string { return env[k] }, io.Discard, func(string) { cancel() })
			if err == nil {
				t.Fatalf("run started with %v", tt.give)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("the error does not name %s: %v", tt.name, err)
			}
			var se settingsError
			if !errors.As(err, &se) {
				t.Errorf("not a settings error (the process would not exit with 2): %v", err)
			}
		})
	}
}

// binary is the program built once for the tests that run it as a process.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "itemsrv-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "itemsrv")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if path, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(path))
	}
	os.Exit(code)
}

// process is the built program running as a child process.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   chan string // the "serving" address, once
	done   chan struct{}
	err    error // cmd.Wait's, after done
}

// startProcess runs the binary in dir with exactly env (and PATH).
func startProcess(t *testing.T, dir string, env map[string]string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &syncBuffer{}, addr: make(chan string, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(line, '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" && rec.Addr != "" {
				select {
				case p.addr <- rec.Addr:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// url waits for the process to serve and returns its base URL.
func (p *process) url(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-p.addr:
		_, port, _ := net.SplitHostPort(addr)
		return "127.0.0.1:" + port
	case <-p.done:
		t.Fatalf("the process exited before serving: %v\n%s", p.err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("the process did not serve in 30s\n%s", p.stderr)
	}
	return ""
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("the process did not exit in %s\n%s", within, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait: %v", p.err)
	}
	return 0
}

func TestBinaryRefusesBadSettings(t *testing.T) {
	for _, name := range []string{"DATABASE_URL", "EXTERNAL_API_TIMEOUT", "AUTH_JWT_SECRET"} {
		t.Run(name, func(t *testing.T) {
			var give map[string]string
			for _, b := range badSettings {
				if b.name == name {
					give = b.give
				}
			}
			env := testEnv("http://127.0.0.1:1", dbtest.SQLiteURL(t))
			for k, v := range give {
				env[k] = v
			}
			p := startProcess(t, t.TempDir(), env)
			if code := p.wait(t, 20*time.Second); code == 0 {
				t.Fatalf("exit code 0 with %v", give)
			}
			if !strings.Contains(p.stderr.String(), name) {
				t.Fatalf("stderr does not name %s:\n%s", name, p.stderr)
			}
		})
	}
}

func TestBinaryReadsDotEnv(t *testing.T) {
	dir := t.TempDir()
	dotenv := "# settings for development\nEXTERNAL_API_TIMEOUT=forever\nLOG_LEVEL=info\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv("http://127.0.0.1:1", dbtest.SQLiteURL(t))
	delete(env, "LOG_LEVEL") // the .env's info level prints the address

	t.Run("read", func(t *testing.T) {
		p := startProcess(t, dir, env)
		if code := p.wait(t, 20*time.Second); code == 0 || !strings.Contains(p.stderr.String(), "EXTERNAL_API_TIMEOUT") {
			t.Fatalf("a bad setting in .env was not refused: exit %d\n%s", code, p.stderr)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		env := maps(env, "EXTERNAL_API_TIMEOUT", "2s")
		p := startProcess(t, dir, env)
		url := p.url(t) // the process serves only with the environment's value
		if got := getStatus(t, "http://"+url+"/healthz"); got != http.StatusOK {
			t.Errorf("/healthz: %d", got)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM\n%s", code, p.stderr)
		}
	})
}

// maps returns a copy of m with the key-value pairs set.
func maps(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestGracefulShutdown(t *testing.T) {
	upstream, fake := jsonplaceholder.NewServer()
	defer upstream.Close()
	env := testEnv(upstream.URL, dbtest.SQLiteURL(t), "LOG_LEVEL", "info", "EXTERNAL_API_TIMEOUT", "5s")
	p := startProcess(t, t.TempDir(), env)
	addr := p.url(t)
	base := "http://" + addr

	const slow = 4
	ids := make([]string, slow)
	for i := range ids {
		var c struct{ CreateItem item }
		query(t, base, `mutation { createItem(input: {title: "slow"}) { id } }`, nil, &c)
		ids[i] = c.CreateItem.ID
	}

	// Subscribers on both WebSocket subprotocols, several per socket: each
	// subscription must get its complete before its socket closes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type wsEnd struct {
		completed map[string]bool
		err       error
	}
	const perSocket = 10
	var wsEnds []chan wsEnd
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws", "graphql-transport-ws"} {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{proto}})
		if err != nil {
			t.Fatalf("dial the WebSocket: %v", err)
		}
		defer ws.CloseNow()
		wsWrite := func(v any) {
			b, _ := json.Marshal(v)
			if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
				t.Fatalf("WebSocket write: %v", err)
			}
		}
		wsWrite(map[string]any{"type": "connection_init", "payload": map[string]any{}})
		if _, msg, err := ws.Read(ctx); err != nil || !strings.Contains(string(msg), `"connection_ack"`) {
			t.Fatalf("connection_init: %s, %v", msg, err)
		}
		start := "subscribe"
		if proto == "graphql-ws" {
			start = "start"
		}
		for i := range perSocket {
			wsWrite(map[string]any{"id": strconv.Itoa(i), "type": start, "payload": map[string]any{"query": "subscription { itemEvents { type id } }"}})
		}
		end := make(chan wsEnd, 1)
		wsEnds = append(wsEnds, end)
		go func() {
			completed := map[string]bool{}
			for {
				_, b, err := ws.Read(ctx)
				if err != nil {
					end <- wsEnd{completed, err}
					return
				}
				var m struct{ Type, ID string }
				if json.Unmarshal(b, &m) == nil && m.Type == "complete" {
					completed[m.ID] = true
				}
			}
		}()
	}
	want := fmt.Sprintf("itemsrv_subscriptions_active %d\n", 3*perSocket)
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never said %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Slow requests in flight: the upstream takes a second for each post.
	fake.AddFault(jsonplaceholder.Fault{Path: "/posts/", Prefix: true, Delay: time.Second})
	type result struct {
		status int
		resp   gqlResponse
		err    error
	}
	results := make(chan result, slow)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, id := range ids {
		go func() {
			status, resp, err := post(ctx, client, base, `mutation($id: ID!) { enrichItem(id: $id, postId: "1") { id version } }`, map[string]any{"id": id})
			results <- result{status, resp, err}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); fake.TotalRequests() < slow; {
		if time.Now().After(deadline) {
			t.Fatalf("the upstream saw %d of %d calls", fake.TotalRequests(), slow)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.stderr.String(), `"shutting down"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown in the log:\n%s", p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The listener is closed at once, while the slow requests still run.
	time.Sleep(50 * time.Millisecond)
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("a new connection was accepted during shutdown")
	}

	for range slow {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || len(r.resp.Errors) > 0 {
			t.Errorf("an in-flight request was cut short: HTTP %d, %v, %+v", r.status, r.err, r.resp.Errors)
		}
	}
	for i, end := range wsEnds {
		select {
		case e := <-end:
			if got := websocket.CloseStatus(e.err); got != websocket.StatusNormalClosure && got != websocket.StatusGoingAway {
				t.Errorf("socket %d ended without a close frame: %v", i, e.err)
			}
			if len(e.completed) != perSocket {
				t.Errorf("socket %d: %d of %d subscriptions got their complete before the close: %v", i, len(e.completed), perSocket, e.completed)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("socket %d was not closed", i)
		}
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.stderr)
	}
}

// TestDatabaseOutage stops the database under a running server and starts it
// again: the server keeps serving, says it is not ready, fails requests at
// once with SERVICE_UNAVAILABLE, recovers by itself, and lost no write it
// reported done.
func TestDatabaseOutage(t *testing.T) {
	cluster := pgcluster.Start(t)
	upstream, _ := jsonplaceholder.NewServer()
	defer upstream.Close()
	s := startServer(t, testEnv(upstream.URL, cluster.URL()))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu        sync.Mutex
		succeeded []string
		writes    sync.WaitGroup
	)
	writes.Add(1)
	go func() {
		defer writes.Done()
		for ctx.Err() == nil {
			_, resp, err := post(ctx, client, s.URL, `mutation { createItem(input: {title: "written"}) { id } }`, nil)
			var data struct{ CreateItem struct{ ID string } }
			if err == nil && len(resp.Errors) == 0 && json.Unmarshal(resp.Data, &data) == nil && data.CreateItem.ID != "" {
				mu.Lock()
				succeeded = append(succeeded, data.CreateItem.ID)
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	waitFor("some writes succeeded", func() bool { mu.Lock(); defer mu.Unlock(); return len(succeeded) >= 5 })

	cluster.Stop(t)
	if got := getStatus(t, s.URL+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz during the outage: %d, want 200", got)
	}
	if got := getStatus(t, s.URL+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", got)
	}
	for _, q := range []string{
		`mutation { createItem(input: {title: "lost"}) { id } }`,
		`{ items { totalCount nodes { id } } }`,
		`{ item(id: "1") { id } }`,
	} {
		start := time.Now()
		status, resp, err := post(ctx, client, s.URL, q, nil)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if status != http.StatusOK || resp.code() != "SERVICE_UNAVAILABLE" {
			t.Errorf("%s: HTTP %d, %+v; want SERVICE_UNAVAILABLE", q, status, resp.Errors)
			continue
		}
		if took > 5*time.Second {
			t.Errorf("%s: failing took %s", q, took)
		}
		msg := strings.ToLower(resp.Errors[0].Message)
		for _, w := range []string{"sql", "pgx", "pgconn", "dial", "127.0.0.1", "refused", "eof", "postgres"} {
			if strings.Contains(msg, w) {
				t.Errorf("%s: the message %q shows %q", q, resp.Errors[0].Message, w)
			}
		}
	}

	cluster.Restart(t)
	waitFor("/readyz says ready again", func() bool { return getStatus(t, s.URL+"/readyz") == http.StatusOK })
	mu.Lock()
	before := len(succeeded)
	mu.Unlock()
	waitFor("writes succeed again", func() bool { mu.Lock(); defer mu.Unlock(); return len(succeeded) > before+3 })
	cancel()
	writes.Wait()

	// Every write that was reported done is in the database.
	conn, err := pgx.Connect(context.Background(), cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var found int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM items WHERE id::text = ANY($1)`, succeeded).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != len(succeeded) {
		t.Fatalf("%d of %d successful creates are in the database", found, len(succeeded))
	}
	t.Logf("%d creates succeeded across the outage, all stored", len(succeeded))
}

// TestLoad creates 2,000 items, 32 at a time, through the whole program on
// PostgreSQL: every one succeeds, the count matches, and once the server has
// stopped no goroutine of it is left.
func TestLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	upstream, _ := jsonplaceholder.NewServer()
	defer upstream.Close()
	// No upstream cache: its expiry goroutine lives as long as the process.
	// Commits need not wait for the disk here: the test measures the
	// server, not the shared test database's fsync.
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	dbURL := u.String()
	s := startServer(t, testEnv(upstream.URL, dbURL, "EXTERNAL_CACHE_TTL", "0", "DATABASE_MAX_CONNS", "16"))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

	const total, workers = 2000, 32
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jobs := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				status, resp, err := post(ctx, client, s.URL, `mutation($in: CreateItemInput!) { createItem(input: $in) { id version } }`,
					map[string]any{"in": map[string]any{"title": fmt.Sprintf("load %d", i)}})
				switch {
				case err != nil:
					errs <- err
				case status != http.StatusOK || len(resp.Errors) > 0:
					errs <- fmt.Errorf("create %d: HTTP %d, %+v", i, status, resp.Errors)
				}
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 5 {
			t.Error(err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d creates failed", failed, total)
	}
	var list struct{ Items struct{ TotalCount int } }
	query(t, s.URL, `{ items(filter: {search: "load "}) { totalCount } }`, nil, &list)
	if list.Items.TotalCount != total {
		t.Fatalf("totalCount = %d, want %d", list.Items.TotalCount, total)
	}
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	s.Stop(t)
}

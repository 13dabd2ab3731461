package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/events"
	"itemsrv/graph"
	"itemsrv/items"
)

// subEnv is the GraphQL handler on a SQLite database whose store publishes
// its commits to a broker, the way main wires a single process.
type subEnv struct {
	srv    *httptest.Server
	url    string // the GraphQL endpoint
	broker *events.Broker
	store  *db.Store
	d      *db.DB
}

// subServe starts a subEnv with o. The caller closes it with close, so that
// a test may check for leaked goroutines after everything is gone.
func subServe(t *testing.T, o graph.Options) *subEnv {
	t.Helper()
	d, err := db.Open(context.Background(), dbtest.SQLiteURL(t), db.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if _, err := d.Migrate(context.Background()); err != nil {
		d.Close()
		t.Fatalf("migrate: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	store := db.NewStore(d)
	broker := events.NewBroker(events.Options{Logger: log})
	store.OnCommit(broker.Publish)
	r := &graph.Resolver{Store: store, Broker: broker, Log: log}
	o.Log = log
	if o.AllowedOrigins == nil {
		o.AllowedOrigins = []string{"*"}
	}
	srv := httptest.NewServer(r.LoadersMiddleware(graph.NewHandler(r, o)))
	return &subEnv{srv: srv, url: srv.URL + "/graphql", broker: broker, store: store, d: d}
}

// close ends the subscriptions, then the server, then the database.
func (e *subEnv) close() {
	e.broker.Close()
	e.srv.Close()
	e.d.Close()
}

// waitSubscribers waits until the broker holds n subscriptions.
func (e *subEnv) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.broker.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("broker has %d subscriptions, want %d", e.broker.Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subSSE opens an itemEvents subscription over SSE on a raw connection (no
// client goroutines: a thousand of them stay cheap) and returns a reader
// positioned after the response header.
func subSSE(ctx context.Context, addr, query string) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		conn.Close()
		return nil, nil, fmt.Errorf("subscribe: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return conn, bufio.NewReader(resp.Body), nil
}

// subNextSSE reads SSE frames until a "next" event and returns its data.
func subNextSSE(r *bufio.Reader) (string, error) {
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			if event == "complete" {
				return "", errors.New("subscription completed before an event")
			}
		case strings.HasPrefix(line, "data:") && event == "next":
			return strings.TrimSpace(strings.TrimPrefix(line, "data:")), nil
		}
	}
}

// subPost sends one operation and fails t on any error.
func subPost(t *testing.T, url, query string, vars map[string]any) json.RawMessage {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []any           `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(out.Errors) > 0 {
		t.Fatalf("errors: %v", out.Errors)
	}
	return out.Data
}

// A thousand subscribers of one process each receive a committed event, and
// once clients and server are closed no goroutine is left behind.
func TestSubscriptionFanoutThousand(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const n = 1000
	e := subServe(t, graph.Options{})
	defer e.close()
	addr := e.srv.Listener.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		data string
		err  error
	}
	results := make(chan result, n)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		conn, r, err := subSSE(ctx, addr, `subscription { itemEvents { type id item { title version } } }`)
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		conns[i] = conn
		conn.SetReadDeadline(time.Now().Add(25 * time.Second))
		wg.Go(func() {
			data, err := subNextSSE(r)
			results <- result{data, err}
		})
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	e.waitSubscribers(t, n)

	var created struct {
		CreateItem struct{ ID string } `json:"createItem"`
	}
	data := subPost(t, e.url, `mutation { createItem(input: {title: "to everyone"}) { id } }`, nil)
	if err := json.Unmarshal(data, &created); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"data":{"itemEvents":{"type":"CREATED","id":%q,"item":{"title":"to everyone","version":1}}}}`, created.CreateItem.ID)
	for i := range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("subscriber %d of %d: %v", i+1, n, r.err)
		}
		if r.data != want {
			t.Fatalf("subscriber got %s, want %s", r.data, want)
		}
	}
}

// subDialWS opens a graphql-transport-ws socket with origin (none when "").
func subDialWS(ctx context.Context, url, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, strings.Replace(url, "http://", "ws://", 1), &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   h,
	})
}

// A socket that never sends connection_init is closed once the init timeout
// passes; one that sends it in time outlives the timeout and subscribes.
func TestWebsocketInitTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := subServe(t, graph.Options{InitTimeout: timeout})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	silent, _, err := subDialWS(ctx, e.url, "")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer silent.CloseNow()
	_, msg, err := silent.Read(ctx)
	if err == nil {
		t.Fatalf("a socket without connection_init got %s, want it closed", msg)
	}
	if ctx.Err() != nil {
		t.Fatalf("a socket without connection_init is still open after %v", 10*time.Second)
	}
	// graphql-transport-ws' 4408 Connection initialisation timeout.
	if got := websocket.CloseStatus(err); got != 4408 {
		t.Fatalf("close status %v (%v), want 4408", got, err)
	}

	polite, _, err := subDialWS(ctx, e.url, "")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer polite.CloseNow()
	subWrite(ctx, t, polite, `{"type":"connection_init"}`)
	if got := subRead(ctx, t, polite); got["type"] != "connection_ack" {
		t.Fatalf("got %v, want connection_ack", got)
	}
	time.Sleep(2 * timeout)
	subWrite(ctx, t, polite, `{"type":"subscribe","id":"1","payload":{"query":"subscription { itemEvents { type item { title } } }"}}`)
	e.waitSubscribers(t, 1)
	subPost(t, e.url, `mutation { createItem(input: {title: "after the timeout"}) { id } }`, nil)
	got := subRead(ctx, t, polite)
	b, _ := json.Marshal(got["payload"])
	if got["type"] != "next" || string(b) != `{"data":{"itemEvents":{"item":{"title":"after the timeout"},"type":"CREATED"}}}` {
		t.Fatalf("got %v, want the CREATED event", got)
	}
}

// With a list of allowed origins, a socket from another origin is refused
// and one from a listed origin is accepted.
func TestWebsocketOrigin(t *testing.T) {
	e := subServe(t, graph.Options{AllowedOrigins: []string{"https://app.example.com"}})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, resp, err := subDialWS(ctx, e.url, "https://evil.example.net")
	if err == nil {
		c.CloseNow()
		t.Fatal("a socket from a disallowed origin was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("disallowed origin: %v (response %v), want HTTP 403", err, resp)
	}

	c, _, err = subDialWS(ctx, e.url, "https://app.example.com")
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	defer c.CloseNow()
	subWrite(ctx, t, c, `{"type":"connection_init"}`)
	if got := subRead(ctx, t, c); got["type"] != "connection_ack" {
		t.Fatalf("got %v, want connection_ack", got)
	}
}

// A subscriber that stops reading is ended, and the others keep receiving.
func TestSubscriptionSlowReaderIsDropped(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := e.broker.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range events.DefaultBufferSize + 1 {
		if _, err := e.store.CreateItem(ctx, "", items.NewItem{Title: fmt.Sprintf("item %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range sub.C {
		n++
	}
	if n != events.DefaultBufferSize || !errors.Is(sub.Err(), events.ErrFellBehind) {
		t.Fatalf("read %d events, err %v; want %d and ErrFellBehind", n, sub.Err(), events.DefaultBufferSize)
	}
}

func subWrite(ctx context.Context, t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %s: %v", msg, err)
	}
}

// subRead returns the next message that is not a ping or pong.
func subRead(ctx context.Context, t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if m["type"] != "ping" && m["type"] != "pong" {
			return m
		}
	}
}

// subConnect opens a graphql-transport-ws socket and has it acknowledged.
// The test closes it when it ends.
func subConnect(ctx context.Context, t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := subDialWS(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	subWrite(ctx, t, c, `{"type":"connection_init"}`)
	if m := subRead(ctx, t, c); m["type"] != "connection_ack" {
		t.Fatalf("got %v, want connection_ack", m)
	}
	return c
}

// subClosed reads until the server closes c and returns how it closed.
func subClosed(ctx context.Context, c *websocket.Conn) websocket.CloseError {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				ce = websocket.CloseError{Code: -1, Reason: err.Error()}
			}
			return ce
		}
	}
}

// Every event carries the item as its change committed it: several writes
// in one request, delivered after all of them committed, still show each
// version in turn, and the deletion shows none.
func TestSubscriptionEventsCarryTheCommittedItem(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, r, err := subSSE(ctx, e.srv.Listener.Addr().String(), `subscription { itemEvents { type item { title version } } }`)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.waitSubscribers(t, 1)
	var created struct{ CreateItem struct{ ID string } }
	if err := json.Unmarshal(subPost(t, e.url, `mutation { createItem(input: {title: "r0"}) { id } }`, nil), &created); err != nil {
		t.Fatal(err)
	}
	subPost(t, e.url, `mutation($id: ID!) {
		a: updateItem(id: $id, input: {title: "r1"}) { version }
		b: updateItem(id: $id, input: {title: "r2"}) { version }
		c: updateItem(id: $id, input: {title: "r3"}) { version }
		d: deleteItem(id: $id)
	}`, map[string]any{"id": created.CreateItem.ID})
	want := []string{
		`{"data":{"itemEvents":{"type":"CREATED","item":{"title":"r0","version":1}}}}`,
		`{"data":{"itemEvents":{"type":"UPDATED","item":{"title":"r1","version":2}}}}`,
		`{"data":{"itemEvents":{"type":"UPDATED","item":{"title":"r2","version":3}}}}`,
		`{"data":{"itemEvents":{"type":"UPDATED","item":{"title":"r3","version":4}}}}`,
		`{"data":{"itemEvents":{"type":"DELETED","item":null}}}`,
	}
	for i, w := range want {
		got, err := subNextSSE(r)
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Fatalf("event %d = %s, want %s", i, got, w)
		}
	}
}

// A connection_init whose payload is not an object closes the socket with
// 4400 at once, instead of leaving it open.
func TestWebsocketInitPayloadNotAnObject(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := subDialWS(ctx, e.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	subWrite(ctx, t, c, `{"type":"connection_init","payload":"Bearer x"}`)
	_, _, err = c.Read(ctx)
	if status := websocket.CloseStatus(err); status != 4400 {
		t.Fatalf("read after a bad connection_init: %v (status %d), want a close with 4400", err, status)
	}
}

// graphql-transport-ws close codes for protocol violations, and 4409 for a
// subscription id already in use.
func TestWebsocketProtocolViolations(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	const sub = `{"id":"1","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }"}}`
	tests := []struct {
		name string
		send []string
		want websocket.StatusCode
	}{
		{"subscribe before connection_init", []string{sub}, 4401},
		{"not JSON", []string{`{nope`}, 4400},
		{"second connection_init", []string{`{"type":"connection_init"}`, `{"type":"connection_init"}`}, 4429},
		{"id in use", []string{`{"type":"connection_init"}`, sub, sub}, 4409},
		{"subscribe without a payload", []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe"}`}, 4400},
		{"subscribe without a query", []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe","payload":{"variables":{}}}`}, 4400},
		{"subscribe with a payload that is not an object", []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe","payload":"subscription { itemEvents { id } }"}`}, 4400},
		{"subscribe without an id", []string{`{"type":"connection_init"}`, `{"type":"subscribe","payload":{"query":"subscription { itemEvents { id } }"}}`}, 4400},
		{"complete without an id", []string{`{"type":"connection_init"}`, `{"type":"complete"}`}, 4400},
		{"unknown message type", []string{`{"type":"connection_init"}`, `{"id":"1","type":"start"}`}, 4400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := subDialWS(ctx, e.url, "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for _, m := range tt.send {
				subWrite(ctx, t, c, m)
			}
			if ce := subClosed(ctx, c); ce.Code != tt.want {
				t.Fatalf("closed with %v, want %v", ce, tt.want)
			}
		})
	}
}

// A subscription that ends in an error message ends there: no complete
// follows it (gqlgen sends one), and its id is free again.
func TestWebsocketErrorEndsTheSubscription(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := subConnect(ctx, t, e.url)
	// A persisted query's hash alone is a request too, answered in-band
	// (gqlgen answers a miss as a result with the error, then completes).
	subWrite(ctx, t, c, `{"id":"1","type":"subscribe","payload":{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+strings.Repeat("0", 64)+`"}}}}`)
	if m := subRead(ctx, t, c); m["type"] != "next" || !strings.Contains(fmt.Sprint(m["payload"]), "PERSISTED_QUERY_NOT_FOUND") {
		t.Fatalf("got %v, want PERSISTED_QUERY_NOT_FOUND", m)
	}
	if m := subRead(ctx, t, c); m["type"] != "complete" || m["id"] != "1" {
		t.Fatalf("got %v, want complete for 1", m)
	}
	for range 2 {
		subWrite(ctx, t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { nope }"}}`)
		m := subRead(ctx, t, c)
		errs, _ := m["payload"].([]any)
		if m["type"] != "error" || m["id"] != "1" || len(errs) != 1 {
			t.Fatalf("got %v, want an error for 1", m)
		}
		if code := errs[0].(map[string]any)["extensions"].(map[string]any)["code"]; code != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("code = %v", code)
		}
		// The next message is the answer to this ping, not a complete.
		subWrite(ctx, t, c, `{"type":"ping"}`)
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"type":"pong"}` {
			t.Fatalf("after the error: %s, want the pong", b)
		}
	}
}

// A client may reuse the id of a subscription it completed. The old
// subscription's end then neither reaches the client nor frees the new
// one's id: events arrive once, nothing says the new subscription ended,
// and a third subscribe with the id in use still closes with 4409.
func TestWebsocketReusedIDAfterComplete(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const sub = `{"id":"d","type":"subscribe","payload":{"query":"subscription { itemEvents { type item { title } } }"}}`
	c := subConnect(ctx, t, e.url)
	subWrite(ctx, t, c, sub)
	e.waitSubscribers(t, 1)
	subWrite(ctx, t, c, `{"id":"d","type":"complete"}`)
	subWrite(ctx, t, c, sub)
	e.waitSubscribers(t, 1)
	time.Sleep(100 * time.Millisecond) // the old subscription's end has come and gone
	subPost(t, e.url, `mutation { createItem(input: {title: "once"}) { id } }`, nil)
	m := subRead(ctx, t, c)
	if m["type"] != "next" || m["id"] != "d" || !strings.Contains(fmt.Sprint(m["payload"]), "once") {
		t.Fatalf("got %v, want the event for d", m)
	}
	// No second copy of the event and no complete: the next message is
	// the pong.
	subWrite(ctx, t, c, `{"type":"ping"}`)
	if _, b, err := c.Read(ctx); err != nil || string(b) != `{"type":"pong"}` {
		t.Fatalf("got %s (%v), want the pong", b, err)
	}
	subWrite(ctx, t, c, sub)
	if ce := subClosed(ctx, c); ce.Code != 4409 {
		t.Fatalf("closed with %v, want 4409", ce)
	}
}

// A subscription selects one root field, counted by response name: two
// aliases of itemEvents are refused like two fields are, before anything
// runs, on every transport.
func TestSubscriptionWithTwoRootFieldsIsRefused(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const query = `subscription { a: itemEvents { id } b: itemEvents { id } }`

	c := subConnect(ctx, t, e.url)
	subWrite(ctx, t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { a: itemEvents { id } b: itemEvents { id } }"}}`)
	m := subRead(ctx, t, c)
	if m["type"] != "error" || !strings.Contains(fmt.Sprint(m["payload"]), "GRAPHQL_VALIDATION_FAILED") ||
		!strings.Contains(fmt.Sprint(m["payload"]), "must select only one top level field") {
		t.Fatalf("got %v, want a validation error", m)
	}

	// Skipping one of them leaves one field: that subscription runs.
	subWrite(ctx, t, c, `{"id":"2","type":"subscribe","payload":{"query":"subscription { a: itemEvents { id } b: itemEvents @skip(if: true) { id } }"}}`)
	e.waitSubscribers(t, 1)

	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "GRAPHQL_VALIDATION_FAILED") {
		t.Fatalf("SSE: %d %s, want 400 with GRAPHQL_VALIDATION_FAILED", resp.StatusCode, b)
	}
}

// After the acknowledgement, a message that is not a protocol message
// closes with 4400 and the protocol's reason, not one about connection_init.
func TestWebsocketInvalidMessageReason(t *testing.T) {
	e := subServe(t, graph.Options{})
	defer e.close()
	for _, msg := range []string{
		`{nope`, `[1]`, `null`, `{"type":"start"}`,
		`{"id":1,"type":"subscribe","payload":{"query":"subscription { itemEvents { id } }"}}`,
		// Something after the message, which gqlgen alone would ignore.
		`{"id":"b","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }"}} {}`,
		`{"id":"s1","type":"complete"} x`,
		// Member names are exact.
		`{"TYPE":"ping"}`,
		`{"ID":"b","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }"}}`,
		// The payload's members must be of their kinds.
		`{"id":"v","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }","variables":5}}`,
		`{"id":"v","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }","operationName":1}}`,
		`{"id":"v","type":"subscribe","payload":{"query":"subscription { itemEvents { id } }","extensions":[]}}`,
	} {
		t.Run(msg, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c := subConnect(ctx, t, e.url)
			subWrite(ctx, t, c, msg)
			if ce := subClosed(ctx, c); ce.Code != 4400 || ce.Reason != "Invalid message received" {
				t.Fatalf("closed with %v, want 4400 Invalid message received", ce)
			}
		})
	}
}

// Live counts every subscription being served, on both WebSocket
// subprotocols and SSE, until its end is written or its socket is gone.
func TestLiveCountsSubscriptions(t *testing.T) {
	live := &graph.Live{}
	e := subServe(t, graph.Options{Live: live})
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitLive := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); live.Count() != n; {
			if time.Now().After(deadline) {
				t.Fatalf("Live counts %d, want %d", live.Count(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	const q = `"payload":{"query":"subscription { itemEvents { id } }"}`
	c := subConnect(ctx, t, e.url)
	subWrite(ctx, t, c, `{"id":"1","type":"subscribe",`+q+`}`)
	subWrite(ctx, t, c, `{"id":"2","type":"subscribe",`+q+`}`)

	legacy, _, err := websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1), &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.CloseNow()
	subWrite(ctx, t, legacy, `{"type":"connection_init"}`)
	subWrite(ctx, t, legacy, `{"id":"1","type":"start",`+q+`}`)

	conn, _, err := subSSE(ctx, e.srv.Listener.Addr().String(), `subscription { itemEvents { id } }`)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitLive(4)

	// A query sent as a subscription ends by itself; a completed one ends.
	subWrite(ctx, t, c, `{"id":"3","type":"subscribe","payload":{"query":"{ items(first: 1) { totalCount } }"}}`)
	subWrite(ctx, t, c, `{"id":"1","type":"complete"}`)
	waitLive(3)
	subWrite(ctx, t, legacy, `{"id":"1","type":"stop"}`)
	waitLive(2)

	// Sockets that go away take their subscriptions with them.
	c.CloseNow()
	conn.Close()
	waitLive(0)
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"itemsrv/db/dbtest"
	"itemsrv/jsonplaceholder"
)

// evEvent is one itemEvents payload.
type evEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Item *struct {
		ID           string  `json:"id"`
		Title        string  `json:"title"`
		Description  *string `json:"description"`
		Version      int     `json:"version"`
		ExternalPost *struct {
			ID string `json:"id"`
		} `json:"externalPost"`
	} `json:"item"`
}

// evMsg is what a subscription yields: an event, or why it ended.
type evMsg struct {
	ev  evEvent
	err error
}

// errEvEnded is a subscription the server ended.
var errEvEnded = errors.New("the server ended the subscription")

// evSend hands m to s unless ctx is done, so that a reader never outlives
// its subscription's close however many events were left unread.
func evSend(ctx context.Context, s *evSub, m evMsg) {
	select {
	case s.c <- m:
	case <-ctx.Done():
	}
}

// evSub is one itemEvents subscription on any transport. A goroutine reads
// it and hands the events over c, so that waiting is bounded without
// cancelling reads (which closes a WebSocket).
type evSub struct {
	name  string
	c     chan evMsg
	close func()
}

// next returns the next event, failing t after within.
func (s *evSub) next(t *testing.T, within time.Duration) evEvent {
	t.Helper()
	select {
	case m := <-s.c:
		if m.err != nil {
			t.Fatalf("%s: %v", s.name, m.err)
		}
		return m.ev
	case <-time.After(within):
		t.Fatalf("%s: no event within %v", s.name, within)
	}
	return evEvent{}
}

// nextFor skips events of other items and returns the next one of id.
func (s *evSub) nextFor(t *testing.T, id string) evEvent {
	t.Helper()
	for {
		if e := s.next(t, 10*time.Second); e.ID == id {
			return e
		}
	}
}

// evDecode turns an execution result into an event or an error.
func evDecode(payload json.RawMessage) evMsg {
	var r struct {
		Data struct {
			ItemEvents *evEvent `json:"itemEvents"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return evMsg{err: fmt.Errorf("decode %s: %w", payload, err)}
	}
	if len(r.Errors) > 0 || r.Data.ItemEvents == nil {
		return evMsg{err: fmt.Errorf("%w with %s", errEvEnded, payload)}
	}
	return evMsg{ev: *r.Data.ItemEvents}
}

// evDialWS subscribes over a WebSocket speaking protocol: graphql-transport-ws
// (connection_init, connection_ack, subscribe, next…) or the legacy graphql-ws
// (connection_init, connection_ack, start, data…).
func evDialWS(t *testing.T, base, protocol, query string) *evSub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, _, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(base, "http://")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		cancel()
		t.Fatalf("dial %s: %v", protocol, err)
	}
	if conn.Subprotocol() != protocol {
		t.Fatalf("the server chose subprotocol %q, want %q", conn.Subprotocol(), protocol)
	}
	conn.SetReadLimit(1 << 20)
	write := func(v any) {
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("%s write: %v", protocol, err)
		}
	}
	write(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for connection_ack: %v", protocol, err)
		}
		if strings.Contains(string(b), `"connection_ack"`) {
			break
		}
	}
	start := "subscribe"
	if protocol == "graphql-ws" {
		start = "start"
	}
	write(map[string]any{"id": "1", "type": start, "payload": map[string]any{"query": query}})

	s := &evSub{name: protocol, c: make(chan evMsg, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				evSend(ctx, s, evMsg{err: fmt.Errorf("%w: %v", errEvEnded, err)})
				return
			}
			var m struct {
				Type    string          `json:"type"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				evSend(ctx, s, evMsg{err: fmt.Errorf("decode %s: %w", b, err)})
				return
			}
			switch m.Type {
			case "next", "data":
				evSend(ctx, s, evDecode(m.Payload))
			case "error", "complete", "connection_error":
				evSend(ctx, s, evMsg{err: fmt.Errorf("%w: %s", errEvEnded, b)})
				return
			}
		}
	}()
	s.close = func() {
		conn.Close(websocket.StatusNormalClosure, "")
		cancel()
		<-done
	}
	t.Cleanup(s.close)
	return s
}

// evSSE subscribes over Server-Sent Events (graphql-sse, distinct
// connections mode).
func evSSE(t *testing.T, base, query string) *evSub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SSE: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		cancel()
		t.Fatalf("SSE: HTTP %d, Content-Type %q", resp.StatusCode, ct)
	}
	s := &evSub{name: "SSE", c: make(chan evMsg, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		event := ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				evSend(ctx, s, evMsg{err: fmt.Errorf("%w: %v", errEvEnded, err)})
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
				if event == "complete" {
					evSend(ctx, s, evMsg{err: fmt.Errorf("%w: complete", errEvEnded)})
					return
				}
			case strings.HasPrefix(line, "data:") && event == "next":
				evSend(ctx, s, evDecode(json.RawMessage(strings.TrimSpace(strings.TrimPrefix(line, "data:")))))
			}
		}
	}()
	s.close = func() {
		cancel()
		<-done
		client.CloseIdleConnections()
	}
	t.Cleanup(s.close)
	return s
}

// evResult is a GraphQL response.
type evResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// evCode is the first error's extensions.code, or "".
func (r evResult) evCode() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// evDo posts one operation to base.
func evDo(t *testing.T, base, query string, vars map[string]any) evResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var r evResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

// evOK posts one operation that must succeed and decodes its data into out.
func evOK(t *testing.T, base, query string, vars map[string]any, out any) {
	t.Helper()
	r := evDo(t, base, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: %+v", query, r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
}

// evCreate creates an item through base and returns its id.
func evCreate(t *testing.T, base, title string, description *string) string {
	t.Helper()
	var out struct {
		CreateItem struct{ ID string } `json:"createItem"`
	}
	evOK(t, base, `mutation($t: String!, $d: String) { createItem(input: {title: $t, description: $d}) { id } }`,
		map[string]any{"t": title, "d": description}, &out)
	return out.CreateItem.ID
}

// evSync waits until every subscription receives events, then drains them:
// a subscription's registration has no acknowledgement in these protocols,
// so probe items are created until each has seen one, and a last fence item
// marks the end of what was sent before. It returns an error, rather than
// failing, when a subscription ends meanwhile.
func evSync(t *testing.T, base string, within time.Duration, subs ...*evSub) error {
	t.Helper()
	deadline := time.Now().Add(within)
	pending := map[*evSub]bool{}
	for _, s := range subs {
		pending[s] = true
	}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no event reached %d of %d subscriptions within %v", len(pending), len(subs), within)
		}
		evCreate(t, base, "probe", nil)
		roundEnd := time.Now().Add(200 * time.Millisecond)
		for s := range pending {
			select {
			case m := <-s.c:
				if m.err != nil {
					return fmt.Errorf("%s: %w", s.name, m.err)
				}
				delete(pending, s)
			case <-time.After(time.Until(roundEnd)):
			}
		}
	}
	fence := evCreate(t, base, "fence", nil)
	for _, s := range subs {
		for {
			select {
			case m := <-s.c:
				if m.err != nil {
					return fmt.Errorf("%s: %w", s.name, m.err)
				}
				if m.ev.ID != fence {
					continue
				}
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s: the fence event did not arrive", s.name)
			}
			break
		}
	}
	return nil
}

const evQuery = `subscription { itemEvents { type id item { id title description version externalPost { id } } } }`

// evPair is two server processes sharing one PostgreSQL database.
type evPair struct {
	dbURL    string
	upstream *jsonplaceholder.Fake
	a, b     string // base URLs
}

func evStartPair(t *testing.T) *evPair {
	t.Helper()
	dbURL := dbtest.PostgresURL(t)
	upstream, fake := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	env := testEnv(upstream.URL, dbURL, "LOG_LEVEL", "info")
	pa := startProcess(t, t.TempDir(), env)
	pb := startProcess(t, t.TempDir(), env)
	return &evPair{dbURL: dbURL, upstream: fake, a: "http://" + pa.url(t), b: "http://" + pb.url(t)}
}

// Two processes on one database: a subscriber of process A receives, on
// every transport, the events of the mutations sent to process B, in commit
// order; rolled-back writes publish nothing; long multibyte descriptions
// arrive whole; and after the listener's connection is killed events flow
// again to new subscriptions.
func TestEventsAcrossProcesses(t *testing.T) {
	t.Parallel()
	p := evStartPair(t)

	t.Run("every transport in order", func(t *testing.T) {
		subs := []*evSub{
			evDialWS(t, p.a, "graphql-transport-ws", evQuery),
			evDialWS(t, p.a, "graphql-ws", evQuery),
			evSSE(t, p.a, evQuery),
		}
		if err := evSync(t, p.b, 15*time.Second, subs...); err != nil {
			t.Fatal(err)
		}

		// One mutation at a time, each event awaited.
		id := evCreate(t, p.b, "first", nil)
		for _, s := range subs {
			e := s.nextFor(t, id)
			if e.Type != "CREATED" || e.Item == nil || e.Item.Version != 1 || e.Item.Title != "first" || e.Item.ID != id {
				t.Fatalf("%s: got %+v, want CREATED version 1", s.name, e)
			}
		}
		evOK(t, p.b, `mutation($id: ID!) { updateItem(id: $id, input: {title: "second", expectedVersion: 1}) { id } }`, map[string]any{"id": id}, nil)
		for _, s := range subs {
			e := s.nextFor(t, id)
			if e.Type != "UPDATED" || e.Item == nil || e.Item.Version != 2 || e.Item.Title != "second" {
				t.Fatalf("%s: got %+v, want UPDATED version 2", s.name, e)
			}
		}
		evOK(t, p.b, `mutation($id: ID!) { enrichItem(id: $id, postId: "3") { id } }`, map[string]any{"id": id}, nil)
		for _, s := range subs {
			e := s.nextFor(t, id)
			if e.Type != "ENRICHED" || e.Item == nil || e.Item.Version != 3 || e.Item.ExternalPost == nil || e.Item.ExternalPost.ID != "3" {
				t.Fatalf("%s: got %+v, want ENRICHED version 3 with post 3", s.name, e)
			}
		}
		evOK(t, p.b, `mutation($id: ID!) { deleteItem(id: $id) }`, map[string]any{"id": id}, nil)
		for _, s := range subs {
			e := s.nextFor(t, id)
			if e.Type != "DELETED" || e.Item != nil || e.ID != id {
				t.Fatalf("%s: got %+v, want DELETED with a null item", s.name, e)
			}
		}

		// A burst, not awaited: every event arrives, in commit order.
		const updates = 10
		burst := evCreate(t, p.b, "burst", nil)
		for i := range updates {
			evOK(t, p.b, `mutation($id: ID!, $t: String!) { updateItem(id: $id, input: {title: $t}) { id } }`,
				map[string]any{"id": burst, "t": fmt.Sprintf("burst %d", i+1)}, nil)
		}
		evOK(t, p.b, `mutation($id: ID!) { deleteItem(id: $id) }`, map[string]any{"id": burst}, nil)
		for _, s := range subs {
			var types []string
			for k := range updates + 2 {
				e := s.nextFor(t, burst)
				types = append(types, e.Type)
				// Every event carries the item as its change committed it,
				// however late it is delivered.
				switch {
				case k == updates+1:
					if e.Item != nil {
						t.Fatalf("%s: DELETED carries %+v", s.name, e.Item)
					}
				case e.Item == nil || e.Item.Version != k+1:
					t.Fatalf("%s: event %d carries %+v, want version %d", s.name, k, e.Item, k+1)
				case k > 0 && e.Item.Title != fmt.Sprintf("burst %d", k):
					t.Fatalf("%s: event %d carries title %q, want %q", s.name, k, e.Item.Title, fmt.Sprintf("burst %d", k))
				}
			}
			want := "CREATED" + strings.Repeat(" UPDATED", updates) + " DELETED"
			if got := strings.Join(types, " "); got != want {
				t.Fatalf("%s: got %s, want %s", s.name, got, want)
			}
		}
	})

	t.Run("rolled-back writes publish nothing", func(t *testing.T) {
		s := evDialWS(t, p.a, "graphql-transport-ws", evQuery)
		if err := evSync(t, p.b, 15*time.Second, s); err != nil {
			t.Fatal(err)
		}
		id := evCreate(t, p.b, "kept", nil)
		if e := s.nextFor(t, id); e.Type != "CREATED" {
			t.Fatalf("got %+v, want CREATED", e)
		}

		tests := []struct {
			name, query string
			vars        map[string]any
			code        string
		}{
			{"stale compare-and-set", `mutation($id: ID!) { updateItem(id: $id, input: {title: "lost", expectedVersion: 7}) { id } }`, map[string]any{"id": id}, "CONFLICT"},
			{"update of a missing item", `mutation { updateItem(id: "987654321", input: {title: "lost"}) { id } }`, nil, "NOT_FOUND"},
			{"delete of a missing item", `mutation { deleteItem(id: "987654321") }`, nil, "NOT_FOUND"},
			{"enrich with a missing post", `mutation($id: ID!) { enrichItem(id: $id, postId: "987654") { id } }`, map[string]any{"id": id}, "NOT_FOUND"},
			{"invalid title", `mutation($id: ID!) { updateItem(id: $id, input: {title: "  "}) { id } }`, map[string]any{"id": id}, "BAD_USER_INPUT"},
		}
		for _, tt := range tests {
			if got := evDo(t, p.b, tt.query, tt.vars).evCode(); got != tt.code {
				t.Fatalf("%s: code %q, want %q", tt.name, got, tt.code)
			}
		}

		// A transaction that notifies and rolls back sends nothing either.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		payload := fmt.Sprintf(`{"t":"UPDATED","id":%s,"o":"","v":99}`, id)
		if _, err := tx.Exec(ctx, "SELECT pg_notify('item_events', $1)", payload); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}

		// The next event is the next committed write: nothing came between.
		evOK(t, p.b, `mutation($id: ID!) { updateItem(id: $id, input: {title: "marker"}) { id } }`, map[string]any{"id": id}, nil)
		e := s.next(t, 10*time.Second)
		if e.Type != "UPDATED" || e.ID != id || e.Item == nil || e.Item.Title != "marker" || e.Item.Version != 2 {
			t.Fatalf("got %+v, want the marker update (version 2) as the next event", e)
		}
	})

	t.Run("a long multibyte description arrives whole", func(t *testing.T) {
		s := evDialWS(t, p.a, "graphql-transport-ws", `subscription { itemEvents { id item { description } } }`)
		if err := evSync(t, p.b, 15*time.Second, s); err != nil {
			t.Fatal(err)
		}
		// 5,000 characters of one to four bytes each: about 12,500 bytes,
		// more than a NOTIFY payload may carry.
		var sb strings.Builder
		for i := 0; i < 5000; i++ {
			sb.WriteRune([]rune("aé€🙂")[i%4])
		}
		desc := sb.String()
		id := evCreate(t, p.b, "long", &desc)
		e := s.nextFor(t, id)
		if e.Item == nil || e.Item.Description == nil || *e.Item.Description != desc {
			t.Fatalf("the description did not arrive whole: %+v", e.Item)
		}
	})

	t.Run("events flow again after the listener's connection dies", func(t *testing.T) {
		old := evDialWS(t, p.a, "graphql-transport-ws", evQuery)
		if err := evSync(t, p.b, 15*time.Second, old); err != nil {
			t.Fatal(err)
		}
		dbName := strings.TrimPrefix(mustParseURL(t, p.dbURL).Path, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var killed int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'itemsrv-listener' AND datname = $1) AS k`, dbName).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed != 2 {
			t.Fatalf("terminated %d listener connections, want 2 (one per process)", killed)
		}

		// The subscription that may have missed events is ended.
		select {
		case m := <-old.c:
			for m.err == nil {
				m = <-old.c
			}
			if !errors.Is(m.err, errEvEnded) {
				t.Fatalf("old subscription: %v", m.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the subscription that may have missed events was not ended")
		}

		// A new one receives events once the listener is back.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := evDialWS(t, p.a, "graphql-transport-ws", evQuery)
			err := evSync(t, p.b, 3*time.Second, s)
			if err == nil {
				id := evCreate(t, p.b, "after the reconnect", nil)
				if e := s.nextFor(t, id); e.Type != "CREATED" {
					t.Fatalf("got %+v, want CREATED", e)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no events after the listener's connection died: %v", err)
			}
			s.close()
		}
	})
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// With CORS_ALLOWED_ORIGINS a list, a WebSocket from another origin is
// refused and one from a listed origin is served.
func TestEventsWebsocketOrigin(t *testing.T) {
	t.Parallel()
	upstream, _ := jsonplaceholder.NewServer()
	defer upstream.Close()
	env := testEnv(upstream.URL, dbtest.SQLiteURL(t),
		"CORS_ALLOWED_ORIGINS", "https://app.example.com,https://admin.example.com", "LOG_LEVEL", "info")
	addr := startProcess(t, t.TempDir(), env).url(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		return websocket.Dial(ctx, "ws://"+addr+"/graphql", &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"},
			HTTPHeader:   http.Header{"Origin": {origin}},
		})
	}

	c, resp, err := dial("https://evil.example.net")
	if err == nil {
		c.CloseNow()
		t.Fatal("a WebSocket from a disallowed origin was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("disallowed origin: %v, want HTTP 403", err)
	}

	c, _, err = dial("https://admin.example.com")
	if err != nil {
		t.Fatalf("a listed origin was refused: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init"}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"connection_ack"`) {
		t.Fatalf("connection_init: %s, %v", b, err)
	}
}

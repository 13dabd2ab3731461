package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"itemsrv/auth"
)

// closeBadMessage is the close code for a message gqlgen gave up on without
// closing the socket, such as a connection_init whose payload is not an
// object or a message of an unknown type (graphql-transport-ws' 4400
// Bad Request).
const closeBadMessage = 4400

// Websocket is gqlgen's WebSocket transport that never leaves a socket open
// once gqlgen is done with it. gqlgen returns without closing when a
// connection_init payload is not a JSON object, which would keep the socket
// (and its goroutines) until the client left.
type Websocket struct{ transport.Websocket }

// Do serves one socket and closes it if gqlgen did not.
func (t Websocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	rec := &recordingAccept{inner: t.Implementation}
	if rec.inner == nil {
		rec.inner = transport.CoderWebsocketImplementation{}
	}
	t.Implementation = rec
	if init := t.InitFunc; init != nil {
		// Keep the socket's context, to tell a token's expiry from other
		// ends when gqlgen closes the socket with its context.
		t.InitFunc = func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, ack, err := init(ctx, p)
			if err == nil && rec.conn != nil {
				rec.conn.mu.Lock()
				rec.conn.initCtx = ctx
				rec.conn.mu.Unlock()
			}
			return ctx, ack, err
		}
	}
	t.Websocket.Do(w, r, exec)
	if c := rec.conn; c != nil && !c.closed.Load() {
		reason := "Invalid message received"
		c.mu.Lock()
		if c.last == "connection_init" && !c.acked {
			reason = "connection_init payload must be an object"
		}
		c.mu.Unlock()
		_ = c.WriteClose(closeBadMessage, reason)
		_ = c.Close()
	}
}

// recordingAccept accepts with inner and keeps the connection it made.
type recordingAccept struct {
	inner transport.WebsocketImplementation
	conn  *trackedConn
}

func (a *recordingAccept) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := a.inner.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	a.conn = &trackedConn{WebsocketConn: c}
	return a.conn, nil
}

// trackedConn records whether it was closed, and passes the optional
// read-limit and read-deadline methods through to the connection. On the
// graphql-transport-ws subprotocol it also holds gqlgen to the protocol
// where gqlgen does not:
//
//   - every subscription gets an id of its own inside the server, mapped to
//     the client's id on the way in and out. A client may reuse an id once
//     it has completed it; with gqlgen's ids the late end of the old
//     subscription then cleared the new one's (which gqlgen could no longer
//     stop, and which a third subscribe could duplicate);
//   - nothing for a subscription follows the client's complete, and no
//     complete follows the error that ended one (gqlgen sends both);
//   - a second subscribe with an id in use closes the socket with 4409, and
//     a subscribe or complete without an id, or a subscribe without a
//     payload holding a query, with 4400 (gqlgen answered an error without
//     a code);
//   - gqlgen's generic close codes become the protocol's (4400 invalid
//     message, 4401 subscribe before connection_ack, 4408 init timeout,
//     4429 a second connection_init).
type trackedConn struct {
	transport.WebsocketConn
	closed atomic.Bool

	mu         sync.Mutex
	initCtx    context.Context   // the socket's context after connection_init
	acked      bool              // connection_ack was sent
	last       string            // type of the last message read
	seq        int               // the last server-side subscription id
	byClient   map[string]string // the client's id of a live subscription → the server's
	byInternal map[string]string // the server's id of a subscription not ended → the client's
	stopped    map[string]bool   // server ids of subscriptions the client completed
}

const transportWS = "graphql-transport-ws"

// NextReader reads one message, checks it, and gives gqlgen the server's
// id of the subscription it names.
func (c *trackedConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.WebsocketConn.NextReader()
		if err != nil || c.Subprotocol() != transportWS {
			return typ, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		data, skip, err := c.incoming(data)
		if err != nil {
			return typ, nil, err
		}
		if !skip {
			return typ, bytes.NewReader(data), nil
		}
	}
}

// incoming follows one message from the client: it returns the message to
// hand to gqlgen, or skip for a complete of a subscription that has ended
// already, or the error that ends the socket.
func (c *trackedConn) incoming(data []byte) (out []byte, skip bool, err error) {
	var m struct {
		Type    string          `json:"type"`
		ID      string          `json:"id"`
		Payload json.RawMessage `json:"payload"`
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if json.Unmarshal(data, &m) != nil {
		c.last = ""
		return data, false, nil // gqlgen refuses it
	}
	c.last = m.Type
	switch m.Type {
	case "subscribe":
		// The payload is an object with the query, or with only a
		// persisted query's hash (APQ, which gqlgen serves here too).
		var p struct {
			Query      *string `json:"query"`
			Extensions struct {
				PersistedQuery json.RawMessage `json:"persistedQuery"`
			} `json:"extensions"`
		}
		if m.ID == "" || json.Unmarshal(m.Payload, &p) != nil || p.Query == nil && len(p.Extensions.PersistedQuery) == 0 {
			return nil, false, c.closeWith(4400, "Invalid message received")
		}
		if _, dup := c.byClient[m.ID]; dup {
			return nil, false, c.closeWith(4409, "Subscriber for "+m.ID+" already exists")
		}
		if c.byClient == nil {
			c.byClient, c.byInternal, c.stopped = map[string]string{}, map[string]string{}, map[string]bool{}
		}
		c.seq++
		internal := "s" + strconv.Itoa(c.seq)
		c.byClient[m.ID], c.byInternal[internal] = internal, m.ID
		return withID(data, internal), false, nil
	case "complete":
		if m.ID == "" {
			return nil, false, c.closeWith(4400, "Invalid message received")
		}
		internal, live := c.byClient[m.ID]
		if !live {
			return nil, true, nil
		}
		delete(c.byClient, m.ID)
		c.stopped[internal] = true
		return withID(data, internal), false, nil
	}
	return data, false, nil
}

// withID returns the message data with its id replaced.
func withID(data []byte, id string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	m["id"], _ = json.Marshal(id)
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

// closeWith closes the socket with code and reason, as the protocol asks
// of a client that broke it, and returns the error that ends gqlgen's read
// loop. c.mu may be held.
func (c *trackedConn) closeWith(code int, reason string) error {
	_ = c.WebsocketConn.WriteClose(code, reason)
	_ = c.Close()
	return transport.ErrWebsocketClosed
}

// WriteJSON notes the acknowledgement, gives a subscription's messages the
// client's id, and drops those the client must not see: anything after
// its own complete, and the complete gqlgen sends after an error.
func (c *trackedConn) WriteJSON(v any) error {
	if c.Subprotocol() != transportWS {
		return c.WebsocketConn.WriteJSON(v)
	}
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return c.WebsocketConn.WriteJSON(v)
	}
	typ, idv := rv.FieldByName("Type"), rv.FieldByName("ID")
	if !typ.IsValid() || typ.Kind() != reflect.String {
		return c.WebsocketConn.WriteJSON(v)
	}
	switch t := typ.String(); t {
	case "connection_ack":
		c.mu.Lock()
		c.acked = true
		c.mu.Unlock()
	case "next", "error", "complete":
		if !idv.IsValid() || idv.Kind() != reflect.String {
			break
		}
		internal := idv.String()
		c.mu.Lock()
		client, known := c.byInternal[internal]
		stopped := c.stopped[internal]
		if known && t != "next" {
			delete(c.byInternal, internal)
			delete(c.stopped, internal)
			if c.byClient[client] == internal {
				delete(c.byClient, client)
			}
		}
		c.mu.Unlock()
		if !known || stopped {
			return nil
		}
		if idv.CanSet() {
			idv.SetString(client)
			break
		}
		// A message passed by value: write a copy with the client's id.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return c.WebsocketConn.WriteJSON(json.RawMessage(withID(b, client)))
	}
	return c.WebsocketConn.WriteJSON(v)
}

// WriteClose maps gqlgen's generic close codes to graphql-transport-ws's,
// and closes a socket whose token expired with 4401 rather than a normal
// closure, so that the client authenticates again instead of taking it for
// the end of the server.
func (c *trackedConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	initCtx := c.initCtx
	c.mu.Unlock()
	if code == transport.WebsocketCloseNormalClosure && initCtx != nil && errors.Is(context.Cause(initCtx), auth.ErrTokenExpired) {
		code, reason = 4401, "Unauthorized: token expired"
	}
	if c.Subprotocol() == transportWS && code == transport.WebsocketCloseProtocolError {
		c.mu.Lock()
		acked, last := c.acked, c.last
		c.mu.Unlock()
		switch {
		case reason == "connection initialisation timeout":
			code, reason = 4408, "Connection initialisation timeout"
		case reason == "decoding error":
			code, reason = 4400, "Invalid message received"
		case reason == "unexpected message" && last == "connection_init" && acked:
			code, reason = 4429, "Too many initialisation requests"
		case reason == "unexpected message" && !acked:
			code, reason = 4401, "Unauthorized"
		case reason == "unexpected message":
			code, reason = 4400, "Invalid message received"
		}
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

func (c *trackedConn) Close() error {
	c.closed.Store(true)
	return c.WebsocketConn.Close()
}

func (c *trackedConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

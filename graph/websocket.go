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
type Websocket struct {
	transport.Websocket
	live *Live
}

// Do serves one socket and closes it if gqlgen did not.
func (t Websocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	rec := &recordingAccept{inner: t.Implementation, live: t.live}
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
	if c := rec.conn; c != nil {
		defer c.endAll()
	}
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
	live  *Live
	conn  *trackedConn
}

func (a *recordingAccept) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := a.inner.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	a.conn = &trackedConn{WebsocketConn: c, live: a.live}
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
	legacy     map[string]bool   // ids of subscriptions not ended, on the graphql-ws subprotocol
	live       *Live
}

// endAll counts the subscriptions of a socket that is gone as ended.
func (c *trackedConn) endAll() {
	c.mu.Lock()
	n := len(c.byInternal) + len(c.legacy)
	c.byInternal, c.byClient, c.stopped, c.legacy = nil, nil, nil, nil
	c.mu.Unlock()
	c.live.add(-n)
}

const transportWS = "graphql-transport-ws"

// NextReader reads one message, checks it, and gives gqlgen the server's
// id of the subscription it names.
func (c *trackedConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.WebsocketConn.NextReader()
		if err != nil {
			return typ, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		if c.Subprotocol() != transportWS {
			c.incomingLegacy(data)
			return typ, bytes.NewReader(data), nil
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
// already, or the error that ends the socket. The message is read with
// exact member names and handed on rewritten, so that gqlgen (which
// matches names without regard to case and ignores what follows the first
// JSON value) sees exactly what was checked.
func (c *trackedConn) incoming(data []byte) (out []byte, skip bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var raw map[string]json.RawMessage
	var m message
	if json.Unmarshal(data, &raw) != nil || json.Unmarshal(raw["type"], &m.Type) != nil ||
		raw["id"] != nil && json.Unmarshal(raw["id"], &m.ID) != nil {
		c.last = ""
		return nil, false, c.closeWith(4400, "Invalid message received")
	}
	m.Payload = raw["payload"]
	c.last = m.Type
	switch m.Type {
	case "connection_init", "ping", "pong":
		// A payload, when there is one, is an object.
		var obj map[string]json.RawMessage
		if len(m.Payload) > 0 && json.Unmarshal(m.Payload, &obj) != nil {
			reason := "Invalid message received"
			if m.Type == "connection_init" {
				reason = "connection_init payload must be an object"
			}
			return nil, false, c.closeWith(4400, reason)
		}
	case "subscribe":
		if m.ID == "" || !validSubscribePayload(m.Payload) {
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
		c.live.add(1)
		m.ID = internal
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
		m.ID = internal
	default:
		return nil, false, c.closeWith(4400, "Invalid message received")
	}
	out, err = json.Marshal(m)
	return out, false, err
}

// message is a graphql-transport-ws message as handed to gqlgen.
type message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// validSubscribePayload tells whether p is a subscribe message's payload:
// an object with the query as a string, or with only a persisted query's
// hash (APQ, which gqlgen serves here too), and an operationName,
// variables and extensions of the right kinds when they are given.
func validSubscribePayload(p json.RawMessage) bool {
	var v struct {
		Query         *string        `json:"query"`
		OperationName *string        `json:"operationName"`
		Variables     map[string]any `json:"variables"`
		Extensions    map[string]any `json:"extensions"`
	}
	if json.Unmarshal(p, &v) != nil {
		return false
	}
	_, persisted := v.Extensions["persistedQuery"]
	return v.Query != nil || persisted
}

// incomingLegacy follows the subscriptions a graphql-ws (legacy protocol)
// message starts, for the count of live subscriptions.
func (c *trackedConn) incomingLegacy(data []byte) {
	var m message
	if json.Unmarshal(data, &m) != nil || m.Type != "start" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.legacy == nil {
		c.legacy = map[string]bool{}
	}
	if !c.legacy[m.ID] {
		c.legacy[m.ID] = true
		c.live.add(1)
	}
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
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return c.WebsocketConn.WriteJSON(v)
	}
	typ, idv := rv.FieldByName("Type"), rv.FieldByName("ID")
	if !typ.IsValid() || typ.Kind() != reflect.String {
		return c.WebsocketConn.WriteJSON(v)
	}
	if c.Subprotocol() != transportWS {
		if t := typ.String(); (t == "complete" || t == "error") && idv.IsValid() && idv.Kind() == reflect.String {
			defer c.endLegacy(idv.String())
		}
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
		ended := known && t != "next"
		if ended {
			delete(c.byInternal, internal)
			delete(c.stopped, internal)
			if c.byClient[client] == internal {
				delete(c.byClient, client)
			}
		}
		c.mu.Unlock()
		if ended {
			defer c.live.add(-1) // once the message is written
		}
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

// endLegacy counts a graphql-ws subscription as ended.
func (c *trackedConn) endLegacy(id string) {
	c.mu.Lock()
	ended := c.legacy[id]
	delete(c.legacy, id)
	c.mu.Unlock()
	if ended {
		c.live.add(-1)
	}
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

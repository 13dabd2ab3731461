package graph

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// closeBadInit is the close code for a connection_init that is not an object
// (graphql-transport-ws' 4400 Bad Request).
const closeBadInit = 4400

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
	t.Websocket.Do(w, r, exec)
	if c := rec.conn; c != nil && !c.closed.Load() {
		_ = c.WriteClose(closeBadInit, "connection_init payload must be an object")
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
// read-limit and read-deadline methods through to the connection.
type trackedConn struct {
	transport.WebsocketConn
	closed atomic.Bool
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

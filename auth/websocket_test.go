package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"itemsrv/items"
)

func TestWebsocketInit(t *testing.T) {
	a, clock := newHS(t, Config{JWTSecret: "k"})
	good := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "", claimsAt(clock.Now()))
	other := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "", jwt.MapClaims{"sub": "bob", "exp": clock.Now().Add(time.Hour).Unix()})
	tests := []struct {
		name      string
		give      map[string]any
		wantMsg   string // "" for success
		wantCause string
	}{
		{name: "Authorization", give: map[string]any{"Authorization": good}},
		{name: "authorization", give: map[string]any{"authorization": good}},
		{name: "headers.Authorization", give: map[string]any{"headers": map[string]any{"Authorization": good}}},
		{name: "headers.authorization", give: map[string]any{"headers": map[string]any{"authorization": good}}},
		{name: "same token twice", give: map[string]any{"Authorization": good, "headers": map[string]any{"authorization": good}}},
		{name: "nil payload", give: nil, wantMsg: MessageMissingToken, wantCause: "no Authorization"},
		{name: "empty payload", give: map[string]any{}, wantMsg: MessageMissingToken, wantCause: "no Authorization"},
		{name: "token without scheme", give: map[string]any{"Authorization": strings.TrimPrefix(good, "Bearer ")},
			wantMsg: MessageInvalidToken, wantCause: "not Bearer"},
		{name: "not a string", give: map[string]any{"Authorization": map[string]any{"token": good}},
			wantMsg: MessageInvalidToken, wantCause: "not a string"},
		{name: "two different tokens", give: map[string]any{"Authorization": good, "authorization": other},
			wantMsg: MessageInvalidToken, wantCause: "two different"},
		{name: "garbage", give: map[string]any{"Authorization": "Bearer x.y.z"},
			wantMsg: MessageInvalidToken, wantCause: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := a.WebsocketInit(t.Context(), tt.give)
			if tt.wantMsg != "" {
				wantAuthError(t, err, tt.wantMsg, tt.wantCause)
				if p := FromContext(ctx); p.Authenticated || p.CanWrite() || p.Subject == "" {
					t.Errorf("principal after a refused init = %+v, want Unauthenticated", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("WebsocketInit() error = %v", err)
			}
			p := FromContext(ctx)
			if p.Subject != "alice" || !p.Authenticated || !p.CanWrite() {
				t.Errorf("principal = %+v, want alice", p)
			}
			deadline, ok := ctx.Deadline()
			if want := clock.Now().Add(time.Hour + DefaultLeeway); !ok || !deadline.Equal(want) {
				t.Errorf("deadline = %v (set %v), want the token's exp plus leeway %v", deadline, ok, want)
			}
		})
	}
}

func TestWebsocketInitContextEndsWithToken(t *testing.T) {
	// Real time here: the context's deadline runs on the wall clock.
	a := mustNew(t, Config{JWTSecret: "k", Leeway: time.Millisecond})
	c := claimsAt(time.Now())
	c["exp"] = time.Now().Add(time.Second).Unix() // within the next second
	ctx, err := a.WebsocketInit(t.Context(), map[string]any{"Authorization": "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "", c)})
	if err != nil {
		t.Fatalf("WebsocketInit() error = %v", err)
	}
	select {
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), ErrTokenExpired) {
			t.Errorf("cause = %v, want %v", context.Cause(ctx), ErrTokenExpired)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("context outlived its token")
	}
}

func TestWebsocketInitDisabled(t *testing.T) {
	a := mustNew(t, Config{})
	ctx, err := a.WebsocketInit(t.Context(), map[string]any{"Authorization": "garbage"})
	if err != nil {
		t.Fatalf("WebsocketInit() error = %v", err)
	}
	if ctx != t.Context() {
		t.Error("disabled WebsocketInit changed the context")
	}
	if p := FromContext(ctx); p.Subject != "" || !p.CanWrite() {
		t.Errorf("principal = %+v, want Anonymous", p)
	}
}

// TestGQLGenInitFunc runs gqlgen's WebSocket transport behind the
// middleware and checks the close code and what the client is told.
func TestGQLGenInitFunc(t *testing.T) {
	a, clock := newHS(t, Config{JWTSecret: "k"})
	good := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "", claimsAt(clock.Now()))
	expiredClaims := claimsAt(clock.Now())
	expiredClaims["exp"] = clock.Now().Add(-time.Hour).Unix()
	expired := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "", expiredClaims)

	principals := make(chan Principal, 1)
	initFunc := a.GQLGenInitFunc()
	h := testserver.New()
	h.AddTransport(transport.Websocket{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, ack, err := initFunc(ctx, p)
			if err == nil {
				principals <- FromContext(ctx)
			}
			return ctx, ack, err
		},
	})
	srv := httptest.NewServer(a.Middleware(h))
	t.Cleanup(srv.Close)

	dial := func(t *testing.T, subprotocol string) *websocket.Conn {
		t.Helper()
		c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{subprotocol}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("handshake status %d, want 101", resp.StatusCode)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c
	}
	send := func(t *testing.T, c *websocket.Conn, payload map[string]any) {
		t.Helper()
		b, err := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(t.Context(), websocket.MessageText, b); err != nil {
			t.Fatalf("write connection_init: %v", err)
		}
	}
	read := func(t *testing.T, c *websocket.Conn) (map[string]any, error) {
		t.Helper()
		_, b, err := c.Read(t.Context())
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("message %s: %v", b, err)
		}
		return m, nil
	}
	wantClose := func(t *testing.T, err error, wantReason string) {
		t.Helper()
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error = %v, want a close frame", err)
		}
		if ce.Code != CloseCodeUnauthorized || ce.Reason != wantReason {
			t.Errorf("close = %d %q, want %d %q", ce.Code, ce.Reason, CloseCodeUnauthorized, wantReason)
		}
	}

	t.Run("graphql-transport-ws, valid token", func(t *testing.T) {
		c := dial(t, "graphql-transport-ws")
		send(t, c, map[string]any{"Authorization": good})
		m, err := read(t, c)
		if err != nil || m["type"] != "connection_ack" {
			t.Fatalf("got %v, %v; want connection_ack", m, err)
		}
		if p := <-principals; p.Subject != "alice" || !p.Authenticated {
			t.Errorf("principal = %+v, want alice", p)
		}
	})
	t.Run("graphql-transport-ws, expired token", func(t *testing.T) {
		c := dial(t, "graphql-transport-ws")
		send(t, c, map[string]any{"Authorization": expired})
		_, err := read(t, c)
		wantClose(t, err, MessageInvalidToken)
	})
	t.Run("graphql-transport-ws, no token", func(t *testing.T) {
		c := dial(t, "graphql-transport-ws")
		send(t, c, nil)
		_, err := read(t, c)
		wantClose(t, err, MessageMissingToken)
	})
	t.Run("legacy graphql-ws, bad token", func(t *testing.T) {
		c := dial(t, "graphql-ws")
		send(t, c, map[string]any{"authorization": expired})
		// The legacy protocol first gets a connection_error whose text is
		// the error's: only the public message, not why the token failed.
		m, err := read(t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m["type"] != "connection_error" {
			t.Fatalf("message = %v, want connection_error", m)
		}
		if b, _ := json.Marshal(m["payload"]); string(b) != `{"message":"invalid token"}` {
			t.Errorf("connection_error payload = %s, want only the public message", b)
		}
		_, err = read(t, c)
		wantClose(t, err, MessageInvalidToken)
	})
}

func TestPublicErrorHidesTheCause(t *testing.T) {
	cause := errors.New("token is expired by 3h")
	err := error(publicError{err: invalidToken(cause)})
	if err.Error() != MessageInvalidToken {
		t.Errorf("Error() = %q, want %q", err.Error(), MessageInvalidToken)
	}
	var e *items.Error
	if !errors.As(err, &e) || e.Code != items.CodeUnauthenticated || !errors.Is(err, cause) {
		t.Errorf("publicError does not unwrap to the *items.Error and its cause: %v", err)
	}
}

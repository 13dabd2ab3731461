package auth

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// recorder is a next handler that records the principal it saw.
type recorder struct {
	called bool
	p      Principal
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.called = true
	rec.p = FromContext(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

func TestMiddlewareRefuses(t *testing.T) {
	clock := newFakeClock()
	good := sign(t, jwt.SigningMethodHS256, []byte("k"), "", claimsAt(clock.Now()))
	expiredClaims := claimsAt(clock.Now())
	expiredClaims["exp"] = clock.Now().Add(-10 * time.Minute).Unix()
	expired := sign(t, jwt.SigningMethodHS256, []byte("k"), "", expiredClaims)

	tests := []struct {
		name          string
		method        string
		target        string
		header        http.Header
		wantMessage   string
		wantChallenge string
		wantType      string
		wantLog       string
	}{
		{
			name: "no token", method: http.MethodPost, target: "/graphql",
			wantMessage: MessageMissingToken, wantChallenge: "Bearer", wantType: mediaTypeJSON,
			wantLog: "no Authorization header",
		},
		{
			name: "garbage", method: http.MethodPost, target: "/graphql",
			header:      http.Header{"Authorization": {"garbage"}},
			wantMessage: MessageInvalidToken, wantChallenge: `Bearer error="invalid_token"`, wantType: mediaTypeJSON,
			wantLog: "not Bearer",
		},
		{
			name: "expired, graphql-response+json preferred", method: http.MethodPost, target: "/graphql",
			header: http.Header{
				"Authorization": {"Bearer " + expired},
				"Accept":        {"application/graphql-response+json, application/json;q=0.9"},
			},
			wantMessage: MessageInvalidToken, wantChallenge: `Bearer error="invalid_token"`, wantType: mediaTypeGraphQLResponse,
			wantLog: "token is expired",
		},
		{
			name: "token only in the query string", method: http.MethodGet,
			target:      "/graphql?query=%7Bitems%7BtotalCount%7D%7D&access_token=" + url.QueryEscape(good),
			wantMessage: MessageMissingToken, wantChallenge: "Bearer", wantType: mediaTypeJSON,
			wantLog: "no Authorization header",
		},
		{
			name: "two Authorization headers", method: http.MethodPost, target: "/graphql",
			header:      http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}},
			wantMessage: MessageInvalidToken, wantChallenge: `Bearer error="invalid_token"`, wantType: mediaTypeJSON,
			wantLog: "more than one",
		},
		{
			name: "SSE without a token", method: http.MethodPost, target: "/graphql",
			header:      http.Header{"Accept": {"text/event-stream"}},
			wantMessage: MessageMissingToken, wantChallenge: "Bearer", wantType: mediaTypeJSON,
			wantLog: "no Authorization header",
		},
		{
			name: "POST posing as a WebSocket upgrade", method: http.MethodPost, target: "/graphql",
			header: http.Header{
				"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
				"Accept": {"text/event-stream"},
			},
			wantMessage: MessageMissingToken, wantChallenge: "Bearer", wantType: mediaTypeJSON,
			wantLog: "no Authorization header",
		},
		{
			name: "GET with Upgrade but no Connection: upgrade", method: http.MethodGet, target: "/graphql?query=%7Bx%7D",
			header:      http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
			wantMessage: MessageMissingToken, wantChallenge: "Bearer", wantType: mediaTypeJSON,
			wantLog: "no Authorization header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := logBuffer()
			a, _ := newHS(t, Config{JWTSecret: "k", Logger: logger})
			var next recorder
			req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.target, strings.NewReader(`{"query":"{__typename}"}`))
			for k, v := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = v
			}
			rr := httptest.NewRecorder()
			a.Middleware(&next).ServeHTTP(rr, req)

			if next.called {
				t.Fatalf("next handler called with %+v", next.p)
			}
			if rr.Code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", rr.Code)
			}
			if got := rr.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			mt, _, err := mime.ParseMediaType(rr.Header().Get("Content-Type"))
			if err != nil || mt != tt.wantType {
				t.Errorf("Content-Type = %q, want %s", rr.Header().Get("Content-Type"), tt.wantType)
			}
			want := `{"errors":[{"extensions":{"code":"UNAUTHENTICATED"},"message":"` + tt.wantMessage + `"}]}`
			if got := strings.TrimSpace(rr.Body.String()); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log = %s, want it to give the reason %q", logs.String(), tt.wantLog)
			}
			if strings.Contains(logs.String(), good) || strings.Contains(logs.String(), expired) {
				t.Error("a token was written to the log")
			}
		})
	}
}

func TestMiddlewarePutsPrincipalInContext(t *testing.T) {
	a, clock := newHS(t, Config{JWTSecret: "k"})
	c := claimsAt(clock.Now())
	c["sub"] = "bob"
	c["scope"] = "items:read"
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, []byte("k"), "", c))
	var next recorder
	rr := httptest.NewRecorder()
	a.Middleware(&next).ServeHTTP(rr, req)
	if !next.called || rr.Code != http.StatusNoContent {
		t.Fatalf("next called = %v, status %d; want the request through", next.called, rr.Code)
	}
	if next.p.Subject != "bob" || !next.p.Authenticated || next.p.CanWrite() {
		t.Errorf("principal = %+v, want bob, authenticated, read-only", next.p)
	}
}

func TestMiddlewareLetsWebSocketHandshakeThrough(t *testing.T) {
	a, _ := newHS(t, Config{JWTSecret: "k"})
	for _, h := range []http.Header{
		{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
		{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"WebSocket"}},
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/graphql", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		var next recorder
		a.Middleware(&next).ServeHTTP(httptest.NewRecorder(), req)
		if !next.called {
			t.Fatalf("handshake %v refused", h)
		}
		// Not authenticated yet: the socket does that at connection_init.
		if next.p.Authenticated || next.p.CanWrite() || next.p.Subject == "" {
			t.Errorf("principal before connection_init = %+v, want Unauthenticated", next.p)
		}
	}
}

func TestMiddlewareDisabledPassesThrough(t *testing.T) {
	a := mustNew(t, Config{})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", "garbage")
	var next recorder
	a.Middleware(&next).ServeHTTP(httptest.NewRecorder(), req)
	if !next.called {
		t.Fatal("disabled middleware refused a request")
	}
	if next.p.Subject != "" || !next.p.CanWrite() || next.p.Authenticated {
		t.Errorf("principal = %+v, want Anonymous", next.p)
	}
}

func TestResponseMediaType(t *testing.T) {
	tests := []struct {
		give []string
		want string
	}{
		{nil, mediaTypeJSON},
		{[]string{"*/*"}, mediaTypeJSON},
		{[]string{"application/json"}, mediaTypeJSON},
		{[]string{"application/graphql-response+json"}, mediaTypeGraphQLResponse},
		{[]string{"application/graphql-response+json, application/json"}, mediaTypeGraphQLResponse},
		{[]string{"application/graphql-response+json;q=0.9, application/json"}, mediaTypeJSON},
		{[]string{"application/json;q=0.5", "application/graphql-response+json"}, mediaTypeGraphQLResponse},
		{[]string{"application/graphql-response+json;q=0, */*"}, mediaTypeJSON},
		{[]string{"text/html, application/*;q=0.8, application/graphql-response+json;q=0.9"}, mediaTypeGraphQLResponse},
		{[]string{"garbage;;;"}, mediaTypeJSON},
	}
	for _, tt := range tests {
		if got := responseMediaType(tt.give); got != tt.want {
			t.Errorf("responseMediaType(%q) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

// A Server-Sent Events request's context ends when its token expires (with
// the leeway); other requests are not given that deadline.
func TestMiddlewareEndsEventStreamsAtExpiry(t *testing.T) {
	a, clock := newHS(t, Config{JWTSecret: "k"})
	c := claimsAt(clock.Now())
	exp := time.Unix(c["exp"].(int64), 0)
	tok := sign(t, jwt.SigningMethodHS256, []byte("k"), "", c)
	for _, tt := range []struct {
		accept       string
		wantDeadline bool
	}{
		{"text/event-stream", true},
		{"application/json", false},
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/graphql", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", tt.accept)
		var deadline time.Time
		var has bool
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { deadline, has = r.Context().Deadline() })
		a.Middleware(h).ServeHTTP(httptest.NewRecorder(), req)
		if has != tt.wantDeadline {
			t.Fatalf("Accept %s: deadline %v (%v), want one: %v", tt.accept, deadline, has, tt.wantDeadline)
		}
		if has && (deadline.Before(exp) || deadline.After(exp.Add(DefaultLeeway))) {
			t.Errorf("deadline %v, want the expiry %v plus at most the leeway", deadline, exp)
		}
	}
}

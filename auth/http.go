package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"itemsrv/items"
	"itemsrv/requestid"
)

// Media types of GraphQL responses (the GraphQL-over-HTTP spec).
const (
	mediaTypeJSON            = "application/json"
	mediaTypeGraphQLResponse = "application/graphql-response+json"
)

// Middleware authenticates requests to the GraphQL endpoint by their
// Authorization header. While a is disabled it passes every request through
// untouched, so FromContext gives Anonymous.
//
// When a is enabled, a request with a valid bearer token goes on with its
// Principal in the context; any other is answered 401 with a
// WWW-Authenticate challenge and a GraphQL-shaped body whose
// extensions.code is UNAUTHENTICATED. A token anywhere but the
// Authorization header (such as ?access_token=) is ignored. The exception
// is a WebSocket handshake (GET with Connection: upgrade and Upgrade:
// websocket), which goes on unauthenticated because browsers cannot set
// headers on it: the socket authenticates at connection_init through
// WebsocketInit. Every request that goes on carries a marker, so that until
// then FromContext gives Unauthenticated, never Anonymous.
//
// Place it inside the CORS handler, so that preflight requests (which carry
// no credentials) are answered before it and its 401s carry CORS headers,
// and in front of the GraphQL handler only: health, readiness, metrics and
// the playground need no token.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	if !a.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := withEnabled(r.Context())
		if isWebSocketHandshake(r) {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		var p Principal
		var expiry time.Time
		var err error
		switch values := r.Header.Values("Authorization"); len(values) {
		case 0:
			err = missingToken()
		case 1:
			p, expiry, err = a.authenticate(ctx, values[0])
		default:
			// Two proxies may disagree on which one counts.
			err = invalidToken(errors.New("more than one Authorization header"))
		}
		if err != nil {
			a.logRefusal(ctx, err,
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("remote", r.RemoteAddr))
			writeUnauthenticated(w, r, err)
			return
		}
		if !expiry.IsZero() && strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			// A Server-Sent Events subscription ends when its token
			// expires, as a WebSocket's does.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, expiry)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(ctx, p)))
	})
}

// logRefusal logs why a caller was refused: the one place the cause is
// recorded, since the caller is told only that its token is invalid.
func (a *Authenticator) logRefusal(ctx context.Context, err error, attrs ...slog.Attr) {
	reason := err.Error()
	var e *items.Error
	if errors.As(err, &e) && e.Err != nil {
		reason = e.Err.Error()
	}
	attrs = append(attrs, slog.String("reason", reason))
	if id := requestid.From(ctx); id != "" {
		attrs = append(attrs, slog.String("requestId", id))
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, "authentication failed", attrs...)
}

// writeUnauthenticated answers 401 with a GraphQL error body.
func writeUnauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	message := MessageInvalidToken
	challenge := `Bearer error="invalid_token"`
	var e *items.Error
	if errors.As(err, &e) && e.Code == items.CodeServiceUnavailable {
		writeKeysUnavailable(w, r)
		return
	}
	if errors.As(err, &e) && e.Message == MessageMissingToken {
		// RFC 6750 §3.1: a request without credentials gets a challenge
		// without an error code.
		message, challenge = MessageMissingToken, "Bearer"
	}
	body, _ := json.Marshal(map[string]any{
		"errors": []any{map[string]any{
			"message":    message,
			"extensions": map[string]any{"code": items.CodeUnauthenticated},
		}},
	})
	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", responseMediaType(r.Header.Values("Accept"))+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(body)
}

// responseMediaType chooses application/graphql-response+json when the
// Accept header names it with a quality at least that of application/json,
// and application/json otherwise (no Accept, */*, or a legacy client), as
// the GraphQL-over-HTTP spec asks.
func responseMediaType(accept []string) string {
	gqlQ, jsonQ := -1.0, -1.0
	jsonSpecificity := -1
	for _, header := range accept {
		for _, part := range strings.Split(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			switch mt {
			case mediaTypeGraphQLResponse:
				gqlQ = q
			case mediaTypeJSON:
				jsonQ, jsonSpecificity = q, 2
			case "application/*":
				if jsonSpecificity < 1 {
					jsonQ, jsonSpecificity = q, 1
				}
			case "*/*":
				if jsonSpecificity < 0 {
					jsonQ, jsonSpecificity = q, 0
				}
			}
		}
	}
	if gqlQ > 0 && gqlQ >= jsonQ {
		return mediaTypeGraphQLResponse
	}
	return mediaTypeJSON
}

// isWebSocketHandshake tells whether r opens a WebSocket (RFC 6455 §4.1):
// GET over HTTP/1.1 with Connection: upgrade, Upgrade: websocket and a
// Sec-WebSocket-Key. Anything less is a plain request and needs a token, so
// that an "Upgrade" header cannot smuggle a POST past authentication into a
// transport that ignores it.
func isWebSocketHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		r.ProtoAtLeast(1, 1) &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

// headerHasToken tells whether the comma-separated header name holds token,
// compared without regard to case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// writeKeysUnavailable answers 503 when the keys to check a token cannot be
// had: the identity provider is down, not the caller's token bad.
func writeKeysUnavailable(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(map[string]any{
		"errors": []any{map[string]any{
			"message":    MessageKeysUnavailable,
			"extensions": map[string]any{"code": items.CodeServiceUnavailable},
		}},
	})
	h := w.Header()
	h.Set("Content-Type", responseMediaType(r.Header.Values("Accept"))+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "5")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}

package auth

import (
	"context"
	"errors"
	"strings"
)

// WebsocketInit authenticates a WebSocket connection by the payload of its
// connection_init message, {"Authorization": "Bearer …"} as the contract
// has it. The key may be spelt in any case, and may also sit in a nested
// "headers" object as some clients send it; two different tokens are
// refused as ambiguous. It returns ctx with the principal, or an error like
// Authenticate's, after which the connection must be closed. While a is
// disabled it returns ctx unchanged (Anonymous).
//
// The returned context ends when the token expires (plus the leeway), so a
// transport that closes the socket with its context, as gqlgen's does, does
// not serve a subscription past its token's life; the client reconnects
// with a fresh token.
func (a *Authenticator) WebsocketInit(ctx context.Context, initPayload map[string]any) (context.Context, error) {
	if !a.Enabled() {
		return ctx, nil
	}
	ctx = withEnabled(ctx)
	header, err := payloadAuthorization(initPayload)
	if err != nil {
		return ctx, invalidToken(err)
	}
	p, expiry, err := a.authenticate(ctx, header)
	if err != nil {
		return ctx, err
	}
	ctx = WithPrincipal(ctx, p)
	ctx, cancel := context.WithDeadlineCause(ctx, expiry, ErrTokenExpired)
	// The deadline's timer is released when ctx ends, by its deadline or
	// by the connection's end; nothing else holds cancel.
	context.AfterFunc(ctx, cancel)
	return ctx, nil
}

// ErrTokenExpired is the cause (context.Cause) of a WebSocket context that
// ended because its token expired; the transport closes such a socket with
// 4401.
var ErrTokenExpired = errors.New("token expired")

// payloadAuthorization finds the Authorization value of a connection_init
// payload: top-level or under "headers", key in any case. It returns "" when
// there is none.
func payloadAuthorization(payload map[string]any) (string, error) {
	var found []any
	collect := func(m map[string]any) {
		for k, v := range m {
			if strings.EqualFold(k, "Authorization") {
				found = append(found, v)
			}
		}
	}
	collect(payload)
	for k, v := range payload {
		if headers, ok := v.(map[string]any); ok && strings.EqualFold(k, "headers") {
			collect(headers)
		}
	}
	value := ""
	for _, v := range found {
		s, ok := v.(string)
		if !ok {
			return "", errors.New("connection_init Authorization is not a string")
		}
		if value != "" && s != value {
			return "", errors.New("connection_init holds two different Authorization values")
		}
		value = s
	}
	return value, nil
}

// Package auth authenticates callers by JWT and carries the caller through a
// request's context.
package auth

import (
	"context"
	"slices"
)

// WriteScope is the scope a token needs to mutate items.
const WriteScope = "items:write"

// Principal is the caller of a request.
type Principal struct {
	// Subject owns the items the caller creates and is the only one who sees
	// them. It is "" when authentication is off: one shared space.
	Subject string
	// Authenticated is true when a verified token made this principal.
	Authenticated bool
	// Scopes are the token's scopes.
	Scopes []string
}

// Anonymous is the principal of every request while authentication is off:
// it owns the shared space and may write.
var Anonymous = Principal{Scopes: []string{WriteScope}}

// unauthenticatedSubject is the subject of Unauthenticated. Authenticate
// refuses any token whose sub holds a control character, so no token can
// ever carry it, and it differs from the "" of the shared space. It avoids
// NUL, which PostgreSQL refuses in text.
const unauthenticatedSubject = "\x01unauthenticated"

// Unauthenticated is what FromContext returns for a context that passed
// through an enabled Authenticator but carries no principal: a request that
// is not yet (or could not be) authenticated, such as a WebSocket upgrade
// before its connection_init, or any code path that forgot to authenticate.
// It may not write, and its subject matches no item's owner, so it sees
// nothing: a forgotten check fails closed instead of falling back to the
// write-capable Anonymous.
var Unauthenticated = Principal{Subject: unauthenticatedSubject}

// CanWrite tells whether the principal may mutate items.
func (p Principal) CanWrite() bool {
	return slices.Contains(p.Scopes, WriteScope)
}

// HasScope tells whether the principal holds scope.
func (p Principal) HasScope(scope string) bool {
	return slices.Contains(p.Scopes, scope)
}

type ctxKey struct{}

// enabledKey marks a context that went through an enabled Authenticator.
type enabledKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx. A context without one gets
// Anonymous while authentication is off, and Unauthenticated when it went
// through an enabled Authenticator (its Middleware or WebsocketInit), so a
// path that forgot to authenticate can neither write nor see anyone's items.
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(ctxKey{}).(Principal); ok {
		return p
	}
	if enabled, _ := ctx.Value(enabledKey{}).(bool); enabled {
		return Unauthenticated
	}
	return Anonymous
}

// withEnabled marks ctx as having passed through an enabled Authenticator.
func withEnabled(ctx context.Context) context.Context {
	if enabled, _ := ctx.Value(enabledKey{}).(bool); enabled {
		return ctx
	}
	return context.WithValue(ctx, enabledKey{}, true)
}

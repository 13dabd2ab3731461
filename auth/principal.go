// Package auth authenticates callers by JWT and carries the caller through a
// request's context.
package auth

import "context"

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

// CanWrite tells whether the principal may mutate items.
func (p Principal) CanWrite() bool {
	for _, s := range p.Scopes {
		if s == WriteScope {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or Anonymous when there is none
// (authentication is off).
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(ctxKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}

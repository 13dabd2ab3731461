package graph

import (
	"context"
	"log/slog"

	"itemsrv/auth"
	"itemsrv/db"
	"itemsrv/events"
	"itemsrv/external"
	"itemsrv/items"
)

// Resolver holds the dependencies of the resolvers. It is built once by main
// and never regenerated.
type Resolver struct {
	Store    *db.Store
	Upstream *external.Client
	// Broker delivers committed item events to subscriptions.
	Broker *events.Broker
	// Cursors signs and checks pagination cursors; nil uses the key built
	// into the program (main gives it the database's own key).
	Cursors *items.CursorCodec
	Log     *slog.Logger
}

// owner is the owner of the caller's items.
func owner(ctx context.Context) string { return auth.FromContext(ctx).Subject }

// errForbidden is returned for a mutation by a caller without the write scope.
var errForbidden = &items.Error{Code: items.CodeForbidden, Message: "this operation needs the " + auth.WriteScope + " scope"}

// writer returns the caller's owner when the caller may mutate items. The
// check comes before any lookup, so a read-only caller learns nothing.
func writer(ctx context.Context) (string, error) {
	p := auth.FromContext(ctx)
	if !p.CanWrite() {
		return "", errForbidden
	}
	return p.Subject, nil
}

// cursors is the codec of the resolver's cursors.
func (r *Resolver) cursors() *items.CursorCodec {
	if r.Cursors != nil {
		return r.Cursors
	}
	return items.DefaultCursorCodec
}

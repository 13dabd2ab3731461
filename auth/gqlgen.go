package auth

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"itemsrv/items"
)

// CloseCodeUnauthorized is the WebSocket close code for a connection whose
// connection_init carries no valid token: 4401, as the graphql-ws protocol
// and the contract use it.
const CloseCodeUnauthorized = 4401

// GQLGenInitFunc returns the InitFunc of gqlgen's transport.Websocket. It
// authenticates the connection with WebsocketInit; on failure it logs the
// cause and has gqlgen close the socket with CloseCodeUnauthorized and the
// public message as the reason (gqlgen takes both from the context returned
// with the error). The error it returns says only the public message, since
// gqlgen sends its text to legacy graphql-ws clients in a connection_error.
func (a *Authenticator) GQLGenInitFunc() transport.WebsocketInitFunc {
	return func(ctx context.Context, initPayload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		ctx, err := a.WebsocketInit(ctx, initPayload)
		if err == nil {
			return ctx, nil, nil
		}
		a.logRefusal(ctx, err, slog.String("transport", "websocket"))
		pub := publicError{err: err}
		ctx = transport.WithWebsocketCloseCode(ctx, CloseCodeUnauthorized)
		ctx = transport.AppendCloseReason(ctx, pub.Error())
		return ctx, nil, pub
	}
}

// publicError shows only the public message of the *items.Error it wraps,
// which errors.As still finds.
type publicError struct{ err error }

func (e publicError) Error() string {
	var ie *items.Error
	if errors.As(e.err, &ie) {
		return ie.Message
	}
	return MessageInvalidToken
}

func (e publicError) Unwrap() error { return e.err }

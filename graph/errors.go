package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"itemsrv/items"
	"itemsrv/requestid"
)

// internalMessage is all a client learns of an internal error.
const internalMessage = "internal server error"

// ErrorPresenter is the one place where errors become what clients see:
// a domain *items.Error shows its code, message and extensions; gqlgen's own
// errors (parse, validation, complexity, persisted queries) keep their code;
// anything else is logged in full with the request id and shown as a generic
// INTERNAL_SERVER_ERROR.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var ie *items.Error
		if errors.As(err, &ie) {
			return presentDomain(ctx, log, gqlErr, ie)
		}
		if gqlErr.Extensions != nil {
			if code, ok := gqlErr.Extensions["code"].(string); ok && code != "" {
				return gqlErr
			}
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			log.DebugContext(ctx, "request ended before its result", "err", err, "requestId", requestid.From(ctx))
			return &gqlerror.Error{
				Message:    "the request was cancelled or timed out",
				Path:       gqlErr.Path,
				Extensions: map[string]any{"code": string(items.CodeServiceUnavailable), "requestId": requestid.From(ctx)},
			}
		}
		return internal(ctx, log, gqlErr.Path, err)
	}
}

func presentDomain(ctx context.Context, log *slog.Logger, gqlErr *gqlerror.Error, ie *items.Error) *gqlerror.Error {
	if ie.Code == items.CodeInternal {
		return internal(ctx, log, gqlErr.Path, ie)
	}
	ext := make(map[string]any, 2+len(ie.Extensions))
	for k, v := range ie.Extensions {
		ext[k] = v
	}
	ext["code"] = string(ie.Code)
	field := ie.Field
	if ie.Code == items.CodeBadUserInput && field == "" {
		// A scalar that failed to parse does not know its field; gqlgen's
		// path does.
		field = lastName(gqlErr.Path)
	}
	if field != "" {
		ext["field"] = field
	}
	if ie.Code == items.CodeServiceUnavailable || ie.Code == items.CodeBadGateway {
		ext["requestId"] = requestid.From(ctx)
		if ie.Err != nil {
			log.WarnContext(ctx, "dependency failed", "code", string(ie.Code), "err", ie.Err, "requestId", requestid.From(ctx))
		}
	}
	return &gqlerror.Error{Message: ie.Message, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
}

func internal(ctx context.Context, log *slog.Logger, path ast.Path, err error) *gqlerror.Error {
	id := requestid.From(ctx)
	log.ErrorContext(ctx, "internal error", "err", err, "path", path.String(), "requestId", id)
	return &gqlerror.Error{
		Message:    internalMessage,
		Path:       path,
		Extensions: map[string]any{"code": string(items.CodeInternal), "requestId": id},
	}
}

func lastName(p ast.Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if n, ok := p[i].(ast.PathName); ok {
			return string(n)
		}
	}
	return ""
}

// Recover turns a resolver's panic into an internal error, logging the stack.
func Recover(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(v), "stack", string(debug.Stack()), "requestId", requestid.From(ctx))
		return &items.Error{Code: items.CodeInternal, Message: internalMessage, Err: fmt.Errorf("panic: %v", v)}
	}
}

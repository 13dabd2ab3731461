package graph

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"itemsrv/graph/generated"
	"itemsrv/graph/model"
)

// Options configure the GraphQL handler.
type Options struct {
	// ComplexityLimit refuses operations above it before any resolver runs.
	ComplexityLimit int
	// Introspection allows __schema and __type queries.
	Introspection bool
	// AllowedOrigins are the origins a WebSocket may come from; "*" allows
	// all.
	AllowedOrigins []string
	// WebsocketInit authenticates a socket at connection_init; nil accepts
	// every socket.
	WebsocketInit transport.WebsocketInitFunc
	// QueryCacheSize and APQCacheSize bound the parsed-document cache and
	// the automatic persisted queries cache (entries).
	QueryCacheSize, APQCacheSize int
	Log                          *slog.Logger
}

// Config returns the generated schema's config with the complexity functions:
// a list multiplies its children by how many it may return.
func (r *Resolver) Config() generated.Config {
	c := generated.Config{Resolvers: r}
	c.Complexity.Query.Items = func(child int, first *int, _ *string, _ *model.ItemFilter, _ *model.ItemOrder) int {
		n := 20
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + child*n
	}
	c.Complexity.Query.ExternalPosts = func(child int, limit *int, _ *int, _ *int) int {
		n := 10
		if limit != nil && *limit > 0 {
			n = *limit
		}
		return 1 + child*n
	}
	return c
}

// NewHandler returns the GraphQL handler: POST and GET, WebSocket
// (graphql-transport-ws and the legacy graphql-ws) and Server-Sent Events,
// with the error presenter, complexity limit, persisted queries and a cache
// of parsed documents.
func NewHandler(r *Resolver, o Options) *handler.Server {
	if o.QueryCacheSize <= 0 {
		o.QueryCacheSize = 1000
	}
	if o.APQCacheSize <= 0 {
		o.APQCacheSize = 1000
	}
	srv := handler.New(generated.NewExecutableSchema(r.Config()))

	ws := transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc:              o.WebsocketInit,
		Implementation:        transport.CoderWebsocketImplementation{AcceptOptions: acceptOptions(o.AllowedOrigins)},
	}
	srv.AddTransport(ws)
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(HTTP{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](o.QueryCacheSize))
	if o.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](o.APQCacheSize)})
	if o.ComplexityLimit > 0 {
		srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))
	}
	srv.SetErrorPresenter(ErrorPresenter(o.Log))
	srv.SetRecoverFunc(Recover(o.Log))
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(ctx)
	})
	return srv
}

// acceptOptions checks a socket's Origin against the allowed origins.
func acceptOptions(allowed []string) coderws.AcceptOptions {
	var patterns []string
	for _, a := range allowed {
		if a == "*" {
			return coderws.AcceptOptions{InsecureSkipVerify: true}
		}
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			patterns = append(patterns, u.Host)
		}
	}
	return coderws.AcceptOptions{OriginPatterns: patterns}
}

package graph

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

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
	// InitTimeout closes a socket that has not sent connection_init within
	// it (default 10s).
	InitTimeout time.Duration
	// QueryCacheSize and APQCacheSize bound the parsed-document cache and
	// the automatic persisted queries cache (entries).
	QueryCacheSize, APQCacheSize int
	// Observer, optional, receives operation and resolver timings.
	Observer Observer
	// Live, optional, counts the subscriptions being served, for shutdown.
	Live *Live
	// Extensions are added to the handler after the built-in ones, such as
	// tracing.
	Extensions []graphql.HandlerExtension
	Log        *slog.Logger
}

// Config returns the generated schema's config with the complexity functions.
// Every field costs 1 plus what it selects, and a list multiplies what each
// element selects by how many elements it may return (items' first,
// externalPosts' limit). A connection's wrappers (edges, node, nodes) cost
// nothing of their own, and pageInfo and totalCount cost 1 each, so that a
// page of 100 items with their cursors, id, title, totalCount and pageInfo
// costs 501 and stays well within the default limit of 1000, while 2,000
// aliases do not.
func (r *Resolver) Config() generated.Config {
	c := generated.Config{Resolvers: r}
	passThrough := func(child int) int { return child }
	c.Complexity.ItemConnection.Edges = passThrough
	c.Complexity.ItemConnection.Nodes = passThrough
	c.Complexity.ItemEdge.Node = passThrough
	// pageInfo and totalCount are one value per page whatever they select,
	// but not free: aliases of them still add up.
	c.Complexity.ItemConnection.PageInfo = func(int) int { return 1 }
	c.Complexity.ItemConnection.TotalCount = func(int) int { return 1 }
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
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	srv := handler.New(generated.NewExecutableSchema(r.Config()))

	ws := Websocket{Websocket: transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		InitTimeout:           o.InitTimeout,
		InitFunc:              o.WebsocketInit,
		Implementation:        transport.CoderWebsocketImplementation{AcceptOptions: acceptOptions(o.AllowedOrigins)},
	}, live: o.Live}
	srv.AddTransport(ws)
	srv.AddTransport(SSE{live: o.Live})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(HTTP{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](o.QueryCacheSize))
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(refuseIntrospection{})
		// "Did you mean …" would let a client map the schema field by field.
		srv.SetDisableSuggestion(true)
	}
	srv.Use(persistedQueries{extension.AutomaticPersistedQuery{Cache: lru.New[string](o.APQCacheSize)}})
	srv.Use(singleFieldSubscriptions{})
	if o.ComplexityLimit > 0 {
		srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))
	}
	srv.SetErrorPresenter(ErrorPresenter(o.Log))
	srv.SetRecoverFunc(Recover(o.Log))
	srv.AroundResponses(observeResponses(o.Observer))
	if o.Observer != nil {
		srv.AroundFields(observeResolvers(o.Observer))
	}
	for _, ext := range o.Extensions {
		srv.Use(ext)
	}
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

// persistedQueries is gqlgen's automatic persisted queries (Apollo's
// protocol) whose refusals all carry a code: a hash that does not match its
// query, or malformed persistedQuery data, is BAD_REQUEST, as Apollo's own
// server answers.
type persistedQueries struct {
	extension.AutomaticPersistedQuery
}

func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	err := p.AutomaticPersistedQuery.MutateOperationParameters(ctx, raw)
	if err != nil {
		if code, _ := err.Extensions["code"].(string); code == "" {
			errcode.Set(err, codeBadRequest)
		}
	}
	return err
}

// refuseIntrospection refuses __schema and __type before anything runs,
// with GRAPHQL_VALIDATION_FAILED, when introspection is off; gqlgen alone
// would answer them with a code-less error that reads as an internal one.
// __typename stays allowed.
type refuseIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = refuseIntrospection{}

func (refuseIntrospection) ExtensionName() string { return "RefuseIntrospection" }

func (refuseIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (refuseIntrospection) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && introspects(oc.Operation.SelectionSet, map[string]bool{}) {
		err := gqlerror.Errorf("introspection is disabled on this server")
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	return nil
}

// singleFieldSubscriptions refuses a subscription that selects more than
// one root field, counted by response name as the spec's
// CollectFields does (with @skip and @include applied), with
// GRAPHQL_VALIDATION_FAILED. gqlparser's rule counts field names, so
// aliases of one field (a: itemEvents b: itemEvents) passed it and then
// failed inside gqlgen as an internal error.
type singleFieldSubscriptions struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = singleFieldSubscriptions{}

func (singleFieldSubscriptions) ExtensionName() string { return "SingleFieldSubscriptions" }

func (singleFieldSubscriptions) Validate(graphql.ExecutableSchema) error { return nil }

func (singleFieldSubscriptions) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return nil
	}
	fields := graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Subscription"})
	if len(fields) <= 1 {
		return nil
	}
	name := "Anonymous Subscription"
	if oc.Operation.Name != "" {
		name = "Subscription " + strconv.Quote(oc.Operation.Name)
	}
	err := gqlerror.ErrorPosf(fields[1].Position, "%s must select only one top level field.", name)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// introspects reports whether set selects __schema or __type, looking
// through fragments (each fragment once).
func introspects(set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" || introspects(s.SelectionSet, seen) {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if introspects(s.Definition.SelectionSet, seen) {
					return true
				}
			}
		}
	}
	return false
}

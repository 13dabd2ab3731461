package graph

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Observer receives what the handler measures; the metrics package's
// Metrics is one. A nil Observer measures nothing.
type Observer interface {
	// ObserveOperation is called once per GraphQL response but the events
	// of a subscription, with the operation's name ("" when it has none)
	// and its outcome: the first error's extensions.code, or "ok".
	ObserveOperation(name, outcome string, d time.Duration)
	// ObserveResolver is called after each resolver method (not a plain
	// struct field) with "Type.field".
	ObserveResolver(field string, d time.Duration)
}

// RequestInfo gathers, for the request log, the operation names and error
// codes of the GraphQL responses of one HTTP request.
type RequestInfo struct {
	mu         sync.Mutex
	operations []string
	codes      []string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying a fresh RequestInfo.
func WithRequestInfo(ctx context.Context) (context.Context, *RequestInfo) {
	ri := &RequestInfo{}
	return context.WithValue(ctx, requestInfoKey{}, ri), ri
}

func requestInfoFrom(ctx context.Context) *RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return ri
}

// Operations returns the names of the operations answered, in order.
func (ri *RequestInfo) Operations() []string {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return append([]string(nil), ri.operations...)
}

// ErrorCodes returns the distinct extensions.code values of the errors
// answered, in order of first appearance.
func (ri *RequestInfo) ErrorCodes() []string {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return append([]string(nil), ri.codes...)
}

func (ri *RequestInfo) record(op string, codes []string) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if op != "" && (len(ri.operations) == 0 || ri.operations[len(ri.operations)-1] != op) {
		ri.operations = append(ri.operations, op)
	}
outer:
	for _, c := range codes {
		for _, have := range ri.codes {
			if have == c {
				continue outer
			}
		}
		ri.codes = append(ri.codes, c)
	}
}

// maxOperationName bounds the operation names kept as metric labels and in
// the log: a client chooses them.
const maxOperationName = 64

// observeResponses records every response's operation name and error codes
// into the request's RequestInfo, and counts operations.
func observeResponses(obs Observer) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp == nil {
			return nil
		}
		name, subscription := "", false
		if graphql.HasOperationContext(ctx) {
			oc := graphql.GetOperationContext(ctx)
			name = oc.OperationName
			if oc.Operation != nil {
				if name == "" {
					name = oc.Operation.Name
				}
				subscription = oc.Operation.Operation == ast.Subscription
			}
		}
		if len(name) > maxOperationName {
			name = name[:maxOperationName]
		}
		codes := make([]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" {
				code = "UNKNOWN"
			}
			codes = append(codes, code)
		}
		if ri := requestInfoFrom(ctx); ri != nil {
			ri.record(name, codes)
		}
		if obs != nil && !subscription {
			outcome := "ok"
			if len(codes) > 0 {
				outcome = codes[0]
			}
			obs.ObserveOperation(name, outcome, time.Since(graphql.GetStartTime(ctx)))
		}
		return resp
	}
}

// observeResolvers times resolver methods only: plain struct fields are
// many and cheap, and timing them would cost more than they do.
func observeResolvers(obs Observer) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || !fc.IsResolver {
			return next(ctx)
		}
		start := time.Now()
		res, err := next(ctx)
		obs.ObserveResolver(fc.Object+"."+fc.Field.Name, time.Since(start))
		return res, err
	}
}

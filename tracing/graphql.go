package tracing

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Extension is the gqlgen extension that traces each operation in a span
// named "query items" (its type and name) and, under it, each field that
// runs a resolver, such as "Query.items" or "Item.externalPost". Fields read
// straight from a struct get no span: they cost nothing worth seeing and
// would drown the trace. The document itself is not recorded, since its
// literals may hold user data.
type Extension struct {
	// Provider defaults to the global tracer provider.
	Provider trace.TracerProvider
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.FieldInterceptor
} = Extension{}

// ExtensionName names the extension for gqlgen.
func (Extension) ExtensionName() string { return "OpenTelemetry" }

// Validate accepts every schema.
func (Extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation starts the operation's span. A query or mutation's
// span ends with its response; a subscription's ends once it is set up (its
// resolver has returned its channel), because a span as long as the
// subscription would tell nothing until it closed.
func (e Extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	opType, name := "", oc.OperationName
	if oc.Operation != nil {
		opType = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	spanName := strings.TrimSpace("graphql " + opType + " " + name)
	attrs := []attribute.KeyValue{attribute.String("graphql.operation.type", opType)}
	if name != "" {
		attrs = append(attrs, attribute.String("graphql.operation.name", name))
	}
	ctx, span := tracer(e.Provider).Start(ctx, spanName,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	handler := next(ctx)
	if opType == "subscription" {
		span.End()
		return handler
	}
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			span.SetAttributes(attribute.Int("graphql.errors", len(resp.Errors)))
			span.SetStatus(codes.Error, resp.Errors[0].Message)
		}
		span.End()
		return resp
	}
}

// InterceptField gives a field that runs a resolver its own span, with the
// path of the field in the response and the error it returned. The span is
// the child of the nearest resolver above the field, as gqlgen runs a
// field's children in the context its resolver ran in.
func (e Extension) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	// The parent may have ended (a child field runs after its parent's
	// resolver returned) but still tells whether this trace is sampled.
	if fc == nil || !fc.IsResolver || !trace.SpanFromContext(ctx).SpanContext().IsSampled() {
		return next(ctx)
	}
	ctx, span := tracer(e.Provider).Start(ctx, fc.Object+"."+fc.Field.Name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("graphql.field.name", fc.Field.Name),
			attribute.String("graphql.field.parent", fc.Object),
			attribute.String("graphql.field.path", fc.Path().String()),
		))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}

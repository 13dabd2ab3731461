package generated

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalSliceSequentially is graphql.MarshalSliceConcurrently without the
// goroutines, for lists of objects whose fields are all plain, where a
// goroutine per element buys nothing (see internal/seqlists, which points
// the generated list marshalers of such types here). Each element gets its
// field context with its index, and an element whose marshaling panics is
// null with the panic reported, as in the concurrent version; workerLimit
// has no use here.
func MarshalSliceSequentially(
	ctx context.Context,
	length int,
	workerLimit int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	_ = workerLimit
	ret := make(graphql.Array, length)
	for i := range length {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(childCtx, graphql.Recover(childCtx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshalElement(childCtx, i)
		}()
	}
	return ret
}

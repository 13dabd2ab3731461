package generated

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

func TestMarshalSliceSequentiallyKeepsOrderIndexesAndPanics(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
		func(ctx context.Context, err any) error { return errors.New("internal system error") })
	ret := MarshalSliceSequentially(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if got := *graphql.GetFieldContext(ctx).Index; got != i {
			t.Errorf("element %d has index %d", i, got)
		}
		if i == 1 {
			panic("boom")
		}
		return graphql.MarshalInt(i)
	})
	var b bytes.Buffer
	ret.MarshalGQL(&b)
	if b.String() != "[0,null,2]" {
		t.Errorf("marshalled %s", b.String())
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 || errs[0].Message != "internal system error" {
		t.Errorf("errors = %v", errs)
	}
}

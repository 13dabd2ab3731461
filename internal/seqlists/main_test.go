package main

import (
	"strings"
	"testing"
)

const plain = `
func (ec *executionContext) _Post(ctx context.Context, sel ast.SelectionSet, obj *model.Post) graphql.Marshaler {
	out := graphql.NewFieldSet(fields)
	return out
}

func (ec *executionContext) marshalNPost2ᚕitemsrvᚋgraphᚋmodelᚐPostᚄ(ctx context.Context, sel ast.SelectionSet, v []model.Post) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		return ec.marshalNPost2itemsrvᚋgraphᚋmodelᚐPost(ctx, sel, v[i])
	})
	return ret
}

func (ec *executionContext) marshalNItem2ᚕitemsrvᚋitemsᚐItemᚄ(ctx context.Context, sel ast.SelectionSet, v []items.Item) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, nil)
	return ret
}
`

func TestRewriteMakesOnlyTheNamedListsSequential(t *testing.T) {
	got, err := rewrite(plain, []string{"Post"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "ret := MarshalSliceSequentially(ctx, len(v), 0, false, func") {
		t.Errorf("the Post list is not sequential:\n%s", got)
	}
	if strings.Count(got, "graphql.MarshalSliceConcurrently(") != 1 || !strings.Contains(got, "ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, nil)") {
		t.Errorf("the Item list changed:\n%s", got)
	}
	again, err := rewrite(got, []string{"Post"})
	if err == nil {
		t.Errorf("a second pass found something to change:\n%s", again)
	}
}

func TestRewriteRefusesATypeWithResolvers(t *testing.T) {
	src := strings.Replace(plain, "out := graphql.NewFieldSet(fields)", "out.ResolveConcurrently(ec.OperationContext, &deferred, i, f)", 1)
	if _, err := rewrite(src, []string{"Post"}); err == nil || !strings.Contains(err.Error(), "resolver fields") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

func TestRewriteFailsWhenItFindsNothing(t *testing.T) {
	for _, typ := range []string{"User", "Item"} {
		if _, err := rewrite(plain, []string{typ}); err == nil {
			t.Errorf("%s: no error", typ)
		}
	}
}

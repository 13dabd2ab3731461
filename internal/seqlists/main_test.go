package main

import (
	"strings"
	"testing"
)

const plain = `
func (ec *executionContext) _Post(ctx context.Context, sel ast.SelectionSet, obj *model.Post) graphql.Marshaler {
	out := graphql.NewFieldSet(fields)
	out.Values[i] = ec._Post_author(ctx, field, obj)
	return out
}

func (ec *executionContext) _Post_author(ctx context.Context, field graphql.CollectedField, obj *model.Post) (ret graphql.Marshaler) {
	return graphql.ResolveField(ctx, ec.OperationContext, field, ec.fieldContext_Post_author, nil, nil, func(ctx context.Context, selections ast.SelectionSet, v *model.User) graphql.Marshaler {
		return ec.marshalOUser2ᚖitemsrvᚋgraphᚋmodelᚐUser(ctx, selections, v)
	}, true, false)
}

func (ec *executionContext) marshalOUser2ᚖitemsrvᚋgraphᚋmodelᚐUser(ctx context.Context, sel ast.SelectionSet, v *model.User) graphql.Marshaler {
	return ec._User(ctx, sel, v)
}

func (ec *executionContext) _User(ctx context.Context, sel ast.SelectionSet, obj *model.User) graphql.Marshaler {
	out := graphql.NewFieldSet(fields)
	return out
}

func (ec *executionContext) _Item(ctx context.Context, sel ast.SelectionSet, obj *items.Item) graphql.Marshaler {
	out.ResolveConcurrently(ec.OperationContext, &deferred, i, f)
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
	got, err := rewrite(plain, []string{"Post"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "ret := MarshalSliceSequentially(ctx, len(v), 0, false, func") {
		t.Errorf("the Post list is not sequential:\n%s", got)
	}
	if strings.Count(got, "graphql.MarshalSliceConcurrently(") != 1 || !strings.Contains(got, "ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, nil)") {
		t.Errorf("the Item list changed:\n%s", got)
	}
	again, err := rewrite(got, []string{"Post"}, nil)
	if err == nil {
		t.Errorf("a second pass found something to change:\n%s", again)
	}
}

func TestRewriteRefusesATypeWithResolversBelowIt(t *testing.T) {
	// A resolver added to User, which Post reaches through author.
	src := strings.Replace(plain, "func (ec *executionContext) _User(ctx context.Context, sel ast.SelectionSet, obj *model.User) graphql.Marshaler {\n\tout := graphql.NewFieldSet(fields)",
		"func (ec *executionContext) _User(ctx context.Context, sel ast.SelectionSet, obj *model.User) graphql.Marshaler {\n\tout.ResolveConcurrently(ec.OperationContext, &deferred, i, f)", 1)
	if src == plain {
		t.Fatal("the test did not change User")
	}
	if _, err := rewrite(src, []string{"Post"}, nil); err == nil || !strings.Contains(err.Error(), "Post reaches User") {
		t.Fatalf("err = %v, want a refusal naming User", err)
	}
	if _, err := rewrite(src, []string{"Post"}, []string{"User"}); err != nil {
		t.Fatalf("with User trusted: %v", err)
	}
}

func TestRewriteRefusesAnUntrustedTypeWithResolvers(t *testing.T) {
	if _, err := rewrite(plain, []string{"Item"}, nil); err == nil || !strings.Contains(err.Error(), "Item reaches Item") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	got, err := rewrite(plain, []string{"Item"}, []string{"Item"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "ret := MarshalSliceSequentially(ctx, len(v), 0, false, nil)") {
		t.Errorf("the trusted Item list is not sequential:\n%s", got)
	}
}

func TestRewriteFailsWhenItFindsNothing(t *testing.T) {
	for _, typ := range []string{"User", "Nothing"} {
		if _, err := rewrite(plain, []string{typ}, nil); err == nil {
			t.Errorf("%s: no error", typ)
		}
	}
}

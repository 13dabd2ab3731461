package graph

import (
	"fmt"
	"strings"
	"testing"

	"itemsrv/jsonplaceholder"
)

// The complexity model lets ordinary pages through at the default limit of
// 1000 and refuses wide or aliased queries, before any SQL runs.
func TestComplexityOfOrdinaryAndWideQueries(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	const scalars = `id title description externalData enrichedAt version createdAt updatedAt`
	accepted := []string{
		`{ items(first: 100) { totalCount edges { cursor node { id title } } pageInfo { hasNextPage endCursor } } }`,
		`{ items(first: 100) { edges { cursor node { ` + scalars + ` } } } }`,
		`{ items(first: 100) { nodes { ` + scalars + ` } pageInfo { hasNextPage } } }`,
		`{ externalPosts(limit: 100) { id userId title body author { id name username email } } }`,
	}
	for _, q := range accepted {
		r := h.post(t, map[string]any{"query": q})
		if errs, _ := r.Body["errors"].([]any); len(errs) > 0 {
			t.Errorf("refused an ordinary query: %s\n%s", q, r.Raw)
		}
	}
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 2000 {
		fmt.Fprintf(&aliases, " a%d: items(first: 1) { totalCount }", i)
	}
	aliases.WriteString("}")
	refused := []string{
		aliases.String(),
		`{ items(first: 1) { ` + aliasRun("c", "totalCount", 1500) + ` } }`,
		`{ items(first: 100) { edges { cursor node { ` + scalars + ` externalPost { id title author { name } } } } nodes { ` + scalars + ` } } }`,
	}
	for i, q := range refused {
		before := h.Queries.n.Load()
		r := h.post(t, map[string]any{"query": q})
		if code := r.errorCode(t); code != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("query %d: code %s, want COMPLEXITY_LIMIT_EXCEEDED", i, code)
		}
		if n := h.Queries.n.Load() - before; n != 0 {
			t.Errorf("query %d ran %d SQL statements before being refused", i, n)
		}
	}
}

func aliasRun(prefix, field string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " %s%d: %s", prefix, i, field)
	}
	return b.String()
}

// Methods other than GET and POST get a 405 in GraphQL's shape, with a code.
func TestOtherMethodsAreRefusedWithACode(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		r := h.do(t, m, "application/json", "application/json", `{"query":"{ __typename }"}`)
		if r.Status != 405 || r.Header.Get("Allow") != "GET, POST" || r.errorCode(t) != "BAD_REQUEST" {
			t.Errorf("%s: %d Allow=%q %s", m, r.Status, r.Header.Get("Allow"), r.Raw)
		}
	}
}

// With introspection off, errors do not suggest field names.
func TestNoSuggestionsWithoutIntrospection(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: false})
	r := h.post(t, map[string]any{"query": "{ itemz }"})
	if strings.Contains(r.Raw, "Did you mean") {
		t.Errorf("suggestion leaked: %s", r.Raw)
	}
}

// Over Server-Sent Events, a document that does not validate is refused
// with 400 and JSON errors before any stream opens.
func TestSSERefusesInvalidDocuments(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	r := h.do(t, "POST", "application/json", "text/event-stream", `{"query":"subscription { nope }"}`)
	if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.errorCode(t) != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("%d %s %s", r.Status, r.Header.Get("Content-Type"), r.Raw)
	}
	if _, ok := r.Body["data"]; ok {
		t.Errorf("a request error carries data: %s", r.Raw)
	}
}

// Responses keep <, > and & as they are: externalData is the text as
// stored, not HTML-escaped.
func TestResponsesAreNotHTMLEscaped(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	h.Fake.AddFault(jsonplaceholder.Fault{Path: "/posts/50", Status: 200, Body: `{"userId":1,"id":50,"title":"a <b> & c","body":"x"}`})
	r := h.post(t, map[string]any{"query": `mutation { createItem(input: {title: "<&>"}) { id title } }`})
	if !strings.Contains(r.Raw, `"title":"<&>"`) {
		t.Fatalf("escaped: %s", r.Raw)
	}
	id := r.Body["data"].(map[string]any)["createItem"].(map[string]any)["id"].(string)
	r = h.post(t, map[string]any{"query": `mutation($id: ID!) { enrichItem(id: $id, postId: "50") { externalData } }`, "variables": map[string]any{"id": id}})
	if !strings.Contains(r.Raw, `{"userId":1,"id":50,"title":"a <b> & c","body":"x"}`) {
		t.Fatalf("externalData is not the text as fetched: %s", r.Raw)
	}
}

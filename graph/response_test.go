package graph

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// encodeResponse writes what encoding/json (without HTML escaping) writes
// for a graphql.Response, member for member, without re-reading the data.
func TestEncodeResponseMatchesEncodingJSON(t *testing.T) {
	yes := true
	cases := []struct {
		name     string
		resp     graphql.Response
		withData bool
	}{
		{"data", graphql.Response{Data: json.RawMessage(`{"item":{"id":"1","title":"<a & b>"}}`)}, true},
		{"null data", graphql.Response{}, true},
		{"errors and data", graphql.Response{
			Errors: gqlerror.List{{Message: "not found <x>", Path: ast.Path{ast.PathName("item")}, Extensions: map[string]any{"code": "NOT_FOUND"}}},
			Data:   json.RawMessage(`{"item":null}`),
		}, true},
		{"errors without data", graphql.Response{Errors: gqlerror.List{{Message: "bad", Extensions: map[string]any{"code": "BAD_REQUEST"}}}}, false},
		{"extensions", graphql.Response{Data: json.RawMessage(`{}`), Extensions: map[string]any{"cost": 3, "a": []int{1}}}, true},
		{"incremental", graphql.Response{Data: json.RawMessage(`{"x":1}`), Label: "l", Path: ast.Path{ast.PathName("a"), ast.PathIndex(0)}, HasNext: &yes}, true},
		{"no members", graphql.Response{Data: json.RawMessage(`{"x":1}`)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			var v any = c.resp
			if !c.withData {
				v = struct {
					Errors     gqlerror.List  `json:"errors,omitempty"`
					Extensions map[string]any `json:"extensions,omitempty"`
				}{c.resp.Errors, c.resp.Extensions}
			}
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := encodeResponse(&got, &c.resp, c.withData); err != nil {
				t.Fatal(err)
			}
			if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got.Bytes(), w) {
				t.Fatalf("got  %s\nwant %s", got.Bytes(), w)
			}
		})
	}
}

package graph_test

import (
	"fmt"
	"testing"

	"itemsrv/db"
	"itemsrv/db/dbtest"
)

// A page of enriched items whose stored posts have many authors costs one
// upstream users call, through nodes and through edges, fragments included.
func TestItemsExternalPostAuthorIsBatched(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for i := 1; i <= 40; i++ {
			it := e.createItem(t, fmt.Sprint("item ", i), nil)
			// Posts 1..100 are written by users 1..10, ten each; every
			// second post spreads the items over all ten authors.
			e.ok(t, `mutation($id: ID!, $p: ID) { enrichItem(id: $id, postId: $p) { id } }`,
				vars{"id": it.ID, "p": fmt.Sprint(i * 2)}, nil)
		}
		queries := map[string]string{
			"nodes":    `{ items(first: 40) { nodes { id externalPost { id author { name } } } } }`,
			"edges":    `{ items(first: 40) { edges { node { externalPost { author { id } } } } } }`,
			"fragment": `fragment P on Post { author { email } } { items(first: 40) { nodes { ... on Item { externalPost { ...P } } } } }`,
		}
		for name, q := range queries {
			t.Run(name, func(t *testing.T) {
				e.Fake.ResetCounts()
				var out struct {
					Items struct {
						Nodes []struct {
							ExternalPost struct{ Author map[string]any }
						}
					}
				}
				e.ok(t, q, nil, &out)
				if n := e.Fake.Requests("/users"); n != 1 {
					t.Fatalf("%d /users calls for a page of 40 enriched items, want 1: %q", n, e.Fake.RequestLog())
				}
				if name == "nodes" {
					for i, n := range out.Items.Nodes {
						if n.ExternalPost.Author["name"] == nil {
							t.Fatalf("node %d has no author: %+v", i, n)
						}
					}
				}
			})
		}
		// Not selecting authors makes no users call at all.
		e.Fake.ResetCounts()
		e.ok(t, `{ items(first: 40) { nodes { externalPost { title } } } }`, nil, nil)
		if n := e.Fake.TotalRequests(); n != 0 {
			t.Fatalf("%d upstream calls without authors selected, want 0", n)
		}
	})
}

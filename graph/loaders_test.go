package graph_test

import (
	"fmt"
	"testing"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/jsonplaceholder"
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

// A failed authors call leaves the posts and reports the failure on each
// author field's own path, with its code.
func TestAuthorFailureIsReportedOnTheAuthorField(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	e.Fake.AddFault(jsonplaceholder.Fault{Path: "/users", Status: 400})
	r := e.post(t, `{ externalPosts(limit: 2) { id author { name } } }`, nil)
	var data struct {
		ExternalPosts []struct {
			ID     string
			Author *struct{ Name string }
		}
	}
	r.decodeData(t, &data)
	if len(data.ExternalPosts) != 2 || data.ExternalPosts[0].Author != nil || data.ExternalPosts[1].Author != nil {
		t.Fatalf("data = %+v, want two posts without authors", data)
	}
	if len(r.Errors) != 2 {
		t.Fatalf("want two errors, got %s", r.Body)
	}
	for i, ge := range r.Errors {
		want := fmt.Sprintf("[externalPosts %d author]", i)
		if got := fmt.Sprint(ge.Path); got != want || ge.code() != "BAD_GATEWAY" {
			t.Errorf("error %d: path %s code %s, want %s BAD_GATEWAY", i, got, ge.code(), want)
		}
	}
	r = e.post(t, `{ externalPost(id: "1") { id author { name } } }`, nil)
	if len(r.Errors) != 1 || fmt.Sprint(r.Errors[0].Path) != "[externalPost author]" {
		t.Fatalf("externalPost: want one error on [externalPost author], got %s", r.Body)
	}
}

// externalPosts never answers more posts than limit, whatever the upstream
// sends, and refuses values beyond GraphQL's 32-bit Int.
func TestExternalPostsLimits(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	e.Fake.AddFault(jsonplaceholder.Fault{Path: "/posts", Status: 200,
		Body: `[{"userId":1,"id":1,"title":"a","body":"x"},{"userId":1,"id":2,"title":"b","body":"y"},{"userId":1,"id":3,"title":"c","body":"z"}]`})
	var out struct{ ExternalPosts []struct{ ID string } }
	e.ok(t, `{ externalPosts(limit: 2) { id } }`, nil, &out)
	if len(out.ExternalPosts) != 2 {
		t.Fatalf("%d posts for limit 2", len(out.ExternalPosts))
	}
	e.fail(t, `{ externalPosts(offset: 4294967296) { id } }`, nil, "BAD_USER_INPUT", "offset")
	e.fail(t, `{ externalPosts(userId: 4294967297) { id } }`, nil, "BAD_USER_INPUT", "userId")
}

// RFC 3339 allows lower-case "t" and "z".
func TestLowerCaseTime(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, dbtest.SQLiteURL(t)))
	e.ok(t, `{ items(filter: {createdAfter: "2020-01-01t00:00:00z"}) { totalCount } }`, nil, nil)
}

// A time outside the years 0001–9999 is BAD_USER_INPUT on both engines.
func TestTimeOutsideTheCalendar(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.fail(t, `{ items(filter: {createdAfter: "0000-01-01T00:00:00Z"}) { totalCount } }`, nil, "BAD_USER_INPUT", "createdAfter")
		e.fail(t, `{ items(filter: {createdBefore: "0000-06-01T00:00:00+01:00"}) { totalCount } }`, nil, "BAD_USER_INPUT", "createdBefore")
		e.ok(t, `{ items(filter: {createdAfter: "0001-01-01T00:00:00Z", createdBefore: "9999-12-31T23:59:59.999999999Z"}) { totalCount } }`, nil, nil)
	})
}

package graph_test

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
)

const (
	createMutation = `mutation($in: CreateItemInput!) { createItem(input: $in) { ` + itemFields + ` } }`
	updateMutation = `mutation($id: ID!, $in: UpdateItemInput!) { updateItem(id: $id, input: $in) { ` + itemFields + ` } }`
	deleteMutation = `mutation($id: ID!) { deleteItem(id: $id) }`
	enrichMutation = `mutation($id: ID!, $postId: ID) { enrichItem(id: $id, postId: $postId) { ` + itemFields + ` } }`
)

func TestCreateItemValidation(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)

		t.Run("accepted", func(t *testing.T) {
			tests := []struct {
				name            string
				giveTitle       string
				giveDescription *string
				wantTitle       string
			}{
				{"title trimmed", "  \t hello world \n ", nil, "hello world"},
				{"200 emoji title", strings.Repeat("😀", 200), nil, strings.Repeat("😀", 200)},
				{"200 emoji title after trimming", "  " + strings.Repeat("😀", 200) + "  ", nil, strings.Repeat("😀", 200)},
				{"description of 5000 characters", "d", ptr(strings.Repeat("é", 5000)), "d"},
				{"tab and newline in title", "a\tb\nc", nil, "a\tb\nc"},
				{"tab and newline in description", "d", ptr("line 1\n\tline 2"), "d"},
				{"empty description", "d", ptr(""), "d"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := e.createItem(t, tt.giveTitle, tt.giveDescription)
					if got.Title != tt.wantTitle {
						t.Errorf("title = %q, want %q", got.Title, tt.wantTitle)
					}
					if !equalPtr(got.Description, tt.giveDescription) {
						t.Errorf("description = %v, want %v", show(got.Description), show(tt.giveDescription))
					}
					sameItem(t, e.getItem(t, got.ID), &got)
				})
			}
		})

		t.Run("refused", func(t *testing.T) {
			tests := []struct {
				name            string
				giveTitle       string
				giveDescription *string
				wantField       string
			}{
				{"empty title", "", nil, "title"},
				{"whitespace title", " \t\n ", nil, "title"},
				{"201 emoji title", strings.Repeat("😀", 201), nil, "title"},
				{"description of 5001 characters", "d", ptr(strings.Repeat("é", 5001)), "description"},
				{"NUL in title", "a\x00b", nil, "title"},
				{"U+0001 in title", "a\u0001b", nil, "title"},
				{"DEL in title", "a\u007fb", nil, "title"},
				{"NEL in title", "a\u0085b", nil, "title"},
				{"carriage return in title", "a\rb", nil, "title"},
				{"NUL in description", "d", ptr("a\x00b"), "description"},
				{"U+0001 in description", "d", ptr("a\u0001b"), "description"},
				{"DEL in description", "d", ptr("a\u007fb"), "description"},
				{"NEL in description", "d", ptr("a\u0085b"), "description"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := e.totalCount(t)
					r := e.fail(t, createMutation, vars{"in": vars{"title": tt.giveTitle, "description": tt.giveDescription}},
						"BAD_USER_INPUT", tt.wantField)
					if string(r.Data) != "null" {
						t.Errorf("data = %s, want null", r.Data)
					}
					if after := e.totalCount(t); after != before {
						t.Errorf("totalCount went from %d to %d: the refused item was written", before, after)
					}
				})
			}
		})
	})
}

// badIDs are strings that are not positive integers.
var badIDs = []string{"0", "-1", "abc", "1.5", "", " 1", "1e3", "+1", "99999999999999999999", "9223372036854775808"}

func TestIDValidation(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		it := e.createItem(t, "kept", nil)
		tests := []struct {
			name      string
			query     string
			vars      func(bad string) vars
			wantField string
		}{
			{"item id", `query($id: ID!) { item(id: $id) { id } }`, func(b string) vars { return vars{"id": b} }, "id"},
			{"updateItem id", updateMutation, func(b string) vars { return vars{"id": b, "in": vars{"title": "changed"}} }, "id"},
			{"deleteItem id", deleteMutation, func(b string) vars { return vars{"id": b} }, "id"},
			{"enrichItem id", enrichMutation, func(b string) vars { return vars{"id": b} }, "id"},
			{"enrichItem postId", enrichMutation, func(b string) vars { return vars{"id": it.ID, "postId": b} }, "postId"},
			{"externalPost id", `query($id: ID!) { externalPost(id: $id) { id } }`, func(b string) vars { return vars{"id": b} }, "id"},
		}
		for _, tt := range tests {
			for _, bad := range badIDs {
				t.Run(fmt.Sprintf("%s %q", tt.name, bad), func(t *testing.T) {
					e.fail(t, tt.query, tt.vars(bad), "BAD_USER_INPUT", tt.wantField)
				})
			}
		}
		if n := e.Fake.TotalRequests(); n != 0 {
			t.Errorf("the upstream got %d requests for invalid ids, want 0", n)
		}
		sameItem(t, e.getItem(t, it.ID), &it)
		if n := e.totalCount(t); n != 1 {
			t.Errorf("totalCount = %d, want 1", n)
		}
	})
}

func TestUpdateItemValidation(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		it := e.createItem(t, "original", ptr("kept"))
		tests := []struct {
			name      string
			give      vars
			wantField string
		}{
			{"title null", vars{"title": nil}, "title"},
			{"title empty", vars{"title": ""}, "title"},
			{"title whitespace", vars{"title": "   "}, "title"},
			{"title 201 characters", vars{"title": strings.Repeat("ж", 201)}, "title"},
			{"title with NUL", vars{"title": "a\x00"}, "title"},
			{"title with U+0085", vars{"title": "a\u0085"}, "title"},
			{"description 5001 characters", vars{"description": strings.Repeat("x", 5001)}, "description"},
			{"description with U+0001", vars{"description": "\u0001"}, "description"},
			{"description with DEL", vars{"description": "\u007f"}, "description"},
			{"valid title, invalid description", vars{"title": "new", "description": "\x00"}, "description"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.fail(t, updateMutation, vars{"id": it.ID, "in": tt.give}, "BAD_USER_INPUT", tt.wantField)
				sameItem(t, e.getItem(t, it.ID), &it)
			})
		}
	})
}

func TestListArgumentValidation(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for i := range 3 {
			e.createItem(t, fmt.Sprintf("item %d", i), nil)
		}

		t.Run("first in range", func(t *testing.T) {
			for _, first := range []int{0, 1, 100} {
				var out struct{ Items connection }
				e.ok(t, `query($first: Int) { items(first: $first) { `+connectionFields+` } }`, vars{"first": first}, &out)
				if want := min(first, 3); len(out.Items.Edges) != want {
					t.Errorf("first %d: %d edges, want %d", first, len(out.Items.Edges), want)
				}
				if want := first < 3; out.Items.PageInfo.HasNextPage != want {
					t.Errorf("first %d: hasNextPage = %v, want %v", first, out.Items.PageInfo.HasNextPage, want)
				}
				if out.Items.TotalCount != 3 {
					t.Errorf("first %d: totalCount = %d, want 3", first, out.Items.TotalCount)
				}
			}
		})

		var page struct{ Items connection }
		e.ok(t, `{ items(first: 1) { `+connectionFields+` } }`, nil, &page)
		cursor := page.Items.Edges[0].Cursor
		tampered := []byte(cursor)
		if tampered[3] == 'A' {
			tampered[3] = 'B'
		} else {
			tampered[3] = 'A'
		}

		tests := []struct {
			name      string
			query     string
			vars      vars
			wantField string
		}{
			{"first 101", `{ items(first: 101) { totalCount } }`, nil, "first"},
			{"first -1", `{ items(first: -1) { totalCount } }`, nil, "first"},
			{"after garbage", `query($a: String) { items(after: $a) { totalCount } }`, vars{"a": "not a cursor!"}, "after"},
			{"after empty", `query($a: String) { items(after: $a) { totalCount } }`, vars{"a": ""}, "after"},
			{"after base64 of nothing", `query($a: String) { items(after: $a) { totalCount } }`, vars{"a": "AAAAAAAAAAAAAAAAAAAAAAAA"}, "after"},
			{"after tampered", `query($a: String) { items(first: 1, after: $a) { totalCount } }`, vars{"a": string(tampered)}, "after"},
			{"after from another field", `query($a: String) { items(after: $a, orderBy: {field: TITLE, direction: DESC}) { totalCount } }`, vars{"a": cursor}, "after"},
			{"after from another direction", `query($a: String) { items(after: $a, orderBy: {field: CREATED_AT, direction: ASC}) { totalCount } }`, vars{"a": cursor}, "after"},
			{"limit 0", `{ externalPosts(limit: 0) { id } }`, nil, "limit"},
			{"limit 101", `{ externalPosts(limit: 101) { id } }`, nil, "limit"},
			{"offset -1", `{ externalPosts(offset: -1) { id } }`, nil, "offset"},
			{"search with NUL", `query($s: String) { items(filter: {search: $s}) { totalCount } }`, vars{"s": "a\x00"}, "search"},
			{"createdAfter not a time", `{ items(filter: {createdAfter: "yesterday"}) { totalCount } }`, nil, "createdAfter"},
			{"createdBefore not a time (variable)", `query($f: ItemFilter) { items(filter: $f) { totalCount } }`, vars{"f": vars{"createdBefore": "2026-13-01T00:00:00Z"}}, "createdBefore"},
			{"createdAfter without zone", `query($f: ItemFilter) { items(filter: $f) { totalCount } }`, vars{"f": vars{"createdAfter": "2026-01-01T00:00:00"}}, "createdAfter"},
			{"createdAfter a number", `query($f: ItemFilter) { items(filter: $f) { totalCount } }`, vars{"f": vars{"createdAfter": 1700000000}}, "createdAfter"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.fail(t, tt.query, tt.vars, "BAD_USER_INPUT", tt.wantField)
			})
		}
		if n := e.Fake.TotalRequests(); n != 0 {
			t.Errorf("the upstream got %d requests for invalid arguments, want 0", n)
		}
	})
}

func TestGraphQLErrorsHaveCodes(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		tests := []struct {
			name     string
			query    string
			wantCode string
		}{
			{"syntax error", `{ items { totalCount `, "GRAPHQL_PARSE_FAILED"},
			{"not a document", `this is not graphql`, "GRAPHQL_PARSE_FAILED"},
			{"unknown field", `{ nope }`, "GRAPHQL_VALIDATION_FAILED"},
			{"missing argument", `{ item { id } }`, "GRAPHQL_VALIDATION_FAILED"},
			{"wrong argument type", `{ items(first: "ten") { totalCount } }`, "GRAPHQL_VALIDATION_FAILED"},
			{"unknown enum value", `{ items(orderBy: {field: NAME, direction: ASC}) { totalCount } }`, "GRAPHQL_VALIDATION_FAILED"},
			{"missing selection", `{ items }`, "GRAPHQL_VALIDATION_FAILED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.post(t, tt.query, nil)
				if len(r.Errors) == 0 {
					t.Fatalf("no errors: %s", r.Body)
				}
				for _, ge := range r.Errors {
					if ge.code() != tt.wantCode {
						t.Errorf("extensions.code = %q, want %q: %s", ge.code(), tt.wantCode, r.Body)
					}
				}
			})
		}
		t.Run("undeclared variable type", func(t *testing.T) {
			r := e.post(t, `query($first: Int) { items(first: $first) { totalCount } }`, vars{"first": "ten"})
			if len(r.Errors) == 0 || r.Errors[0].code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("want GRAPHQL_VALIDATION_FAILED: %s", r.Body)
			}
		})
	})
}

func TestUpdateItem(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)

		t.Run("omitted fields are kept, null description clears", func(t *testing.T) {
			it := e.createItem(t, "title", ptr("description"))
			var out struct{ UpdateItem item }

			e.ok(t, updateMutation, vars{"id": it.ID, "in": vars{"title": "  new title  "}}, &out)
			if got := out.UpdateItem; got.Title != "new title" || !equalPtr(got.Description, ptr("description")) || got.Version != 2 {
				t.Errorf("after a title update: title %q, description %s, version %d", got.Title, show(got.Description), got.Version)
			}
			e.ok(t, updateMutation, vars{"id": it.ID, "in": vars{"description": "other"}}, &out)
			if got := out.UpdateItem; got.Title != "new title" || !equalPtr(got.Description, ptr("other")) || got.Version != 3 {
				t.Errorf("after a description update: title %q, description %s, version %d", got.Title, show(got.Description), got.Version)
			}
			e.ok(t, updateMutation, vars{"id": it.ID, "in": vars{"description": nil}}, &out)
			if got := out.UpdateItem; got.Title != "new title" || got.Description != nil || got.Version != 4 {
				t.Errorf("after description: null: title %q, description %s, version %d", got.Title, show(got.Description), got.Version)
			}
			// An empty input changes nothing but is still an update.
			e.ok(t, updateMutation, vars{"id": it.ID, "in": vars{}}, &out)
			if got := out.UpdateItem; got.Title != "new title" || got.Description != nil || got.Version != 5 {
				t.Errorf("after an empty update: title %q, description %s, version %d", got.Title, show(got.Description), got.Version)
			}
			sameItem(t, e.getItem(t, it.ID), &out.UpdateItem)
			if out.UpdateItem.CreatedAt != it.CreatedAt {
				t.Errorf("createdAt changed from %s to %s", it.CreatedAt, out.UpdateItem.CreatedAt)
			}
		})

		t.Run("inline null description clears, inline null title refused", func(t *testing.T) {
			it := e.createItem(t, "inline", ptr("to clear"))
			var out struct{ UpdateItem item }
			e.ok(t, `mutation { updateItem(id: "`+it.ID+`", input: {description: null}) { `+itemFields+` } }`, nil, &out)
			if out.UpdateItem.Description != nil || out.UpdateItem.Title != "inline" {
				t.Errorf("description = %s, title %q; want null and unchanged", show(out.UpdateItem.Description), out.UpdateItem.Title)
			}
			e.fail(t, `mutation { updateItem(id: "`+it.ID+`", input: {title: null}) { id } }`, nil, "BAD_USER_INPUT", "title")
			sameItem(t, e.getItem(t, it.ID), &out.UpdateItem)
		})

		t.Run("expectedVersion", func(t *testing.T) {
			it := e.createItem(t, "versioned", nil)
			var out struct{ UpdateItem item }
			e.ok(t, updateMutation, vars{"id": it.ID, "in": vars{"title": "v2", "expectedVersion": 1}}, &out)
			if out.UpdateItem.Version != 2 {
				t.Fatalf("version = %d, want 2", out.UpdateItem.Version)
			}
			for _, stale := range []int{1, 3, 0, -1} {
				r := e.fail(t, updateMutation, vars{"id": it.ID, "in": vars{"title": "lost", "expectedVersion": stale}}, "CONFLICT", "-")
				if got := r.Errors[0].extInt(t, "currentVersion"); got != 2 {
					t.Errorf("expectedVersion %d: currentVersion = %d, want 2", stale, got)
				}
				sameItem(t, e.getItem(t, it.ID), &out.UpdateItem)
			}
			e.fail(t, updateMutation, vars{"id": "999999", "in": vars{"title": "x", "expectedVersion": 1}}, "NOT_FOUND", "-")
		})

		t.Run("concurrent updates with one expectedVersion", func(t *testing.T) {
			it := e.createItem(t, "contended", nil)
			const n = 20
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				wins      []string
				conflicts int
			)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					title := fmt.Sprintf("writer %d", i)
					r, err := e.send(t.Context(), updateMutation, vars{"id": it.ID, "in": vars{"title": title, "expectedVersion": 1}})
					if err != nil {
						t.Error(err)
						return
					}
					e.check(t, r)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case len(r.Errors) == 0:
						wins = append(wins, title)
					case len(r.Errors) == 1 && r.Errors[0].code() == "CONFLICT" && r.Errors[0].Extensions["currentVersion"] == float64(2):
						conflicts++
					default:
						t.Errorf("writer %d: neither success nor CONFLICT with currentVersion 2: %s", i, r.Body)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(wins) != 1 || conflicts != n-1 {
				t.Fatalf("%d successes and %d conflicts, want 1 and %d", len(wins), conflicts, n-1)
			}
			got := e.getItem(t, it.ID)
			if got.Version != 2 || got.Title != wins[0] {
				t.Errorf("item is version %d titled %q, want version 2 titled %q", got.Version, got.Title, wins[0])
			}
		})
	})
}

func TestNotFound(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		missing := "424242"

		t.Run("item of a missing id is null", func(t *testing.T) {
			r := e.post(t, `query($id: ID!) { item(id: $id) { id } }`, vars{"id": missing})
			if len(r.Errors) != 0 || string(r.Data) != `{"item":null}` {
				t.Errorf("got %s, want data.item null and no errors", r.Body)
			}
		})
		tests := []struct {
			name  string
			query string
			vars  vars
		}{
			{"updateItem", updateMutation, vars{"id": missing, "in": vars{"title": "x"}}},
			{"deleteItem", deleteMutation, vars{"id": missing}},
			{"enrichItem", enrichMutation, vars{"id": missing}},
			{"enrichItem with postId", enrichMutation, vars{"id": missing, "postId": "1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.fail(t, tt.query, tt.vars, "NOT_FOUND", "-")
				if _, ok := r.Errors[0].Extensions["source"]; ok {
					t.Errorf("a missing item carries extensions.source: %s", r.Body)
				}
			})
		}
		if n := e.Fake.TotalRequests(); n != 0 {
			t.Errorf("enrichItem of a missing item made %d upstream requests, want 0", n)
		}

		t.Run("delete returns the id, then NOT_FOUND", func(t *testing.T) {
			it := e.createItem(t, "doomed", nil)
			keep := e.createItem(t, "kept", nil)
			var out struct{ DeleteItem string }
			e.ok(t, deleteMutation, vars{"id": it.ID}, &out)
			if out.DeleteItem != it.ID {
				t.Errorf("deleteItem = %q, want %q", out.DeleteItem, it.ID)
			}
			if got := e.getItem(t, it.ID); got != nil {
				t.Errorf("deleted item still read: %+v", got)
			}
			e.fail(t, deleteMutation, vars{"id": it.ID}, "NOT_FOUND", "-")
			e.fail(t, updateMutation, vars{"id": it.ID, "in": vars{"title": "back"}}, "NOT_FOUND", "-")
			sameItem(t, e.getItem(t, keep.ID), &keep)
		})
	})
}

// connection is an ItemConnection as the API sends it.
type connection struct {
	Edges []struct {
		Cursor string `json:"cursor"`
		Node   item   `json:"node"`
	} `json:"edges"`
	Nodes    []item `json:"nodes"`
	PageInfo struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
	TotalCount int `json:"totalCount"`
}

const connectionFields = `edges { cursor node { ` + itemFields + ` } } nodes { ` + itemFields + ` }
	pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`

const listQuery = `query($first: Int, $after: String, $filter: ItemFilter, $orderBy: ItemOrder) {
	items(first: $first, after: $after, filter: $filter, orderBy: $orderBy) { ` + connectionFields + ` } }`

// checkConnection checks what every page must satisfy: nodes are the
// edges' nodes, and the page info's cursors are the first and last edges'.
func checkConnection(t *testing.T, c *connection, afterCursor bool) {
	t.Helper()
	if len(c.Nodes) != len(c.Edges) {
		t.Fatalf("%d nodes but %d edges", len(c.Nodes), len(c.Edges))
	}
	for i := range c.Edges {
		sameItem(t, &c.Nodes[i], &c.Edges[i].Node)
	}
	pi := c.PageInfo
	if pi.HasPreviousPage != afterCursor {
		t.Errorf("hasPreviousPage = %v, want %v", pi.HasPreviousPage, afterCursor)
	}
	if len(c.Edges) == 0 {
		if pi.StartCursor != nil || pi.EndCursor != nil {
			t.Errorf("an empty page has cursors %s, %s", show(pi.StartCursor), show(pi.EndCursor))
		}
		return
	}
	if pi.StartCursor == nil || *pi.StartCursor != c.Edges[0].Cursor {
		t.Errorf("startCursor = %s, want the first edge's %q", show(pi.StartCursor), c.Edges[0].Cursor)
	}
	if pi.EndCursor == nil || *pi.EndCursor != c.Edges[len(c.Edges)-1].Cursor {
		t.Errorf("endCursor = %s, want the last edge's %q", show(pi.EndCursor), c.Edges[len(c.Edges)-1].Cursor)
	}
}

// orderKey compares two items in the order (field, id) ascending.
func orderKey(field string) func(a, b item) int {
	return func(a, b item) int {
		var c int
		switch field {
		case "TITLE":
			c = strings.Compare(a.Title, b.Title)
		case "UPDATED_AT":
			c = mustTime(a.UpdatedAt).Compare(mustTime(b.UpdatedAt))
		default:
			c = mustTime(a.CreatedAt).Compare(mustTime(b.CreatedAt))
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(mustInt(a.ID), mustInt(b.ID))
	}
}

func TestPagination(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		for _, field := range []string{"CREATED_AT", "UPDATED_AT", "TITLE"} {
			for _, dir := range []string{"ASC", "DESC"} {
				t.Run(field+" "+dir, func(t *testing.T) {
					e := newEnv(t, d)
					// Each run has its own search word, so that it sees only
					// its own items on the shared database.
					word := strings.ToLower(fmt.Sprintf("w%s%s", field[:2], dir))
					filter := vars{"search": word}
					// Titles repeat, so the TITLE order has ties that
					// only the id breaks; all are lowercase ASCII of one
					// length, so every collation sorts them bytewise.
					newTitle := func(i int) string { return fmt.Sprintf("t%02d%s", (i*7)%9, word) }
					initial := map[string]bool{}
					for i := range 26 {
						initial[e.createItem(t, newTitle(i), nil).ID] = true
					}
					// Some updates, so that updatedAt differs from createdAt order.
					for id := range initial {
						if mustInt(id)%3 == 0 {
							e.ok(t, updateMutation, vars{"id": id, "in": vars{"description": "touched"}}, nil)
						}
					}
					orderBy := vars{"field": field, "direction": dir}
					less := orderKey(field)
					if dir == "DESC" {
						asc := less
						less = func(a, b item) int { return asc(b, a) }
					}

					var seen []item
					var after any
					inserted := 0
					for page := 0; ; page++ {
						var out struct{ Items connection }
						e.ok(t, listQuery, vars{"first": 4, "after": after, "filter": filter, "orderBy": orderBy}, &out)
						c := &out.Items
						checkConnection(t, c, after != nil)
						if c.TotalCount != len(initial)+inserted {
							t.Errorf("page %d: totalCount = %d, want %d", page, c.TotalCount, len(initial)+inserted)
						}
						for _, edge := range c.Edges {
							seen = append(seen, edge.Node)
						}
						if !c.PageInfo.HasNextPage {
							if len(c.Edges) > 4 {
								t.Errorf("page of %d items, asked for 4", len(c.Edges))
							}
							break
						}
						if len(c.Edges) != 4 {
							t.Fatalf("page %d has %d items but hasNextPage", page, len(c.Edges))
						}
						if page > 30 {
							t.Fatal("pagination does not end")
						}
						// Concurrent inserts between pages must not shift the
						// pages: new items appear in their place or not at all.
						e.createItem(t, newTitle(page+100), nil)
						inserted++
						after = c.Edges[len(c.Edges)-1].Cursor
					}

					ids := map[string]bool{}
					for i, it := range seen {
						if ids[it.ID] {
							t.Errorf("item %s seen twice", it.ID)
						}
						ids[it.ID] = true
						if i > 0 && less(seen[i-1], it) >= 0 {
							t.Errorf("items %s and %s are out of %s %s order", seen[i-1].ID, it.ID, field, dir)
						}
					}
					for id := range initial {
						if !ids[id] {
							t.Errorf("item %s, there from the start, was never listed", id)
						}
					}
					// What the pages showed is exactly the full listing, minus
					// the inserts that landed on pages already read.
					var all struct{ Items connection }
					e.ok(t, listQuery, vars{"first": 100, "filter": filter, "orderBy": orderBy}, &all)
					if len(all.Items.Nodes) != len(initial)+inserted {
						t.Fatalf("full listing has %d items, want %d", len(all.Items.Nodes), len(initial)+inserted)
					}
					var want []item
					for _, it := range all.Items.Nodes {
						if ids[it.ID] {
							want = append(want, it)
						}
					}
					if !slices.EqualFunc(seen, want, func(a, b item) bool { return a.ID == b.ID }) {
						t.Errorf("paged ids %v, want %v", itemIDs(seen), itemIDs(want))
					}
				})
			}
		}
	})
}

func TestFilter(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		titles := []string{"100% pure", "100 pure", "snake_case", "snakeXcase", "Ünïcode CASE", "plain"}
		byTitle := map[string]item{}
		for _, title := range titles {
			byTitle[title] = e.createItem(t, title, nil)
		}
		descr := e.createItem(t, "described", ptr("has 50% off"))
		enriched := e.createItem(t, "enriched", nil)
		e.ok(t, enrichMutation, vars{"id": enriched.ID, "postId": "1"}, nil)

		tests := []struct {
			name   string
			filter vars
			want   []string // titles
		}{
			{"percent is literal", vars{"search": "%"}, []string{"100% pure", "described"}},
			{"underscore is literal", vars{"search": "_"}, []string{"snake_case"}},
			{"percent in the middle", vars{"search": "0% p"}, []string{"100% pure"}},
			{"case-insensitive", vars{"search": "SNAKE"}, []string{"snake_case", "snakeXcase"}},
			{"case-insensitive beyond ASCII", vars{"search": "üNÏCODE case"}, []string{"Ünïcode CASE"}},
			{"description searched", vars{"search": "50% OFF"}, []string{"described"}},
			{"backslash is literal", vars{"search": `\`}, nil},
			{"no match", vars{"search": "zzz"}, nil},
			{"enriched", vars{"enriched": true}, []string{"enriched"}},
			{"not enriched", vars{"enriched": false}, append(slices.Clone(titles), "described")},
			{"search and enriched", vars{"search": "pure", "enriched": false}, []string{"100% pure", "100 pure"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var out struct{ Items connection }
				e.ok(t, listQuery, vars{"first": 100, "filter": tt.filter}, &out)
				var got []string
				for _, n := range out.Items.Nodes {
					got = append(got, n.Title)
				}
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("titles %q, want %q", got, want)
				}
				if out.Items.TotalCount != len(tt.want) {
					t.Errorf("totalCount = %d, want %d", out.Items.TotalCount, len(tt.want))
				}
			})
		}

		t.Run("created between", func(t *testing.T) {
			first, last := byTitle[titles[0]], descr
			var out struct{ Items connection }
			e.ok(t, listQuery, vars{"first": 100, "filter": vars{"createdAfter": first.CreatedAt, "createdBefore": last.CreatedAt}}, &out)
			want := map[string]bool{}
			for _, it := range byTitle {
				if it.ID != first.ID && mustTime(it.CreatedAt).After(mustTime(first.CreatedAt)) && mustTime(it.CreatedAt).Before(mustTime(last.CreatedAt)) {
					want[it.ID] = true
				}
			}
			if len(want) != len(titles)-1 {
				t.Fatalf("items created one after another share creation times: %v", byTitle)
			}
			got := map[string]bool{}
			for _, n := range out.Items.Nodes {
				got[n.ID] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ids %v, want %v (bounds are exclusive)", got, want)
			}
			if out.Items.TotalCount != len(want) {
				t.Errorf("totalCount = %d, want %d", out.Items.TotalCount, len(want))
			}
		})
	})
}

// rfc3339UTC is the Time scalar's form: RFC 3339 in UTC with a "Z".
var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$`)

func TestTimesAndVersions(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		var created []item
		subSecond := false
		for i := range 5 {
			it := e.createItem(t, fmt.Sprintf("timed %d", i), nil)
			created = append(created, it)
			if it.Version != 1 {
				t.Errorf("version on create = %d, want 1", it.Version)
			}
			if it.CreatedAt != it.UpdatedAt {
				t.Errorf("createdAt %s != updatedAt %s on create", it.CreatedAt, it.UpdatedAt)
			}
			if it.EnrichedAt != nil || string(it.ExternalData) != "null" {
				t.Errorf("a new item has enrichedAt %s and externalData %s, want null", show(it.EnrichedAt), it.ExternalData)
			}
			for _, ts := range []string{it.CreatedAt, it.UpdatedAt} {
				if !rfc3339UTC.MatchString(ts) {
					t.Errorf("time %q is not RFC 3339 in UTC", ts)
				}
				if mustTime(ts).Nanosecond() != 0 {
					subSecond = true
				}
			}
			if age := time.Since(mustTime(it.CreatedAt)); age < -time.Minute || age > time.Minute {
				t.Errorf("createdAt %s is %s away from now", it.CreatedAt, age)
			}
		}
		if !subSecond {
			t.Error("no createdAt of 5 items has a sub-second part: precision is lost")
		}

		// Reads show the very same strings as the create response did.
		var list struct{ Items connection }
		e.ok(t, listQuery, vars{"first": 100}, &list)
		for _, c := range created {
			sameItem(t, e.getItem(t, c.ID), &c)
			found := false
			for _, n := range list.Items.Nodes {
				if n.ID == c.ID {
					found = true
					sameItem(t, &n, &c)
				}
			}
			if !found {
				t.Errorf("item %s not listed", c.ID)
			}
		}

		// Every update and enrich adds one to the version and moves updatedAt.
		it := created[0]
		prev := it
		for i, step := range []struct {
			query string
			vars  vars
		}{
			{updateMutation, vars{"id": it.ID, "in": vars{"title": "t1"}}},
			{updateMutation, vars{"id": it.ID, "in": vars{"description": "d"}}},
			{enrichMutation, vars{"id": it.ID, "postId": "3"}},
			{updateMutation, vars{"id": it.ID, "in": vars{"description": nil}}},
			{enrichMutation, vars{"id": it.ID}},
		} {
			var out map[string]item
			e.ok(t, step.query, step.vars, &out)
			var got item
			for _, v := range out {
				got = v
			}
			if got.Version != prev.Version+1 {
				t.Errorf("step %d: version %d, want %d", i, got.Version, prev.Version+1)
			}
			if !mustTime(got.UpdatedAt).After(mustTime(prev.UpdatedAt)) {
				t.Errorf("step %d: updatedAt %s is not after %s", i, got.UpdatedAt, prev.UpdatedAt)
			}
			if got.CreatedAt != it.CreatedAt {
				t.Errorf("step %d: createdAt changed to %s", i, got.CreatedAt)
			}
			if !rfc3339UTC.MatchString(got.UpdatedAt) {
				t.Errorf("step %d: updatedAt %q is not RFC 3339 in UTC", i, got.UpdatedAt)
			}
			sameItem(t, e.getItem(t, it.ID), &got)
			prev = got
		}
	})
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func show[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%q", fmt.Sprint(*p))
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(fmt.Sprintf("time %q: %v", s, err))
	}
	return t
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("id %q: %v", s, err))
	}
	return n
}

func itemIDs(its []item) []string {
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = it.ID
	}
	return out
}

package db_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/items"
)

// The store's statements bind their arguments apart from the text and are
// prepared per connection by default; an operator may choose another
// pgx mode in DATABASE_URL (exec behind a transaction-pooling PgBouncer,
// simple_protocol behind an older one). Every statement must work, with
// the same results, in every mode. SQLite, where Bun formats the same
// statements' arguments into their text, runs the same checks.
func TestStoreInEveryQueryExecMode(t *testing.T) {
	for _, mode := range []string{"sqlite", "", "exec", "simple_protocol", "cache_describe", "describe_exec"} {
		name := mode
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			var raw string
			if mode == "sqlite" {
				raw = dbtest.SQLiteURL(t)
			} else {
				raw = dbtest.PostgresURL(t)
			}
			if mode != "" && mode != "sqlite" {
				u, err := url.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				q.Set("default_query_exec_mode", mode)
				u.RawQuery = q.Encode()
				raw = u.String()
			}
			d := dbtest.Open(t, raw)
			ctx := context.Background()
			s := db.NewStore(d)
			start := time.Now().Add(-time.Second)

			a := mustCreate(t, s, owner, "alpha 'quoted' $1 ?", nil)
			b := mustCreate(t, s, owner, "beta", strp("second, with a % and _"))
			mustCreate(t, s, "bob", "alpha of bob", nil)

			got, err := s.GetItem(ctx, owner, a.ID)
			if err != nil || got.Title != "alpha 'quoted' $1 ?" || got.Description != nil {
				t.Fatalf("get = %+v, %v", got, err)
			}
			after := start
			page, err := s.ListItems(ctx, items.ListParams{Owner: owner, First: 1, Order: items.Order{Field: items.OrderCreatedAt, Desc: true},
				Filter: items.Filter{CreatedAfter: &after}})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != b.ID || !page.HasNextPage {
				t.Fatalf("first page = %+v, %v", page, err)
			}
			cur := items.CursorOf(&page.Items[0], items.Order{Field: items.OrderCreatedAt, Desc: true})
			page, err = s.ListItems(ctx, items.ListParams{Owner: owner, First: 5, After: &cur, Order: items.Order{Field: items.OrderCreatedAt, Desc: true}})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != a.ID || page.HasNextPage {
				t.Fatalf("second page = %+v, %v", page, err)
			}
			for search, want := range map[string]int{"ALPHA": 1, "%": 1, "_": 1, "$1 ?": 1, "nothing": 0} {
				n, err := s.CountItems(ctx, owner, items.Filter{Search: search})
				if err != nil || n != want {
					t.Errorf("count %q = %d, %v; want %d", search, n, err, want)
				}
				page, err := s.ListItems(ctx, items.ListParams{Owner: owner, First: 10, Filter: items.Filter{Search: search}, Order: items.Order{Field: items.OrderTitle}})
				if err != nil || len(page.Items) != want {
					t.Errorf("search %q = %+v, %v; want %d items", search, page, err, want)
				}
			}

			up, err := s.UpdateItem(ctx, owner, a.ID, items.Update{Title: strp("alpha 2"), SetDescription: true, Description: strp("now described"), ExpectedVersion: intp(1)})
			if err != nil || up.Version != 2 || up.Title != "alpha 2" || *up.Description != "now described" {
				t.Fatalf("update = %+v, %v", up, err)
			}
			_, err = s.UpdateItem(ctx, owner, a.ID, items.Update{Title: strp("stale"), ExpectedVersion: intp(1)})
			wantCode(t, err, items.CodeConflict)

			post := json.RawMessage(`{"userId":1,"id":7,"title":"t","body":"b"}`)
			en, err := s.EnrichItem(ctx, owner, a.ID, items.Enrichment{Data: post, EnrichedAt: items.Now()})
			if err != nil || string(en.ExternalData) != string(post) || en.Version != 3 {
				t.Fatalf("enrich = %+v, %v", en, err)
			}
			yes := true
			if n, err := s.CountItems(ctx, owner, items.Filter{Enriched: &yes}); err != nil || n != 1 {
				t.Fatalf("enriched count = %d, %v", n, err)
			}
			if err := s.DeleteItem(ctx, owner, b.ID); err != nil {
				t.Fatal(err)
			}
			wantCode(t, s.DeleteItem(ctx, owner, b.ID), items.CodeNotFound)
			_, err = s.GetItem(ctx, "bob", a.ID)
			wantCode(t, err, items.CodeNotFound)
		})
	}
}

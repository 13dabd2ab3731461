package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/items"
)

const owner = "alice"

func strp(s string) *string { return &s }
func intp(i int) *int       { return &i }

func mustCreate(t *testing.T, s *db.Store, owner, title string, desc *string) *items.Item {
	t.Helper()
	it, err := s.CreateItem(context.Background(), owner, items.NewItem{Title: title, Description: desc})
	if err != nil {
		t.Fatalf("create %q: %v", title, err)
	}
	return it
}

func wantCode(t *testing.T, err error, code items.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := items.ErrorCode(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

func TestCRUD(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := db.NewStore(d)
		created := mustCreate(t, s, owner, "Buy milk 🥛", strp("two litres"))
		if created.ID <= 0 || created.Version != 1 || !created.CreatedAt.Equal(created.UpdatedAt) {
			t.Fatalf("created = %+v", created)
		}
		got, err := s.GetItem(ctx, owner, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "Buy milk 🥛" || *got.Description != "two litres" || !got.CreatedAt.Equal(created.CreatedAt) ||
			got.CreatedAt.Location() != time.UTC || got.ExternalData != nil || got.EnrichedAt != nil {
			t.Fatalf("got = %+v, want the created item", got)
		}
		if got.CreatedAt.Nanosecond()%1000 != 0 || got.CreatedAt.Nanosecond() == 0 && created.CreatedAt.Nanosecond() != 0 {
			t.Fatalf("sub-second precision lost: %v vs %v", got.CreatedAt, created.CreatedAt)
		}

		// Other owners see nothing.
		if _, err := s.GetItem(ctx, "bob", created.ID); items.ErrorCode(err) != items.CodeNotFound {
			t.Fatalf("other owner get: %v", err)
		}
		if _, err := s.UpdateItem(ctx, "bob", created.ID, items.Update{Title: strp("x")}); items.ErrorCode(err) != items.CodeNotFound {
			t.Fatalf("other owner update: %v", err)
		}
		if err := s.DeleteItem(ctx, "bob", created.ID); items.ErrorCode(err) != items.CodeNotFound {
			t.Fatalf("other owner delete: %v", err)
		}

		// Omitted fields are kept; a nil description with SetDescription clears.
		up, err := s.UpdateItem(ctx, owner, created.ID, items.Update{Title: strp("Buy oat milk")})
		if err != nil {
			t.Fatal(err)
		}
		if up.Title != "Buy oat milk" || up.Description == nil || *up.Description != "two litres" || up.Version != 2 || !up.UpdatedAt.After(created.UpdatedAt) && !up.UpdatedAt.Equal(created.UpdatedAt) {
			t.Fatalf("update title: %+v", up)
		}
		up, err = s.UpdateItem(ctx, owner, created.ID, items.Update{SetDescription: true})
		if err != nil {
			t.Fatal(err)
		}
		if up.Description != nil || up.Title != "Buy oat milk" || up.Version != 3 {
			t.Fatalf("clear description: %+v", up)
		}

		// Stale expectedVersion: CONFLICT with the current version, nothing written.
		_, err = s.UpdateItem(ctx, owner, created.ID, items.Update{Title: strp("stale"), ExpectedVersion: intp(1)})
		wantCode(t, err, items.CodeConflict)
		var ie *items.Error
		if !errors.As(err, &ie) || ie.Extensions["currentVersion"] != 3 {
			t.Fatalf("conflict extensions: %+v", ie)
		}
		up, err = s.UpdateItem(ctx, owner, created.ID, items.Update{Title: strp("fresh"), ExpectedVersion: intp(3)})
		if err != nil || up.Version != 4 || up.Title != "fresh" {
			t.Fatalf("update with current version: %+v, %v", up, err)
		}
		_, err = s.UpdateItem(ctx, owner, 999999, items.Update{Title: strp("x"), ExpectedVersion: intp(1)})
		wantCode(t, err, items.CodeNotFound)

		// Enrich.
		at := items.Now()
		en, err := s.EnrichItem(ctx, owner, created.ID, items.Enrichment{Data: []byte(`{"userId":1,"id":1,"title":"t","body":"b"}`), EnrichedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if en.Version != 5 || en.EnrichedAt == nil || !en.EnrichedAt.Equal(at) || !en.UpdatedAt.Equal(at) {
			t.Fatalf("enrich: %+v", en)
		}
		got, _ = s.GetItem(ctx, owner, created.ID)
		if !strings.Contains(string(got.ExternalData), `"title"`) {
			t.Fatalf("external data = %s", got.ExternalData)
		}
		_, err = s.EnrichItem(ctx, owner, 999999, items.Enrichment{Data: []byte(`{}`), EnrichedAt: at})
		wantCode(t, err, items.CodeNotFound)

		// Delete, twice.
		if err := s.DeleteItem(ctx, owner, created.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteItem(ctx, owner, created.ID), items.CodeNotFound)
		_, err = s.GetItem(ctx, owner, created.ID)
		wantCode(t, err, items.CodeNotFound)
		_, err = s.UpdateItem(ctx, owner, created.ID, items.Update{Title: strp("x")})
		wantCode(t, err, items.CodeNotFound)

		// Ids are never reused.
		next := mustCreate(t, s, owner, "next", nil)
		if next.ID <= created.ID {
			t.Fatalf("id %d reused after %d", next.ID, created.ID)
		}
	})
}

func TestConcurrentCompareAndSet(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := db.NewStore(d)
		it := mustCreate(t, s, owner, "contended", nil)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.UpdateItem(ctx, owner, it.ID, items.Update{Title: strp(fmt.Sprint("writer ", i)), ExpectedVersion: intp(1)})
			}()
		}
		wg.Wait()
		wins, conflicts := 0, 0
		for _, err := range errs {
			switch items.ErrorCode(err) {
			case items.CodeConflict:
				conflicts++
			default:
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				wins++
			}
		}
		if wins != 1 || conflicts != n-1 {
			t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins, conflicts, n-1)
		}
		got, _ := s.GetItem(ctx, owner, it.ID)
		if got.Version != 2 {
			t.Fatalf("version = %d, want 2", got.Version)
		}
	})
}

// collect pages through a listing, inserting a row between pages.
func TestKeysetPaginationUnderInserts(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := db.NewStore(d)
		var want []int64
		for i := range 27 {
			// Equal titles force the id tie-break.
			it := mustCreate(t, s, owner, fmt.Sprintf("item %02d", i%5), nil)
			want = append(want, it.ID)
		}
		orders := []items.Order{
			{Field: items.OrderCreatedAt, Desc: true}, {Field: items.OrderCreatedAt},
			{Field: items.OrderUpdatedAt, Desc: true}, {Field: items.OrderUpdatedAt},
			{Field: items.OrderTitle, Desc: true}, {Field: items.OrderTitle},
		}
		for _, o := range orders {
			t.Run(fmt.Sprintf("%s_desc=%v", o.Field, o.Desc), func(t *testing.T) {
				seen := map[int64]bool{}
				var prev *items.Item
				var after *items.Cursor
				pages := 0
				for {
					page, err := s.ListItems(ctx, items.ListParams{Owner: owner, First: 4, After: after, Order: o})
					if err != nil {
						t.Fatal(err)
					}
					pages++
					for i := range page.Items {
						it := &page.Items[i]
						if seen[it.ID] {
							t.Fatalf("duplicate %d", it.ID)
						}
						seen[it.ID] = true
						if prev != nil && !inOrder(prev, it, o) {
							t.Fatalf("out of order: %+v then %+v", prev, it)
						}
						prev = it
					}
					// A new row lands between pages; keyset paging must not shift.
					mustCreate(t, s, "someone-else", "noise", nil)
					if !page.HasNextPage {
						break
					}
					c := items.CursorOf(&page.Items[len(page.Items)-1], o)
					// Through the opaque form, as a client would.
					after, err = items.DecodeCursor(c.Encode(), o)
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, id := range want {
					if !seen[id] {
						t.Fatalf("gap: item %d never listed", id)
					}
				}
				if pages != 7 {
					t.Fatalf("pages = %d, want 7", pages)
				}
			})
		}
	})
}

func inOrder(a, b *items.Item, o items.Order) bool {
	var c int
	switch o.Field {
	case items.OrderTitle:
		c = strings.Compare(a.Title, b.Title)
	case items.OrderUpdatedAt:
		c = a.UpdatedAt.Compare(b.UpdatedAt)
	default:
		c = a.CreatedAt.Compare(b.CreatedAt)
	}
	if c == 0 {
		c = cmpInt(a.ID, b.ID)
	}
	if o.Desc {
		return c > 0
	}
	return c < 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestFilterAndCount(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := db.NewStore(d)
		mustCreate(t, s, owner, "100% done", nil)
		mustCreate(t, s, owner, "1000 things", nil)
		mustCreate(t, s, owner, "snake_case", nil)
		mustCreate(t, s, owner, "snakeXcase", strp("has a 100% in the DESCRIPTION"))
		mustCreate(t, s, owner, "ÉCOLE", nil)
		mustCreate(t, s, owner, `back\slash`, nil)
		enriched := mustCreate(t, s, owner, "enriched one", nil)
		if _, err := s.EnrichItem(ctx, owner, enriched.ID, items.Enrichment{Data: []byte(`{}`), EnrichedAt: items.Now()}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "bob", "100% bob's", nil)
		yes, no := true, false
		tests := []struct {
			name string
			give items.Filter
			want int
		}{
			{"all", items.Filter{}, 7},
			{"percent is literal", items.Filter{Search: "100%"}, 2},
			{"underscore is literal", items.Filter{Search: "e_c"}, 1},
			{"backslash is literal", items.Filter{Search: `k\s`}, 1},
			{"case-insensitive", items.Filter{Search: "description"}, 1},
			{"unicode case-insensitive", items.Filter{Search: "école"}, 1},
			{"enriched", items.Filter{Enriched: &yes}, 1},
			{"not enriched", items.Filter{Enriched: &no}, 6},
			{"search and enriched", items.Filter{Search: "one", Enriched: &yes}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n, err := s.CountItems(ctx, owner, tt.give)
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.want {
					t.Fatalf("count = %d, want %d", n, tt.want)
				}
				page, err := s.ListItems(ctx, items.ListParams{Owner: owner, First: 100, Filter: tt.give, Order: items.Order{Field: items.OrderCreatedAt, Desc: true}})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != tt.want {
					t.Fatalf("listed %d, want %d", len(page.Items), tt.want)
				}
			})
		}

		// createdAfter / createdBefore are exclusive bounds.
		page, _ := s.ListItems(ctx, items.ListParams{Owner: owner, First: 100, Order: items.Order{Field: items.OrderCreatedAt}})
		mid := page.Items[3].CreatedAt
		n, _ := s.CountItems(ctx, owner, items.Filter{CreatedAfter: &mid})
		m, _ := s.CountItems(ctx, owner, items.Filter{CreatedBefore: &mid})
		if n+m > 7 || n == 0 || m == 0 {
			t.Fatalf("after=%d before=%d around %v", n, m, mid)
		}

		// first 0 lists nothing but still knows whether there is more.
		page, err := s.ListItems(ctx, items.ListParams{Owner: owner, First: 0, Order: items.Order{Field: items.OrderCreatedAt}})
		if err != nil || len(page.Items) != 0 || !page.HasNextPage {
			t.Fatalf("first 0: %+v %v", page, err)
		}
	})
}

func TestLongTextAndSurvivesReopen(t *testing.T) {
	for _, e := range dbtest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			url := dbtest.URL(t, e)
			d := dbtest.Open(t, url)
			desc := strings.Repeat("ж", items.MaxDescriptionLen)
			title := strings.Repeat("😀", items.MaxTitleLen)
			it := mustCreate(t, db.NewStore(d), owner, title, &desc)
			d.Close()

			d2 := dbtest.Open(t, url)
			got, err := db.NewStore(d2).GetItem(ctx, owner, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != title || *got.Description != desc {
				t.Fatal("text changed across a reopen")
			}
		})
	}
}

func TestMigrateConcurrentAndNewerRefused(t *testing.T) {
	url := dbtest.PostgresURL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := db.Open(ctx, url, db.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer d.Close()
			_, errs[i] = d.Migrate(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	d := dbtest.Open(t, url)
	if _, err := d.Bun.ExecContext(ctx, "INSERT INTO schema_migrations (name, group_id, migrated_at) VALUES ('29991231000000_from_the_future', 99, now())"); err != nil {
		t.Fatal(err)
	}
	_, err := d.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "newer version") {
		t.Fatalf("migrate on a newer database: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		give   string
		want   db.Engine
		where  string
		wantOK bool
	}{
		{"", db.SQLite, db.DefaultSQLitePath, true},
		{"sqlite:/tmp/x.db", db.SQLite, "/tmp/x.db", true},
		{"file:rel.db", db.SQLite, "rel.db", true},
		{"sqlite::memory:", db.SQLite, ":memory:", true},
		{"postgres://u@h:5432/d", db.Postgres, "postgres://u@h:5432/d", true},
		{"postgresql://u@h/d", db.Postgres, "postgresql://u@h/d", true},
		{"mysql://u@h/d", "", "", false},
		{"sqlite:", "", "", false},
		{"/just/a/path.db", "", "", false},
	}
	for _, tt := range tests {
		e, where, err := db.ParseURL(tt.give)
		if (err == nil) != tt.wantOK || e != tt.want || where != tt.where {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tt.give, e, where, err)
		}
	}
}

func TestUnreachableIsServiceUnavailable(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on port 1.
	_, err := db.Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=1", db.Options{})
	if err == nil {
		t.Fatal("open of an unreachable server succeeded")
	}
}

func TestMemorySQLite(t *testing.T) {
	d := dbtest.Open(t, "sqlite::memory:")
	s := db.NewStore(d)
	it := mustCreate(t, s, owner, "in memory", nil)
	if _, err := s.GetItem(context.Background(), owner, it.ID); err != nil {
		t.Fatal(err)
	}
}

// The post is kept with its keys in the order fetched and its values as
// they are, without insignificant white space.
func TestEnrichKeepsThePostAsFetched(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		s := db.NewStore(d)
		it := mustCreate(t, s, owner, "enrich me", nil)
		fetched := "{\n  \"userId\": 1,\n  \"id\": 1,\n  \"title\": \"a  b\\n\",\n  \"body\": \"ü\",\n  \"n\": 1.50\n}"
		got, err := s.EnrichItem(context.Background(), owner, it.ID, items.Enrichment{Data: []byte(fetched), EnrichedAt: items.Now()})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"userId":1,"id":1,"title":"a  b\n","body":"ü","n":1.50}`
		if string(got.ExternalData) != want {
			t.Fatalf("returned %s, want %s", got.ExternalData, want)
		}
		read, err := s.GetItem(context.Background(), owner, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(read.ExternalData) != want {
			t.Fatalf("stored %s, want %s", read.ExternalData, want)
		}
		if _, err := s.EnrichItem(context.Background(), owner, it.ID, items.Enrichment{Data: []byte("{not json"), EnrichedAt: items.Now()}); err == nil {
			t.Fatal("enrich with a body that is not JSON succeeded")
		}
	})
}

// A createdBefore bound finer than the stored microseconds still keeps an
// item created before it; a createdAfter bound likewise leaves it out.
func TestCreatedBoundsFinerThanMicroseconds(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		s := db.NewStore(d)
		it := mustCreate(t, s, owner, "timed", nil)
		justAfter := it.CreatedAt.Add(999 * time.Nanosecond)
		if n, err := s.CountItems(context.Background(), owner, items.Filter{CreatedBefore: &justAfter}); err != nil || n != 1 {
			t.Fatalf("created before %v: %d (%v), want 1", justAfter, n, err)
		}
		if n, err := s.CountItems(context.Background(), owner, items.Filter{CreatedAfter: &justAfter}); err != nil || n != 0 {
			t.Fatalf("created after %v: %d (%v), want 0", justAfter, n, err)
		}
		exact := it.CreatedAt
		if n, _ := s.CountItems(context.Background(), owner, items.Filter{CreatedBefore: &exact}); n != 0 {
			t.Fatalf("created strictly before its own time: %d, want 0", n)
		}
	})
}

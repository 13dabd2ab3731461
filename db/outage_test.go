package db_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/internal/pgcluster"
	"itemsrv/items"
)

// driverWords are what must never reach a client's message: SQL, driver and
// network details.
var driverWords = []string{"sql", "pgx", "pgconn", "dial", "127.0.0.1", "connection refused", "SQLSTATE", "EOF", "postgres"}

// TestStoreDuringOutage stops the database under the store: every operation
// fails at once with SERVICE_UNAVAILABLE and a message fit for a client, and
// the store works again, without reopening, once the database is back.
func TestStoreDuringOutage(t *testing.T) {
	cluster := pgcluster.Start(t)
	d := dbtest.Open(t, cluster.URL())
	store := db.NewStore(d)
	ctx := context.Background()
	kept, err := store.CreateItem(ctx, "", items.NewItem{Title: "before the outage"})
	if err != nil {
		t.Fatal(err)
	}

	cluster.Stop(t)
	ops := []struct {
		name string
		do   func(context.Context) error
	}{
		{"ping", d.Ping},
		{"create", func(ctx context.Context) error {
			_, err := store.CreateItem(ctx, "", items.NewItem{Title: "during the outage"})
			return err
		}},
		{"get", func(ctx context.Context) error { _, err := store.GetItem(ctx, "", kept.ID); return err }},
		{"list", func(ctx context.Context) error {
			_, err := store.ListItems(ctx, items.ListParams{First: 10, Order: items.Order{Field: items.OrderCreatedAt, Desc: true}})
			return err
		}},
		{"count", func(ctx context.Context) error { _, err := store.CountItems(ctx, "", items.Filter{}); return err }},
		{"update", func(ctx context.Context) error {
			title := "changed"
			_, err := store.UpdateItem(ctx, "", kept.ID, items.Update{Title: &title})
			return err
		}},
		{"enrich", func(ctx context.Context) error {
			_, err := store.EnrichItem(ctx, "", kept.ID, items.Enrichment{Data: []byte(`{"id":1}`), EnrichedAt: items.Now()})
			return err
		}},
		{"delete", func(ctx context.Context) error { return store.DeleteItem(ctx, "", kept.ID) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			// The deadline is a guard against a hang; an answer must come
			// long before it.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := op.do(ctx)
			took := time.Since(start)
			var ie *items.Error
			if !errors.As(err, &ie) || ie.Code != items.CodeServiceUnavailable {
				t.Fatalf("got %v (%T), want SERVICE_UNAVAILABLE", err, err)
			}
			if took > 5*time.Second {
				t.Errorf("failing took %s: a client would hang", took)
			}
			for _, w := range driverWords {
				if strings.Contains(strings.ToLower(ie.Message), strings.ToLower(w)) {
					t.Errorf("the public message %q shows %q", ie.Message, w)
				}
			}
			if ie.Err == nil {
				t.Errorf("the cause is lost for the log")
			}
		})
	}

	cluster.Restart(t)
	// The pool may hold connections that died with the server: the first
	// use of each may fail, but the store must recover without reopening.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := store.GetItem(ctx, "", kept.ID)
		if err == nil {
			if got.Title != kept.Title || got.Version != 1 {
				t.Fatalf("after the outage: %+v, want %+v unchanged", got, kept)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := store.CreateItem(ctx, "", items.NewItem{Title: "after the outage"}); err != nil {
		t.Fatalf("create after the outage: %v", err)
	}
}

// A database that refuses connections (ALLOW_CONNECTIONS false, as during
// maintenance) is SERVICE_UNAVAILABLE too, not an internal error.
func TestStoreWhenConnectionsAreRefused(t *testing.T) {
	url := dbtest.PostgresURL(t)
	d := dbtest.Open(t, url)
	store := db.NewStore(d)
	ctx := context.Background()
	var dbname string
	if err := d.Bun.NewRaw("SELECT current_database()").Scan(ctx, &dbname); err != nil {
		t.Fatal(err)
	}
	// From the maintenance database: a session cannot refuse its own.
	admin, err := pgx.Connect(ctx, os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+dbname+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	// Close the store's connections so that its next statement must connect.
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname); err != nil {
		t.Fatal(err)
	}
	d.Bun.DB.SetMaxIdleConns(0)
	_, err = store.GetItem(ctx, "", 1)
	for i := 0; i < 3 && items.ErrorCode(err) != items.CodeServiceUnavailable; i++ {
		// The first statement may meet a connection killed under it.
		_, err = store.GetItem(ctx, "", 1)
	}
	if got := items.ErrorCode(err); got != items.CodeServiceUnavailable {
		t.Fatalf("code %s (%v), want SERVICE_UNAVAILABLE", got, err)
	}
}

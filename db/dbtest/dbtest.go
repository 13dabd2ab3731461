// Package dbtest gives tests databases of their own: a SQLite file in the
// test's temporary folder, and a fresh PostgreSQL database created on the
// server named by TEST_DATABASE_URL and dropped when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/db"
)

// requirePostgres tells whether a missing TEST_DATABASE_URL fails the test
// instead of skipping it: in CI and under the project's test command.
func requirePostgres() bool {
	return os.Getenv("ITEMS_REQUIRE_POSTGRES") == "1" || os.Getenv("CI") == "true"
}

// PostgresURL creates an empty database on the TEST_DATABASE_URL server and
// returns its URL; the database is dropped when t ends. Without
// TEST_DATABASE_URL the test is skipped loudly, or fails in CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		if requirePostgres() {
			t.Fatal("TEST_DATABASE_URL is not set: PostgreSQL tests cannot run (use scripts/test, which provides one)")
		}
		t.Skip("PostgreSQL SKIPPED: TEST_DATABASE_URL is not set (scripts/test provides one)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "items_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// SQLiteURL returns the DATABASE_URL of a new SQLite file in t's folder.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "items.db")
}

// Open opens and migrates the database at rawURL, closed when t ends.
func Open(t testing.TB, rawURL string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, rawURL, db.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return d
}

// Engines lists the engines the tests run on, by name.
var Engines = []db.Engine{db.SQLite, db.Postgres}

// URL returns a fresh database URL of the engine.
func URL(t testing.TB, e db.Engine) string {
	if e == db.Postgres {
		return PostgresURL(t)
	}
	return SQLiteURL(t)
}

// EachDB runs fn as a subtest on a fresh, migrated database of every engine.
func EachDB(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, URL(t, e)))
		})
	}
}

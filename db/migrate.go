package db

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/uptrace/bun/migrate"

	"itemsrv/db/migrations"
)

// migrationLockKey is the PostgreSQL advisory lock that serializes migrations
// of server processes starting together on one database.
var migrationLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("itemsrv.migrations"))
	return int64(h.Sum64() >> 1)
}()

// Migrate brings the schema up to date. Processes starting at once take turns
// through a PostgreSQL advisory lock (bun/migrate's own lock is a row that
// fails at once when held and stays behind after a crash). A database that has
// migrations this binary does not know is refused: it belongs to a newer
// version of the server.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	if d.Engine == Postgres {
		conn, err := d.Bun.Conn(ctx)
		if err != nil {
			return nil, classify(err, "migrate: connect")
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockKey); err != nil {
			return nil, classify(err, "migrate: take the lock")
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockKey)
		}()
	}
	m := migrate.NewMigrator(d.Bun, migrations.Migrations,
		migrate.WithTableName("schema_migrations"),
		migrate.WithLocksTableName("schema_migration_locks"),
		migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, classify(err, "migrate: init")
	}
	all, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, classify(err, "migrate: status")
	}
	done, err := m.AppliedMigrations(ctx)
	if err != nil {
		return nil, classify(err, "migrate: status")
	}
	known := make(map[string]bool, len(all))
	for _, mg := range all {
		known[mg.Name] = true
	}
	var unknown []string
	for _, mg := range done {
		if !known[mg.Name] {
			unknown = append(unknown, mg.Name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("the database has migrations this server does not know (%s): it was migrated by a newer version; run that version or restore a matching backup", strings.Join(unknown, ", "))
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, classify(err, "migrate")
	}
	for _, mg := range group.Migrations {
		applied = append(applied, mg.Name)
	}
	return applied, nil
}

// CursorKey returns the database's own key for signing cursors, made by the
// migrations.
func (d *DB) CursorKey(ctx context.Context) ([]byte, error) {
	var v string
	if err := d.Bun.NewRaw("SELECT value FROM server_secrets WHERE name = 'cursor_key'").Scan(ctx, &v); err != nil {
		return nil, classify(err, "read the cursor key")
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("read the cursor key: it is not a key")
	}
	return key, nil
}

package migrations

import (
	"context"

	"github.com/uptrace/bun"
)

// Trigram indexes serve the case-insensitive substring search (ILIKE) on
// PostgreSQL. pg_trgm ships with PostgreSQL's contrib package; where it cannot
// be installed (no contrib, no privilege) search still works, unindexed, and
// the migration says so instead of failing the start.
func init() {
	Migrations.MustRegister(func(ctx context.Context, db *bun.DB) error {
		if !isPostgres(db) {
			return nil
		}
		var available bool
		if err := db.NewRaw(`SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')`).Scan(ctx, &available); err != nil {
			return err
		}
		if !available {
			return nil
		}
		err := execAll(ctx, db,
			`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
			`CREATE INDEX items_title_trgm_idx ON items USING gin (title gin_trgm_ops)`,
			`CREATE INDEX items_description_trgm_idx ON items USING gin (description gin_trgm_ops)`,
		)
		if err != nil && isInsufficientPrivilege(err) {
			return nil
		}
		return err
	}, func(ctx context.Context, db *bun.DB) error {
		return execAll(ctx, db,
			`DROP INDEX IF EXISTS items_title_trgm_idx`,
			`DROP INDEX IF EXISTS items_description_trgm_idx`)
	})
}

package migrations

import (
	"context"

	"github.com/uptrace/bun"
)

// externalData is the upstream post exactly as fetched. jsonb re-orders an
// object's keys (shortest first), so a client comparing the stored post with
// the upstream one would see another document; json keeps the text as given
// and still checks that it is JSON.
func init() {
	Migrations.MustRegister(func(ctx context.Context, db *bun.DB) error {
		if !isPostgres(db) {
			return nil
		}
		return execAll(ctx, db, `ALTER TABLE items ALTER COLUMN external_data TYPE json USING external_data::json`)
	}, func(ctx context.Context, db *bun.DB) error {
		if !isPostgres(db) {
			return nil
		}
		return execAll(ctx, db, `ALTER TABLE items ALTER COLUMN external_data TYPE jsonb USING external_data::jsonb`)
	})
}

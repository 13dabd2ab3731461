// Package migrations holds the versioned schema changes of the item store.
// Each file NNNNNNNNNNNNNN_name.go registers one migration; bun/migrate takes
// the version and name from the file name.
package migrations

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// Migrations are all migrations this binary knows, in order.
var Migrations = migrate.NewMigrations()

// execAll runs statements in one transaction.
func execAll(ctx context.Context, db *bun.DB, stmts ...string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", firstLine(s), err)
			}
		}
		return nil
	})
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func isPostgres(db *bun.DB) bool { return db.Dialect().Name() == dialect.PG }

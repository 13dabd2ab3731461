package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/uptrace/bun"
)

// server_secrets holds secrets that every server process of one database
// shares, made once here: the key that signs pagination cursors, so that a
// cursor is valid on the database that issued it only.
func init() {
	Migrations.MustRegister(func(ctx context.Context, db *bun.DB) error {
		var key [32]byte
		if _, err := rand.Read(key[:]); err != nil {
			return err
		}
		return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE server_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO server_secrets (name, value) VALUES ('cursor_key', ?)`, hex.EncodeToString(key[:]))
			return err
		})
	}, func(ctx context.Context, db *bun.DB) error {
		return execAll(ctx, db, `DROP TABLE server_secrets`)
	})
}

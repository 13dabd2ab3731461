package migrations

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

func isInsufficientPrivilege(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "0A000")
}

package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"itemsrv/items"
)

// errUnavailable is the public face of a database that cannot be reached.
var errUnavailable = &items.Error{Code: items.CodeServiceUnavailable, Message: "the database is unavailable; try again later"}

// classify turns a driver error into the domain's: no rows is NOT_FOUND, a
// database that cannot be reached is SERVICE_UNAVAILABLE, and anything else
// is wrapped with what was being done (and stays internal).
func classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	var ie *items.Error
	switch {
	case errors.As(err, &ie):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return items.ErrNotFound
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", doing, err)
	case unreachable(err):
		e := *errUnavailable
		e.Err = fmt.Errorf("%s: %w", doing, err)
		return &e
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func unreachable(err error) bool {
	// A connection that could not be made, for whatever reason the server
	// gave (not accepting connections, too many, starting up, a database
	// that is gone), means the database cannot be reached.
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exceptions; 57P01-57P03: the server is
		// shutting down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" ||
			pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300" ||
			pgErr.Code == "55000" || pgErr.Code == "3D000"
	}
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "failed to connect")
}

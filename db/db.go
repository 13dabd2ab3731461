// Package db is the item store on PostgreSQL or SQLite through bun: opening a
// database from a URL, migrations, and the item repository.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
)

// DefaultSQLitePath is where the embedded database lives when DATABASE_URL
// is unset.
const DefaultSQLitePath = "data/items.db"

// Engine names a database engine.
type Engine string

// The supported engines.
const (
	Postgres Engine = "postgres"
	SQLite   Engine = "sqlite"
)

// Options tune a database connection. Zero values take the defaults.
type Options struct {
	// MaxOpenConns is the PostgreSQL pool size (default 10). SQLite always
	// uses one connection: it has one writer anyway, and one connection keeps
	// ":memory:" a single database.
	MaxOpenConns int
	// StatementTimeout bounds every PostgreSQL statement (default 10s).
	StatementTimeout time.Duration
	// ConnectTimeout bounds establishing a connection (default 5s).
	ConnectTimeout time.Duration
}

// DB is an open database.
type DB struct {
	Bun    *bun.DB
	Engine Engine
	// Where is a description of the database fit for a log: no password.
	Where string
	// pgConfig is kept to open the LISTEN connection.
	pgConfig *pgx.ConnConfig
	// stmtMode is how the store's own statements, which bind their
	// arguments apart from the text, run on PostgreSQL: prepared once per
	// connection and cached unless DATABASE_URL says otherwise.
	stmtMode pgx.QueryExecMode
	// hooks are the query hooks also given to Bun, for the store's own
	// statements, which do not pass through Bun on PostgreSQL.
	hooks []bun.QueryHook
}

// AddQueryHook adds a query hook that sees every statement: those Bun
// builds and the store's own.
func (d *DB) AddQueryHook(h bun.QueryHook) {
	d.Bun = d.Bun.WithQueryHook(h)
	d.hooks = append(d.hooks, h)
}

func init() {
	// items_fold gives SQLite a Unicode-aware case fold for search; its
	// built-in LIKE and lower() only fold ASCII.
	sqlite.MustRegisterDeterministicScalarFunction("items_fold", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default:
			return v, nil
		}
	})
}

// ParseURL tells the engine and the engine-specific location of a
// DATABASE_URL: "" is the embedded SQLite file, postgres:// and
// postgresql:// select PostgreSQL, sqlite:PATH and file:PATH select SQLite.
func ParseURL(raw string) (Engine, string, error) {
	switch {
	case raw == "":
		return SQLite, DefaultSQLitePath, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := pgx.ParseConfig(raw); err != nil {
			return "", "", fmt.Errorf("not a valid PostgreSQL URL: %v", redact(err))
		}
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"), strings.HasPrefix(raw, "file:"):
		_, path, _ := strings.Cut(raw, ":")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", errors.New("no SQLite path given (use sqlite:PATH or sqlite::memory:)")
		}
		return SQLite, path, nil
	default:
		return "", "", errors.New("unknown scheme: use postgres://, postgresql://, sqlite:PATH or file:PATH")
	}
}

// redact keeps a parse error from echoing a password.
func redact(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		return "cannot parse the URL"
	}
	return msg
}

// Open connects to the database named by a DATABASE_URL (see ParseURL) and
// checks that it answers. It does not migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	engine, where, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 10
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 10 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	var d *DB
	switch engine {
	case Postgres:
		d, err = openPostgres(where, opts)
	default:
		d, err = openSQLite(where)
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := d.Bun.PingContext(pingCtx); err != nil {
		d.Bun.Close()
		return nil, fmt.Errorf("connect to %s: %w", d.Where, err)
	}
	return d, nil
}

func openPostgres(rawURL string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse PostgreSQL URL: %s", redact(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["statement_timeout"]; !ok {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(opts.StatementTimeout.Milliseconds())
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "itemsrv"
	}
	// Bun formats arguments into the query text itself, so every statement
	// it builds is new to the server: preparing and caching them would only
	// cost a round trip and memory, and the simple protocol sends each in
	// one trip. The store's hot statements keep their arguments apart, so
	// they are prepared once per connection and cached, which spares
	// PostgreSQL parsing and planning them on every request. A
	// default_query_exec_mode in DATABASE_URL (e.g. "exec" behind a
	// transaction-pooling PgBouncer) is used for both.
	stmtMode := pgx.QueryExecModeCacheStatement
	if strings.Contains(rawURL, "default_query_exec_mode") {
		stmtMode = cfg.DefaultQueryExecMode
	} else {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxOpenConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	where := fmt.Sprintf("PostgreSQL at %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	return &DB{
		Bun:      bun.NewDB(sqldb, pgdialect.New()),
		Engine:   Postgres,
		Where:    where,
		pgConfig: cfg,
		stmtMode: stmtMode,
	}, nil
}

func openSQLite(path string) (*DB, error) {
	file, query, _ := strings.Cut(path, "?")
	memory := file == ":memory:" || strings.Contains(query, "mode=memory")
	if !memory {
		if dir := filepath.Dir(file); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("create the SQLite folder: %w", err)
			}
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("parse the SQLite options: %w", err)
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + file + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", file, err)
	}
	sqldb.SetMaxOpenConns(1)
	sqldb.SetMaxIdleConns(1)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	where := "SQLite file " + file
	if memory {
		where = "SQLite in memory"
	}
	return &DB{Bun: bun.NewDB(sqldb, sqlitedialect.New()), Engine: SQLite, Where: where}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.Bun.Close() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.Bun.PingContext(ctx); err != nil {
		return classify(err, "ping")
	}
	var one int
	if err := d.Bun.NewRaw("SELECT 1").Scan(ctx, &one); err != nil {
		return classify(err, "ping")
	}
	return nil
}

// Stats are the connection pool's statistics.
func (d *DB) Stats() sql.DBStats { return d.Bun.Stats() }

// Log says which database is in use and how to choose another.
func (d *DB) Log(log *slog.Logger) {
	if d.Engine == SQLite {
		log.Info("using "+d.Where, "hint", "set DATABASE_URL=postgres://user@host:5432/dbname to use PostgreSQL, or sqlite:PATH for another SQLite file")
		return
	}
	log.Info("using " + d.Where)
}

package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// stmt is one SQL statement of the store under construction: its text, with
// the engine's placeholders, and the arguments bound to them.
//
// On PostgreSQL the arguments travel apart from the text ($1, $2, …), so a
// statement's text is the same on every request and pgx prepares it once per
// connection: PostgreSQL then neither parses nor plans it again. The texts
// are built from fixed fragments only, so there are few of them (a list
// query has one per combination of order, cursor and filters). On SQLite
// the placeholders are ?, and Bun formats the arguments into the text as it
// does for the statements it builds.
type stmt struct {
	pg   bool
	text strings.Builder
	args []any
	// unprepared runs the statement with its arguments bound but planned
	// for them each time, for a statement whose best plan depends on its
	// arguments (a search).
	unprepared bool
}

func (s *Store) stmt() *stmt { return &stmt{pg: s.db.Engine == Postgres} }

// sql appends SQL text. It never holds user data.
func (q *stmt) sql(parts ...string) *stmt {
	for _, p := range parts {
		q.text.WriteString(p)
	}
	return q
}

// arg appends a placeholder bound to v.
func (q *stmt) arg(v any) *stmt {
	q.args = append(q.args, v)
	if q.pg {
		q.text.WriteByte('$')
		q.text.WriteString(strconv.Itoa(len(q.args)))
	} else {
		// Bun reads "?name" and "?0" as named and indexed placeholders,
		// so the next fragment must not start with a letter or digit;
		// every fragment after an argument starts with a space, a comma
		// or a parenthesis.
		q.text.WriteByte('?')
	}
	return q
}

// query runs q and calls each for every row it returns.
func (s *Store) query(ctx context.Context, q *stmt, each func(*sql.Rows) error) (err error) {
	text := q.text.String()
	var rows *sql.Rows
	if q.pg {
		if len(s.db.hooks) > 0 {
			ev := &bun.QueryEvent{DB: s.db.Bun, Query: text, QueryTemplate: text, StartTime: time.Now()}
			for _, h := range s.db.hooks {
				ctx = h.BeforeQuery(ctx, ev)
			}
			defer func() {
				ev.Err = err
				for i := len(s.db.hooks) - 1; i >= 0; i-- {
					s.db.hooks[i].AfterQuery(ctx, ev)
				}
			}()
		}
		mode := s.db.stmtMode
		if q.unprepared && mode != pgx.QueryExecModeSimpleProtocol {
			mode = pgx.QueryExecModeExec
		}
		args := make([]any, 0, len(q.args)+1)
		args = append(append(args, mode), q.args...)
		rows, err = s.db.Bun.DB.QueryContext(ctx, text, args...)
	} else {
		rows, err = s.db.Bun.QueryContext(ctx, text, q.args...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// itemColumns are the columns of an item, in the order scanItem reads them.
const itemColumns = "id, owner, title, description, external_data, enriched_at, version, created_at, updated_at"

// scanItem reads a row of itemColumns, then extra.
func scanItem(rows *sql.Rows, r *itemRow, extra ...any) error {
	dest := [...]any{&r.ID, &r.Owner, &r.Title, &r.Description, &r.ExternalData, &r.EnrichedAt, &r.Version, &r.CreatedAt, &r.UpdatedAt}
	if len(extra) == 0 {
		return rows.Scan(dest[:]...)
	}
	return rows.Scan(append(dest[:], extra...)...)
}

// one runs q, which returns at most one item (then extra), and returns
// it, or sql.ErrNoRows.
func (s *Store) one(ctx context.Context, q *stmt, extra ...any) (*itemRow, error) {
	var r *itemRow
	err := s.query(ctx, q, func(rows *sql.Rows) error {
		r = new(itemRow)
		return scanItem(rows, r, extra...)
	})
	if err == nil && r == nil {
		err = sql.ErrNoRows
	}
	return r, err
}

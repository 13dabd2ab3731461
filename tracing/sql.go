package tracing

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// maxStatement bounds the SQL text recorded on a span.
const maxStatement = 4096

// QueryHook is a bun query hook that runs every statement in a client span
// named by its operation and table ("SELECT items"), with the statement's
// text. The text is the query with placeholders, never with the values
// bound to them, which may be user data.
type QueryHook struct {
	// Provider defaults to the global tracer provider.
	Provider trace.TracerProvider
}

var _ bun.QueryHook = QueryHook{}

// BeforeQuery starts the statement's span.
func (h QueryHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	op, table := e.Operation(), ""
	if e.IQuery != nil {
		table = e.IQuery.GetTableName()
	} else {
		// The template, which holds placeholders, never the values.
		text := e.QueryTemplate
		if text == "" {
			text = e.Query
		}
		op, table = rawStatement(text)
	}
	name := op
	if table != "" {
		name += " " + table
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", dbSystem(e.DB)),
		attribute.String("db.operation.name", op),
	}
	if table != "" {
		attrs = append(attrs, attribute.String("db.collection.name", table))
	}
	if text := statement(e); text != "" {
		attrs = append(attrs, attribute.String("db.query.text", text))
	}
	ctx, _ = tracer(h.Provider).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

// AfterQuery ends the statement's span, with its error. No rows is not an
// error here: it is how a lookup of a missing item ends.
func (h QueryHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	span := trace.SpanFromContext(ctx)
	if e.Result != nil {
		if n, err := e.Result.RowsAffected(); err == nil {
			span.SetAttributes(attribute.Int64("db.response.rows_affected", n))
		}
	}
	if e.Err != nil && !errors.Is(e.Err, sql.ErrNoRows) {
		span.RecordError(e.Err)
		span.SetStatus(codes.Error, e.Err.Error())
	}
	span.End()
}

// statement is e's SQL with placeholders in place of values.
func statement(e *bun.QueryEvent) string {
	var text string
	if e.IQuery != nil {
		b, err := e.IQuery.AppendQuery(schema.NewNopQueryGen(), nil)
		if err != nil {
			return ""
		}
		text = string(b)
	} else {
		// A raw query: its template holds the placeholders, its arguments
		// are apart.
		text = e.QueryTemplate
	}
	if len(text) > maxStatement {
		text = strings.ToValidUTF8(text[:maxStatement], "")
	}
	return text
}

// rawStatement names the operation and table of a statement written by
// hand (the item store's): its first keyword, or for "WITH w AS (…)" the
// write inside, and the table after FROM, INTO or UPDATE.
func rawStatement(q string) (op, table string) {
	q = strings.TrimSpace(q)
	if rest, ok := cutPrefixFold(q, "WITH "); ok {
		if i := strings.IndexByte(rest, '('); i >= 0 {
			q = strings.TrimSpace(rest[i+1:])
		}
	}
	words := strings.Fields(q)
	if len(words) == 0 {
		return "", ""
	}
	op = strings.ToUpper(words[0])
	if len(op) > 16 {
		op = op[:16]
	}
	for i, w := range words[:len(words)-1] {
		if k := strings.ToUpper(w); k == "FROM" || k == "INTO" || (k == "UPDATE" && i == 0) {
			table = strings.Trim(words[i+1], `"(`)
			break
		}
	}
	return op, table
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func dbSystem(db *bun.DB) string {
	if db == nil {
		return "other_sql"
	}
	switch db.Dialect().Name() {
	case dialect.PG:
		return "postgresql"
	case dialect.SQLite:
		return "sqlite"
	default:
		return "other_sql"
	}
}

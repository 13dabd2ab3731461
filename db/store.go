package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"itemsrv/items"
)

// NotifyChannel is the PostgreSQL channel that carries committed item events
// between server processes.
const NotifyChannel = "item_events"

// maxNotifyPayload keeps an event under PostgreSQL's 8,000-byte NOTIFY
// payload limit.
const maxNotifyPayload = 7900

// itemRow is the storage form of an item, as the store's statements read
// it (itemColumns).
type itemRow struct {
	ID           int64
	Owner        string
	Title        string
	Description  *string
	ExternalData *string
	EnrichedAt   *time.Time
	Version      int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func toItem(r *itemRow) *items.Item {
	it := &items.Item{
		ID:          r.ID,
		Owner:       r.Owner,
		Title:       r.Title,
		Description: r.Description,
		Version:     r.Version,
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
	}
	if r.ExternalData != nil {
		it.ExternalData = json.RawMessage(*r.ExternalData)
	}
	if r.EnrichedAt != nil {
		t := r.EnrichedAt.UTC()
		it.EnrichedAt = &t
	}
	return it
}

// Store is the item repository. Every method is scoped by owner in SQL, so
// another owner's item is exactly as invisible as a missing one.
type Store struct {
	db *DB
	// publish receives committed events on SQLite, where there is no NOTIFY.
	publish func(items.Event)
	// writeMu keeps SQLite's events in commit order: a write and its
	// publication happen under it. SQLite has one writer, so it costs no
	// concurrency.
	writeMu sync.Mutex
}

// NewStore returns the item store of d.
func NewStore(d *DB) *Store { return &Store{db: d} }

// OnCommit sets the function that receives every committed event on SQLite.
// On PostgreSQL events travel through NOTIFY instead; see Listen.
func (s *Store) OnCommit(fn func(items.Event)) { s.publish = fn }

// DB returns the database of the store.
func (s *Store) DB() *DB { return s.db }

// write starts a write statement: on PostgreSQL the write becomes the CTE
// that returning selects from.
func (s *Store) write() *stmt {
	q := s.stmt()
	if q.pg {
		q.sql("WITH w AS (")
	}
	return q
}

// returning runs q, a write begun by write, with RETURNING itemColumns
// appended, and returns the item it wrote, or sql.ErrNoRows when it
// matched none. On PostgreSQL the SELECT around the write also calls
// pg_notify, so the event is part of the same statement: sent at commit,
// never for a rolled-back write, in commit order. On SQLite the event is
// published after the statement.
func (s *Store) returning(ctx context.Context, q *stmt, evType items.EventType) (*itemRow, error) {
	q.sql(" RETURNING ", itemColumns)
	if !q.pg {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		r, err := s.one(ctx, q)
		if err == nil && s.publish != nil {
			s.publish(items.Event{Type: evType, ID: r.ID, Owner: r.Owner, Version: r.Version, Item: toItem(r)})
		}
		return r, err
	}
	// The event carries the item as committed when it fits in a NOTIFY
	// payload (under 8,000 bytes), so that subscribers see every committed
	// state; a larger one is loaded on delivery. The channel and the event
	// type are constants, written into the text so that each kind of write
	// keeps one text.
	t := "'" + string(evType) + "'"
	obj := "json_build_object('t', " + t + ", 'id', w.id, 'o', w.owner, 'v', w.version"
	q.sql(") SELECT ", itemColumns, ", pg_notify('", NotifyChannel, "', CASE WHEN octet_length(e.payload) < ", strconv.Itoa(maxNotifyPayload),
		" THEN e.payload ELSE ", obj, ")::text END) IS NULL FROM w, LATERAL (SELECT ", obj, ", 'i', row_to_json(w))::text AS payload) e")
	var notified bool
	return s.one(ctx, q, &notified)
}

// CreateItem stores a new item of owner.
func (s *Store) CreateItem(ctx context.Context, owner string, n items.NewItem) (*items.Item, error) {
	now := items.Now()
	q := s.write().sql("INSERT INTO items (owner, title, description, version, created_at, updated_at) VALUES (").
		arg(owner).sql(", ").arg(n.Title).sql(", ").arg(n.Description).sql(", 1, ").arg(now).sql(", ").arg(now).sql(")")
	r, err := s.returning(ctx, q, items.EventCreated)
	if err != nil {
		return nil, classify(err, "create item")
	}
	return toItem(r), nil
}

// GetItem returns the item of owner with the id, or NOT_FOUND.
func (s *Store) GetItem(ctx context.Context, owner string, id int64) (*items.Item, error) {
	q := s.stmt().sql("SELECT ", itemColumns, " FROM items WHERE id = ").arg(id).sql(" AND owner = ").arg(owner)
	r, err := s.one(ctx, q)
	if err != nil {
		return nil, classify(err, fmt.Sprintf("get item %d", id))
	}
	return toItem(r), nil
}

// UpdateItem applies u in one compare-and-set statement. It returns
// NOT_FOUND when owner has no such item and CONFLICT (with the current
// version) when u.ExpectedVersion is set and is not the current version.
func (s *Store) UpdateItem(ctx context.Context, owner string, id int64, u items.Update) (*items.Item, error) {
	q := s.write().sql("UPDATE items SET version = version + 1, updated_at = ").arg(items.Now())
	if u.Title != nil {
		q.sql(", title = ").arg(*u.Title)
	}
	if u.SetDescription {
		q.sql(", description = ").arg(u.Description)
	}
	q.sql(" WHERE id = ").arg(id).sql(" AND owner = ").arg(owner)
	if u.ExpectedVersion != nil {
		q.sql(" AND version = ").arg(*u.ExpectedVersion)
	}
	r, err := s.returning(ctx, q, items.EventUpdated)
	if err == nil {
		return toItem(r), nil
	}
	err = classify(err, fmt.Sprintf("update item %d", id))
	if items.ErrorCode(err) != items.CodeNotFound || u.ExpectedVersion == nil {
		return nil, err
	}
	// The compare-and-set matched nothing: tell a missing item from a
	// stale version. Versions only grow, so a version read now still
	// differs from the expected one.
	cur, gerr := s.GetItem(ctx, owner, id)
	if gerr != nil {
		return nil, gerr
	}
	return nil, items.ConflictError(cur.Version)
}

// EnrichItem stores the upstream post e beside the item, bumping its version
// and updatedAt in the same statement. NOT_FOUND when owner has no such item.
func (s *Store) EnrichItem(ctx context.Context, owner string, id int64, e items.Enrichment) (*items.Item, error) {
	// The post is stored with its keys, order and values as fetched, without
	// the insignificant white space: a pretty-printed body would otherwise
	// carry raw newlines into responses, which breaks Server-Sent Events.
	var compact bytes.Buffer
	if err := json.Compact(&compact, e.Data); err != nil {
		return nil, fmt.Errorf("enrich item %d: the post is not JSON: %w", id, err)
	}
	q := s.write().sql("UPDATE items SET external_data = ").arg(compact.String()).
		sql(", enriched_at = ").arg(e.EnrichedAt).
		sql(", version = version + 1, updated_at = ").arg(e.EnrichedAt).
		sql(" WHERE id = ").arg(id).sql(" AND owner = ").arg(owner)
	r, err := s.returning(ctx, q, items.EventEnriched)
	if err != nil {
		return nil, classify(err, fmt.Sprintf("enrich item %d", id))
	}
	return toItem(r), nil
}

// DeleteItem deletes the item of owner with the id, or returns NOT_FOUND.
func (s *Store) DeleteItem(ctx context.Context, owner string, id int64) error {
	q := s.write().sql("DELETE FROM items WHERE id = ").arg(id).sql(" AND owner = ").arg(owner)
	if _, err := s.returning(ctx, q, items.EventDeleted); err != nil {
		return classify(err, fmt.Sprintf("delete item %d", id))
	}
	return nil
}

// orderColumn is the column of an order field.
func orderColumn(f items.OrderField) string {
	switch f {
	case items.OrderUpdatedAt:
		return "updated_at"
	case items.OrderTitle:
		return "title"
	default:
		return "created_at"
	}
}

// likePattern makes s a LIKE pattern matching it as a literal substring.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// where appends the WHERE clause of owner's items that pass f.
func (s *Store) where(q *stmt, owner string, f items.Filter) {
	q.sql(" WHERE owner = ").arg(owner)
	if f.Search != "" {
		if q.pg {
			p := likePattern(f.Search)
			q.sql(" AND (title ILIKE ").arg(p).sql(` ESCAPE '\' OR description ILIKE `).arg(p).sql(` ESCAPE '\')`)
			// How many rows a search matches decides the best plan, so
			// it is planned for each search.
			q.unprepared = true
		} else {
			// SQLite's LIKE folds ASCII only; items_fold is Unicode-aware,
			// and instr takes the search literally.
			q.sql(" AND (instr(items_fold(title), items_fold(").arg(f.Search).
				sql(")) > 0 OR instr(items_fold(description), items_fold(").arg(f.Search).sql(")) > 0)")
		}
	}
	if f.Enriched != nil {
		if *f.Enriched {
			q.sql(" AND enriched_at IS NOT NULL")
		} else {
			q.sql(" AND enriched_at IS NULL")
		}
	}
	if f.CreatedAfter != nil {
		q.sql(" AND created_at > ").arg(f.CreatedAfter.UTC())
	}
	if f.CreatedBefore != nil {
		// Times are stored to the microsecond: a bound with finer digits
		// is rounded up, so that "before 10.5µs" keeps an item at 10µs.
		before := f.CreatedBefore.UTC()
		if t := before.Truncate(time.Microsecond); !t.Equal(before) {
			before = t.Add(time.Microsecond)
		}
		q.sql(" AND created_at < ").arg(before)
	}
}

// ListItems returns one page of owner's items in keyset order: the page
// starts after p.After and holds at most p.First items, so rows inserted or
// deleted elsewhere never shift it.
func (s *Store) ListItems(ctx context.Context, p items.ListParams) (*items.Page, error) {
	col := orderColumn(p.Order.Field)
	dir, cmp := " ASC", " > "
	if p.Order.Desc {
		dir, cmp = " DESC", " < "
	}
	q := s.stmt().sql("SELECT ", itemColumns, " FROM items")
	s.where(q, p.Owner, p.Filter)
	if c := p.After; c != nil {
		var key any = c.Time.UTC()
		if p.Order.Field == items.OrderTitle {
			key = c.Title
		}
		q.sql(" AND (", col, ", id)", cmp, "(").arg(key).sql(", ").arg(c.ID).sql(")")
	}
	// The limit is part of the text: a prepared statement's plan for an
	// unknown limit assumes a large one.
	q.sql(" ORDER BY ", col, dir, ", id", dir, " LIMIT ", strconv.Itoa(p.First+1))
	page := &items.Page{HasPreviousPage: p.After != nil, Items: make([]items.Item, 0, p.First)}
	err := s.query(ctx, q, func(rows *sql.Rows) error {
		var r itemRow
		if err := scanItem(rows, &r); err != nil {
			return err
		}
		if len(page.Items) == p.First {
			page.HasNextPage = true
			return nil
		}
		page.Items = append(page.Items, *toItem(&r))
		return nil
	})
	if err != nil {
		return nil, classify(err, "list items")
	}
	return page, nil
}

// CountItems counts owner's items that pass the filter.
func (s *Store) CountItems(ctx context.Context, owner string, f items.Filter) (int, error) {
	q := s.stmt().sql("SELECT count(*) FROM items")
	s.where(q, owner, f)
	var n int
	err := s.query(ctx, q, func(rows *sql.Rows) error { return rows.Scan(&n) })
	if err != nil {
		return 0, classify(err, "count items")
	}
	return n, nil
}

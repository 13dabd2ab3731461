package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"itemsrv/items"
)

// NotifyChannel is the PostgreSQL channel that carries committed item events
// between server processes.
const NotifyChannel = "item_events"

// maxNotifyPayload keeps an event under PostgreSQL's 8,000-byte NOTIFY
// payload limit.
const maxNotifyPayload = 7900

// itemRow is the storage form of an item; bun tags stay in this package.
type itemRow struct {
	bun.BaseModel `bun:"table:items"`

	ID           int64      `bun:"id,pk,autoincrement"`
	Owner        string     `bun:"owner,notnull"`
	Title        string     `bun:"title,notnull"`
	Description  *string    `bun:"description"`
	ExternalData *string    `bun:"external_data"`
	EnrichedAt   *time.Time `bun:"enriched_at"`
	Version      int        `bun:"version,notnull"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	UpdatedAt    time.Time  `bun:"updated_at,notnull"`

	// Notified receives the pg_notify column of a write on PostgreSQL.
	Notified bool `bun:"notified,scanonly"`
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

// writeQuery is an insert, update or delete with RETURNING.
type writeQuery interface {
	bun.Query
	Scan(ctx context.Context, dest ...any) error
}

// writeReturning runs a write query that returns item rows. On PostgreSQL it
// wraps the write in a CTE whose SELECT also calls pg_notify, so the event is
// part of the same statement: sent at commit, never for a rolled-back write,
// in commit order. On SQLite the event is published after the statement.
func (s *Store) writeReturning(ctx context.Context, q writeQuery, evType items.EventType, dest *itemRow) error {
	if s.db.Engine == Postgres {
		return s.db.Bun.NewSelect().
			With("w", q).
			TableExpr("w").
			ColumnExpr("w.*").
			// The event carries the item as committed when it fits in a
			// NOTIFY payload (under 8,000 bytes), so that subscribers see
			// every committed state; a larger one is loaded on delivery.
			ColumnExpr(`pg_notify(?, CASE WHEN octet_length(json_build_object('t', ?, 'id', w.id, 'o', w.owner, 'v', w.version, 'i', row_to_json(w))::text) < ?
				THEN json_build_object('t', ?, 'id', w.id, 'o', w.owner, 'v', w.version, 'i', row_to_json(w))::text
				ELSE json_build_object('t', ?, 'id', w.id, 'o', w.owner, 'v', w.version)::text END) IS NULL AS notified`,
				NotifyChannel, string(evType), maxNotifyPayload, string(evType), string(evType)).
			Scan(ctx, dest)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := q.Scan(ctx, dest); err != nil {
		return err
	}
	if s.publish != nil {
		s.publish(items.Event{Type: evType, ID: dest.ID, Owner: dest.Owner, Version: dest.Version, Item: toItem(dest)})
	}
	return nil
}

// CreateItem stores a new item of owner.
func (s *Store) CreateItem(ctx context.Context, owner string, n items.NewItem) (*items.Item, error) {
	now := items.Now()
	row := &itemRow{Owner: owner, Title: n.Title, Description: n.Description, Version: 1, CreatedAt: now, UpdatedAt: now}
	q := s.db.Bun.NewInsert().Model(row).ExcludeColumn("id").Returning("*")
	var out itemRow
	if err := s.writeReturning(ctx, q, items.EventCreated, &out); err != nil {
		return nil, classify(err, "create item")
	}
	return toItem(&out), nil
}

// GetItem returns the item of owner with the id, or NOT_FOUND.
func (s *Store) GetItem(ctx context.Context, owner string, id int64) (*items.Item, error) {
	var row itemRow
	err := s.db.Bun.NewSelect().Model(&row).
		Where("id = ?", id).Where("owner = ?", owner).Limit(1).Scan(ctx)
	if err != nil {
		return nil, classify(err, fmt.Sprintf("get item %d", id))
	}
	return toItem(&row), nil
}

// UpdateItem applies u in one compare-and-set statement. It returns
// NOT_FOUND when owner has no such item and CONFLICT (with the current
// version) when u.ExpectedVersion is set and is not the current version.
func (s *Store) UpdateItem(ctx context.Context, owner string, id int64, u items.Update) (*items.Item, error) {
	q := s.db.Bun.NewUpdate().Model((*itemRow)(nil)).
		Set("version = version + 1").
		Set("updated_at = ?", items.Now()).
		Where("id = ?", id).Where("owner = ?", owner).
		Returning("*")
	if u.Title != nil {
		q = q.Set("title = ?", *u.Title)
	}
	if u.SetDescription {
		q = q.Set("description = ?", u.Description)
	}
	if u.ExpectedVersion != nil {
		q = q.Where("version = ?", *u.ExpectedVersion)
	}
	var out itemRow
	err := s.writeReturning(ctx, q, items.EventUpdated, &out)
	if err == nil {
		return toItem(&out), nil
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
	data := compact.String()
	q := s.db.Bun.NewUpdate().Model((*itemRow)(nil)).
		Set("external_data = ?", data).
		Set("enriched_at = ?", e.EnrichedAt).
		Set("version = version + 1").
		Set("updated_at = ?", e.EnrichedAt).
		Where("id = ?", id).Where("owner = ?", owner).
		Returning("*")
	var out itemRow
	if err := s.writeReturning(ctx, q, items.EventEnriched, &out); err != nil {
		return nil, classify(err, fmt.Sprintf("enrich item %d", id))
	}
	return toItem(&out), nil
}

// DeleteItem deletes the item of owner with the id, or returns NOT_FOUND.
func (s *Store) DeleteItem(ctx context.Context, owner string, id int64) error {
	q := s.db.Bun.NewDelete().Model((*itemRow)(nil)).
		Where("id = ?", id).Where("owner = ?", owner).
		Returning("*")
	var out itemRow
	if err := s.writeReturning(ctx, q, items.EventDeleted, &out); err != nil {
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

func (s *Store) applyFilter(q *bun.SelectQuery, owner string, f items.Filter) *bun.SelectQuery {
	q = q.Where("owner = ?", owner)
	if f.Search != "" {
		if s.db.Engine == Postgres {
			p := likePattern(f.Search)
			q = q.Where(`(title ILIKE ? ESCAPE '\' OR description ILIKE ? ESCAPE '\')`, p, p)
		} else {
			// SQLite's LIKE folds ASCII only; items_fold is Unicode-aware,
			// and instr takes the search literally.
			q = q.Where("(instr(items_fold(title), items_fold(?)) > 0 OR instr(items_fold(description), items_fold(?)) > 0)", f.Search, f.Search)
		}
	}
	if f.Enriched != nil {
		if *f.Enriched {
			q = q.Where("enriched_at IS NOT NULL")
		} else {
			q = q.Where("enriched_at IS NULL")
		}
	}
	if f.CreatedAfter != nil {
		q = q.Where("created_at > ?", f.CreatedAfter.UTC())
	}
	if f.CreatedBefore != nil {
		// Times are stored to the microsecond: a bound with finer digits
		// is rounded up, so that "before 10.5µs" keeps an item at 10µs.
		before := f.CreatedBefore.UTC()
		if t := before.Truncate(time.Microsecond); !t.Equal(before) {
			before = t.Add(time.Microsecond)
		}
		q = q.Where("created_at < ?", before)
	}
	return q
}

// ListItems returns one page of owner's items in keyset order: the page
// starts after p.After and holds at most p.First items, so rows inserted or
// deleted elsewhere never shift it.
func (s *Store) ListItems(ctx context.Context, p items.ListParams) (*items.Page, error) {
	col := orderColumn(p.Order.Field)
	dir, cmp := "ASC", ">"
	if p.Order.Desc {
		dir, cmp = "DESC", "<"
	}
	var rows []itemRow
	q := s.db.Bun.NewSelect().Model(&rows)
	q = s.applyFilter(q, p.Owner, p.Filter)
	if c := p.After; c != nil {
		var key any = c.Time.UTC()
		if p.Order.Field == items.OrderTitle {
			key = c.Title
		}
		q = q.Where(fmt.Sprintf("(%s, id) %s (?, ?)", col, cmp), key, c.ID)
	}
	q = q.OrderExpr(fmt.Sprintf("%s %s, id %s", col, dir, dir)).Limit(int64(p.First + 1))
	if err := q.Scan(ctx); err != nil {
		return nil, classify(err, "list items")
	}
	page := &items.Page{HasPreviousPage: p.After != nil}
	if len(rows) > p.First {
		page.HasNextPage = true
		rows = rows[:p.First]
	}
	page.Items = make([]items.Item, len(rows))
	for i := range rows {
		page.Items[i] = *toItem(&rows[i])
	}
	return page, nil
}

// CountItems counts owner's items that pass the filter.
func (s *Store) CountItems(ctx context.Context, owner string, f items.Filter) (int, error) {
	q := s.db.Bun.NewSelect().Model((*itemRow)(nil))
	n, err := s.applyFilter(q, owner, f).Count(ctx)
	if err != nil {
		return 0, classify(err, "count items")
	}
	return int(n), nil
}

package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/items"
)

// ErrListenUnsupported is returned by NewListener on SQLite, which has no
// NOTIFY: there, Store.OnCommit delivers the events of this process, which
// is the only one that can write the file anyway.
var ErrListenUnsupported = errors.New("listening for item events needs PostgreSQL; on SQLite use Store.OnCommit")

// ListenerOptions tune a Listener. Zero values take the defaults.
type ListenerOptions struct {
	// Logger receives connection losses and undecodable payloads
	// (default slog.Default()).
	Logger *slog.Logger
	// OnListen is called each time LISTEN is in place, before any
	// notification on that connection is handled. resumed is false the
	// first time and true after a lost connection: events committed while
	// the listener was away were not received, and subscribers that must
	// not miss any should be told (see events.Broker.EndAll).
	OnListen func(resumed bool)
	// MinBackoff is the first wait before reconnecting (default 100ms).
	MinBackoff time.Duration
	// MaxBackoff caps the wait, which doubles on each failed attempt
	// (default 10s). A connection that stayed up this long resets it.
	MaxBackoff time.Duration
	// PingInterval is how often the idle connection is checked, so that a
	// silently dead one (or idle_session_timeout) is noticed (default 30s).
	PingInterval time.Duration
	// ApplicationName names the connection in pg_stat_activity (default
	// the pool's application_name with "-listener": "itemsrv-listener").
	ApplicationName string
}

// Listener receives the item events that every server process sharing the
// PostgreSQL database commits (see Store's writes: pg_notify on
// NotifyChannel in the same statement as the write), on one dedicated
// connection outside the pool, and hands each to a function. PostgreSQL
// delivers notifications in commit order, so the events of one item arrive
// in order.
type Listener struct {
	cfg    *pgx.ConnConfig
	handle func(items.Event)
	opts   ListenerOptions
	log    *slog.Logger

	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool
}

// NewListener returns a Listener that calls handle with every committed item
// event, from Run's goroutine, one at a time, in commit order. handle must
// not block (events.Broker.Publish does not). On SQLite it returns
// ErrListenUnsupported.
func (d *DB) NewListener(handle func(items.Event), opts ListenerOptions) (*Listener, error) {
	if d.Engine != Postgres || d.pgConfig == nil {
		return nil, ErrListenUnsupported
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg := d.pgConfig.Copy()
	if opts.ApplicationName == "" {
		opts.ApplicationName = cfg.RuntimeParams["application_name"] + "-listener"
	}
	cfg.RuntimeParams["application_name"] = opts.ApplicationName
	return &Listener{
		cfg:    cfg,
		handle: handle,
		opts:   opts,
		log:    log.With("component", "event-listener", "channel", NotifyChannel),
		ready:  make(chan struct{}),
	}, nil
}

// Ready is closed once LISTEN is first in place: events committed before
// then are not received.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Run listens until ctx is done, then returns nil. A lost or failed
// connection is logged and reopened after a capped exponential backoff with
// jitter; Run never gives up while ctx lasts. Run must not be called again
// before it has returned.
func (l *Listener) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("listener is already running")
	}
	defer l.running.Store(false)

	delay := l.opts.MinBackoff
	resumed := false // a LISTEN was in place before, so events may be lost
	failures := 0
	for {
		listenedAt, err := l.session(ctx, resumed)
		if ctx.Err() != nil {
			return nil
		}
		if !listenedAt.IsZero() {
			resumed = true
			up := time.Since(listenedAt)
			if up >= l.opts.MaxBackoff {
				delay, failures = l.opts.MinBackoff, 0
			}
			l.log.Warn("event listener lost its connection; reconnecting", "err", err, "listened_for", up.Round(time.Millisecond))
		}
		failures++
		wait := delay/2 + rand.N(delay/2+1)
		if listenedAt.IsZero() {
			l.log.Warn("event listener cannot listen; retrying", "err", err, "attempt", failures, "retry_in", wait.Round(time.Millisecond))
		}
		delay = min(delay*2, l.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session connects, listens and handles notifications until the connection
// fails or ctx is done. listenedAt is when LISTEN took effect, zero if it
// never did.
func (l *Listener) session(ctx context.Context, resumed bool) (listenedAt time.Time, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return time.Time{}, fmt.Errorf("connect: %s", redact(err))
	}
	defer func() {
		// Not ctx: it may be done, and the goodbye is still worth sending.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return time.Time{}, fmt.Errorf("listen: %w", err)
	}
	listenedAt = time.Now()
	if resumed {
		l.log.Info("event listener reconnected; events committed meanwhile were missed")
	} else {
		l.log.Debug("event listener is listening")
	}
	if l.opts.OnListen != nil {
		l.opts.OnListen(resumed)
	}
	l.readyOnce.Do(func() { close(l.ready) })

	nextPing := time.Now().Add(l.opts.PingInterval)
	for {
		wctx, cancel := context.WithDeadline(ctx, nextPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			l.dispatch(n.Payload)
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return listenedAt, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Time to check the connection: the wait timed out, which
			// leaves the connection usable.
			pctx, cancel := context.WithTimeout(ctx, l.opts.PingInterval/2)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return listenedAt, ctx.Err()
				}
				return listenedAt, fmt.Errorf("ping: %w", err)
			}
			nextPing = time.Now().Add(l.opts.PingInterval)
		default:
			return listenedAt, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// dispatch decodes one payload and hands it on. A payload that is not an
// event is logged and skipped: it did not come from a Store.
func (l *Listener) dispatch(payload string) {
	e, err := decodeEvent(payload)
	if err != nil {
		l.log.Error("skipping an undecodable item event", "err", err, "payload", truncate(payload, 200))
		return
	}
	l.handle(e)
}

// eventItem is an item as row_to_json writes it into an event.
type eventItem struct {
	ID           int64           `json:"id"`
	Owner        string          `json:"owner"`
	Title        string          `json:"title"`
	Description  *string         `json:"description"`
	ExternalData json.RawMessage `json:"external_data"`
	EnrichedAt   *time.Time      `json:"enriched_at"`
	Version      int             `json:"version"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

func (r *eventItem) toItem() *items.Item {
	it := &items.Item{
		ID: r.ID, Owner: r.Owner, Title: r.Title, Description: r.Description,
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if len(r.ExternalData) > 0 && string(r.ExternalData) != "null" {
		it.ExternalData = r.ExternalData
	}
	if r.EnrichedAt != nil {
		t := r.EnrichedAt.UTC()
		it.EnrichedAt = &t
	}
	return it
}

// decodeEvent parses the json_build_object('t', type, 'id', id, 'o', owner,
// 'v', version[, 'i', the item]) that Store's writes send.
func decodeEvent(payload string) (items.Event, error) {
	var w struct {
		items.Event
		Item *eventItem `json:"i"`
	}
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return items.Event{}, fmt.Errorf("decode event: %w", err)
	}
	e := w.Event
	if w.Item != nil && e.Type != items.EventDeleted {
		e.Item = w.Item.toItem()
	}
	switch e.Type {
	case items.EventCreated, items.EventUpdated, items.EventDeleted, items.EventEnriched:
	default:
		return items.Event{}, fmt.Errorf("decode event: unknown type %q", e.Type)
	}
	if e.ID <= 0 {
		return items.Event{}, fmt.Errorf("decode event: bad id %d", e.ID)
	}
	return e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

package db_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/items"
)

// syncBuffer is a log sink safe for the listener's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listening is a running Listener and what it received.
type listening struct {
	l      *db.Listener
	events chan items.Event
	log    *syncBuffer
}

// startListener runs a Listener on d until the test ends and waits until it
// listens. The test fails if Run returns anything but nil.
func startListener(t *testing.T, d *db.DB, opts db.ListenerOptions) *listening {
	t.Helper()
	ls := &listening{events: make(chan items.Event, 1000), log: &syncBuffer{}}
	opts.Logger = slog.New(slog.NewTextHandler(ls.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := d.NewListener(func(e items.Event) { ls.events <- e }, opts)
	if err != nil {
		t.Fatal(err)
	}
	ls.l = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	// Registered after dbtest's cleanups, so it runs before the database
	// is dropped.
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	})
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before listening", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("listener not ready within 10s; log:\n%s", ls.log)
	}
	return ls
}

// withoutItem is e without the item it carries, for comparing.
func withoutItem(e items.Event) items.Event {
	e.Item = nil
	return e
}

// next returns the next received event, failing t after within.
func (ls *listening) next(t *testing.T, within time.Duration) items.Event {
	t.Helper()
	select {
	case e := <-ls.events:
		return e
	case <-time.After(within):
		t.Fatalf("no event within %v; log:\n%s", within, ls.log)
	}
	panic("unreachable")
}

// none fails t if an event arrives within d.
func (ls *listening) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-ls.events:
		t.Fatalf("got %+v, want no event", e)
	case <-time.After(d):
	}
}

func TestListenerReceivesWritesOfAnotherProcess(t *testing.T) {
	url := dbtest.PostgresURL(t)
	// Two processes: one writes, the other listens, on separate pools.
	writer := db.NewStore(dbtest.Open(t, url))
	reader := dbtest.Open(t, url)
	ls := startListener(t, reader, db.ListenerOptions{})
	ctx := context.Background()

	it := mustCreate(t, writer, owner, "Buy milk", nil)
	if _, err := writer.UpdateItem(ctx, owner, it.ID, items.Update{Title: strp("Buy oat milk")}); err != nil {
		t.Fatal(err)
	}
	enriched := items.Enrichment{Data: json.RawMessage(`{"id":1}`), EnrichedAt: items.Now()}
	if _, err := writer.EnrichItem(ctx, owner, it.ID, enriched); err != nil {
		t.Fatal(err)
	}
	if err := writer.DeleteItem(ctx, owner, it.ID); err != nil {
		t.Fatal(err)
	}
	// A write that fails sends nothing.
	if err := writer.DeleteItem(ctx, owner, it.ID); items.ErrorCode(err) != items.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}

	want := []items.Event{
		{Type: items.EventCreated, ID: it.ID, Owner: owner, Version: 1},
		{Type: items.EventUpdated, ID: it.ID, Owner: owner, Version: 2},
		{Type: items.EventEnriched, ID: it.ID, Owner: owner, Version: 3},
		{Type: items.EventDeleted, ID: it.ID, Owner: owner, Version: 3},
	}
	titles := []string{"Buy milk", "Buy oat milk", "Buy oat milk", ""}
	for i, w := range want {
		got := ls.next(t, 5*time.Second)
		snap := got.Item
		got.Item = nil
		if got != w {
			t.Fatalf("event %d = %+v, want %+v", i, got, w)
		}
		// A small item travels with its event, as the change committed it.
		switch {
		case w.Type == items.EventDeleted && snap != nil:
			t.Fatalf("event %d: a deletion carries %+v", i, snap)
		case w.Type != items.EventDeleted && (snap == nil || snap.Version != w.Version || snap.Title != titles[i] || snap.ID != it.ID || snap.Owner != owner):
			t.Fatalf("event %d carries %+v, want version %d titled %q", i, snap, w.Version, titles[i])
		case w.Type == items.EventEnriched && string(snap.ExternalData) != `{"id":1}`:
			t.Fatalf("enriched event carries externalData %s", snap.ExternalData)
		}
	}
	ls.none(t, 200*time.Millisecond)
}

func TestListenerGetsNothingFromRolledBackWrites(t *testing.T) {
	d := dbtest.Open(t, dbtest.PostgresURL(t))
	ls := startListener(t, d, db.ListenerOptions{})
	ctx := context.Background()

	tx, err := d.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify(?, '{"t":"CREATED","id":999,"o":"alice","v":1}')`, db.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// PostgreSQL delivers in commit order, so had the rolled-back
	// notification been sent it would come before this one.
	it := mustCreate(t, db.NewStore(d), owner, "after the rollback", nil)
	want := items.Event{Type: items.EventCreated, ID: it.ID, Owner: owner, Version: 1}
	if got := ls.next(t, 5*time.Second); withoutItem(got) != want {
		t.Fatalf("got %+v, want %+v (and nothing from the rolled-back transaction)", got, want)
	}
	ls.none(t, 200*time.Millisecond)
}

func TestListenerSkipsForeignPayloads(t *testing.T) {
	d := dbtest.Open(t, dbtest.PostgresURL(t))
	ls := startListener(t, d, db.ListenerOptions{})
	ctx := context.Background()

	for _, payload := range []string{`not json`, `{"t":"EXPLODED","id":1}`, `{"t":"CREATED","id":0}`} {
		if _, err := d.Bun.ExecContext(ctx, "SELECT pg_notify(?, ?)", db.NotifyChannel, payload); err != nil {
			t.Fatal(err)
		}
	}
	it := mustCreate(t, db.NewStore(d), owner, "real", nil)
	if got := ls.next(t, 5*time.Second); got.ID != it.ID || got.Type != items.EventCreated {
		t.Fatalf("got %+v, want the CREATED event of item %d", got, it.ID)
	}
	if n := strings.Count(ls.log.String(), "skipping an undecodable item event"); n != 3 {
		t.Fatalf("logged %d skipped payloads, want 3; log:\n%s", n, ls.log)
	}
}

func TestListenerReconnectsAfterTerminatedBackend(t *testing.T) {
	d := dbtest.Open(t, dbtest.PostgresURL(t))
	listens := make(chan bool, 10)
	ls := startListener(t, d, db.ListenerOptions{
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: time.Second,
		OnListen:   func(resumed bool) { listens <- resumed },
	})
	if resumed := <-listens; resumed {
		t.Fatal("first OnListen says resumed")
	}
	s := db.NewStore(d)
	ctx := context.Background()
	first := mustCreate(t, s, owner, "before", nil)
	if got := ls.next(t, 5*time.Second); got.ID != first.ID {
		t.Fatalf("got %+v, want item %d", got, first.ID)
	}

	var terminated []bool
	err := d.Bun.NewRaw(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'itemsrv-listener' AND datname = current_database()`).Scan(ctx, &terminated)
	if err != nil {
		t.Fatal(err)
	}
	if len(terminated) != 1 || !terminated[0] {
		t.Fatalf("terminated %v, want exactly the listener's connection", terminated)
	}
	killed := time.Now()

	select {
	case resumed := <-listens:
		if !resumed {
			t.Fatal("OnListen after a lost connection says not resumed")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("not listening again within 5s; log:\n%s", ls.log)
	}
	second := mustCreate(t, s, owner, "after", nil)
	if got := ls.next(t, 5*time.Second); got.ID != second.ID || got.Type != items.EventCreated {
		t.Fatalf("got %+v, want the CREATED event of item %d", got, second.ID)
	}
	if d := time.Since(killed); d > 5*time.Second {
		t.Fatalf("events flowed again only after %v", d)
	}
	if log := ls.log.String(); !strings.Contains(log, "lost its connection") || !strings.Contains(log, "reconnected") {
		t.Fatalf("the loss and the reconnection are not logged:\n%s", log)
	}
}

func TestListenerRetriesUntilTheDatabaseAnswers(t *testing.T) {
	d := dbtest.Open(t, dbtest.PostgresURL(t))
	// Forbid new connections to the database while the listener starts:
	// it must keep retrying, then listen once they are allowed again. A
	// database's own sessions may not change that, so ask from the admin one.
	ctx := context.Background()
	var name string
	if err := d.Bun.NewRaw("SELECT current_database()").Scan(ctx, &name); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	allow := func(b bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", pgx.Identifier{name}.Sanitize(), b)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	var log syncBuffer
	l, err := d.NewListener(func(items.Event) {}, db.ListenerOptions{
		Logger:     slog.New(slog.NewTextHandler(&log, nil)),
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}()

	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(log.String(), "cannot listen") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries logged; log:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-l.Ready():
		t.Fatal("ready while connections are refused")
	default:
	}
	allow(true)
	select {
	case <-l.Ready():
	case <-time.After(5 * time.Second):
		t.Fatalf("not ready within 5s of allowing connections; log:\n%s", log.String())
	}
}

func TestListenerPayloadFitsNotify(t *testing.T) {
	url := dbtest.PostgresURL(t)
	d := dbtest.Open(t, url)
	ctx := context.Background()
	// A raw LISTEN of our own, to see the payload as it travels.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+db.NotifyChannel); err != nil {
		t.Fatal(err)
	}

	long := strings.Repeat("ü🥛", 2500) // 5,000 characters, 15,000 bytes
	s := db.NewStore(d)
	it := mustCreate(t, s, owner, strings.Repeat("日本", 100), &long)
	if _, err := s.UpdateItem(ctx, owner, it.ID, items.Update{SetDescription: true, Description: &long}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []items.EventType{items.EventCreated, items.EventUpdated} {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Payload) >= 8000 {
			t.Fatalf("payload is %d bytes: NOTIFY refuses 8000 and more", len(n.Payload))
		}
		var e items.Event
		if err := json.Unmarshal([]byte(n.Payload), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != typ || e.ID != it.ID || e.Owner != owner {
			t.Fatalf("payload %s, want a %s event of item %d", n.Payload, typ, it.ID)
		}
		// Too large to travel with the event: subscribers load it.
		if strings.Contains(n.Payload, `"i"`) {
			t.Fatalf("a %d-byte item travelled in the payload", len(long))
		}
	}

	// A small item does travel with its event.
	small := mustCreate(t, s, owner, "small", nil)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		I struct {
			ID    int64  `json:"id"`
			Title string `json:"title"`
		} `json:"i"`
	}
	if err := json.Unmarshal([]byte(n.Payload), &w); err != nil || w.I.ID != small.ID || w.I.Title != "small" {
		t.Fatalf("payload %s does not carry the item (%v)", n.Payload, err)
	}
}

func TestListenerNeedsPostgres(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLiteURL(t))
	if _, err := d.NewListener(func(items.Event) {}, db.ListenerOptions{}); !errors.Is(err, db.ErrListenUnsupported) {
		t.Fatalf("NewListener on SQLite = %v, want ErrListenUnsupported", err)
	}
}

func TestListenerRunsOnce(t *testing.T) {
	d := dbtest.Open(t, dbtest.PostgresURL(t))
	ls := startListener(t, d, db.ListenerOptions{})
	if err := ls.l.Run(context.Background()); err == nil {
		t.Fatal("a second concurrent Run succeeded")
	}
}

func TestListenerPingsKeepAnIdleConnection(t *testing.T) {
	url := dbtest.PostgresURL(t)
	d := dbtest.Open(t, url)
	ctx := context.Background()
	// The server ends sessions idle for 300ms; pings every 100ms keep the
	// listener's connection alive while no notification arrives, and show
	// that an interrupted wait leaves the connection usable.
	var name string
	if err := d.Bun.NewRaw("SELECT current_database()").Scan(ctx, &name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bun.ExecContext(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET idle_session_timeout = '300ms'"); err != nil {
		t.Fatal(err)
	}
	ls := startListener(t, d, db.ListenerOptions{PingInterval: 100 * time.Millisecond})
	time.Sleep(time.Second)

	// A connection of its own: the pool's idle ones have been ended.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_notify('item_events', '{"t":"UPDATED","id":5,"o":"alice","v":2}')`); err != nil {
		t.Fatal(err)
	}
	want := items.Event{Type: items.EventUpdated, ID: 5, Owner: "alice", Version: 2}
	if got := ls.next(t, 5*time.Second); withoutItem(got) != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if log := ls.log.String(); strings.Contains(log, "lost its connection") {
		t.Fatalf("the listener lost its connection despite pings:\n%s", log)
	}
}

// Command baseline is the benchmark's yardstick: the three item operations
// of the GraphQL server (read one by id, list the 20 newest, insert one)
// served as plain JSON by net/http and a pgx pool, with no GraphQL, no ORM
// and no middleware. The benchmark runs it beside the server on the same
// database with the same pool size, so the ratio of the two shows what the
// server's layers cost.
//
// Settings come from the environment, named as the server's: DATABASE_URL
// (PostgreSQL only), PORT, DATABASE_MAX_CONNS (default 10).
//
//	GET  /items/{id}      the item, or 404
//	GET  /items?first=20  {"items": [...], "hasNextPage": bool}, newest first
//	POST /items           {"title": "...", "description": "..."} → the item
//	GET  /readyz          200 when the database answers
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// item is the JSON form of a row, the fields the benchmark's GraphQL queries
// select.
type item struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description *string   `json:"description"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// columns are the ones the server's store reads (it selects every column).
const columns = `id, owner, title, description, external_data, enriched_at, version, created_at, updated_at`

func scanItem(row pgx.Row) (*item, error) {
	var (
		it       item
		id       int64
		owner    string
		external []byte
		enriched *time.Time
	)
	if err := row.Scan(&id, &owner, &it.Title, &it.Description, &external, &enriched, &it.Version, &it.CreatedAt, &it.UpdatedAt); err != nil {
		return nil, err
	}
	it.ID = strconv.FormatInt(id, 10)
	it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
	return &it, nil
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 10
	if v := os.Getenv("DATABASE_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("DATABASE_MAX_CONNS: %q is not a positive number", v)
		}
		cfg.MaxConns = int32(n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := pool.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		it, err := scanItem(pool.QueryRow(r.Context(), `SELECT `+columns+` FROM items WHERE id = $1 AND owner = $2 LIMIT 1`, id, ""))
		if errors.Is(err, pgx.ErrNoRows) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, it)
	})
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		first := 20
		if v := r.URL.Query().Get("first"); v != "" {
			if first, err = strconv.Atoi(v); err != nil || first < 0 || first > 100 {
				http.Error(w, "bad first", http.StatusBadRequest)
				return
			}
		}
		rows, err := pool.Query(r.Context(), `SELECT `+columns+` FROM items WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, "", first+1)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		page := struct {
			Items       []*item `json:"items"`
			HasNextPage bool    `json:"hasNextPage"`
		}{Items: make([]*item, 0, first+1)}
		for rows.Next() {
			it, err := scanItem(rows)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			page.Items = append(page.Items, it)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(page.Items) > first {
			page.HasNextPage = true
			page.Items = page.Items[:first]
		}
		writeJSON(w, page)
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title       string  `json:"title"`
			Description *string `json:"description"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		in.Title = strings.TrimSpace(in.Title)
		if in.Title == "" || len(in.Title) > 800 {
			http.Error(w, "bad title", http.StatusBadRequest)
			return
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		// The same statement shape as the server's: the insert and its
		// pg_notify event in one statement, so both do the same database
		// work.
		it, err := scanItem(pool.QueryRow(r.Context(), `
WITH w AS (
	INSERT INTO items (owner, title, description, version, created_at, updated_at)
	VALUES ($1, $2, $3, 1, $4, $4) RETURNING *
)
SELECT `+columns+` FROM w,
	LATERAL (SELECT pg_notify('item_events', json_build_object('t', 'CREATED', 'id', w.id, 'o', w.owner, 'v', w.version)::text)) n`,
			"", in.Title, in.Description, now))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, it)
	})

	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The client went away; nothing to tell it.
		return
	}
}

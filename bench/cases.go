package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"itemsrv/bench/load"
)

// benchEnv is what the cases need to build their requests.
type benchEnv struct {
	client   *http.Client
	server   string
	baseline string
	dbURL    string
	seed     int
}

// benchCase is one operation. server and baseline make the request function
// of one measured run against the URL given, at the concurrency given;
// baseline is nil when the baseline does not serve the operation.
type benchCase struct {
	name     string
	server   func(e *benchEnv, base string, conc int) (load.Op, error)
	baseline func(e *benchEnv, base string, conc int) (load.Op, error)
	// ownServer runs the case on a server of its own with the -enrich-pool
	// pool size.
	ownServer bool
}

const itemFields = `id title description version createdAt updatedAt`

func allCases() []benchCase {
	return []benchCase{
		{
			name: "item",
			server: func(e *benchEnv, base string, _ int) (load.Op, error) {
				q := quote(`query Item($id: ID!) { item(id: $id) { ` + itemFields + ` } }`)
				return func(ctx context.Context, _ int) error {
					body := `{"query":` + q + `,"variables":{"id":"` + strconv.Itoa(randID(e.seed)) + `"}}`
					b, err := e.graphql(ctx, base, body)
					if err == nil && bytes.Contains(b, []byte(`"item":null`)) {
						err = fmt.Errorf("item missing: %.200s", b)
					}
					return err
				}, nil
			},
			baseline: func(e *benchEnv, base string, _ int) (load.Op, error) {
				return func(ctx context.Context, _ int) error {
					_, err := e.do(ctx, http.MethodGet, base+"/items/"+strconv.Itoa(randID(e.seed)), "")
					return err
				}, nil
			},
		},
		{
			name: "items",
			server: func(e *benchEnv, base string, _ int) (load.Op, error) {
				body := `{"query":` + quote(`{ items(first: 20) { nodes { `+itemFields+` } pageInfo { hasNextPage endCursor } } }`) + `}`
				return func(ctx context.Context, _ int) error {
					_, err := e.graphql(ctx, base, body)
					return err
				}, nil
			},
			baseline: func(e *benchEnv, base string, _ int) (load.Op, error) {
				return func(ctx context.Context, _ int) error {
					_, err := e.do(ctx, http.MethodGet, base+"/items?first=20", "")
					return err
				}, nil
			},
		},
		{
			name: "createItem",
			server: func(e *benchEnv, base string, conc int) (load.Op, error) {
				q := quote(`mutation Create($title: String!, $d: String) { createItem(input: {title: $title, description: $d}) { ` + itemFields + ` } }`)
				n := make([]int, conc)
				return func(ctx context.Context, w int) error {
					n[w]++
					body := `{"query":` + q + `,"variables":{"title":"bench item ` + strconv.Itoa(w) + ` ` + wordOf(w+conc*n[w]) + `","d":"made by the load benchmark"}}`
					_, err := e.graphql(ctx, base, body)
					return err
				}, nil
			},
			baseline: func(e *benchEnv, base string, conc int) (load.Op, error) {
				n := make([]int, conc)
				return func(ctx context.Context, w int) error {
					n[w]++
					body := `{"title":"bench item ` + strconv.Itoa(w) + ` ` + wordOf(w+conc*n[w]) + `","description":"made by the load benchmark"}`
					_, err := e.do(ctx, http.MethodPost, base+"/items", body)
					return err
				}, nil
			},
		},
		{
			name:   "updateItem",
			server: updateCase,
		},
		{
			name: "search",
			server: func(e *benchEnv, base string, _ int) (load.Op, error) {
				body := `{"query":` + quote(`query Search($s: String) { items(first: 20, filter: {search: $s}) { nodes { `+itemFields+` } pageInfo { hasNextPage endCursor } } }`) +
					`,"variables":{"s":"` + searchTerm + `"}}`
				return func(ctx context.Context, _ int) error {
					b, err := e.graphql(ctx, base, body)
					if err == nil && bytes.Contains(b, []byte(`"nodes":[]`)) {
						err = fmt.Errorf("search found nothing: %.200s", b)
					}
					return err
				}, nil
			},
		},
		{
			name: "externalPosts",
			server: func(e *benchEnv, base string, _ int) (load.Op, error) {
				body := `{"query":` + quote(`{ externalPosts(limit: 100) { author { name } } }`) + `}`
				return func(ctx context.Context, _ int) error {
					_, err := e.graphql(ctx, base, body)
					return err
				}, nil
			},
		},
		{
			name:      "enrichItem",
			ownServer: true,
			server: func(e *benchEnv, base string, _ int) (load.Op, error) {
				q := quote(`mutation Enrich($id: ID!, $p: ID) { enrichItem(id: $id, postId: $p) { id version enrichedAt } }`)
				half := e.seed / 2
				return func(ctx context.Context, _ int) error {
					// The second half of the seeded items, so that the
					// update case's versions are not disturbed; the
					// stand-in has posts 1..100.
					id := half + 1 + rand.IntN(e.seed-half)
					body := `{"query":` + q + `,"variables":{"id":"` + strconv.Itoa(id) + `","p":"` + strconv.Itoa(1+id%100) + `"}}`
					_, err := e.graphql(ctx, base, body)
					return err
				}, nil
			},
		},
	}
}

func caseNames() []string {
	var names []string
	for _, c := range allCases() {
		names = append(names, c.name)
	}
	return names
}

// updateCase updates the first half of the seeded items with
// expectedVersion. Each worker owns the ids ≡ worker (mod concurrency), so
// no two workers race on an item, and tracks their versions from the
// answers; the versions are read from the database when the run starts.
func updateCase(e *benchEnv, base string, conc int) (load.Op, error) {
	half := e.seed / 2
	versions := make([]int, half+1)
	conn, err := pgx.Connect(context.Background(), e.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT id, version FROM items WHERE id <= $1`, half)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		versions[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	perWorker := half / conc
	if perWorker < 1 {
		return nil, fmt.Errorf("concurrency %d is above the %d items the case updates", conc, half)
	}
	next := make([]int, conc)
	q := quote(`mutation Update($id: ID!, $v: Int, $t: String) { updateItem(id: $id, input: {title: $t, expectedVersion: $v}) { id version updatedAt } }`)
	return func(ctx context.Context, w int) error {
		id := 1 + w + conc*(next[w]%perWorker)
		next[w]++
		body := `{"query":` + q + `,"variables":{"id":"` + strconv.Itoa(id) + `","v":` + strconv.Itoa(versions[id]) +
			`,"t":"Item ` + strconv.Itoa(id) + ` updated ` + strconv.Itoa(versions[id]) + ` ` + wordOf(id) + `"}}`
		b, err := e.graphql(ctx, base, body)
		if err != nil {
			return err
		}
		var resp struct {
			Data struct {
				UpdateItem struct{ Version int } `json:"updateItem"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &resp); err != nil {
			return err
		}
		versions[id] = resp.Data.UpdateItem.Version
		return nil
	}, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// graphql posts a GraphQL request and fails on any status but 200 and on
// any error in the answer.
func (e *benchEnv) graphql(ctx context.Context, base, body string) ([]byte, error) {
	b, err := e.do(ctx, http.MethodPost, base+"/graphql", body)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte(`"errors":`)) {
		return nil, fmt.Errorf("errors in the answer: %.300s", b)
	}
	return b, nil
}

func (e *benchEnv) do(ctx context.Context, method, url, body string) ([]byte, error) {
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

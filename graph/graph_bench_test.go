package graph_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/items"
	"itemsrv/jsonplaceholder"
)

// Micro-benchmarks of the GraphQL layer. The handler ones execute a query
// through the real handler in-process (no network) on each engine, so a CPU
// profile of them shows what the server adds between the rows and the JSON:
//
//	go test -run '^$' -bench Handler -benchmem -cpuprofile cpu.prof ./graph/
//	go tool pprof -top cpu.prof

func BenchmarkErrorPresenter(b *testing.B) {
	present := graph.ErrorPresenter(slog.New(slog.DiscardHandler))
	ctx := context.Background()
	tests := []struct {
		name string
		give error
		want string
	}{
		{"domain", items.InvalidInput("title", "title must not be empty"), string(items.CodeBadUserInput)},
		{"conflict", items.ConflictError(3), string(items.CodeConflict)},
		{"gqlgen", &gqlerror.Error{Message: "bad", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}, "GRAPHQL_VALIDATION_FAILED"},
		{"internal", fmt.Errorf("list items: %w", errors.New("connection reset")), string(items.CodeInternal)},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if got := present(ctx, tt.give); got.Extensions["code"] != tt.want {
					b.Fatalf("code = %v, want %s", got.Extensions["code"], tt.want)
				}
			}
		})
	}
}

// benchHandler is the GraphQL handler, wired as the server wires it, on d
// seeded with n items.
func benchHandler(b *testing.B, d *db.DB, n int) http.Handler {
	b.Helper()
	upstream, _ := jsonplaceholder.NewServer()
	b.Cleanup(upstream.Close)
	client, err := external.New(external.Config{BaseURL: upstream.URL, CacheTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	store := db.NewStore(d)
	desc := "a description of moderate length for the benchmark"
	for i := range n {
		if _, err := store.CreateItem(context.Background(), "", items.NewItem{Title: fmt.Sprintf("Item %d", i), Description: &desc}); err != nil {
			b.Fatal(err)
		}
	}
	r := &graph.Resolver{Store: store, Upstream: client, Log: log}
	return r.LoadersMiddleware(graph.NewHandler(r, graph.Options{
		ComplexityLimit: 1000,
		Introspection:   true,
		AllowedOrigins:  []string{"*"},
		Log:             log,
	}))
}

func BenchmarkHandler(b *testing.B) {
	const fields = `id title description version createdAt updatedAt`
	queries := []struct {
		name, body string
	}{
		{"item", `{"query":"query($id: ID!) { item(id: $id) { ` + fields + ` } }","variables":{"id":"7"}}`},
		{"items20", `{"query":"{ items(first: 20) { nodes { ` + fields + ` } pageInfo { hasNextPage endCursor } } }"}`},
		{"externalPosts100", `{"query":"{ externalPosts(limit: 100) { id title author { name } } }"}`},
	}
	for _, e := range dbtest.Engines {
		b.Run(string(e), func(b *testing.B) {
			h := benchHandler(b, dbtest.Open(b, dbtest.URL(b, e)), 50)
			for _, q := range queries {
				b.Run(q.name, func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(q.body))
						req.Header.Set("Content-Type", "application/json")
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
							b.Fatalf("status %d: %s", rec.Code, rec.Body)
						}
					}
				})
			}
		})
	}
}

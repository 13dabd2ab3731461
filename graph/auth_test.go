package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/auth"
	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/items"
	"itemsrv/jsonplaceholder"
)

const auSecret = "graph-auth-test-secret"

// auEnv is the GraphQL handler behind an HS256 Authenticator, on a real
// database, with the upstream stand-in.
type auEnv struct {
	URL   string
	Store *db.Store
	Fake  *jsonplaceholder.Fake
}

func newAuEnv(t *testing.T, d *db.DB) *auEnv {
	t.Helper()
	upstream, fake := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	client, err := external.New(external.Config{BaseURL: upstream.URL, Timeout: 5 * time.Second, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	authn, err := auth.New(auth.Config{JWTSecret: auSecret, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	store := db.NewStore(d)
	r := &graph.Resolver{Store: store, Upstream: client, Log: log}
	h := authn.Middleware(r.LoadersMiddleware(graph.NewHandler(r, graph.Options{
		ComplexityLimit: 100000,
		AllowedOrigins:  []string{"*"},
		WebsocketInit:   authn.GQLGenInitFunc(),
		Log:             log,
	})))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &auEnv{URL: srv.URL + "/graphql", Store: store, Fake: fake}
}

// auToken mints an HS256 token for sub with the given scope ("" for none).
func auToken(t testing.TB, sub, scope string) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if scope != "" {
		c["scope"] = scope
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(auSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// as posts one operation with token as the bearer.
func (e *auEnv) as(t testing.TB, token, query string, v vars) *gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": v})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response %d is not JSON: %s", resp.StatusCode, raw)
	}
	r.Status, r.Body = resp.StatusCode, string(raw)
	for i, ge := range r.Errors {
		if ge.code() == "" {
			t.Errorf("errors[%d] has no extensions.code: %s", i, raw)
		}
	}
	return &r
}

// asOK posts an operation that must succeed and decodes its data into out.
func (e *auEnv) asOK(t testing.TB, token, query string, v vars, out any) {
	t.Helper()
	r := e.as(t, token, query, v)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("%s: HTTP %d: %s", firstLine(query), r.Status, r.Body)
	}
	if out != nil {
		r.decodeData(t, out)
	}
}

func (e *auEnv) create(t testing.TB, token, title string) string {
	t.Helper()
	var out struct{ CreateItem struct{ ID string } }
	e.asOK(t, token, `mutation($t: String!) { createItem(input: {title: $t}) { id } }`, vars{"t": title}, &out)
	return out.CreateItem.ID
}

type auList struct {
	Items struct {
		Nodes      []struct{ ID, Title string }
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

func (l auList) ids() []string {
	var out []string
	for _, n := range l.Items.Nodes {
		out = append(out, n.ID)
	}
	return out
}

// TestOwnerIsolation holds two callers to the contract: another caller's
// item is indistinguishable from a missing one, in every read and write.
func TestOwnerIsolation(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newAuEnv(t, d)
		alice := auToken(t, "alice", auth.WriteScope)
		bob := auToken(t, "bob", auth.WriteScope)

		var aliceIDs []string
		for _, title := range []string{"alice one", "alice two", "alice three"} {
			aliceIDs = append(aliceIDs, e.create(t, alice, title))
		}
		bobID := e.create(t, bob, "bob one")
		const missingID = "999999"

		// Reads: item, items, totalCount (also with a filter that matches
		// the other's titles).
		for _, id := range aliceIDs {
			var got struct{ Item *struct{ ID string } }
			e.asOK(t, bob, `query($id: ID!) { item(id: $id) { id } }`, vars{"id": id}, &got)
			if got.Item != nil {
				t.Errorf("bob sees alice's item %s", id)
			}
		}
		var own struct{ Item *struct{ ID string } }
		e.asOK(t, bob, `query($id: ID!) { item(id: $id) { id } }`, vars{"id": bobID}, &own)
		if own.Item == nil || own.Item.ID != bobID {
			t.Errorf("bob does not see his own item %s: %+v", bobID, own.Item)
		}
		var bobList auList
		e.asOK(t, bob, `{ items(first: 100) { nodes { id title } totalCount } }`, nil, &bobList)
		if ids := bobList.ids(); len(ids) != 1 || ids[0] != bobID || bobList.Items.TotalCount != 1 {
			t.Errorf("bob lists %v (totalCount %d), want only [%s] and 1", ids, bobList.Items.TotalCount, bobID)
		}
		var filtered auList
		e.asOK(t, bob, `{ items(first: 100, filter: {search: "alice"}) { nodes { id } totalCount } }`, nil, &filtered)
		if len(filtered.Items.Nodes) != 0 || filtered.Items.TotalCount != 0 {
			t.Errorf("bob's search for alice's titles finds %v (totalCount %d)", filtered.ids(), filtered.Items.TotalCount)
		}
		var aliceList auList
		e.asOK(t, alice, `{ items(first: 100) { nodes { id } totalCount } }`, nil, &aliceList)
		if aliceList.Items.TotalCount != 3 || len(aliceList.Items.Nodes) != 3 {
			t.Errorf("alice lists %v (totalCount %d), want her 3 items", aliceList.ids(), aliceList.Items.TotalCount)
		}
		for _, id := range aliceList.ids() {
			if id == bobID {
				t.Errorf("alice lists bob's item %s", bobID)
			}
		}

		// Paging: a cursor from alice's listing, used by bob, yields
		// nothing of alice's.
		var page auList
		e.asOK(t, alice, `{ items(first: 1) { nodes { id } pageInfo { hasNextPage endCursor } } }`, nil, &page)
		if page.Items.PageInfo.EndCursor == nil || !page.Items.PageInfo.HasNextPage {
			t.Fatalf("alice's first page has no next page: %+v", page.Items)
		}
		for _, order := range []string{"", `, orderBy: {field: CREATED_AT, direction: DESC}`} {
			var paged auList
			e.asOK(t, bob, `query($after: String) { items(first: 100, after: $after`+order+`) { nodes { id } totalCount } }`,
				vars{"after": *page.Items.PageInfo.EndCursor}, &paged)
			for _, id := range paged.ids() {
				if id != bobID {
					t.Errorf("bob, paging with alice's cursor, gets item %s", id)
				}
			}
			if paged.Items.TotalCount != 1 {
				t.Errorf("bob's totalCount with alice's cursor = %d, want 1", paged.Items.TotalCount)
			}
		}

		// Writes: bob's update, delete and enrich of alice's item fail
		// exactly as on a missing id, and enrich calls no upstream.
		writes := []struct {
			name  string
			query string
		}{
			{"updateItem", `mutation($id: ID!) { updateItem(id: $id, input: {title: "mine now"}) { id } }`},
			{"enrichItem", `mutation($id: ID!) { enrichItem(id: $id, postId: "1") { id } }`},
			{"deleteItem", `mutation($id: ID!) { deleteItem(id: $id) }`},
		}
		for _, w := range writes {
			e.Fake.ResetCounts()
			foreign := e.as(t, bob, w.query, vars{"id": aliceIDs[0]})
			missing := e.as(t, bob, w.query, vars{"id": missingID})
			foreign.wantError(t, "NOT_FOUND", "")
			missing.wantError(t, "NOT_FOUND", "")
			if foreign.Status != missing.Status || foreign.Errors[0].Message != missing.Errors[0].Message ||
				!sameKeys(foreign.Errors[0].Extensions, missing.Errors[0].Extensions) || string(foreign.Data) != string(missing.Data) {
				t.Errorf("%s of alice's item differs from one of a missing id:\n%s\n%s", w.name, foreign.Body, missing.Body)
			}
			if n := e.Fake.TotalRequests(); n != 0 {
				t.Errorf("%s of another's item made %d upstream requests, want 0", w.name, n)
			}
		}

		// Alice's items are untouched.
		var after struct {
			Item *struct {
				Title      string
				Version    int
				EnrichedAt *string
			}
		}
		e.asOK(t, alice, `query($id: ID!) { item(id: $id) { title version enrichedAt } }`, vars{"id": aliceIDs[0]}, &after)
		if after.Item == nil || after.Item.Title != "alice one" || after.Item.Version != 1 || after.Item.EnrichedAt != nil {
			t.Errorf("alice's item after bob's attempts: %+v", after.Item)
		}
	})
}

func sameKeys(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if k == "requestId" {
			continue
		}
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestReadOnlyTokenCannotMutate: without items:write a caller may read, and
// every mutation is FORBIDDEN with HTTP 200 whether or not the item exists,
// nothing written and no upstream call.
func TestReadOnlyTokenCannotMutate(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newAuEnv(t, d)
		writerTok := auToken(t, "carol", auth.WriteScope)
		readerTok := auToken(t, "carol", "items:read")
		noScope := auToken(t, "carol", "")
		id := e.create(t, writerTok, "carol's")

		for _, tok := range []string{readerTok, noScope} {
			var got struct{ Item *struct{ Title string } }
			e.asOK(t, tok, `query($id: ID!) { item(id: $id) { title } }`, vars{"id": id}, &got)
			if got.Item == nil || got.Item.Title != "carol's" {
				t.Errorf("a read-only token cannot read its subject's item: %+v", got.Item)
			}
			e.Fake.ResetCounts()
			for _, target := range []string{id, "999999"} {
				for _, q := range []string{
					`mutation { createItem(input: {title: "nope"}) { id } }`,
					`mutation($id: ID!) { updateItem(id: $id, input: {title: "nope"}) { id } }`,
					`mutation($id: ID!) { deleteItem(id: $id) }`,
					`mutation($id: ID!) { enrichItem(id: $id) { id } }`,
				} {
					r := e.as(t, tok, q, vars{"id": target})
					r.wantError(t, "FORBIDDEN", "")
					if r.Status != http.StatusOK {
						t.Errorf("%s on %s: HTTP %d, want 200", firstLine(q), target, r.Status)
					}
				}
			}
			if n := e.Fake.TotalRequests(); n != 0 {
				t.Errorf("a refused enrich made %d upstream requests", n)
			}
		}
		var list auList
		e.asOK(t, writerTok, `{ items { nodes { id title } totalCount } }`, nil, &list)
		if list.Items.TotalCount != 1 || list.Items.Nodes[0].Title != "carol's" {
			t.Errorf("after refused mutations: %+v", list.Items)
		}
	})
}

// TestItemsWithoutOwnerAreInvisible: items created while authentication was
// off (owner "") are seen by no token's subject.
func TestItemsWithoutOwnerAreInvisible(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newAuEnv(t, d)
		n, err := items.ValidateNew("shared", nil)
		if err != nil {
			t.Fatal(err)
		}
		it, err := e.Store.CreateItem(context.Background(), auth.Anonymous.Subject, n)
		if err != nil {
			t.Fatal(err)
		}
		id := items.FormatID(it.ID)
		tok := auToken(t, "dave", auth.WriteScope)
		var got struct {
			Item  *struct{ ID string }
			Items struct{ TotalCount int }
		}
		e.asOK(t, tok, `query($id: ID!) { item(id: $id) { id } items { totalCount } }`, vars{"id": id}, &got)
		if got.Item != nil || got.Items.TotalCount != 0 {
			t.Errorf("dave sees the ownerless item: %+v", got)
		}
		e.as(t, tok, `mutation($id: ID!) { deleteItem(id: $id) }`, vars{"id": id}).wantError(t, "NOT_FOUND", "")
		if _, err := e.Store.GetItem(context.Background(), "", it.ID); err != nil {
			t.Errorf("the ownerless item is gone after dave's delete: %v", err)
		}
	})
}

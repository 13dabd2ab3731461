package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestComplexityLimitRefusesBeforeAnyWork(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})

	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 2000 {
		if i%2 == 0 {
			fmt.Fprintf(&aliases, " a%d: items(first: 1) { totalCount }", i)
		} else {
			fmt.Fprintf(&aliases, " a%d: externalPosts(limit: 1) { id }", i)
		}
	}
	aliases.WriteString(" }")

	tests := []struct {
		name  string
		query string
	}{
		{"2000 aliases", aliases.String()},
		{"wide lists", `{ items(first: 100) { nodes { id externalPost { id author { name } } } edges { node { id } } }
			externalPosts(limit: 100) { id title author { id name email } } }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queries, upstream := h.Queries.n.Load(), h.Fake.TotalRequests()
			for _, accept := range []string{"application/json", "application/graphql-response+json"} {
				b := fmt.Sprintf(`{"query":%q}`, tt.query)
				res := h.do(t, http.MethodPost, "application/json", accept, b)
				if got := res.errorCode(t); got != "COMPLEXITY_LIMIT_EXCEEDED" {
					t.Errorf("%s: code %q, want COMPLEXITY_LIMIT_EXCEEDED: %s", accept, got, res.Raw)
				}
				if _, ok := res.Body["data"]; ok {
					t.Errorf("%s: a refused operation has a data entry: %s", accept, res.Raw)
				}
				want := map[string]int{"application/json": 200, "application/graphql-response+json": 400}[accept]
				if res.Status != want {
					t.Errorf("%s: status %d, want %d", accept, res.Status, want)
				}
			}
			if n := h.Queries.n.Load() - queries; n != 0 {
				t.Errorf("%d SQL statements ran for a refused operation", n)
			}
			if n := h.Fake.TotalRequests() - upstream; n != 0 {
				t.Errorf("%d upstream calls for a refused operation", n)
			}
		})
	}

	t.Run("under the limit runs", func(t *testing.T) {
		queries := h.Queries.n.Load()
		res := h.post(t, map[string]any{"query": `{ items(first: 5) { nodes { id title } totalCount } }`})
		if res.Status != 200 || res.Body["errors"] != nil {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
		if h.Queries.n.Load() == queries {
			t.Error("the query counter saw no statement: the checks above prove nothing")
		}
	})
}

func TestComplexityCountsListsTimesChildren(t *testing.T) {
	r := &Resolver{}
	c := r.Config()
	first, limit := 50, 30
	if got := c.Complexity.Query.Items(3, &first, nil, nil, nil); got != 1+3*50 {
		t.Errorf("items(first: 50) with children 3 = %d, want %d", got, 1+3*50)
	}
	if got := c.Complexity.Query.Items(3, nil, nil, nil, nil); got != 1+3*20 {
		t.Errorf("items() with children 3 = %d, want the default page of 20: %d", got, 1+3*20)
	}
	if got := c.Complexity.Query.ExternalPosts(4, &limit, nil, nil); got != 1+4*30 {
		t.Errorf("externalPosts(limit: 30) with children 4 = %d, want %d", got, 1+4*30)
	}
	if got := c.Complexity.Query.ExternalPosts(4, nil, nil, nil); got != 1+4*10 {
		t.Errorf("externalPosts() with children 4 = %d, want the default 10: %d", got, 1+4*10)
	}
}

func TestPersistedQueries(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true, APQCacheSize: 2})
	persisted := func(q string) map[string]any {
		sum := sha256.Sum256([]byte(q))
		return map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}
	}
	const q = `{ items(first: 1) { totalCount } }`

	res := h.post(t, map[string]any{"extensions": map[string]any{"persistedQuery": persisted(q)}})
	if code := res.errorCode(t); code != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash: code %q: %s", code, res.Raw)
	}

	res = h.post(t, map[string]any{"query": q, "extensions": map[string]any{"persistedQuery": persisted(q)}})
	if res.Status != 200 || res.Body["errors"] != nil || res.Body["data"] == nil {
		t.Fatalf("hash and query: %d %s", res.Status, res.Raw)
	}

	res = h.post(t, map[string]any{"extensions": map[string]any{"persistedQuery": persisted(q)}})
	if res.Status != 200 || res.Body["errors"] != nil || res.Body["data"] == nil {
		t.Fatalf("hash alone after registering: %d %s", res.Status, res.Raw)
	}

	// The hash alone also works over GET, as Apollo's clients send it.
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + persisted(q)["sha256Hash"].(string) + `"}}`
	get := h.do(t, http.MethodGet, "", "application/json", "extensions="+ext)
	if get.Status != 200 || get.Body["errors"] != nil {
		t.Fatalf("hash alone over GET: %d %s", get.Status, get.Raw)
	}

	res = h.post(t, map[string]any{"query": `{ items(first: 2) { totalCount } }`, "extensions": map[string]any{"persistedQuery": persisted(q)}})
	if code := res.errorCode(t); code != "BAD_REQUEST" {
		t.Fatalf("hash of another query: code %q: %s", code, res.Raw)
	}
	if _, ok := res.Body["data"]; ok {
		t.Errorf("a refused request has a data entry: %s", res.Raw)
	}

	// The cache is bounded: two more queries push the first one out.
	for _, other := range []string{`{ a: items(first: 1) { totalCount } }`, `{ b: items(first: 1) { totalCount } }`} {
		res = h.post(t, map[string]any{"query": other, "extensions": map[string]any{"persistedQuery": persisted(other)}})
		if res.Body["errors"] != nil {
			t.Fatalf("register %s: %s", other, res.Raw)
		}
	}
	res = h.post(t, map[string]any{"extensions": map[string]any{"persistedQuery": persisted(q)}})
	if code := res.errorCode(t); code != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("evicted hash: code %q: %s", code, res.Raw)
	}
}

func TestIntrospectionCanBeTurnedOff(t *testing.T) {
	tests := []struct {
		name  string
		query string
	}{
		{"__schema", `{ __schema { queryType { name } } }`},
		{"__type", `{ __type(name: "Item") { name } }`},
		{"in a fragment", `query { ...F } fragment F on Query { __schema { types { name } } }`},
		{"nested in an inline fragment", `{ ... on Query { __type(name: "Item") { name } } }`},
	}
	off := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: false})
	on := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := off.post(t, map[string]any{"query": tt.query})
			if code := res.errorCode(t); code != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("off: code %q: %s", code, res.Raw)
			}
			if res := on.post(t, map[string]any{"query": tt.query}); res.Body["errors"] != nil {
				t.Errorf("on: %s", res.Raw)
			}
		})
	}
	if res := off.post(t, map[string]any{"query": `{ __typename }`}); res.Body["errors"] != nil {
		t.Errorf("__typename is not introspection: %s", res.Raw)
	}
}

func TestProtocolAnswers(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	tests := []struct {
		name                        string
		method, contentType, accept string
		body                        string
		wantStatus                  int
		wantCode                    string
		wantData                    bool
		wantAllow                   string
	}{
		{"query over POST", "POST", "application/json", "", `{"query":"{ __typename }"}`, 200, "", true, ""},
		{"query over GET", "GET", "", "", `query={__typename}`, 200, "", true, ""},
		{"mutation over GET", "GET", "", "application/json", `query=mutation{deleteItem(id:"1")}`, 405, "BAD_REQUEST", false, "POST"},
		{"malformed JSON", "POST", "application/json", "", `{"query":`, 400, "BAD_REQUEST", false, ""},
		{"malformed JSON, graphql-response", "POST", "application/json", "application/graphql-response+json", `{"query":`, 400, "BAD_REQUEST", false, ""},
		{"query not a string", "POST", "application/json", "", `{"query":1}`, 400, "BAD_REQUEST", false, ""},
		{"variables not an object", "POST", "application/json", "", `{"query":"{ __typename }","variables":"x"}`, 400, "BAD_REQUEST", false, ""},
		{"no content type", "POST", "", "", `{"query":"{ __typename }"}`, 415, "BAD_REQUEST", false, ""},
		{"parse failure, json", "POST", "application/json", "application/json", `{"query":"{"}`, 200, "GRAPHQL_PARSE_FAILED", false, ""},
		{"parse failure, graphql-response", "POST", "application/json", "application/graphql-response+json", `{"query":"{"}`, 400, "GRAPHQL_PARSE_FAILED", false, ""},
		{"validation failure, json", "POST", "application/json", "application/json", `{"query":"{ nope }"}`, 200, "GRAPHQL_VALIDATION_FAILED", false, ""},
		{"validation failure, graphql-response", "POST", "application/json", "application/graphql-response+json", `{"query":"{ nope }"}`, 400, "GRAPHQL_VALIDATION_FAILED", false, ""},
		{"field error keeps 200 and data", "POST", "application/json", "application/graphql-response+json", `{"query":"{ item(id: \"0\") { id } }"}`, 200, "BAD_USER_INPUT", true, ""},
		{"subscription over plain POST", "POST", "application/json", "application/json", `{"query":"subscription { itemEvents { id } }"}`, 400, "BAD_REQUEST", false, ""},
		{"nothing acceptable", "POST", "application/json", "text/html", `{"query":"{ __typename }"}`, 406, "BAD_REQUEST", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, tt.method, tt.contentType, tt.accept, tt.body)
			if res.Status != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", res.Status, tt.wantStatus, res.Raw)
			}
			if tt.wantCode != "" {
				if code := res.errorCode(t); code != tt.wantCode {
					t.Errorf("code %q, want %q", code, tt.wantCode)
				}
			}
			if _, ok := res.Body["data"]; ok != tt.wantData {
				t.Errorf("data entry present %v, want %v: %s", ok, tt.wantData, res.Raw)
			}
			if got := res.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			wantType := "application/json"
			if tt.accept == "application/graphql-response+json" {
				wantType = tt.accept
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
				t.Errorf("Content-Type %q, want %s", ct, wantType)
			}
		})
	}
}

func TestInternalErrorsReachNoClient(t *testing.T) {
	h := newHarness(t, nil, Options{ComplexityLimit: 1000, Introspection: true})
	if _, err := h.DB.Bun.Exec("DROP TABLE items"); err != nil {
		t.Fatal(err)
	}
	res := h.post(t, map[string]any{"query": `{ items(first: 1) { totalCount } }`})
	if code := res.errorCode(t); code != "INTERNAL_SERVER_ERROR" {
		t.Fatalf("code %q: %s", code, res.Raw)
	}
	for _, leak := range []string{"SELECT", "select", "no such table", "sqlite", "SQL", "FROM"} {
		if strings.Contains(res.Raw, leak) {
			t.Errorf("the client sees %q: %s", leak, res.Raw)
		}
	}
	ext := res.Body["errors"].([]any)[0].(map[string]any)["extensions"].(map[string]any)
	id, _ := ext["requestId"].(string)
	if id == "" || id != res.Header.Get("X-Request-ID") {
		t.Errorf("extensions.requestId %q, X-Request-ID %q", id, res.Header.Get("X-Request-ID"))
	}
	if log := h.Log.String(); !strings.Contains(log, "no such table") || !strings.Contains(log, id) {
		t.Errorf("the log lacks the cause or the request id:\n%s", log)
	}
}

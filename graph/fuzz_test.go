package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/jsonplaceholder"
)

// fuzzRequestTimeout bounds one fuzzed request: a subscription over
// Server-Sent Events would otherwise stream for ever.
const fuzzRequestTimeout = 2 * time.Second

// leakPatterns are what no response may show unless the request itself
// held it: a Go stack trace, a source position, or the text of a driver or
// SQL error.
var leakPatterns = []*regexp.Regexp{
	regexp.MustCompile(`goroutine \d+ \[`),
	regexp.MustCompile(`\.go:\d+`),
	regexp.MustCompile(`runtime\.|runtime/debug`),
	regexp.MustCompile(`(?i)\bpanic:`),
	regexp.MustCompile(`(?i)\b(select|insert into|update|delete from)\b.*\b(from|where|values|set)\b.*\bitems\b`),
	regexp.MustCompile(`(?i)SQLSTATE|sql logic error|no such (table|column)|syntax error at or near|constraint failed|database is locked|sql: `),
	regexp.MustCompile(`(?i)\b(pgx|pgconn|bun|sqlite3?|modernc)\b[:.]`),
}

// fuzzHandler is the real GraphQL handler on a SQLite store, its upstream
// the JSONPlaceholder stand-in; a fuzz target builds it once.
func fuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	upstream, _ := jsonplaceholder.NewServer()
	f.Cleanup(upstream.Close)
	client, err := external.New(external.Config{
		BaseURL:      upstream.URL,
		Timeout:      time.Second,
		MaxRetries:   1,
		RetryWait:    time.Millisecond,
		RetryMaxWait: time.Millisecond,
	})
	if err != nil {
		f.Fatalf("external.New: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(f, dbtest.SQLiteURL(f))
	r := &graph.Resolver{Store: db.NewStore(d), Upstream: client, Log: log}
	return r.LoadersMiddleware(graph.NewHandler(r, graph.Options{
		ComplexityLimit: 1000,
		Introspection:   true,
		AllowedOrigins:  []string{"*"},
		Log:             log,
	}))
}

// FuzzHandler sends the GraphQL handler arbitrary requests: GET or POST,
// any query string, Content-Type, Accept and body. For every one, the
// handler must not panic nor answer 5xx; the body must be JSON (or, for a
// Server-Sent Events stream, every event's data must be); every error must
// carry extensions.code; and no stack trace, source position or SQL or
// driver text may appear that the request did not hold itself.
func FuzzHandler(f *testing.F) {
	h := fuzzHandler(f)

	const (
		ct   = "application/json"
		gqlr = "application/graphql-response+json"
		both = "application/graphql-response+json, application/json;q=0.9"
	)
	post := func(accept, body string) { f.Add(false, "", ct, accept, []byte(body)) }
	get := func(accept, query string) { f.Add(true, query, "", accept, []byte(nil)) }
	op := func(query string, variables string) string {
		b, _ := json.Marshal(query)
		if variables == "" {
			return `{"query":` + string(b) + `}`
		}
		return `{"query":` + string(b) + `,"variables":` + variables + `}`
	}

	// Every operation of the contract, valid.
	for _, o := range []struct{ query, variables string }{
		{`{ item(id: "1") { id title description externalData externalPost { id author { name } } enrichedAt version createdAt updatedAt } }`, ""},
		{`query($f: ItemFilter) { items(first: 5, filter: $f, orderBy: {field: TITLE, direction: ASC}) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } }`, `{"f":{"search":"%_","enriched":false,"createdAfter":"2020-01-01T00:00:00Z"}}`},
		{`query($a: String) { items(after: $a) { totalCount } }`, `{"a":"not-a-cursor"}`},
		{`{ externalPosts(limit: 2, offset: 1, userId: 1) { id userId title body author { id name username email } } }`, ""},
		{`{ externalPost(id: "1") { id title } }`, ""},
		{`{ externalPost(id: "-1") { id } }`, ""},
		{`mutation($in: CreateItemInput!) { createItem(input: $in) { id version } }`, `{"in":{"title":"fuzz","description":"seed"}}`},
		{`mutation($in: CreateItemInput!) { createItem(input: $in) { id } }`, `{"in":{"title":"  "}}`},
		{`mutation($in: CreateItemInput!) { createItem(input: $in) { id } }`, `{"in":{"title":"a\u0000b"}}`},
		{`mutation { updateItem(id: "1", input: {title: "new", description: null, expectedVersion: 1}) { id version } }`, ""},
		{`mutation { updateItem(id: "1", input: {title: null}) { id } }`, ""},
		{`mutation { deleteItem(id: "999999") }`, ""},
		{`mutation { enrichItem(id: "1", postId: "2") { id externalPost { title } } }`, ""},
		{`mutation { enrichItem(id: "0") { id } }`, ""},
		{`subscription { itemEvents { type id item { id } } }`, ""},
		{`{ __schema { types { name } } }`, ""},
		{`query A { __typename } query B { __typename }`, ""},
		{`{ items(first: 100) { nodes { externalPost { author { name } } } } }`, ""},
	} {
		post(both, op(o.query, o.variables))
	}
	post("", `{"query":"query A { __typename } query B { __typename }","operationName":"B"}`)
	post(gqlr, `{"query":"{ nosuchfield }"}`)
	post(ct, `{"query":"{ item(id: \"x\") { id } }"}`)
	post(ct, `{"query":"{ items(first: 101) { totalCount } }"}`)
	post(ct, `{"query":"{ item(id: \"99999999999999999999999\") { id } }"}`)
	post(ct, `{"query":"query($t: Time) { items(filter: {createdAfter: $t}) { totalCount } }","variables":{"t":"yesterday"}}`)
	post(ct, `{"query":"query($n: Int) { items(first: $n) { totalCount } }","variables":{"n":1e400}}`)

	// Malformed JSON and JSON of the wrong types.
	for _, b := range []string{
		``, ` `, `{`, `}`, `{"query":`, `{"query":"{ __typename }"`, `null`, `true`, `"query"`, `42`,
		`{"query":42}`, `{"query":null}`, `{"query":["{ __typename }"]}`, `{"query":{}}`,
		`{"query":"{ __typename }","variables":"{}"}`, `{"query":"{ __typename }","variables":[1]}`,
		`{"query":"{ __typename }","extensions":[]}`, `{"query":"{ __typename }","extensions":"x"}`,
		`{"query":"{ __typename }","operationName":7}`, `{"query":"{ __typename }"} {"query":"{ __typename }"}`,
		`{"query":"{ __typename }",}`, `{"query":"{ __typename }","query":"{ item }"}`,
		`[{"query":"{ __typename }"}]`, `[{"query":"{ __typename }"},{"query":"mutation { deleteItem(id: \"1\") }"}]`, `[]`,
		`{"query":"{"}`, `{"query":"}"}`, `{"query":"query { item(id: \"1\") { ...F } } fragment F on Item { ...F }"}`,
		`{"query":"\u0000"}`, "{\"query\":\"{ __typename }\x00\"}", "{\"query\":\"\xff\xfe\"}",
		`{"query":"{ item(id: \"日本語\") { title } }"}`, `{"query":"# ✓ 🚀\n{ __typename }"}`,
		`{"query":"{ __typename }","variables":{"a":"\ud800"}}`,
		`{"query":"` + strings.Repeat("{ items { nodes { ", 40) + strings.Repeat("} } ", 40) + `"}`,
		`{"query":"{ __typename }","variables":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
		`{"query":"{ ` + strings.Repeat("a: __typename ", 2000) + `}"}`,
		strings.Repeat(`[`, 10000),
	} {
		post(ct, b)
	}

	// Automatic persisted queries: unknown, wrong and malformed hashes.
	for _, b := range []string{
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"}}}`,
		`{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`,
		`{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"}}}`,
		`{"extensions":{"persistedQuery":{"version":2,"sha256Hash":42}}}`,
		`{"extensions":{"persistedQuery":"yes"}}`,
		`{"extensions":{"persistedQuery":null}}`,
		`{"extensions":{"persistedQuery":{}}}`,
	} {
		post(ct, b)
	}

	// Content-Type and Accept headers.
	f.Add(false, "", "", "", []byte(`{"query":"{ __typename }"}`))
	f.Add(false, "", "text/plain", "", []byte(`{"query":"{ __typename }"}`))
	f.Add(false, "", "application/json; charset=latin1", "", []byte(`{"query":"{ __typename }"}`))
	f.Add(false, "", "application/json; charset=", "", []byte(`{"query":"{ __typename }"}`))
	f.Add(false, "", "application/graphql", "", []byte(`{ __typename }`))
	f.Add(false, "", "application/x-www-form-urlencoded", "", []byte(`query=%7B__typename%7D`))
	f.Add(false, "", ";;;", ";;;", []byte(`{"query":"{ __typename }"}`))
	post("text/html", `{"query":"{ __typename }"}`)
	post("application/json;q=0", `{"query":"{ __typename }"}`)
	post("*/*;q=0.1, application/xml", `{"query":"{ __typename }"}`)
	post("application/graphql-response+json;q=abc", `{"query":"{ __typename }"}`)
	post("text/event-stream", `{"query":"{ __typename }"}`)
	post("text/event-stream", `{"query":"{ nosuchfield }"}`)
	post("text/event-stream", `{"query":`)
	post("text/event-stream", `{"query":"subscription { itemEvents { id } }"}`)
	post("text/event-stream", `{"query":"mutation { deleteItem(id: \"1\") }"}`)

	// GET: queries, a mutation, a subscription, bad parameters.
	get("", `query=%7B__typename%7D`)
	get(both, `query=%7B+item(id%3A+%221%22)+%7B+id+%7D+%7D`)
	get(ct, `query=mutation+%7B+deleteItem(id%3A+%221%22)+%7D`)
	get(gqlr, `query=mutation+%7B+createItem(input%3A%7Btitle%3A%22get%22%7D)+%7B+id+%7D+%7D`)
	get(ct, `query=subscription+%7B+itemEvents+%7B+id+%7D+%7D`)
	get(ct, `query=%7B__typename%7D&variables=%7B`)
	get(ct, `query=%7B__typename%7D&variables=%5B%5D`)
	get(ct, `query=%7B__typename%7D&extensions=42`)
	get(ct, `query=%7B__typename%7D&operationName=Nope`)
	get(ct, `query=%zz`)
	get(ct, `query=a;b`)
	get(ct, ``)
	get(ct, `extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%2C%22sha256Hash%22%3A%22bad%22%7D%7D`)
	get(ct, `query=%00`)
	get("text/event-stream", `query=%7B__typename%7D`)

	f.Fuzz(func(t *testing.T, isGet bool, rawQuery, contentType, accept string, body []byte) {
		method := http.MethodPost
		if isGet {
			method = http.MethodGet
		}
		target := "/graphql?" + rawQuery
		req := httptest.NewRequest(method, "/graphql", bytes.NewReader(body))
		// The query string as the client wrote it, not as a URL parser
		// would have cleaned it up.
		req.URL.RawQuery = rawQuery
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		ctx, cancel := context.WithTimeout(t.Context(), fuzzRequestTimeout)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))

		resp := rec.Result()
		out := rec.Body.Bytes()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: status %d\n%s", method, target, resp.StatusCode, out)
		}
		heard := requestText(rawQuery, contentType, accept, body)
		for _, p := range leakPatterns {
			if loc := p.FindIndex(out); loc != nil && !p.MatchString(heard) {
				t.Fatalf("%s %s: response shows %q:\n%s", method, target, out[loc[0]:loc[1]], out)
			}
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			checkEvents(t, out)
			return
		}
		checkResult(t, resp.StatusCode, out)
	})
}

// requestText is everything a request said, raw and decoded, so that a
// response echoing it is not taken for a leak.
func requestText(rawQuery, contentType, accept string, body []byte) string {
	var b strings.Builder
	for _, s := range []string{rawQuery, contentType, accept, string(body)} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	if q, err := url.QueryUnescape(rawQuery); err == nil {
		b.WriteString(q)
		b.WriteByte('\n')
	}
	if v, err := url.ParseQuery(rawQuery); err == nil {
		for _, vs := range v {
			for _, s := range vs {
				b.WriteString(s)
				b.WriteByte('\n')
				collectStrings(&b, []byte(s))
			}
		}
	}
	collectStrings(&b, body)
	return b.String()
}

// collectStrings writes every string and key of the JSON in raw to b.
func collectStrings(b *strings.Builder, raw []byte) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				b.WriteString(k)
				b.WriteByte('\n')
				walk(e)
			}
		}
	}
	walk(v)
}

// checkResult checks one JSON GraphQL response: an object whose errors,
// if any, each have a message and extensions.code.
func checkResult(t *testing.T, status int, out []byte) {
	t.Helper()
	var res struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%q", status, err, out)
	}
	if status != http.StatusOK && len(res.Errors) == 0 {
		t.Fatalf("status %d without errors:\n%s", status, out)
	}
	for i, raw := range res.Errors {
		var ge gqlError
		if err := json.Unmarshal(raw, &ge); err != nil {
			t.Fatalf("errors[%d] is not an error object: %v\n%s", i, err, out)
		}
		if ge.Message == "" || ge.code() == "" {
			t.Fatalf("errors[%d] lacks a message or extensions.code:\n%s", i, out)
		}
		// A refused request is the client's fault, never an internal error.
		if status >= 400 && ge.code() == "INTERNAL_SERVER_ERROR" {
			t.Fatalf("status %d with INTERNAL_SERVER_ERROR:\n%s", status, out)
		}
	}
}

// checkEvents checks a Server-Sent Events stream: every data line is a
// GraphQL response as checkResult wants it.
func checkEvents(t *testing.T, out []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, len(out)+1)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "" {
			checkResult(t, http.StatusOK, []byte(data))
		}
	}
}

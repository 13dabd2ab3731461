package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"itemsrv/db/dbtest"
	"itemsrv/jsonplaceholder"
)

const auSecret = "whole-program-auth-secret"

// auEnv is a server environment on port 0 with the upstream stand-in and
// the database; more (name, value pairs) overrides it.
func auEnv(t *testing.T, database string, more ...string) map[string]string {
	t.Helper()
	upstream, _ := jsonplaceholder.NewServer()
	t.Cleanup(upstream.Close)
	env := map[string]string{
		"PORT":             "0",
		"DATABASE_URL":     database,
		"EXTERNAL_API_URL": upstream.URL,
		"LOG_LEVEL":        "warn",
		"SHUTDOWN_TIMEOUT": "5s",
	}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return env
}

// auStart runs the program with env and returns its base URL and a stop
// function, also called at the end of t, that fails t unless run returns nil.
func auStart(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	srv := startServer(t, env)
	return srv.URL, func() {
		if err := srv.stop(); err != nil {
			t.Errorf("run: %v\n%s", err, srv.Log)
		}
	}
}

// auMint signs claims for sub, valid for an hour, with the HS256 secret;
// edit changes the claims before signing.
func auMint(t *testing.T, sub, scope string, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if scope != "" {
		c["scope"] = scope
	}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(auSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type auResult struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Body string
}

func (r auResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// auDo sends a request to path with the Authorization header auth (none
// when empty) and decodes a JSON answer.
func auDo(t *testing.T, method, url, authorization string, body any) auResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := auResult{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, url, resp.StatusCode, raw)
		}
	}
	return r
}

// auGQL posts a GraphQL operation as token ("" for none).
func auGQL(t *testing.T, base, token, query string, vars map[string]any) auResult {
	t.Helper()
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	return auDo(t, http.MethodPost, base+"/graphql", authorization, map[string]any{"query": query, "variables": vars})
}

// auOK posts an operation that must succeed and decodes its data into out.
func auOK(t *testing.T, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	r := auGQL(t, base, token, query, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("%s: HTTP %d: %s", query, r.Status, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
}

func auCreate(t *testing.T, base, token, title string) string {
	t.Helper()
	var out struct{ CreateItem struct{ ID string } }
	auOK(t, base, token, `mutation($t: String!) { createItem(input: {title: $t}) { id } }`, map[string]any{"t": title}, &out)
	return out.CreateItem.ID
}

// auEngines are the engines the whole-program tests run on.
var auEngines = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", dbtest.SQLiteURL},
	{"postgres", dbtest.PostgresURL},
}

// TestAuthRefusesBadTokens: with AUTH_JWT_SECRET, issuer and audience set,
// every way of presenting no valid token gets HTTP 401 and UNAUTHENTICATED,
// while the page, health, readiness and metrics need no token.
func TestAuthRefusesBadTokens(t *testing.T) {
	t.Parallel()
	const iss, aud = "https://issuer.test", "items-api"
	base, _ := auStart(t, auEnv(t, dbtest.SQLiteURL(t), "AUTH_JWT_SECRET", auSecret, "AUTH_ISSUER", iss, "AUTH_AUDIENCE", aud))
	good := func(c jwt.MapClaims) { c["iss"], c["aud"] = iss, aud }
	with := func(edit func(jwt.MapClaims)) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) { good(c); edit(c) }
	}
	valid := auMint(t, "alice", "items:write", good)

	otherKey, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iss": iss, "aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("not-the-secret"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "alice", "iss": iss, "aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		authorization string
	}{
		{"no token", ""},
		{"garbage", "Bearer garbage"},
		{"not bearer", "Basic YWxpY2U6c2VjcmV0"},
		{"wrong signature", "Bearer " + otherKey},
		{"expired", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		}))},
		{"not yet valid", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(5 * time.Minute).Unix()
		}))},
		{"wrong issuer", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))},
		{"no issuer", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong audience", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} }))},
		{"no exp", "Bearer " + auMint(t, "alice", "items:write", with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"no sub", "Bearer " + auMint(t, "", "items:write", good)},
		{"alg none", "Bearer " + none},
	}
	const q = `{ items { totalCount } }`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				var r auResult
				if method == http.MethodPost {
					r = auDo(t, method, base+"/graphql", tt.authorization, map[string]any{"query": q})
				} else {
					r = auDo(t, method, base+"/graphql?query="+strings.ReplaceAll(q, " ", "%20"), tt.authorization, nil)
				}
				if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || len(r.Data) != 0 {
					t.Errorf("%s: HTTP %d %s, want 401 UNAUTHENTICATED without data", method, r.Status, r.Body)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate = %q", method, r.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}

	t.Run("token in the query string is ignored", func(t *testing.T) {
		for _, param := range []string{"access_token", "token", "authorization"} {
			r := auDo(t, http.MethodPost, base+"/graphql?"+param+"="+valid, "", map[string]any{"query": q})
			if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" {
				t.Errorf("?%s=<valid>: HTTP %d %s, want 401", param, r.Status, r.Body)
			}
		}
	})
	t.Run("valid token", func(t *testing.T) {
		var out struct{ Items struct{ TotalCount int } }
		auOK(t, base, valid, q, nil, &out)
		// The audience may be one of several.
		auOK(t, base, auMint(t, "alice", "", with(func(c jwt.MapClaims) { c["aud"] = []string{"other", aud} })), q, nil, &out)
	})
	t.Run("public endpoints", func(t *testing.T) {
		for _, path := range []string{"/", "/healthz", "/readyz", "/metrics"} {
			if r := auDo(t, http.MethodGet, base+path, "", nil); r.Status != http.StatusOK {
				t.Errorf("GET %s without a token: HTTP %d", path, r.Status)
			}
		}
	})
}

// auSub is a graphql-transport-ws subscription to itemEvents.
type auSub struct {
	conn   *websocket.Conn
	events chan auEvent
	ended  chan error
}

type auEvent struct {
	Type string
	ID   string
	Item *struct{ ID, Title string }
}

// auDial opens a socket and sends connection_init with payload; it returns
// the connection after reading connection_ack, or the error that ended it.
func auDial(t *testing.T, base string, payload map[string]any) (*websocket.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	b, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if strings.Contains(string(msg), `"connection_ack"`) {
			return conn, nil
		}
	}
}

// auSubscribe subscribes to itemEvents as token.
func auSubscribe(t *testing.T, base, token string) *auSub {
	t.Helper()
	conn, err := auDial(t, base, map[string]any{"Authorization": "Bearer " + token})
	if err != nil {
		t.Fatalf("connection_init: %v", err)
	}
	b, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { itemEvents { type id item { id title } } }`,
	}})
	if err := conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	s := &auSub{conn: conn, events: make(chan auEvent, 64), ended: make(chan error, 1)}
	go func() {
		for {
			_, msg, err := conn.Read(context.Background())
			if err != nil {
				s.ended <- err
				return
			}
			var m struct {
				Type    string
				Payload struct {
					Data struct{ ItemEvents auEvent }
				}
			}
			if err := json.Unmarshal(msg, &m); err != nil || m.Type != "next" {
				s.ended <- fmt.Errorf("message %s", msg)
				return
			}
			s.events <- m.Payload.Data.ItemEvents
		}
	}()
	return s
}

// next returns the next event, failing t after within.
func (s *auSub) next(t *testing.T, within time.Duration) auEvent {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case err := <-s.ended:
		t.Fatalf("the subscription ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return auEvent{}
}

// sync creates probe items as token until the subscription delivers one,
// then reads up to the last probe, so that the subscription is live and
// drained.
func (s *auSub) sync(t *testing.T, base, token string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = auCreate(t, base, token, "probe")
		select {
		case e := <-s.events:
			for e.ID != last {
				e = s.next(t, 5*time.Second)
			}
			return
		case err := <-s.ended:
			t.Fatalf("the subscription ended: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("the subscription delivered no probe in 10s")
}

// TestAuthIsolatesOwnersEndToEnd runs the whole program with a secret on
// each engine: two subjects never see each other's items or events, a
// read-only token may read but not write, and items created before
// authentication was turned on stay hidden.
func TestAuthIsolatesOwnersEndToEnd(t *testing.T) {
	t.Parallel()
	for _, e := range auEngines {
		t.Run(e.name, func(t *testing.T) {
			dbURL := e.url(t)

			// Before: authentication off, one shared space.
			open := auEnv(t, dbURL)
			base, stop := auStart(t, open)
			legacy := auCreate(t, base, "", "made while auth was off")
			stop()

			base, _ = auStart(t, auEnv(t, dbURL, "AUTH_JWT_SECRET", auSecret))
			alice := auMint(t, "alice", "items:write", nil)
			bob := auMint(t, "bob", "items:read items:write", nil)
			aliceRO := auMint(t, "alice", "items:read", nil)

			subA := auSubscribe(t, base, alice)
			subB := auSubscribe(t, base, bob)
			subA.sync(t, base, alice)
			subB.sync(t, base, bob)

			// Bob's events come first, then alice's: alice's subscriber
			// must skip straight to hers.
			bobID := auCreate(t, base, bob, "bob's")
			auOK(t, base, bob, `mutation($id: ID!) { updateItem(id: $id, input: {title: "bob's, edited"}) { id } }`, map[string]any{"id": bobID}, nil)
			aliceID := auCreate(t, base, alice, "alice's")
			if ev := subA.next(t, 5*time.Second); ev.Type != "CREATED" || ev.ID != aliceID || ev.Item == nil || ev.Item.Title != "alice's" {
				t.Errorf("alice's subscriber got %+v, want CREATED of %s", ev, aliceID)
			}
			for _, want := range []string{"CREATED", "UPDATED"} {
				if ev := subB.next(t, 5*time.Second); ev.Type != want || ev.ID != bobID {
					t.Errorf("bob's subscriber got %+v, want %s of %s", ev, want, bobID)
				}
			}

			// Reads across owners.
			var got struct {
				Item  *struct{ ID string }
				Items struct {
					Nodes      []struct{ ID string }
					TotalCount int
				}
			}
			auOK(t, base, alice, `query($id: ID!) { item(id: $id) { id } items(first: 100) { nodes { id } totalCount } }`, map[string]any{"id": bobID}, &got)
			if got.Item != nil {
				t.Errorf("alice sees bob's item %s", bobID)
			}
			for _, n := range got.Items.Nodes {
				if n.ID == bobID || n.ID == legacy {
					t.Errorf("alice lists item %s that is not hers", n.ID)
				}
			}
			if got.Items.TotalCount != len(got.Items.Nodes) {
				t.Errorf("alice's totalCount %d, %d nodes", got.Items.TotalCount, len(got.Items.Nodes))
			}

			// Writes across owners: NOT_FOUND like a missing id, and no
			// event reaches anyone.
			for _, q := range []string{
				`mutation($id: ID!) { updateItem(id: $id, input: {title: "x"}) { id } }`,
				`mutation($id: ID!) { enrichItem(id: $id) { id } }`,
				`mutation($id: ID!) { deleteItem(id: $id) }`,
			} {
				for _, id := range []string{bobID, legacy, "999999"} {
					if r := auGQL(t, base, alice, q, map[string]any{"id": id}); r.Status != http.StatusOK || r.code() != "NOT_FOUND" {
						t.Errorf("alice %s on %s: HTTP %d %s, want NOT_FOUND", q, id, r.Status, r.Body)
					}
				}
			}

			// Read-only: reads work, every mutation is FORBIDDEN with 200.
			auOK(t, base, aliceRO, `query($id: ID!) { item(id: $id) { id } }`, map[string]any{"id": aliceID}, nil)
			for _, q := range []string{
				`mutation { createItem(input: {title: "x"}) { id } }`,
				`mutation($id: ID!) { updateItem(id: $id, input: {title: "x"}) { id } }`,
				`mutation($id: ID!) { enrichItem(id: $id) { id } }`,
				`mutation($id: ID!) { deleteItem(id: $id) }`,
			} {
				for _, id := range []string{aliceID, "999999"} {
					if r := auGQL(t, base, aliceRO, q, map[string]any{"id": id}); r.Status != http.StatusOK || r.code() != "FORBIDDEN" {
						t.Errorf("read-only %s on %s: HTTP %d %s, want 200 FORBIDDEN", q, id, r.Status, r.Body)
					}
				}
			}

			// Nothing of the above reached a subscriber: the next events
			// are the ones made now.
			auOK(t, base, alice, `mutation($id: ID!) { deleteItem(id: $id) }`, map[string]any{"id": aliceID}, nil)
			if ev := subA.next(t, 5*time.Second); ev.Type != "DELETED" || ev.ID != aliceID {
				t.Errorf("alice's subscriber got %+v, want DELETED of %s", ev, aliceID)
			}
			auOK(t, base, bob, `mutation($id: ID!) { deleteItem(id: $id) }`, map[string]any{"id": bobID}, nil)
			if ev := subB.next(t, 5*time.Second); ev.Type != "DELETED" || ev.ID != bobID {
				t.Errorf("bob's subscriber got %+v, want DELETED of %s", ev, bobID)
			}

			// The legacy item is there, for no one.
			for _, tok := range []string{alice, bob} {
				var g struct{ Item *struct{ ID string } }
				auOK(t, base, tok, `query($id: ID!) { item(id: $id) { id } }`, map[string]any{"id": legacy}, &g)
				if g.Item != nil {
					t.Errorf("a token sees the item made while auth was off")
				}
			}
		})
	}
}

// TestAuthWebsocketInit: a socket whose connection_init holds no valid
// token is closed with 4401.
func TestAuthWebsocketInit(t *testing.T) {
	t.Parallel()
	base, _ := auStart(t, auEnv(t, dbtest.SQLiteURL(t), "AUTH_JWT_SECRET", auSecret))
	expired := auMint(t, "alice", "items:write", func(c jwt.MapClaims) {
		c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	})
	for _, tt := range []struct {
		name    string
		payload map[string]any
	}{
		{"no payload", map[string]any{}},
		{"garbage", map[string]any{"Authorization": "Bearer garbage"}},
		{"expired", map[string]any{"Authorization": "Bearer " + expired}},
		{"not a string", map[string]any{"Authorization": 42}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auDial(t, base, tt.payload)
			if got := websocket.CloseStatus(err); got != 4401 {
				t.Errorf("connection_init %v: ended with %v (status %d), want close 4401", tt.payload, err, got)
			}
		})
	}
	if _, err := auDial(t, base, map[string]any{"Authorization": "Bearer " + auMint(t, "alice", "", nil)}); err != nil {
		t.Errorf("a valid token's connection_init: %v", err)
	}
}

// auJWKS serves a JSON Web Key Set that the test may change.
type auJWKS struct {
	mu   sync.Mutex
	keys []map[string]string
	hits int
}

func (j *auJWKS) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.hits++
	w.Header().Set("Content-Type", "application/jwk-set+json")
	json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
}

func (j *auJWKS) publish(keys ...map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

func auRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func auJWK(kid string, k *rsa.PrivateKey) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes()),
	}
}

func auRS256(t *testing.T, kid string, k *rsa.PrivateKey, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": sub, "scope": "items:write", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthJWKS: with AUTH_JWKS_URL, RS256 tokens of the set's keys work end
// to end, and a key published later under a new kid is picked up.
func TestAuthJWKS(t *testing.T) {
	t.Parallel()
	key1, key2 := auRSAKey(t), auRSAKey(t)
	jwks := &auJWKS{}
	jwks.publish(auJWK("k1", key1))
	idp := httptest.NewServer(jwks)
	defer idp.Close()
	base, _ := auStart(t, auEnv(t, dbtest.SQLiteURL(t), "AUTH_JWKS_URL", idp.URL+"/jwks.json"))

	tok1 := auRS256(t, "k1", key1, "erin")
	id := auCreate(t, base, tok1, "erin's")
	var got struct{ Item *struct{ Title string } }
	auOK(t, base, tok1, `query($id: ID!) { item(id: $id) { title } }`, map[string]any{"id": id}, &got)
	if got.Item == nil || got.Item.Title != "erin's" {
		t.Fatalf("erin reads %+v", got.Item)
	}
	// An HS256 token, even one signed with the RSA modulus as the secret,
	// is refused on a JWKS server.
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "erin", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(key1.N.Bytes())
	if r := auGQL(t, base, hs, `{ items { totalCount } }`, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("HS256 token on a JWKS server: HTTP %d %s", r.Status, r.Body)
	}
	// A token of a key not in the set is refused.
	if r := auGQL(t, base, auRS256(t, "k1", key2, "erin"), `{ items { totalCount } }`, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("token signed by another key under kid k1: HTTP %d %s", r.Status, r.Body)
	}

	// Rotation: the issuer publishes k2 and signs with it. The server
	// refetches on the unknown kid; fetches are rate-limited (10 s by
	// default), so the new token is retried until then.
	jwks.publish(auJWK("k1", key1), auJWK("k2", key2))
	tok2 := auRS256(t, "k2", key2, "erin")
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := auGQL(t, base, tok2, `query($id: ID!) { item(id: $id) { title } }`, map[string]any{"id": id})
		if r.Status == http.StatusOK {
			if !strings.Contains(string(r.Data), "erin's") {
				t.Errorf("erin, with the rotated key, reads %s", r.Data)
			}
			break
		}
		if r.Status != http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("the rotated key is not accepted: HTTP %d %s", r.Status, r.Body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The old key keeps working while it is published.
	auOK(t, base, tok1, `{ items { totalCount } }`, nil, nil)
	jwks.mu.Lock()
	hits := jwks.hits
	jwks.mu.Unlock()
	if hits < 2 || hits > 4 {
		t.Errorf("the key set was fetched %d times, want a few (first token, then the new kid)", hits)
	}
}

// TestAuthBothSecretAndJWKS: setting both is a bad setting, refused at
// start.
func TestAuthBothSecretAndJWKS(t *testing.T) {
	t.Parallel()
	env := auEnv(t, dbtest.SQLiteURL(t), "AUTH_JWT_SECRET", auSecret, "AUTH_JWKS_URL", "http://127.0.0.1:1/jwks.json")
	var log syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, func(k string) string { return env[k] }, &log, func(string) { t.Error("the server started") })
	var se settingsError
	if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), "AUTH_JWT_SECRET") || !strings.Contains(err.Error(), "AUTH_JWKS_URL") {
		t.Fatalf("run = %v, want a settings error naming both variables", err)
	}
}

// A socket whose token expires is closed with 4401, not a normal closure,
// so that the client authenticates again.
func TestAuthWebsocketClosedWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	base, _ := auStart(t, auEnv(t, dbtest.SQLiteURL(t), "AUTH_JWT_SECRET", auSecret))
	// Expired 29 s ago: accepted for about one more second, by the leeway.
	tok := auMint(t, "alice", "items:write", func(c jwt.MapClaims) {
		c["exp"] = time.Now().Add(-29 * time.Second).Unix()
	})
	conn, err := auDial(t, base, map[string]any{"Authorization": "Bearer " + tok})
	if err != nil {
		t.Fatalf("connection_init with a token still within the leeway: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := conn.Read(ctx)
		if err == nil {
			continue // pings
		}
		if got := websocket.CloseStatus(err); got != 4401 {
			t.Fatalf("the socket ended with %v (status %d), want close 4401", err, got)
		}
		return
	}
}

package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"itemsrv/db"
	"itemsrv/db/dbtest"
	"itemsrv/external"
	"itemsrv/jsonplaceholder"
)

// post is a Post as the API sends it.
type post struct {
	ID     string `json:"id"`
	UserID int    `json:"userId"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Author *user  `json:"author"`
}

type user struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

const postFields = `id userId title body`

// wantPost is the stand-in's post as the API should show it.
func wantPost(p jsonplaceholder.Post) post {
	return post{ID: strconv.Itoa(p.ID), UserID: p.UserID, Title: p.Title, Body: p.Body}
}

func wantUser(u jsonplaceholder.User) *user {
	return &user{ID: strconv.Itoa(u.ID), Name: u.Name, Username: u.Username, Email: u.Email}
}

// upstreamJSON is the stand-in's post n decoded as a generic JSON value.
func upstreamJSON(t *testing.T, n int) map[string]any {
	t.Helper()
	b, err := json.Marshal(jsonplaceholder.Posts()[n-1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeJSON(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("externalData %s: %v", raw, err)
	}
	return m
}

func TestExternalPosts(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		all := jsonplaceholder.Posts()
		byUser := func(uid int) []jsonplaceholder.Post {
			var out []jsonplaceholder.Post
			for _, p := range all {
				if p.UserID == uid {
					out = append(out, p)
				}
			}
			return out
		}
		tests := []struct {
			name      string
			query     string
			want      []jsonplaceholder.Post
			wantQuery url.Values
		}{
			{"defaults", `{ externalPosts { ` + postFields + ` } }`, all[:10],
				url.Values{"_start": {"0"}, "_limit": {"10"}}},
			{"limit and offset", `{ externalPosts(limit: 5, offset: 10) { ` + postFields + ` } }`, all[10:15],
				url.Values{"_start": {"10"}, "_limit": {"5"}}},
			{"limit 100", `{ externalPosts(limit: 100) { ` + postFields + ` } }`, all[:100],
				url.Values{"_start": {"0"}, "_limit": {"100"}}},
			{"userId", `{ externalPosts(userId: 3) { ` + postFields + ` } }`, byUser(3),
				url.Values{"_start": {"0"}, "_limit": {"10"}, "userId": {"3"}}},
			{"userId with limit and offset", `{ externalPosts(userId: 2, limit: 3, offset: 4) { ` + postFields + ` } }`, byUser(2)[4:7],
				url.Values{"_start": {"4"}, "_limit": {"3"}, "userId": {"2"}}},
			{"offset past the end", `{ externalPosts(offset: 500) { ` + postFields + ` } }`, nil,
				url.Values{"_start": {"500"}, "_limit": {"10"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.Fake.ResetCounts()
				var out struct{ ExternalPosts []post }
				e.ok(t, tt.query, nil, &out)
				want := []post{}
				for _, p := range tt.want {
					want = append(want, wantPost(p))
				}
				if !reflect.DeepEqual(out.ExternalPosts, want) {
					t.Errorf("posts %+v,\nwant %+v", out.ExternalPosts, want)
				}
				log := e.Fake.RequestLog()
				if len(log) != 1 {
					t.Fatalf("upstream requests %q, want one", log)
				}
				u, err := url.Parse(log[0])
				if err != nil {
					t.Fatal(err)
				}
				if u.Path != "/posts" || !maps.EqualFunc(u.Query(), tt.wantQuery, func(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
					t.Errorf("upstream request %s, want /posts?%s", log[0], tt.wantQuery.Encode())
				}
			})
		}
	})
}

func TestExternalPost(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		t.Run("found, with its author", func(t *testing.T) {
			var out struct{ ExternalPost *post }
			e.ok(t, `{ externalPost(id: "12") { `+postFields+` author { id name username email } } }`, nil, &out)
			want := wantPost(jsonplaceholder.Posts()[11])
			want.Author = wantUser(jsonplaceholder.Users()[want.UserID-1])
			if out.ExternalPost == nil || !reflect.DeepEqual(*out.ExternalPost, want) {
				t.Errorf("externalPost = %+v, want %+v", out.ExternalPost, want)
			}
		})
		t.Run("upstream 404 is null", func(t *testing.T) {
			e.Fake.ResetCounts()
			r := e.post(t, `{ externalPost(id: "1000") { id } }`, nil)
			if len(r.Errors) != 0 || string(r.Data) != `{"externalPost":null}` {
				t.Errorf("got %s, want externalPost null and no errors", r.Body)
			}
			if n := e.Fake.Requests("/posts/1000"); n != 1 {
				t.Errorf("/posts/1000 asked %d times, want 1 (a 404 is not retried)", n)
			}
		})
	})
}

func TestPostAuthorIsBatched(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		var out struct{ ExternalPosts []post }
		e.ok(t, `{ externalPosts(limit: 60) { `+postFields+` author { id name username email } } }`, nil, &out)
		if len(out.ExternalPosts) != 60 {
			t.Fatalf("%d posts, want 60", len(out.ExternalPosts))
		}
		users := jsonplaceholder.Users()
		for _, p := range out.ExternalPosts {
			if want := wantUser(users[p.UserID-1]); !reflect.DeepEqual(p.Author, want) {
				t.Errorf("post %s: author %+v, want %+v", p.ID, p.Author, want)
			}
		}
		if n := e.Fake.Requests("/users"); n != 1 {
			t.Errorf("%d /users calls for 60 posts, want exactly 1: %q", n, e.Fake.RequestLog())
		}
		if n := e.Fake.TotalRequests(); n != 2 {
			t.Errorf("%d upstream requests, want 2 (posts and users): %q", n, e.Fake.RequestLog())
		}
	})
}

// enrichFields is an item with its typed view of the post.
const enrichFields = itemFields + ` externalPost { ` + postFields + ` author { id name } }`

// enriched is an enrichItem answer.
type enriched struct {
	item
	ExternalPost *post `json:"externalPost"`
}

func TestEnrichItem(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		enrich := func(t *testing.T, id string, postID any) enriched {
			t.Helper()
			var out struct{ EnrichItem enriched }
			e.ok(t, `mutation($id: ID!, $postId: ID) { enrichItem(id: $id, postId: $postId) { `+enrichFields+` } }`,
				vars{"id": id, "postId": postID}, &out)
			return out.EnrichItem
		}

		t.Run("stores the upstream post", func(t *testing.T) {
			it := e.createItem(t, "to enrich", ptr("kept"))
			e.Fake.ResetCounts()
			got := enrich(t, it.ID, "7")
			if m := decodeJSON(t, got.ExternalData); !reflect.DeepEqual(m, upstreamJSON(t, 7)) {
				t.Errorf("externalData = %v, want %v", m, upstreamJSON(t, 7))
			}
			want := wantPost(jsonplaceholder.Posts()[6])
			want.Author = &user{ID: strconv.Itoa(want.UserID), Name: jsonplaceholder.Users()[want.UserID-1].Name}
			if got.ExternalPost == nil || !reflect.DeepEqual(*got.ExternalPost, want) {
				t.Errorf("externalPost = %+v, want %+v", got.ExternalPost, want)
			}
			if got.EnrichedAt == nil || !rfc3339UTC.MatchString(*got.EnrichedAt) {
				t.Errorf("enrichedAt = %s, want an RFC 3339 time in UTC", show(got.EnrichedAt))
			}
			if got.Version != it.Version+1 {
				t.Errorf("version = %d, want %d", got.Version, it.Version+1)
			}
			if !mustTime(got.UpdatedAt).After(mustTime(it.UpdatedAt)) {
				t.Errorf("updatedAt %s is not after %s", got.UpdatedAt, it.UpdatedAt)
			}
			if got.Title != it.Title || !equalPtr(got.Description, it.Description) || got.CreatedAt != it.CreatedAt {
				t.Errorf("enrich changed other fields: %+v, was %+v", got.item, it)
			}
			if n := e.Fake.Requests("/posts/7"); n != 1 {
				t.Errorf("/posts/7 asked %d times, want 1", n)
			}
			sameItem(t, e.getItem(t, it.ID), &got.item)

			// enrichItem always fetches afresh, and replaces what it stored.
			again := enrich(t, it.ID, "8")
			if again.Version != got.Version+1 || again.ExternalPost == nil || again.ExternalPost.ID != "8" {
				t.Errorf("second enrich: version %d, post %+v; want version %d and post 8", again.Version, again.ExternalPost, got.Version+1)
			}
			enrich(t, it.ID, "8")
			if n := e.Fake.Requests("/posts/8"); n != 2 {
				t.Errorf("/posts/8 asked %d times for two enrichments, want 2", n)
			}
		})

		t.Run("postId defaults to the item's id", func(t *testing.T) {
			it := e.createItem(t, "own id", nil)
			got := enrich(t, it.ID, nil)
			n := int(mustInt(it.ID))
			if n > len(jsonplaceholder.Posts()) {
				t.Fatalf("item id %d has no upstream post", n)
			}
			if m := decodeJSON(t, got.ExternalData); !reflect.DeepEqual(m, upstreamJSON(t, n)) {
				t.Errorf("externalData = %v, want post %d: %v", m, n, upstreamJSON(t, n))
			}
			if got.ExternalPost == nil || got.ExternalPost.ID != it.ID {
				t.Errorf("externalPost = %+v, want post %s", got.ExternalPost, it.ID)
			}
		})

		t.Run("externalData is the body exactly", func(t *testing.T) {
			// Fields the typed view does not know are kept too.
			body := `{"userId": 4, "id": 9, "title": "t", "body": "b", "extra": {"nested": [1, 2.5, null, "x"]}, "flag": true}`
			e.Fake.AddFault(jsonplaceholder.Fault{Path: "/posts/9", Times: 1, Status: 200, Body: body})
			it := e.createItem(t, "exact", nil)
			got := enrich(t, it.ID, "9")
			var want map[string]any
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			if m := decodeJSON(t, got.ExternalData); !reflect.DeepEqual(m, want) {
				t.Errorf("externalData = %v, want %v", m, want)
			}
			if got.ExternalPost == nil || got.ExternalPost.Title != "t" || got.ExternalPost.UserID != 4 {
				t.Errorf("externalPost = %+v", got.ExternalPost)
			}
		})
	})
}

func TestEnrichItemFailures(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d) // 3 retries
		it := e.createItem(t, "fragile", ptr("as it was"))
		var out struct{ EnrichItem item }
		e.ok(t, enrichMutation, vars{"id": it.ID, "postId": "5"}, &out)
		before := out.EnrichItem

		tests := []struct {
			name         string
			postID       string
			fault        *jsonplaceholder.Fault
			wantCode     string
			wantExt      map[string]any
			wantRequests int // to /posts/{postID}; -1: not counted
		}{
			{"upstream 404", "1000", nil, "NOT_FOUND",
				map[string]any{"source": "external"}, 1},
			{"upstream 500 on every attempt", "9", &jsonplaceholder.Fault{Path: "/posts/9", Status: 500},
				"BAD_GATEWAY", map[string]any{"attempts": 4.0, "upstreamStatus": 500.0, "reason": "status"}, 4},
			{"upstream 503 with Retry-After on every attempt", "9", &jsonplaceholder.Fault{Path: "/posts/9", Status: 503, RetryAfter: "1"},
				"BAD_GATEWAY", map[string]any{"attempts": 4.0, "upstreamStatus": 503.0, "reason": "status"}, 4},
			{"upstream 400 is not retried", "9", &jsonplaceholder.Fault{Path: "/posts/9", Status: 400},
				"BAD_GATEWAY", map[string]any{"attempts": 1.0, "upstreamStatus": 400.0, "reason": "status"}, 1},
			{"malformed body", "9", &jsonplaceholder.Fault{Path: "/posts/9", Malformed: true},
				"BAD_GATEWAY", map[string]any{"attempts": 1.0, "upstreamStatus": 200.0, "reason": "invalid_response"}, 1},
			{"another post's body", "9", &jsonplaceholder.Fault{Path: "/posts/9", Body: `{"userId":1,"id":2,"title":"x","body":"y"}`},
				"BAD_GATEWAY", map[string]any{"attempts": 1.0, "upstreamStatus": 200.0, "reason": "invalid_response"}, 1},
			{"connection dropped on every attempt", "9", &jsonplaceholder.Fault{Path: "/posts/9", Drop: true},
				"BAD_GATEWAY", map[string]any{"attempts": 4.0, "reason": "connection"}, -1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.Fake.Reset()
				if tt.fault != nil {
					e.Fake.AddFault(*tt.fault)
				}
				r := e.fail(t, enrichMutation, vars{"id": it.ID, "postId": tt.postID}, tt.wantCode, "-")
				ext := r.Errors[0].Extensions
				for k, v := range tt.wantExt {
					if ext[k] != v {
						t.Errorf("extensions.%s = %v, want %v: %s", k, ext[k], v, r.Body)
					}
				}
				if _, ok := tt.wantExt["upstreamStatus"]; !ok {
					if s, ok := ext["upstreamStatus"]; ok {
						t.Errorf("extensions.upstreamStatus = %v though the upstream never answered", s)
					}
				}
				if tt.wantRequests >= 0 {
					if n := e.Fake.Requests("/posts/" + tt.postID); n != tt.wantRequests {
						t.Errorf("/posts/%s asked %d times, want %d", tt.postID, n, tt.wantRequests)
					}
				}
				if string(r.Data) != "null" {
					t.Errorf("data = %s, want null", r.Data)
				}
				sameItem(t, e.getItem(t, it.ID), &before)
			})
		}
	})
}

func TestEnrichItemBreakerOpen(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, func(c *external.Config) {
			c.MaxRetries = 0
			c.BreakerThreshold = 2
			c.BreakerCooldown = time.Hour
		})
		it := e.createItem(t, "behind a breaker", nil)
		e.Fake.AddFault(jsonplaceholder.Fault{Path: "/posts/", Prefix: true, Status: 502, Times: 2})
		for i := range 2 {
			r := e.fail(t, enrichMutation, vars{"id": it.ID, "postId": "3"}, "BAD_GATEWAY", "-")
			if got := r.Errors[0].Extensions["reason"]; got != "status" {
				t.Errorf("failure %d: reason %v, want status", i, got)
			}
		}
		asked := e.Fake.TotalRequests()
		if asked != 2 {
			t.Errorf("%d upstream requests before the breaker opened, want 2", asked)
		}
		// The faults are used up: only the open breaker stands in the way.
		for _, q := range []struct {
			name  string
			query string
			vars  vars
		}{
			{"enrichItem", enrichMutation, vars{"id": it.ID, "postId": "3"}},
			{"externalPost", `{ externalPost(id: "3") { id } }`, nil},
			{"externalPosts", `{ externalPosts { id } }`, nil},
		} {
			r := e.fail(t, q.query, q.vars, "BAD_GATEWAY", "-")
			ext := r.Errors[0].Extensions
			if ext["reason"] != "circuit_open" || ext["attempts"] != 0.0 {
				t.Errorf("%s: reason %v attempts %v, want circuit_open and 0: %s", q.name, ext["reason"], ext["attempts"], r.Body)
			}
		}
		if n := e.Fake.TotalRequests(); n != asked {
			t.Errorf("the open breaker let %d requests through", n-asked)
		}
		if got := e.getItem(t, it.ID); got.Version != 1 || string(got.ExternalData) != "null" {
			t.Errorf("item changed: version %d, externalData %s", got.Version, got.ExternalData)
		}
	})
}

func TestEnrichItemClientGoesAway(t *testing.T) {
	dbtest.EachDB(t, func(t *testing.T, d *db.DB) {
		const maxRetries = 1000
		e := newEnv(t, d, func(c *external.Config) { c.MaxRetries = maxRetries })
		it := e.createItem(t, "abandoned", nil)
		e.Fake.AddFault(jsonplaceholder.Fault{Path: "/posts/4", Status: 500, Delay: 2 * time.Millisecond})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sent := make(chan error, 1)
		go func() {
			_, err := e.send(ctx, enrichMutation, vars{"id": it.ID, "postId": "4"})
			sent <- err
		}()
		waitFor(t, "the upstream retries", func() bool { return e.Fake.Requests("/posts/4") >= 3 })
		cancel()
		if err := <-sent; err == nil {
			t.Error("the cancelled request got an answer")
		}

		// Once the handler has returned, no more attempts are made.
		done := make(chan struct{})
		go func() { e.handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler still runs 10s after its client went away")
		}
		n := e.Fake.Requests("/posts/4")
		time.Sleep(50 * time.Millisecond)
		if later := e.Fake.Requests("/posts/4"); later != n {
			t.Errorf("upstream requests went on after the client left: %d, then %d", n, later)
		}
		if n >= 1+maxRetries {
			t.Errorf("all %d attempts were made though the client left", n)
		}
		e.Fake.ClearFaults()
		if got := e.getItem(t, it.ID); got.Version != 1 || string(got.ExternalData) != "null" {
			t.Errorf("item changed: version %d, externalData %s", got.Version, got.ExternalData)
		}
	})
}

// waitFor polls cond until it holds, failing t after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

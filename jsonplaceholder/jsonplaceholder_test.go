package jsonplaceholder_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"itemsrv/jsonplaceholder"
)

func start(t *testing.T) (*httptest.Server, *jsonplaceholder.Fake) {
	t.Helper()
	srv, fake := jsonplaceholder.NewServer()
	t.Cleanup(srv.Close)
	return srv, fake
}

// get fetches url and returns the status, headers and body.
func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

func getJSON[T any](t *testing.T, url string) (int, http.Header, T) {
	t.Helper()
	status, h, b := get(t, url)
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: decode %q: %v", url, b, err)
	}
	return status, h, v
}

func postIDs(posts []jsonplaceholder.Post) []int {
	ids := make([]int, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
	}
	return ids
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestData(t *testing.T) {
	posts := jsonplaceholder.Posts()
	if len(posts) != 100 {
		t.Fatalf("len(Posts()) = %d, want 100", len(posts))
	}
	perUser := map[int]int{}
	for i, p := range posts {
		if p.ID != i+1 || p.Title == "" || p.Body == "" {
			t.Errorf("post %d = %+v, want id %d with title and body", i, p, i+1)
		}
		perUser[p.UserID]++
	}
	for u := 1; u <= 10; u++ {
		if perUser[u] != 10 {
			t.Errorf("user %d has %d posts, want 10", u, perUser[u])
		}
	}
	if !reflect.DeepEqual(posts, jsonplaceholder.Posts()) {
		t.Error("Posts() differs between calls")
	}
	posts[0].Title = "changed"
	if jsonplaceholder.Posts()[0].Title == "changed" {
		t.Error("Posts() returned the data set itself, not a copy")
	}
	users := jsonplaceholder.Users()
	if len(users) != 10 || users[0].Username != "Bret" || users[9].ID != 10 {
		t.Errorf("Users() = %d users, first %+v", len(users), users[0])
	}
}

func TestPosts(t *testing.T) {
	srv, _ := start(t)
	tests := []struct {
		name      string
		give      string
		wantIDs   []int
		wantTotal string
	}{
		{"all", "/posts", seq(1, 100), ""},
		{"by user", "/posts?userId=3", seq(21, 30), ""},
		{"by two users", "/posts?userId=1&userId=2", seq(1, 20), ""},
		{"start and limit", "/posts?_start=10&_limit=5", seq(11, 15), "100"},
		{"limit only", "/posts?_limit=3", seq(1, 3), "100"},
		{"start past the end", "/posts?_start=200&_limit=5", []int{}, "100"},
		{"start near the end", "/posts?_start=98&_limit=5", seq(99, 100), "100"},
		{"user with limit", "/posts?userId=2&_start=5&_limit=10", seq(16, 20), "10"},
		{"page", "/posts?_page=2&_limit=10", seq(11, 20), "100"},
		{"ids", "/posts?id=3&id=1", []int{1, 3}, ""},
		{"unknown user", "/posts?userId=99", []int{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, posts := getJSON[[]jsonplaceholder.Post](t, srv.URL+tt.give)
			if status != http.StatusOK {
				t.Fatalf("status = %d, want 200", status)
			}
			if got := postIDs(posts); !reflect.DeepEqual(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			if got := h.Get("X-Total-Count"); got != tt.wantTotal {
				t.Errorf("X-Total-Count = %q, want %q", got, tt.wantTotal)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestOneAndNotFound(t *testing.T) {
	srv, _ := start(t)
	status, _, b := get(t, srv.URL+"/posts/7")
	var post map[string]any
	if err := json.Unmarshal(b, &post); err != nil || status != http.StatusOK {
		t.Fatalf("GET /posts/7: %d %s", status, b)
	}
	if post["id"] != 7.0 || post["userId"] != 1.0 || len(post) != 4 {
		t.Errorf("GET /posts/7 = %v, want id 7 of user 1 with 4 fields", post)
	}
	if !strings.HasPrefix(string(b), "{\n  \"userId\": 1,\n  \"id\": 7,") {
		t.Errorf("GET /posts/7 is not laid out like the real service: %q", b)
	}

	status, _, user := getJSON[map[string]any](t, srv.URL+"/users/3")
	if status != http.StatusOK || user["username"] != "Samantha" {
		t.Errorf("GET /users/3 = %d %v", status, user)
	}
	for _, path := range []string{"/posts/0", "/posts/101", "/posts/abc", "/users/11", "/users/x", "/comments", "/posts/1/extra"} {
		status, _, b := get(t, srv.URL+path)
		if status != http.StatusNotFound || string(b) != "{}" {
			t.Errorf("GET %s = %d %q, want 404 {}", path, status, b)
		}
	}
	resp, err := http.Post(srv.URL+"/posts", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /posts = %d, want 405", resp.StatusCode)
	}
}

func TestUsers(t *testing.T) {
	srv, _ := start(t)
	_, _, all := getJSON[[]map[string]any](t, srv.URL+"/users")
	if len(all) != 10 {
		t.Fatalf("GET /users: %d users, want 10", len(all))
	}
	// The real service's field names, nested ones included.
	u := all[0]
	for _, k := range []string{"id", "name", "username", "email", "address", "phone", "website", "company"} {
		if _, ok := u[k]; !ok {
			t.Errorf("user has no %q", k)
		}
	}
	addr, _ := u["address"].(map[string]any)
	geo, _ := addr["geo"].(map[string]any)
	company, _ := u["company"].(map[string]any)
	if addr["street"] == nil || addr["suite"] == nil || addr["city"] == nil || addr["zipcode"] == nil ||
		geo["lat"] == nil || geo["lng"] == nil ||
		company["name"] == nil || company["catchPhrase"] == nil || company["bs"] == nil {
		t.Errorf("user 1 lacks nested fields: %v", u)
	}

	tests := []struct {
		give string
		want []int
	}{
		{"/users?id=1&id=3", []int{1, 3}},
		{"/users?id=3&id=1&id=3", []int{1, 3}},
		{"/users?id=10", []int{10}},
		{"/users?id=42", []int{}},
		{"/users?id=2&id=42", []int{2}},
	}
	for _, tt := range tests {
		_, _, users := getJSON[[]jsonplaceholder.User](t, srv.URL+tt.give)
		got := []int{}
		for _, u := range users {
			got = append(got, u.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GET %s: ids %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestFaults(t *testing.T) {
	srv, fake := start(t)

	t.Run("status for N requests then normal", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Times: 2, Status: 503, RetryAfter: "7"})
		for i := range 2 {
			status, h, _ := get(t, srv.URL+"/posts/1")
			if status != 503 || h.Get("Retry-After") != "7" {
				t.Errorf("request %d: %d Retry-After %q, want 503 and 7", i+1, status, h.Get("Retry-After"))
			}
		}
		if status, _, _ := get(t, srv.URL+"/posts/1"); status != 200 {
			t.Errorf("third request: %d, want 200", status)
		}
		if n := len(fake.Faults()); n != 0 {
			t.Errorf("%d faults pending, want 0", n)
		}
	})

	t.Run("exact path does not match others", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts", Times: 1, Status: 500})
		if status, _, _ := get(t, srv.URL+"/posts/2"); status != 200 {
			t.Errorf("/posts/2 = %d, want 200", status)
		}
		if status, _, _ := get(t, srv.URL+"/posts?_limit=1"); status != 500 {
			t.Errorf("/posts = %d, want 500", status)
		}
	})

	t.Run("prefix", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/users", Prefix: true, Times: 2, Status: 429})
		if status, _, _ := get(t, srv.URL+"/users/4"); status != 429 {
			t.Errorf("/users/4 = %d, want 429", status)
		}
		if status, _, _ := get(t, srv.URL+"/users?id=1"); status != 429 {
			t.Errorf("/users = %d, want 429", status)
		}
		if status, _, _ := get(t, srv.URL+"/users/4"); status != 200 {
			t.Errorf("/users/4 after the fault = %d, want 200", status)
		}
	})

	t.Run("until cleared", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/3", Status: 502})
		for range 3 {
			if status, _, _ := get(t, srv.URL+"/posts/3"); status != 502 {
				t.Errorf("/posts/3 = %d, want 502", status)
			}
		}
		fake.ClearFaults()
		if status, _, _ := get(t, srv.URL+"/posts/3"); status != 200 {
			t.Errorf("/posts/3 after ClearFaults = %d, want 200", status)
		}
	})

	t.Run("malformed and custom bodies", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/4", Times: 1, Malformed: true})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/4", Times: 1, Body: `{"title":"no id"}`})
		status, _, b := get(t, srv.URL+"/posts/4")
		if status != 200 || json.Valid(b) {
			t.Errorf("malformed: %d %q, want 200 and invalid JSON", status, b)
		}
		status, _, b = get(t, srv.URL+"/posts/4")
		if status != 200 || string(b) != `{"title":"no id"}` {
			t.Errorf("body: %d %q", status, b)
		}
	})

	t.Run("drop", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/5", Times: 1, Drop: true})
		// A fresh connection: on a reused one, net/http would resend the
		// GET once by itself.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(srv.URL + "/posts/5")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped request answered %d", resp.StatusCode)
		}
		if status, _, _ := get(t, srv.URL+"/posts/5"); status != 200 {
			t.Errorf("after the drop: %d, want 200", status)
		}
	})

	t.Run("delay then normal answer", func(t *testing.T) {
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/6", Times: 1, Delay: 40 * time.Millisecond})
		begin := time.Now()
		status, _, b := get(t, srv.URL+"/posts/6")
		if d := time.Since(begin); d < 40*time.Millisecond {
			t.Errorf("delayed request took %s, want at least 40ms", d)
		}
		if status != 200 || !strings.Contains(string(b), `"id": 6`) {
			t.Errorf("delayed request: %d %q", status, b)
		}
	})

	t.Run("latency", func(t *testing.T) {
		fake.SetLatency(30 * time.Millisecond)
		defer fake.SetLatency(0)
		begin := time.Now()
		get(t, srv.URL+"/users/1")
		if d := time.Since(begin); d < 30*time.Millisecond {
			t.Errorf("request took %s with 30ms latency", d)
		}
	})
}

func TestCounting(t *testing.T) {
	srv, fake := start(t)
	get(t, srv.URL+"/posts?_limit=1")
	get(t, srv.URL+"/posts?_limit=2")
	get(t, srv.URL+"/posts/1")
	get(t, srv.URL+"/nowhere")
	get(t, srv.URL+"/__requests") // control requests are not counted
	if got := fake.Requests("/posts"); got != 2 {
		t.Errorf(`Requests("/posts") = %d, want 2`, got)
	}
	if got := fake.Requests("/posts/1"); got != 1 {
		t.Errorf(`Requests("/posts/1") = %d, want 1`, got)
	}
	if got := fake.TotalRequests(); got != 4 {
		t.Errorf("TotalRequests() = %d, want 4", got)
	}
	want := []string{"/posts?_limit=1", "/posts?_limit=2", "/posts/1", "/nowhere"}
	if got := fake.RequestLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("RequestLog() = %v, want %v", got, want)
	}
	fake.ResetCounts()
	if fake.TotalRequests() != 0 || fake.Requests("/posts") != 0 || len(fake.RequestLog()) != 0 {
		t.Error("ResetCounts left counts behind")
	}
}

func do(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestControlAPI(t *testing.T) {
	srv, fake := start(t)

	status, b := do(t, "POST", srv.URL+"/__faults",
		`{"path":"/posts/9","times":1,"status":429,"retryAfter":"Wed, 21 Oct 2015 07:28:00 GMT","delay":"20ms"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /__faults = %d %s", status, b)
	}
	want := jsonplaceholder.Fault{Path: "/posts/9", Times: 1, Status: 429,
		RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", Delay: 20 * time.Millisecond}
	if got := fake.Faults(); len(got) != 1 || got[0] != want {
		t.Fatalf("Faults() = %+v, want [%+v]", got, want)
	}
	_, _, listed := getJSON[[]jsonplaceholder.Fault](t, srv.URL+"/__faults")
	if len(listed) != 1 || listed[0] != want {
		t.Errorf("GET /__faults = %+v, want [%+v]", listed, want)
	}
	begin := time.Now()
	status, h, _ := get(t, srv.URL+"/posts/9")
	if status != 429 || h.Get("Retry-After") != want.RetryAfter || time.Since(begin) < 20*time.Millisecond {
		t.Errorf("faulted request: %d %q after %s", status, h.Get("Retry-After"), time.Since(begin))
	}

	status, _ = do(t, "POST", srv.URL+"/__faults", `[{"path":"/users","prefix":true,"status":500},{"path":"/posts/2","drop":true}]`)
	if status != http.StatusCreated || len(fake.Faults()) != 2 {
		t.Fatalf("POST /__faults with an array = %d, %d faults pending", status, len(fake.Faults()))
	}
	if status, _ := do(t, "DELETE", srv.URL+"/__faults", ""); status != http.StatusNoContent || len(fake.Faults()) != 0 {
		t.Errorf("DELETE /__faults = %d, %d faults pending", status, len(fake.Faults()))
	}
	for _, bad := range []string{`{`, `{"status":500}`, `{"path":"/x","delay":"soon"}`, `{"path":"/x","status":42}`} {
		if status, _ := do(t, "POST", srv.URL+"/__faults", bad); status != http.StatusBadRequest {
			t.Errorf("POST /__faults %s = %d, want 400", bad, status)
		}
	}

	if status, b := do(t, "PUT", srv.URL+"/__latency", `{"latency":"15ms"}`); status != 200 || fake.Latency() != 15*time.Millisecond {
		t.Errorf("PUT /__latency = %d %s, latency %s", status, b, fake.Latency())
	}
	if status, _ := do(t, "PUT", srv.URL+"/__latency", `{"latency":"-1s"}`); status != http.StatusBadRequest {
		t.Errorf("PUT /__latency with a negative latency = %d, want 400", status)
	}

	_, _, counts := getJSON[struct {
		Total int            `json:"total"`
		Paths map[string]int `json:"paths"`
		Log   []string       `json:"log"`
	}](t, srv.URL+"/__requests")
	if counts.Total != 1 || counts.Paths["/posts/9"] != 1 || len(counts.Log) != 1 {
		t.Errorf("GET /__requests = %+v, want one request to /posts/9", counts)
	}
	if status, _ := do(t, "DELETE", srv.URL+"/__requests", ""); status != http.StatusNoContent || fake.TotalRequests() != 0 {
		t.Errorf("DELETE /__requests = %d, total %d", status, fake.TotalRequests())
	}

	fake.AddFault(jsonplaceholder.Fault{Path: "/posts"})
	get(t, srv.URL+"/posts/1")
	if status, _ := do(t, "POST", srv.URL+"/__reset", ""); status != http.StatusNoContent {
		t.Errorf("POST /__reset = %d", status)
	}
	if len(fake.Faults()) != 0 || fake.Latency() != 0 || fake.TotalRequests() != 0 {
		t.Errorf("after /__reset: %d faults, latency %s, %d requests", len(fake.Faults()), fake.Latency(), fake.TotalRequests())
	}
	if status, _ := do(t, "GET", srv.URL+"/__reset", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /__reset = %d, want 405", status)
	}
}

func TestFaultJSONRoundTrip(t *testing.T) {
	give := jsonplaceholder.Fault{Path: "/p", Prefix: true, Times: 3, Status: 503, RetryAfter: "2", Delay: 1500 * time.Millisecond, Drop: true}
	b, err := json.Marshal(give)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay":"1.5s"`) {
		t.Errorf("Marshal = %s, want delay as a duration string", b)
	}
	var got jsonplaceholder.Fault
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got != give {
		t.Errorf("round trip = %+v, want %+v", got, give)
	}
	var bad jsonplaceholder.Fault
	if err := json.Unmarshal([]byte(`{"path":"/p","delay":"x"}`), &bad); err == nil {
		t.Error("Unmarshal accepted a bad delay")
	}
}

package external

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"itemsrv/items"
	"itemsrv/jsonplaceholder"
)

const cooldown = 60 * time.Millisecond

// failTwice makes two failed calls, which open a breaker of threshold 2.
func failTwice(t *testing.T, c *Client, srvURL string) {
	t.Helper()
	for range 2 {
		_, _, err := c.FetchPost(context.Background(), 1)
		gatewayError(t, err, srvURL, ReasonStatus, 1, 500)
	}
}

// assertOpen checks that a call fails at once, without a request.
func assertOpen(t *testing.T, c *Client, fake *jsonplaceholder.Fake, srvURL string) {
	t.Helper()
	before := fake.TotalRequests()
	_, err := c.Post(context.Background(), 2)
	gatewayError(t, err, srvURL, ReasonCircuitOpen, 0, 0)
	if got := fake.TotalRequests(); got != before {
		t.Errorf("an open breaker let %d requests through", got-before)
	}
}

// waitHalfOpen waits out the cooldown and checks the breaker is half-open.
func waitHalfOpen(t *testing.T, c *Client) {
	t.Helper()
	time.Sleep(cooldown + 10*time.Millisecond)
	if s := c.BreakerState(); s != "half-open" {
		t.Fatalf("state after the cooldown = %s, want half-open", s)
	}
}

func TestBreaker(t *testing.T) {
	t.Run("closed, open, half-open, closed", func(t *testing.T) {
		rec := &recorder{}
		c, fake, srv := setup(t, Config{
			BreakerThreshold: 2, BreakerCooldown: cooldown, OnBreakerState: rec.onState,
		})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 500})

		if _, _, err := c.FetchPost(context.Background(), 1); err == nil {
			t.Fatal("faulted call succeeded")
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after 1 failure = %s, want closed", s)
		}
		if _, _, err := c.FetchPost(context.Background(), 1); err == nil {
			t.Fatal("faulted call succeeded")
		}
		if s := c.BreakerState(); s != "open" {
			t.Fatalf("state after 2 failures = %s, want open", s)
		}
		assertOpen(t, c, fake, srv.URL)
		assertOpen(t, c, fake, srv.URL)

		waitHalfOpen(t, c)
		fake.ClearFaults()
		if _, _, err := c.FetchPost(context.Background(), 1); err != nil {
			t.Fatalf("probe: %v", err)
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after a good probe = %s, want closed", s)
		}
		if _, err := c.Post(context.Background(), 2); err != nil {
			t.Errorf("call after closing: %v", err)
		}
		_, states := rec.get()
		if want := []string{"open", "half-open", "closed"}; !reflect.DeepEqual(states, want) {
			t.Errorf("OnBreakerState got %v, want %v", states, want)
		}
	})

	t.Run("failed probe opens again", func(t *testing.T) {
		c, fake, srv := setup(t, Config{BreakerThreshold: 2, BreakerCooldown: cooldown})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 500})
		failTwice(t, c, srv.URL)
		waitHalfOpen(t, c)

		fake.ResetCounts()
		_, _, err := c.FetchPost(context.Background(), 1)
		gatewayError(t, err, srv.URL, ReasonStatus, 1, 500)
		if got := fake.TotalRequests(); got != 1 {
			t.Errorf("probe made %d requests, want 1", got)
		}
		if s := c.BreakerState(); s != "open" {
			t.Fatalf("state after a failed probe = %s, want open", s)
		}
		assertOpen(t, c, fake, srv.URL)
	})

	t.Run("one probe at a time", func(t *testing.T) {
		c, fake, srv := setup(t, Config{BreakerThreshold: 2, BreakerCooldown: cooldown})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 500})
		failTwice(t, c, srv.URL)
		waitHalfOpen(t, c)
		fake.ClearFaults()
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Times: 1, Delay: 100 * time.Millisecond})

		probe := make(chan error, 1)
		go func() {
			_, _, err := c.FetchPost(context.Background(), 1)
			probe <- err
		}()
		for fake.Requests("/posts/1") < 3 { // the probe has arrived
			time.Sleep(time.Millisecond)
		}
		assertOpen(t, c, fake, srv.URL)
		if err := <-probe; err != nil {
			t.Fatalf("probe: %v", err)
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after the probe = %s, want closed", s)
		}
	})

	t.Run("counts calls, not attempts", func(t *testing.T) {
		c, fake, srv := setup(t, Config{MaxRetries: 3, BreakerThreshold: 2, BreakerCooldown: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 503})
		_, _, err := c.FetchPost(context.Background(), 1)
		gatewayError(t, err, srv.URL, ReasonStatus, 4, 503)
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after one failed call of 4 attempts = %s, want closed", s)
		}
	})

	t.Run("404 is not a failure", func(t *testing.T) {
		c, fake, srv := setup(t, Config{BreakerThreshold: 2, BreakerCooldown: time.Minute})
		for range 5 {
			if p, err := c.Post(context.Background(), 404); p != nil || err != nil {
				t.Fatalf("Post(404) = %v, %v", p, err)
			}
			var e *items.Error
			if _, _, err := c.FetchPost(context.Background(), 404); !errors.As(err, &e) || e.Code != items.CodeNotFound {
				t.Fatalf("FetchPost(404) = %v, want NOT_FOUND", err)
			}
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after 10 upstream 404s = %s, want closed", s)
		}
		// A 404 between failures shows the upstream answering: the
		// failures are no longer consecutive.
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Times: 2, Status: 500})
		_, _, err := c.FetchPost(context.Background(), 1)
		gatewayError(t, err, srv.URL, ReasonStatus, 1, 500)
		if _, err := c.Post(context.Background(), 404); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.FetchPost(context.Background(), 1)
		gatewayError(t, err, srv.URL, ReasonStatus, 1, 500)
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after failure, 404, failure = %s, want closed", s)
		}
	})

	t.Run("cancellation is not a failure", func(t *testing.T) {
		c, fake, _ := setup(t, Config{BreakerThreshold: 1, BreakerCooldown: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Delay: time.Second})
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, _, err := c.FetchPost(ctx, 1)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error = %v, want the context's", err)
			}
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state after cancelled calls = %s, want closed", s)
		}
	})

	t.Run("invalid answers are failures", func(t *testing.T) {
		c, fake, srv := setup(t, Config{BreakerThreshold: 2, BreakerCooldown: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts", Malformed: true})
		for range 2 {
			_, err := c.Posts(context.Background(), 5, 0, nil)
			gatewayError(t, err, srv.URL, ReasonInvalidResponse, 1, 200)
		}
		if s := c.BreakerState(); s != "open" {
			t.Errorf("state = %s, want open", s)
		}
	})

	t.Run("threshold 0 disables it", func(t *testing.T) {
		c, fake, srv := setup(t, Config{BreakerCooldown: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 500})
		for range 20 {
			_, _, err := c.FetchPost(context.Background(), 1)
			gatewayError(t, err, srv.URL, ReasonStatus, 1, 500)
		}
		if s := c.BreakerState(); s != "closed" {
			t.Errorf("state = %s, want closed", s)
		}
		if got := fake.Requests("/posts/1"); got != 20 {
			t.Errorf("upstream saw %d requests, want 20", got)
		}
	})
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	user := 2

	t.Run("hit and miss", func(t *testing.T) {
		rec := &recorder{}
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute, OnCall: rec.onCall})
		for range 3 {
			if p, err := c.Post(ctx, 1); err != nil || p.ID != 1 || p.UserID != 1 || p.Title == "" {
				t.Fatalf("Post(1) = %+v, %v", p, err)
			}
			posts, err := c.Posts(ctx, 5, 5, &user)
			if err != nil || len(posts) != 5 || posts[0].ID != 16 || posts[0].UserID != 2 {
				t.Fatalf("Posts(5, 5, 2) = %+v, %v", posts, err)
			}
		}
		if got := fake.Requests("/posts/1"); got != 1 {
			t.Errorf("Post: upstream saw %d requests, want 1", got)
		}
		if got := fake.Requests("/posts"); got != 1 {
			t.Errorf("Posts: upstream saw %d requests, want 1", got)
		}
		if log := fake.RequestLog(); !slices.Contains(log, "/posts?_limit=5&_start=5&userId=2") {
			t.Errorf("request log %v lacks the posts query", log)
		}
		// Other arguments are other entries.
		if _, err := c.Posts(ctx, 5, 5, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Posts(ctx, 5, 15, &user); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Post(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if got := fake.TotalRequests(); got != 5 {
			t.Errorf("upstream saw %d requests, want 5", got)
		}
		calls, _ := rec.get()
		want := []string{"post:ok", "posts:ok", "post:cache_hit", "posts:cache_hit", "post:cache_hit", "posts:cache_hit", "posts:ok", "posts:ok", "post:ok"}
		if !reflect.DeepEqual(calls, want) {
			t.Errorf("OnCall got %v, want %v", calls, want)
		}
	})

	t.Run("callers get copies", func(t *testing.T) {
		c, _, _ := setup(t, Config{CacheTTL: time.Minute})
		p, _ := c.Post(ctx, 1)
		p.Title = "changed"
		posts, _ := c.Posts(ctx, 2, 0, nil)
		posts[0].Title = "changed"
		if p, _ := c.Post(ctx, 1); p.Title == "changed" {
			t.Error("changing a returned post changed the cache")
		}
		if posts, _ := c.Posts(ctx, 2, 0, nil); posts[0].Title == "changed" {
			t.Error("changing a returned page changed the cache")
		}
	})

	t.Run("expiry", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: 100 * time.Millisecond})
		c.Post(ctx, 1)
		c.Post(ctx, 1)
		time.Sleep(150 * time.Millisecond)
		c.Post(ctx, 1)
		if got := fake.Requests("/posts/1"); got != 2 {
			t.Errorf("upstream saw %d requests, want 2", got)
		}
	})

	t.Run("TTL 0 disables it", func(t *testing.T) {
		c, fake, _ := setup(t, Config{})
		for range 3 {
			c.Post(ctx, 1)
			c.Posts(ctx, 1, 0, nil)
			c.Users(ctx, []int64{1})
		}
		if p, u, us := fake.Requests("/posts/1"), fake.Requests("/posts"), fake.Requests("/users"); p != 3 || u != 3 || us != 3 {
			t.Errorf("upstream saw %d, %d, %d requests, want 3 each", p, u, us)
		}
	})

	t.Run("errors and 404s are not cached", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Times: 1, Status: 500})
		if _, err := c.Post(ctx, 1); err == nil {
			t.Fatal("faulted call succeeded")
		}
		if p, err := c.Post(ctx, 1); err != nil || p == nil {
			t.Fatalf("Post(1) after an error = %v, %v", p, err)
		}
		c.Post(ctx, 500)
		c.Post(ctx, 500)
		if p, n := fake.Requests("/posts/1"), fake.Requests("/posts/500"); p != 2 || n != 2 {
			t.Errorf("upstream saw %d and %d requests, want 2 and 2", p, n)
		}
	})

	t.Run("FetchPost is fresh and refreshes", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute})
		c.Post(ctx, 1)
		c.FetchPost(ctx, 1)
		c.FetchPost(ctx, 1)
		if got := fake.Requests("/posts/1"); got != 3 {
			t.Errorf("upstream saw %d requests, want 3", got)
		}
		c.FetchPost(ctx, 2)
		if p, err := c.Post(ctx, 2); err != nil || p.ID != 2 {
			t.Fatalf("Post(2) = %v, %v", p, err)
		}
		if got := fake.Requests("/posts/2"); got != 1 {
			t.Errorf("Post after FetchPost: upstream saw %d requests, want 1", got)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute, CacheSize: 2})
		for _, id := range []int64{1, 2, 3, 1} {
			c.Post(ctx, id)
		}
		if got := fake.Requests("/posts/1"); got != 2 {
			t.Errorf("post 1 was fetched %d times, want 2 (evicted by 2 and 3)", got)
		}
	})
}

func TestSharedCalls(t *testing.T) {
	ctx := context.Background()

	t.Run("20 callers, 1 request", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/5", Times: 1, Delay: 50 * time.Millisecond})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts", Times: 1, Delay: 50 * time.Millisecond})
		fake.AddFault(jsonplaceholder.Fault{Path: "/users", Times: 1, Delay: 50 * time.Millisecond})
		var wg sync.WaitGroup
		errs := make(chan error, 60)
		for range 20 {
			wg.Go(func() {
				p, err := c.Post(ctx, 5)
				if err == nil && p.ID != 5 {
					err = fmt.Errorf("got post %d", p.ID)
				}
				errs <- err
			})
			wg.Go(func() {
				posts, err := c.Posts(ctx, 10, 0, nil)
				if err == nil && len(posts) != 10 {
					err = fmt.Errorf("got %d posts", len(posts))
				}
				errs <- err
			})
			wg.Go(func() {
				users, err := c.Users(ctx, []int64{3, 1})
				if err == nil && len(users) != 2 {
					err = fmt.Errorf("got %d users", len(users))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		for _, path := range []string{"/posts/5", "/posts", "/users"} {
			if got := fake.Requests(path); got != 1 {
				t.Errorf("%s: upstream saw %d requests, want 1", path, got)
			}
		}
	})

	t.Run("a caller leaving does not fail the others", func(t *testing.T) {
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/5", Times: 1, Delay: 80 * time.Millisecond})
		first, cancel := context.WithCancel(ctx)
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.Post(first, 5)
			firstErr <- err
		}()
		for fake.Requests("/posts/5") == 0 {
			time.Sleep(time.Millisecond)
		}
		second := make(chan error, 1)
		go func() {
			_, err := c.Post(ctx, 5)
			second <- err
		}()
		time.Sleep(10 * time.Millisecond)
		cancel()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Errorf("first caller: %v, want context.Canceled", err)
		}
		if err := <-second; err != nil {
			t.Errorf("second caller: %v", err)
		}
		if got := fake.Requests("/posts/5"); got != 1 {
			t.Errorf("upstream saw %d requests, want 1", got)
		}
	})

	t.Run("the last caller leaving cancels the call", func(t *testing.T) {
		rec := &recorder{}
		c, fake, _ := setup(t, Config{CacheTTL: time.Minute, OnCall: rec.onCall})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/5", Times: 1, Delay: 5 * time.Second})
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if _, err := c.Post(cctx, 5); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Post = %v, want the context's error", err)
		}
		deadline := time.Now().Add(time.Second)
		for {
			calls, _ := rec.get()
			if slices.Equal(calls, []string{"post:canceled"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upstream call not cancelled within 1s; OnCall got %v", calls)
			}
			time.Sleep(time.Millisecond)
		}
		// The next caller starts afresh.
		if p, err := c.Post(ctx, 5); err != nil || p.ID != 5 {
			t.Errorf("Post after = %v, %v", p, err)
		}
	})
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	c, fake, _ := setup(t, Config{CacheTTL: time.Minute})

	posts, err := c.Posts(ctx, 50, 0, nil)
	if err != nil || len(posts) != 50 {
		t.Fatalf("Posts(50) = %d posts, %v", len(posts), err)
	}
	authors := make([]int64, len(posts))
	for i, p := range posts {
		authors[i] = int64(p.UserID)
	}
	users, err := c.Users(ctx, authors)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 5 {
		t.Errorf("Users for 50 posts = %d users, want 5", len(users))
	}
	for id := int64(1); id <= 5; id++ {
		if u := users[id]; u == nil || u.ID != id || u.Name == "" || u.Username == "" || !strings.Contains(u.Email, "@") {
			t.Errorf("user %d = %+v", id, u)
		}
	}
	if got := fake.Requests("/users"); got != 1 {
		t.Errorf("upstream saw %d users requests, want 1", got)
	}
	if log := fake.RequestLog(); log[len(log)-1] != "/users?id=1&id=2&id=3&id=4&id=5" {
		t.Errorf("users request = %s", log[len(log)-1])
	}

	// Cached users are not asked for again; unknown ones are absent.
	users, err = c.Users(ctx, []int64{5, 7, 3, 42, 7})
	if err != nil {
		t.Fatal(err)
	}
	if log := fake.RequestLog(); log[len(log)-1] != "/users?id=7&id=42" {
		t.Errorf("second users request = %s, want only the missing ids", log[len(log)-1])
	}
	if len(users) != 3 || users[5] == nil || users[7] == nil || users[3] == nil || users[42] != nil {
		t.Errorf("Users(5, 7, 3, 42) = %v", users)
	}
	if _, err := c.Users(ctx, []int64{1, 7}); err != nil {
		t.Fatal(err)
	}
	if users, err := c.Users(ctx, nil); err != nil || len(users) != 0 {
		t.Errorf("Users(nil) = %v, %v", users, err)
	}
	if got := fake.Requests("/users"); got != 2 {
		t.Errorf("upstream saw %d users requests, want 2", got)
	}
}

func TestInvalidArguments(t *testing.T) {
	c, fake, _ := setup(t, Config{})
	for _, tt := range []struct {
		limit, offset int
		field         string
	}{{0, 0, "limit"}, {-1, 0, "limit"}, {10, -1, "offset"}} {
		_, err := c.Posts(context.Background(), tt.limit, tt.offset, nil)
		var e *items.Error
		if !errors.As(err, &e) || e.Code != items.CodeBadUserInput || e.Field != tt.field {
			t.Errorf("Posts(%d, %d) = %v, want BAD_USER_INPUT on %s", tt.limit, tt.offset, err, tt.field)
		}
	}
	if got := fake.TotalRequests(); got != 0 {
		t.Errorf("upstream saw %d requests, want 0", got)
	}
}

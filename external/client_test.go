package external

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"itemsrv/items"
	"itemsrv/jsonplaceholder"
)

// setup starts a stand-in and a Client for it: millisecond waits, no
// retries, breaker or cache unless cfg says otherwise.
func setup(t *testing.T, cfg Config) (*Client, *jsonplaceholder.Fake, *httptest.Server) {
	t.Helper()
	srv, fake := jsonplaceholder.NewServer()
	t.Cleanup(srv.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = time.Millisecond
	}
	if cfg.RetryMaxWait == 0 {
		cfg.RetryMaxWait = 4 * time.Millisecond
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, fake, srv
}

// gatewayError asserts that err is a BAD_GATEWAY *items.Error with exactly
// these extensions (status 0: no upstreamStatus), with a message that does
// not reveal the upstream.
func gatewayError(t *testing.T, err error, srvURL, reason string, attempts, status int) {
	t.Helper()
	var e *items.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *items.Error", err, err)
	}
	if e.Code != items.CodeBadGateway {
		t.Errorf("code = %s, want BAD_GATEWAY", e.Code)
	}
	want := map[string]any{"attempts": attempts, "reason": reason}
	if status != 0 {
		want["upstreamStatus"] = status
	}
	if len(e.Extensions) != len(want) {
		t.Errorf("extensions = %v, want %v", e.Extensions, want)
	}
	for k, v := range want {
		if e.Extensions[k] != v {
			t.Errorf("extensions[%q] = %v (%T), want %v", k, e.Extensions[k], e.Extensions[k], v)
		}
	}
	for _, secret := range []string{srvURL, strings.TrimPrefix(srvURL, "http://"), "/posts", "/users"} {
		if strings.Contains(e.Message, secret) {
			t.Errorf("message %q reveals %q", e.Message, secret)
		}
	}
	if e.Err == nil {
		t.Error("no cause kept for the log")
	}
}

func TestRetryRules(t *testing.T) {
	tests := []struct {
		name         string
		fault        jsonplaceholder.Fault
		wantAttempts int
		wantReason   string
		wantStatus   int
	}{
		{"429 retried", jsonplaceholder.Fault{Status: 429}, 4, ReasonStatus, 429},
		{"500 retried", jsonplaceholder.Fault{Status: 500}, 4, ReasonStatus, 500},
		{"502 retried", jsonplaceholder.Fault{Status: 502}, 4, ReasonStatus, 502},
		{"503 retried", jsonplaceholder.Fault{Status: 503}, 4, ReasonStatus, 503},
		{"504 retried", jsonplaceholder.Fault{Status: 504}, 4, ReasonStatus, 504},
		{"400 not retried", jsonplaceholder.Fault{Status: 400}, 1, ReasonStatus, 400},
		{"401 not retried", jsonplaceholder.Fault{Status: 401}, 1, ReasonStatus, 401},
		{"403 not retried", jsonplaceholder.Fault{Status: 403}, 1, ReasonStatus, 403},
		{"422 not retried", jsonplaceholder.Fault{Status: 422}, 1, ReasonStatus, 422},
		{"501 not retried", jsonplaceholder.Fault{Status: 501}, 1, ReasonStatus, 501},
		{"malformed body not retried", jsonplaceholder.Fault{Malformed: true}, 1, ReasonInvalidResponse, 200},
		{"post without id not retried", jsonplaceholder.Fault{Body: `{"userId":1,"title":"t","body":"b"}`}, 1, ReasonInvalidResponse, 200},
		{"other post not retried", jsonplaceholder.Fault{Body: `{"userId":1,"id":8,"title":"t","body":"b"}`}, 1, ReasonInvalidResponse, 200},
		{"list instead of post not retried", jsonplaceholder.Fault{Body: `[]`}, 1, ReasonInvalidResponse, 200},
		{"dropped connection retried", jsonplaceholder.Fault{Drop: true}, 4, ReasonConnection, 0},
		{"slow answer retried", jsonplaceholder.Fault{Delay: time.Second}, 4, ReasonTimeout, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake, srv := setup(t, Config{Timeout: 50 * time.Millisecond, MaxRetries: 3})
			tt.fault.Path = "/posts/7"
			fake.AddFault(tt.fault) // every request, until the test ends

			_, _, err := c.FetchPost(context.Background(), 7)
			gatewayError(t, err, srv.URL, tt.wantReason, tt.wantAttempts, tt.wantStatus)
			if got := fake.Requests("/posts/7"); got != tt.wantAttempts {
				t.Errorf("upstream saw %d requests, want %d", got, tt.wantAttempts)
			}
		})
	}
}

func TestRetryRecovers(t *testing.T) {
	tests := []struct {
		name  string
		fault jsonplaceholder.Fault
	}{
		{"status", jsonplaceholder.Fault{Status: 503, Times: 2}},
		{"dropped connection", jsonplaceholder.Fault{Drop: true, Times: 2}},
		{"timeout", jsonplaceholder.Fault{Delay: time.Second, Times: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts int
			c, fake, _ := setup(t, Config{
				Timeout:    50 * time.Millisecond,
				MaxRetries: 3,
				OnCall:     func(_, _ string, n int, _ time.Duration) { attempts = n },
			})
			tt.fault.Path = "/posts/7"
			fake.AddFault(tt.fault)
			raw, p, err := c.FetchPost(context.Background(), 7)
			if err != nil {
				t.Fatalf("FetchPost: %v", err)
			}
			if p.ID != 7 || !strings.Contains(string(raw), `"id": 7`) {
				t.Errorf("FetchPost = %+v, %s", p, raw)
			}
			if got := fake.Requests("/posts/7"); got != 3 || attempts != 3 {
				t.Errorf("%d requests, %d attempts reported, want 3", got, attempts)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	c, fake, _ := setup(t, Config{MaxRetries: 3})
	ctx := context.Background()

	p, err := c.Post(ctx, 1000)
	if p != nil || err != nil {
		t.Errorf("Post(1000) = %v, %v; want nil, nil", p, err)
	}
	raw, p, err := c.FetchPost(ctx, 1000)
	var e *items.Error
	if !errors.As(err, &e) || e.Code != items.CodeNotFound || e.Extensions["source"] != "external" {
		t.Errorf("FetchPost(1000) error = %#v, want NOT_FOUND from source external", err)
	}
	if raw != nil || p != nil {
		t.Errorf("FetchPost(1000) = %s, %v; want nothing", raw, p)
	}
	if got := fake.Requests("/posts/1000"); got != 2 {
		t.Errorf("upstream saw %d requests, want 2 (404 is not retried)", got)
	}
}

func TestRetryAfter(t *testing.T) {
	// An HTTP date has whole seconds; the client's clock is set just before
	// it so that the wait it implies is known to the millisecond.
	date := time.Now().Truncate(time.Second).Add(10 * time.Second)
	tests := []struct {
		name     string
		header   string
		now      time.Time
		maxWait  time.Duration
		atLeast  time.Duration
		lessThan time.Duration
	}{
		{name: "seconds", header: "1", maxWait: 2 * time.Second, atLeast: time.Second, lessThan: 1800 * time.Millisecond},
		{name: "seconds capped", header: "1", maxWait: 80 * time.Millisecond, atLeast: 80 * time.Millisecond, lessThan: 800 * time.Millisecond},
		{name: "date", header: date.Format(http.TimeFormat), now: date.Add(-150 * time.Millisecond), maxWait: 2 * time.Second, atLeast: 150 * time.Millisecond, lessThan: 800 * time.Millisecond},
		{name: "date capped", header: date.Format(http.TimeFormat), now: date.Add(-5 * time.Second), maxWait: 80 * time.Millisecond, atLeast: 80 * time.Millisecond, lessThan: 800 * time.Millisecond},
		{name: "date passed", header: date.Format(http.TimeFormat), now: date.Add(time.Hour), maxWait: 2 * time.Second, lessThan: 100 * time.Millisecond},
		{name: "garbage", header: "soon", maxWait: 2 * time.Second, lessThan: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake, _ := setup(t, Config{MaxRetries: 3, RetryWait: time.Millisecond, RetryMaxWait: tt.maxWait})
			if !tt.now.IsZero() {
				c.now = func() time.Time { return tt.now }
			}
			fake.AddFault(jsonplaceholder.Fault{Path: "/posts/3", Times: 1, Status: 429, RetryAfter: tt.header})
			begin := time.Now()
			if _, err := c.Post(context.Background(), 3); err != nil {
				t.Fatalf("Post: %v", err)
			}
			d := time.Since(begin)
			if d < tt.atLeast || d >= tt.lessThan {
				t.Errorf("call took %s, want at least %s and less than %s", d, tt.atLeast, tt.lessThan)
			}
			if got := fake.Requests("/posts/3"); got != 2 {
				t.Errorf("upstream saw %d requests, want 2", got)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		give   string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"tomorrow", 0, false},
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second, true}, // RFC 850
		{"Fri Jan  2 03:04:15 2026", 10 * time.Second, true},       // ANSI C
		{"Fri, 02 Jan 2026 03:00:00 GMT", 0, true},                 // passed
		{"99999999999999999999", 0, false},                         // overflows int64
		{"9999999999999", time.Duration(1 << 62), true},            // huge: capped later
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.give, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %s, %t; want %s, %t", tt.give, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoff(t *testing.T) {
	c, _, _ := setup(t, Config{RetryWait: 10 * time.Millisecond, RetryMaxWait: 50 * time.Millisecond})
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 10 * time.Millisecond, 15 * time.Millisecond},
		{2, 20 * time.Millisecond, 30 * time.Millisecond},
		{3, 40 * time.Millisecond, 50 * time.Millisecond},
		{4, 50 * time.Millisecond, 50 * time.Millisecond},
		{100, 50 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(tt.retry)
			if d < tt.min || d > tt.max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.retry, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if tt.min < tt.max && len(seen) < 10 {
			t.Errorf("backoff(%d) took only %d values in 200 draws: no jitter", tt.retry, len(seen))
		}
	}
}

func TestBackoffWaits(t *testing.T) {
	// Three retries from 20ms: at least 20+40+80ms of waiting in all.
	c, fake, srv := setup(t, Config{MaxRetries: 3, RetryWait: 20 * time.Millisecond, RetryMaxWait: time.Second})
	fake.AddFault(jsonplaceholder.Fault{Path: "/posts/1", Status: 500})
	begin := time.Now()
	_, err := c.Post(context.Background(), 1)
	if d := time.Since(begin); d < 140*time.Millisecond || d > 800*time.Millisecond {
		t.Errorf("call took %s, want 140ms to 800ms", d)
	}
	gatewayError(t, err, srv.URL, ReasonStatus, 4, 500)
}

func TestCancel(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		c, fake, _ := setup(t, Config{MaxRetries: 5, RetryWait: 5 * time.Second, RetryMaxWait: 5 * time.Second})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/2", Status: 503})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := c.Post(ctx, 2)
		if d := time.Since(begin); d > time.Second {
			t.Errorf("call took %s after its context ended at 50ms", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want the context's error", err)
		}
		var e *items.Error
		if errors.As(err, &e) {
			t.Errorf("error %v is an *items.Error; a caller that gave up is not BAD_GATEWAY", err)
		}
		if got := fake.Requests("/posts/2"); got != 1 {
			t.Errorf("upstream saw %d requests, want 1", got)
		}
	})

	t.Run("during an attempt", func(t *testing.T) {
		c, fake, _ := setup(t, Config{Timeout: 5 * time.Second, MaxRetries: 3})
		fake.AddFault(jsonplaceholder.Fault{Path: "/posts/2", Delay: 5 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		begin := time.Now()
		_, _, err := c.FetchPost(ctx, 2)
		if d := time.Since(begin); d > time.Second {
			t.Errorf("call took %s after its context was cancelled at 30ms", d)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "fetch post 2") {
			t.Errorf("error = %v, want context.Canceled with context", err)
		}
		if got := fake.Requests("/posts/2"); got != 1 {
			t.Errorf("upstream saw %d requests, want 1", got)
		}
	})

	t.Run("before the call", func(t *testing.T) {
		c, fake, _ := setup(t, Config{MaxRetries: 3, CacheTTL: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Posts(ctx, 10, 0, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if _, err := c.Users(ctx, []int64{1}); !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if got := fake.TotalRequests(); got != 0 {
			t.Errorf("upstream saw %d requests, want 0", got)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		give Config
		want string
	}{
		{"no URL", Config{}, "BaseURL"},
		{"no scheme", Config{BaseURL: "example.com"}, "BaseURL"},
		{"ftp", Config{BaseURL: "ftp://example.com"}, "BaseURL"},
		{"negative timeout", Config{BaseURL: "http://x", Timeout: -1}, "Timeout"},
		{"negative retries", Config{BaseURL: "http://x", MaxRetries: -1}, "MaxRetries"},
		{"negative threshold", Config{BaseURL: "http://x", BreakerThreshold: -1}, "BreakerThreshold"},
		{"negative TTL", Config{BaseURL: "http://x", CacheTTL: -time.Second}, "CacheTTL"},
		{"max below first wait", Config{BaseURL: "http://x", RetryWait: time.Second, RetryMaxWait: time.Millisecond}, "RetryMaxWait"},
	}
	for _, tt := range tests {
		if _, err := New(tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error = %v, want one naming %s", tt.name, err, tt.want)
		}
	}

	c, err := New(Config{BaseURL: "https://jsonplaceholder.typicode.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Timeout != DefaultTimeout || c.cfg.RetryWait != DefaultRetryWait ||
		c.cfg.RetryMaxWait != DefaultRetryMaxWait || c.cfg.BreakerCooldown != DefaultBreakerCooldown ||
		c.cfg.BaseURL != "https://jsonplaceholder.typicode.com" {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
	if c.breaker != nil || c.cache != nil || c.BreakerState() != "closed" {
		t.Error("zero BreakerThreshold and CacheTTL must disable breaker and cache")
	}
}

// recorder collects OnCall and OnBreakerState reports.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	states []string
}

func (r *recorder) onCall(op, outcome string, attempts int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op+":"+outcome)
}

func (r *recorder) onState(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) get() (calls, states []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...), append([]string(nil), r.states...)
}

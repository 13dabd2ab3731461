// Package external is the one client of the JSONPlaceholder REST API
// (posts and users). It owns every rule of the upstream calls: per-attempt
// timeout, retries with backoff and Retry-After, the circuit breaker, the
// read cache with shared in-flight misses, and the translation of failures
// into *items.Error with code BAD_GATEWAY.
package external

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/sony/gobreaker/v2"

	"itemsrv/items"
)

// The defaults New uses for zero Config fields; they are the contract's
// defaults for the EXTERNAL_API_* settings.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultRetryWait       = 200 * time.Millisecond
	DefaultRetryMaxWait    = 5 * time.Second
	DefaultBreakerCooldown = 30 * time.Second
	DefaultCacheSize       = 1000
)

// maxBodyBytes bounds what one answer may hold; the largest real answer,
// all 100 posts, is about 27 KB.
const maxBodyBytes = 4 << 20

// Config configures a Client. Zero MaxRetries, BreakerThreshold and CacheTTL
// mean what they say (no retries, no breaker, no cache); other zero
// durations and sizes take the Default… values. Negative values are refused.
type Config struct {
	// BaseURL is the upstream root, such as https://jsonplaceholder.typicode.com.
	BaseURL string
	// Timeout bounds each attempt, reading the body included.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt may be retried, so a
	// call makes at most 1+MaxRetries attempts.
	MaxRetries int
	// RetryWait is the first backoff; it doubles with each retry, with
	// jitter, up to RetryMaxWait, which also caps a Retry-After.
	RetryWait, RetryMaxWait time.Duration
	// BreakerThreshold consecutive failed calls open the breaker for
	// BreakerCooldown; 0 disables the breaker.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// CacheTTL is how long a read stays cached; 0 disables the cache.
	// CacheSize bounds the number of cached entries (posts pages, posts and
	// users each count one).
	CacheTTL  time.Duration
	CacheSize int
	// Logger receives retries (debug) and breaker state changes (warn).
	// Nil discards them. Failed calls are returned, not logged.
	Logger *slog.Logger
	// OnCall, optional, is called once per finished upstream call (after
	// its retries) and once per read served from the cache, with the
	// operation ("posts", "post", "fetch_post", "users"), the outcome ("ok",
	// "not_found", "cache_hit", "canceled", or a failure reason: "status",
	// "timeout", "connection", "invalid_response", "circuit_open"), the
	// number of attempts and the time taken.
	OnCall func(op string, outcome string, attempts int, d time.Duration)
	// OnBreakerState, optional, is called on every breaker state change
	// with "closed", "open" or "half-open". It is called while the breaker
	// holds its lock: it must not call the Client.
	OnBreakerState func(state string)
	// WrapTransport, optional, wraps the HTTP transport every attempt goes
	// through (tracing does), keeping the client's own connection pool.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// The failure reasons sent as extensions.reason.
const (
	ReasonStatus          = "status"
	ReasonTimeout         = "timeout"
	ReasonConnection      = "connection"
	ReasonInvalidResponse = "invalid_response"
	ReasonCircuitOpen     = "circuit_open"
)

// Client reads posts and users from JSONPlaceholder. It is safe for
// concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	http    *resty.Client
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}] // nil when disabled
	cache   *expirable.LRU[string, any]                // nil when disabled
	flights flights
	// now is the clock for Retry-After dates; tests replace it.
	now func() time.Time
}

// New returns a Client for cfg, or an error naming the bad field.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("external: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Timeout", int64(cfg.Timeout)},
		{"MaxRetries", int64(cfg.MaxRetries)},
		{"RetryWait", int64(cfg.RetryWait)},
		{"RetryMaxWait", int64(cfg.RetryMaxWait)},
		{"BreakerThreshold", int64(cfg.BreakerThreshold)},
		{"BreakerCooldown", int64(cfg.BreakerCooldown)},
		{"CacheTTL", int64(cfg.CacheTTL)},
		{"CacheSize", int64(cfg.CacheSize)},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("external: %s must not be negative", f.name)
		}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	if cfg.RetryMaxWait == 0 {
		cfg.RetryMaxWait = max(DefaultRetryMaxWait, cfg.RetryWait)
	}
	if cfg.RetryMaxWait < cfg.RetryWait {
		return nil, fmt.Errorf("external: RetryMaxWait %s is less than RetryWait %s", cfg.RetryMaxWait, cfg.RetryWait)
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = DefaultBreakerCooldown
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	c := &Client{cfg: cfg, log: logger, now: time.Now}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	// resty makes single attempts here (retry count 0) and the retry loop is
	// ours, in attempts, because resty's cannot meet the contract exactly:
	// its per-attempt timeout can only be http.Client.Timeout (a request's
	// context spans all its attempts and backoff sleeps), it has no
	// Retry-After parser (neither seconds nor HTTP dates), and it decides on
	// a retry before the body is decoded. Our loop also knows, for the
	// error, the breaker and the observer, how many attempts a call made
	// and what the upstream last answered. Each attempt gets its own
	// context deadline, so a caller's cancellation and an attempt's timeout
	// stay distinguishable.
	var rt http.RoundTripper = transport
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	c.http = resty.NewWithClient(&http.Client{Transport: rt}).
		SetBaseURL(cfg.BaseURL).
		SetRetryCount(0).
		SetResponseBodyLimit(maxBodyBytes).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "itemsrv").
		SetLogger(restyLogger{logger})

	if cfg.BreakerThreshold > 0 {
		threshold := uint32(cfg.BreakerThreshold)
		c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        "jsonplaceholder",
			MaxRequests: 1, // one probe decides in half-open
			Timeout:     cfg.BreakerCooldown,
			ReadyToTrip: func(counts gobreaker.Counts) bool {
				return counts.ConsecutiveFailures >= threshold
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errCanceled) },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				logger.Warn("upstream circuit breaker changed state",
					"from", from.String(), "to", to.String())
				if cfg.OnBreakerState != nil {
					cfg.OnBreakerState(to.String())
				}
			},
		})
	}
	if cfg.CacheTTL > 0 {
		c.cache = expirable.NewLRU[string, any](cfg.CacheSize, nil, cfg.CacheTTL)
	}
	c.flights.init()
	return c, nil
}

// BreakerState returns "closed", "open" or "half-open"; a disabled breaker
// is always "closed".
func (c *Client) BreakerState() string {
	if c.breaker == nil {
		return gobreaker.StateClosed.String()
	}
	return c.breaker.State().String()
}

// errCanceled marks, for the breaker, a call that ended because its caller
// went away: it says nothing about the upstream.
var errCanceled = errors.New("call canceled")

// errBreaker marks, for the breaker, a failed call.
var errBreaker = errors.New("call failed")

// outcome is what one upstream call came to.
type outcome struct {
	body     []byte
	notFound bool
	attempts int
}

// do makes one upstream call GET path?query: the breaker's permission, then
// attempts with retries, then decode on a 2xx body. It returns
// notFound for an upstream 404, a BAD_GATEWAY *items.Error for a failed
// call, or ctx's error, wrapped, when ctx ends first.
func (c *Client) do(ctx context.Context, op, what, path string, query url.Values, decode func([]byte) error) (outcome, error) {
	start := time.Now()
	report := func(result string, attempts int) {
		if c.cfg.OnCall != nil {
			c.cfg.OnCall(op, result, attempts, time.Since(start))
		}
	}
	if err := ctx.Err(); err != nil {
		report("canceled", 0)
		return outcome{}, fmt.Errorf("%s: %w", what, err)
	}

	done := func(error) {}
	if c.breaker != nil {
		d, err := c.breaker.Allow()
		if err != nil {
			report(ReasonCircuitOpen, 0)
			return outcome{}, badGateway(ReasonCircuitOpen, 0, 0, fmt.Errorf("%s: %w", what, err))
		}
		done = d
	}

	out, err := c.attempts(ctx, what, path, query, decode)
	var gwErr *items.Error
	switch {
	case err == nil && out.notFound:
		done(nil) // the upstream answered: it is healthy
		report("not_found", out.attempts)
	case err == nil:
		done(nil)
		report("ok", out.attempts)
	case errors.As(err, &gwErr):
		done(errBreaker)
		report(gwErr.Extensions["reason"].(string), out.attempts)
	default:
		done(errCanceled)
		report("canceled", out.attempts)
	}
	return out, err
}

// attempts runs the retry loop of one call.
func (c *Client) attempts(ctx context.Context, what, path string, query url.Values, decode func([]byte) error) (outcome, error) {
	for attempt := 1; ; attempt++ {
		a := c.attempt(ctx, path, query)
		if a.err != nil && ctx.Err() != nil {
			// The caller went away: not an upstream failure.
			return outcome{attempts: attempt}, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if a.err == nil {
			switch {
			case a.status == http.StatusNotFound:
				return outcome{notFound: true, attempts: attempt}, nil
			case a.status >= 200 && a.status < 300:
				if err := decode(a.body); err != nil {
					return outcome{attempts: attempt}, badGateway(ReasonInvalidResponse, attempt, a.status,
						fmt.Errorf("%s: decode answer: %w", what, err))
				}
				return outcome{body: a.body, attempts: attempt}, nil
			}
		}
		if !a.retryable || attempt > c.cfg.MaxRetries {
			cause := a.err
			if cause == nil {
				cause = fmt.Errorf("upstream answered status %d", a.status)
			}
			return outcome{attempts: attempt}, badGateway(a.reason, attempt, a.status,
				fmt.Errorf("%s: attempt %d: %w", what, attempt, cause))
		}

		wait := c.backoff(attempt)
		if ra, ok := parseRetryAfter(a.retryAfter, c.now()); ok && ra > wait {
			wait = ra
		}
		wait = min(wait, c.cfg.RetryMaxWait)
		c.log.DebugContext(ctx, "retrying upstream call",
			"call", what, "attempt", attempt, "status", a.status, "reason", a.reason,
			"wait", wait, "error", a.err)
		if err := sleep(ctx, wait); err != nil {
			return outcome{attempts: attempt}, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// attemptResult is what one attempt came to. err is set when there was no
// usable answer.
type attemptResult struct {
	status     int // 0 when the upstream did not answer
	body       []byte
	retryAfter string
	err        error
	retryable  bool
	reason     string
}

func (c *Client) attempt(ctx context.Context, path string, query url.Values) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.http.R().SetContext(actx).SetQueryParamsFromValues(query).Get(path)
	var a attemptResult
	if resp != nil && resp.RawResponse != nil {
		a.status = resp.StatusCode()
		a.retryAfter = resp.Header().Get("Retry-After")
	}
	switch {
	case err != nil && errors.Is(err, resty.ErrResponseBodyTooLarge):
		a.err, a.reason = err, ReasonInvalidResponse
	case err != nil && actx.Err() != nil && ctx.Err() == nil:
		a.err, a.reason, a.retryable = err, ReasonTimeout, true
	case err != nil && isTimeout(err):
		a.err, a.reason, a.retryable = err, ReasonTimeout, true
	case err != nil:
		// A refused, reset or dropped connection, or a body cut short.
		a.err, a.reason, a.retryable = err, ReasonConnection, true
	default:
		a.body = resp.Body()
		a.reason = ReasonStatus
		a.retryable = retryableStatus(a.status)
	}
	return a
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

// retryableStatus reports whether an answer with this status is worth
// another attempt.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns the wait after the retry-th failed attempt: RetryWait
// doubled for each earlier retry, plus up to half again of jitter, capped at
// RetryMaxWait.
func (c *Client) backoff(retry int) time.Duration {
	d := c.cfg.RetryWait
	for i := 1; i < retry && d < c.cfg.RetryMaxWait; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMaxWait)
	if half := int64(d / 2); half > 0 {
		d += time.Duration(rand.Int64N(half + 1))
	}
	return min(d, c.cfg.RetryMaxWait)
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
// A date in the past is a zero wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(time.Duration(1<<62)/time.Second) {
			return time.Duration(1 << 62), true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits d, or returns ctx's error as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// badGateway is the error of a call that failed. Its message is generic and
// never holds the upstream URL; cause, which may, is for the log.
func badGateway(reason string, attempts, status int, cause error) *items.Error {
	ext := map[string]any{"attempts": attempts, "reason": reason}
	if status != 0 {
		ext["upstreamStatus"] = status
	}
	var msg string
	switch reason {
	case ReasonCircuitOpen:
		msg = "the upstream service is unavailable; calls are paused after repeated failures"
	case ReasonTimeout:
		msg = "the upstream service did not answer in time"
	case ReasonConnection:
		msg = "the upstream service could not be reached"
	case ReasonInvalidResponse:
		msg = "the upstream service sent an invalid response"
	default:
		msg = fmt.Sprintf("the upstream service answered with status %d", status)
	}
	return &items.Error{Code: items.CodeBadGateway, Message: msg, Extensions: ext, Err: cause}
}

// restyLogger sends resty's own log lines to slog at debug level: with
// resty's retries off it has little to say, and failures are returned.
type restyLogger struct{ l *slog.Logger }

func (r restyLogger) Errorf(format string, v ...any) { r.log(format, v) }
func (r restyLogger) Warnf(format string, v ...any)  { r.log(format, v) }
func (r restyLogger) Debugf(format string, v ...any) { r.log(format, v) }

func (r restyLogger) log(format string, v []any) {
	r.l.Debug("resty: " + fmt.Sprintf(format, v...))
}

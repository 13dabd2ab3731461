// Package config reads the server's settings from the environment (and a
// .env file in the working directory, which the environment overrides) and
// checks every one of them at start.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"itemsrv/db"
)

// Config holds every setting of the contract.
type Config struct {
	Port        int
	DatabaseURL string

	ExternalAPIURL         string
	ExternalTimeout        time.Duration
	ExternalMaxRetries     int
	ExternalRetryWait      time.Duration
	ExternalRetryMaxWait   time.Duration
	ExternalBreakerThresh  int
	ExternalBreakerCooldwn time.Duration
	ExternalCacheTTL       time.Duration

	ComplexityLimit    int
	Introspection      bool
	Playground         bool
	PlaygroundAssetDir string
	MaxBodyBytes       int64
	CORSAllowedOrigins []string
	ShutdownTimeout    time.Duration
	LogLevel           slog.Level

	AuthJWTSecret string
	AuthJWKSURL   string
	AuthIssuer    string
	AuthAudience  string

	MetricsAddr string
	// PprofAddr, when set, serves net/http/pprof there (off by default).
	PprofAddr string
	// RequestTimeout bounds every GraphQL request but subscriptions.
	RequestTimeout time.Duration
	// DatabaseMaxConns is the PostgreSQL pool size.
	DatabaseMaxConns int
}

// LoadDotEnv reads .env from the working directory into the environment,
// leaving variables that are already set alone. A missing file is fine.
func LoadDotEnv() error {
	err := godotenv.Load()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf(".env: %w", err)
	}
	return nil
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration, positive bool) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, "%q is not a duration (use Go syntax such as 10s, 200ms or 1m)", v)
		return def
	}
	if d < 0 || (positive && d == 0) {
		if positive {
			r.fail(name, "must be greater than zero, got %s", v)
		} else {
			r.fail(name, "must not be negative, got %s", v)
		}
		return def
	}
	return d
}

func (r *reader) integer(name string, def, min, max int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, "%q is not a whole number", v)
		return def
	}
	if n < min || n > max {
		r.fail(name, "must be between %d and %d, got %d", min, max, n)
		return def
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not a boolean (use true or false)", v)
		return def
	}
	return b
}

func (r *reader) httpURL(name, def string) string {
	v := r.str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "%q is not an http:// or https:// URL", v)
		return def
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) addr(name string) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		r.fail(name, "%q is not a host:port address", v)
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.fail(name, "%q has no valid port (0–65535)", v)
		return ""
	}
	return v
}

// Load reads and checks every setting. The error names every bad variable.
func Load(getenv func(string) string) (*Config, error) {
	r := &reader{getenv: getenv}
	c := &Config{
		Port:                   r.integer("PORT", 8080, 0, 65535),
		DatabaseURL:            r.str("DATABASE_URL", ""),
		ExternalAPIURL:         r.httpURL("EXTERNAL_API_URL", "https://jsonplaceholder.typicode.com"),
		ExternalTimeout:        r.duration("EXTERNAL_API_TIMEOUT", 10*time.Second, true),
		ExternalMaxRetries:     r.integer("EXTERNAL_API_MAX_RETRIES", 3, 0, 100),
		ExternalRetryWait:      r.duration("EXTERNAL_API_RETRY_WAIT", 200*time.Millisecond, false),
		ExternalRetryMaxWait:   r.duration("EXTERNAL_API_RETRY_MAX_WAIT", 5*time.Second, false),
		ExternalBreakerThresh:  r.integer("EXTERNAL_API_BREAKER_THRESHOLD", 5, 0, 1_000_000),
		ExternalBreakerCooldwn: r.duration("EXTERNAL_API_BREAKER_COOLDOWN", 30*time.Second, false),
		ExternalCacheTTL:       r.duration("EXTERNAL_CACHE_TTL", 60*time.Second, false),
		ComplexityLimit:        r.integer("GRAPHQL_COMPLEXITY_LIMIT", 1000, 1, 1<<30),
		Introspection:          r.boolean("GRAPHQL_INTROSPECTION", true),
		Playground:             r.boolean("GRAPHQL_PLAYGROUND", true),
		PlaygroundAssetDir:     r.str("GRAPHQL_PLAYGROUND_ASSETS_DIR", ""),
		MaxBodyBytes:           int64(r.integer("MAX_BODY_BYTES", 1<<20, 1, 1<<30)),
		ShutdownTimeout:        r.duration("SHUTDOWN_TIMEOUT", 15*time.Second, false),
		AuthJWTSecret:          r.getenv("AUTH_JWT_SECRET"),
		AuthJWKSURL:            r.httpURL("AUTH_JWKS_URL", ""),
		AuthIssuer:             r.str("AUTH_ISSUER", ""),
		AuthAudience:           r.str("AUTH_AUDIENCE", ""),
		MetricsAddr:            r.addr("METRICS_ADDR"),
		PprofAddr:              r.addr("PPROF_ADDR"),
		RequestTimeout:         r.duration("REQUEST_TIMEOUT", 30*time.Second, true),
		DatabaseMaxConns:       r.integer("DATABASE_MAX_CONNS", 10, 1, 1000),
	}
	if _, _, err := db.ParseURL(c.DatabaseURL); err != nil {
		r.fail("DATABASE_URL", "%v", err)
	}
	for _, o := range strings.Split(r.str("CORS_ALLOWED_ORIGINS", "*"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}
	switch lv := strings.ToLower(r.str("LOG_LEVEL", "info")); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		r.fail("LOG_LEVEL", "%q is not one of debug, info, warn, error", lv)
	}
	if c.ExternalRetryMaxWait < c.ExternalRetryWait {
		r.fail("EXTERNAL_API_RETRY_MAX_WAIT", "must not be less than EXTERNAL_API_RETRY_WAIT (%s < %s)", c.ExternalRetryMaxWait, c.ExternalRetryWait)
	}
	if c.AuthJWTSecret != "" && c.AuthJWKSURL != "" {
		r.fail("AUTH_JWT_SECRET", "AUTH_JWT_SECRET and AUTH_JWKS_URL are both set; set one of them")
	}
	if c.PlaygroundAssetDir != "" {
		if st, err := os.Stat(c.PlaygroundAssetDir); err != nil || !st.IsDir() {
			r.fail("GRAPHQL_PLAYGROUND_ASSETS_DIR", "%q is not a folder", c.PlaygroundAssetDir)
		}
	}
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("bad settings:\n  %w", errors.Join(r.errs...))
	}
	return c, nil
}

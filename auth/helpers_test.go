package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/items"
)

// testNow is the fixed start of every fake clock.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a settable clock for the parser and the JWKS cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: testNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Test keys are generated once: RSA generation is slow under -race.
var (
	rsaKeyA = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaKeyB = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKeyA  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	ecKeyB  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P384()) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// claimsAt returns valid claims for subject "alice" at clock time now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":   "alice",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"scope": "items:write",
	}
}

// sign signs claims with method and key, setting kid when it is not "".
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return s
}

// b64 encodes v as JSON in base64url, for hand-built tokens.
func b64(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newHS returns an enabled HS256 Authenticator on a fake clock.
func newHS(t testing.TB, cfg Config) (*Authenticator, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = "test-secret"
	}
	a, err := newAuthenticator(cfg, clock.Now)
	if err != nil {
		t.Fatalf("newAuthenticator: %v", err)
	}
	return a, clock
}

// wantAuthError asserts that err is an UNAUTHENTICATED *items.Error with
// the public message wantMsg, and that its cause mentions wantCause (an
// error to match with errors.Is, or a string the cause contains).
func wantAuthError(t *testing.T, err error, wantMsg string, wantCause any) {
	t.Helper()
	var e *items.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *items.Error", err, err)
	}
	if e.Code != items.CodeUnauthenticated || e.Message != wantMsg {
		t.Fatalf("error = %s %q, want %s %q", e.Code, e.Message, items.CodeUnauthenticated, wantMsg)
	}
	if e.Err == nil {
		t.Fatalf("error has no cause for the log")
	}
	switch c := wantCause.(type) {
	case error:
		if !errors.Is(err, c) {
			t.Errorf("cause = %v, want %v", e.Err, c)
		}
	case string:
		if !strings.Contains(e.Err.Error(), c) {
			t.Errorf("cause = %v, want it to mention %q", e.Err, c)
		}
	}
}

// rsaJWK is the public JWK of k; alg may be "".
func rsaJWK(kid string, k *rsa.PrivateKey, alg string) map[string]any {
	m := map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

// ecJWK is the public JWK of k.
func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]any {
	point, err := k.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	size := (len(point) - 1) / 2
	return map[string]any{
		"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name,
		"x": base64.RawURLEncoding.EncodeToString(point[1 : 1+size]),
		"y": base64.RawURLEncoding.EncodeToString(point[1+size:]),
	}
}

// jwksServer serves a JWK Set that a test may change, counting fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu     sync.Mutex
	keys   []map[string]any
	status int
	delay  time.Duration
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		keys, status, delay := s.keys, s.status, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// newJWKS returns an Authenticator on srv's key set and a fake clock.
func newJWKS(t *testing.T, srv *jwksServer, cfg Config) (*Authenticator, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.JWKSURL = srv.URL
	cfg.HTTPClient = srv.Client()
	a, err := newAuthenticator(cfg, clock.Now)
	if err != nil {
		t.Fatalf("newAuthenticator: %v", err)
	}
	return a, clock
}

// logBuffer returns a JSON logger writing to a buffer safe for concurrent
// use.
func logBuffer() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewJSONHandler(&b, nil)), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

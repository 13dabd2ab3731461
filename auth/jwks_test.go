package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/items"
)

func TestJWKSVerifiesRSAAndEC(t *testing.T) {
	srv := newJWKSServer(t,
		rsaJWK("rsa-a", rsaKeyA(), ""),
		rsaJWK("rsa-b", rsaKeyB(), "RS256"),
		ecJWK("ec-a", ecKeyA()),
		ecJWK("ec-b", ecKeyB()),
	)
	a, clock := newJWKS(t, srv, Config{Issuer: "https://idp.test"})
	claims := claimsAt(clock.Now())
	claims["iss"] = "https://idp.test"
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, rsaKeyA(), "rsa-a"},
		{"RS384", jwt.SigningMethodRS384, rsaKeyA(), "rsa-a"},
		{"RS512", jwt.SigningMethodRS512, rsaKeyA(), "rsa-a"},
		{"PS256", jwt.SigningMethodPS256, rsaKeyA(), "rsa-a"},
		{"RS256 on a key pinned to RS256", jwt.SigningMethodRS256, rsaKeyB(), "rsa-b"},
		{"ES256", jwt.SigningMethodES256, ecKeyA(), "ec-a"},
		{"ES384", jwt.SigningMethodES384, ecKeyB(), "ec-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(t.Context(), "Bearer "+sign(t, tt.method, tt.key, tt.kid, claims))
			if err != nil {
				t.Fatalf("Authenticate() error = %v", err)
			}
			if p.Subject != "alice" || !p.Authenticated || !p.CanWrite() {
				t.Errorf("principal = %+v", p)
			}
		})
	}
	if got := srv.fetches.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (then cached)", got)
	}
}

// TestJWKSAttacks: the algorithm is the key's, never the token's.
func TestJWKSAttacks(t *testing.T) {
	srv := newJWKSServer(t,
		rsaJWK("rsa-a", rsaKeyA(), ""),
		rsaJWK("rsa-pinned", rsaKeyB(), "RS256"),
		ecJWK("ec-a", ecKeyA()),
		// A symmetric key in a JWKS is public: it must never verify.
		map[string]any{"kty": "oct", "kid": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("public-secret"))},
	)
	a, clock := newJWKS(t, srv, Config{})
	claims := claimsAt(clock.Now())

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKeyA().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKeyA().PublicKey)})
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKeyA().PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		give      string
		wantCause any
	}{
		{
			name:      "HS256 signed with the RSA public key PEM (key confusion)",
			give:      sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "HS256 signed with the PKCS#1 PEM",
			give:      sign(t, jwt.SigningMethodHS256, pubPKCS1, "rsa-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "HS256 signed with the RSA modulus",
			give:      sign(t, jwt.SigningMethodHS256, rsaKeyA().N.Bytes(), "rsa-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "HS256 signed with the EC public key",
			give:      sign(t, jwt.SigningMethodHS256, ecDER, "ec-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "HS256 with the oct key of the JWKS",
			give:      sign(t, jwt.SigningMethodHS256, []byte("public-secret"), "oct", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "alg none naming an RSA kid",
			give:      sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "ES256 token naming an RSA kid",
			give:      sign(t, jwt.SigningMethodES256, ecKeyA(), "rsa-a", claims),
			wantCause: `does not verify alg "ES256"`,
		},
		{
			name:      "RS256 token naming an EC kid",
			give:      sign(t, jwt.SigningMethodRS256, rsaKeyA(), "ec-a", claims),
			wantCause: `does not verify alg "RS256"`,
		},
		{
			name:      "PS256 on a key pinned to RS256",
			give:      sign(t, jwt.SigningMethodPS256, rsaKeyB(), "rsa-pinned", claims),
			wantCause: `does not verify alg "PS256"`,
		},
		{
			name:      "right alg, another key's signature",
			give:      sign(t, jwt.SigningMethodRS256, rsaKeyB(), "rsa-a", claims),
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name:      "no kid with several keys",
			give:      sign(t, jwt.SigningMethodRS256, rsaKeyA(), "", claims),
			wantCause: `no JWKS key with kid ""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(t.Context(), "Bearer "+tt.give)
			wantAuthError(t, err, MessageInvalidToken, tt.wantCause)
		})
	}
}

func TestJWKSNoKidWithOneKey(t *testing.T) {
	srv := newJWKSServer(t, ecJWK("only", ecKeyA()))
	a, clock := newJWKS(t, srv, Config{})
	if _, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodES256, ecKeyA(), "", claimsAt(clock.Now()))); err != nil {
		t.Fatalf("token without kid against a one-key set: %v", err)
	}
}

func TestJWKSUnknownKidRefreshesOnceThenFails(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("rsa-a", rsaKeyA(), ""))
	a, clock := newJWKS(t, srv, Config{JWKSRefreshMinInterval: time.Minute})
	good := sign(t, jwt.SigningMethodRS256, rsaKeyA(), "rsa-a", claimsAt(clock.Now()))
	if _, err := a.Authenticate(t.Context(), "Bearer "+good); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	clock.Advance(2 * time.Minute)

	unknown := sign(t, jwt.SigningMethodRS256, rsaKeyA(), "nobody", claimsAt(clock.Now()))
	_, err := a.Authenticate(t.Context(), "Bearer "+unknown)
	wantAuthError(t, err, MessageInvalidToken, `no JWKS key with kid "nobody"`)
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2: the warm-up and one refresh for the unknown kid", got)
	}

	_, err = a.Authenticate(t.Context(), "Bearer "+unknown)
	wantAuthError(t, err, MessageInvalidToken, errRefreshLimited)
	if got := srv.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d after a second unknown kid within the interval, want still 2", got)
	}
	if _, err := a.Authenticate(t.Context(), "Bearer "+good); err != nil {
		t.Errorf("known kid after refusals: %v", err)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("2024", rsaKeyA(), "RS256"))
	a, clock := newJWKS(t, srv, Config{JWKSRefreshMinInterval: 10 * time.Second})
	old := func() string { return sign(t, jwt.SigningMethodRS256, rsaKeyA(), "2024", claimsAt(clock.Now())) }
	next := func() string { return sign(t, jwt.SigningMethodES256, ecKeyA(), "2025", claimsAt(clock.Now())) }

	if _, err := a.Authenticate(t.Context(), "Bearer "+old()); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	// The issuer publishes a new key and starts signing with it.
	srv.setKeys(rsaJWK("2024", rsaKeyA(), "RS256"), ecJWK("2025", ecKeyA()))
	clock.Advance(11 * time.Second)
	if _, err := a.Authenticate(t.Context(), "Bearer "+next()); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if _, err := a.Authenticate(t.Context(), "Bearer "+old()); err != nil {
		t.Errorf("old key still published: %v", err)
	}
	if got := srv.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}

	// The issuer withdraws the old key; once the cached set is older than
	// jwksMaxAge, the next token refreshes it and the old key stops working.
	srv.setKeys(ecJWK("2025", ecKeyA()))
	clock.Advance(jwksMaxAge)
	_, err := a.Authenticate(t.Context(), "Bearer "+old())
	wantAuthError(t, err, MessageInvalidToken, `no JWKS key with kid "2024"`)
	if _, err := a.Authenticate(t.Context(), "Bearer "+next()); err != nil {
		t.Errorf("new key after withdrawal of the old: %v", err)
	}
	if got := srv.fetches.Load(); got != 3 {
		t.Errorf("fetches = %d, want 3", got)
	}
}

// TestJWKSFloodOfUnknownKids: many tokens with made-up kids, at once and
// over time, cause at most one fetch per refresh interval.
func TestJWKSFloodOfUnknownKids(t *testing.T) {
	srv := newJWKSServer(t, ecJWK("real", ecKeyA()))
	a, clock := newJWKS(t, srv, Config{JWKSRefreshMinInterval: 10 * time.Second})
	if _, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodES256, ecKeyA(), "real", claimsAt(clock.Now()))); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	srv.setDelay(20 * time.Millisecond) // let the flood pile up on one fetch
	clock.Advance(time.Minute)

	flood := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tok := sign(t, jwt.SigningMethodES256, ecKeyA(), fmt.Sprintf("fake-%d", i), claimsAt(clock.Now()))
				if _, err := a.Authenticate(t.Context(), "Bearer "+tok); err == nil {
					t.Errorf("token with made-up kid %d accepted", i)
				}
			})
		}
		wg.Wait()
	}
	flood(200)
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("fetches after a burst of 200 unknown kids = %d, want 2 (warm-up + one)", got)
	}
	for range 5 {
		clock.Advance(3 * time.Second)
		flood(20)
	}
	// 15 s passed: one more refresh is allowed, no more.
	if got := srv.fetches.Load(); got != 3 {
		t.Errorf("fetches after 15 s of unknown kids = %d, want 3", got)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	srv := newJWKSServer(t, ecJWK("k", ecKeyA()))
	srv.setStatus(http.StatusServiceUnavailable)
	logger, logs := logBuffer()
	a, clock := newJWKS(t, srv, Config{Logger: logger, JWKSRefreshMinInterval: time.Second})
	tok := func() string { return sign(t, jwt.SigningMethodES256, ecKeyA(), "k", claimsAt(clock.Now())) }

	// The provider being down is not the token's fault: SERVICE_UNAVAILABLE,
	// also for a retry within the refresh interval.
	for range 2 {
		_, err := a.Authenticate(t.Context(), "Bearer "+tok())
		var ie *items.Error
		if !errors.As(err, &ie) || ie.Code != items.CodeServiceUnavailable || ie.Message != MessageKeysUnavailable || !strings.Contains(err.Error(), "status 503") {
			t.Fatalf("with the JWKS down: %v, want SERVICE_UNAVAILABLE", err)
		}
	}

	// The issuer recovers: after the interval the set is fetched.
	srv.setStatus(http.StatusOK)
	clock.Advance(2 * time.Second)
	if _, err := a.Authenticate(t.Context(), "Bearer "+tok()); err != nil {
		t.Fatalf("after the JWKS recovered: %v", err)
	}

	// It fails again once the set is stale: the cached keys still verify,
	// and the failure is logged.
	srv.setStatus(http.StatusInternalServerError)
	clock.Advance(jwksMaxAge + time.Second)
	if _, err := a.Authenticate(t.Context(), "Bearer "+tok()); err != nil {
		t.Fatalf("stale set with the JWKS down: %v", err)
	}
	if !strings.Contains(logs.String(), "JWKS refresh failed") || !strings.Contains(logs.String(), "status 500") {
		t.Errorf("log = %s, want the refresh failure", logs.String())
	}
}

func TestJWKSWaitingCallerCanGiveUp(t *testing.T) {
	srv := newJWKSServer(t, ecJWK("k", ecKeyA()))
	srv.setDelay(time.Second)
	a, clock := newJWKS(t, srv, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Authenticate(ctx, "Bearer "+sign(t, jwt.SigningMethodES256, ecKeyA(), "k", claimsAt(clock.Now())))
	wantAuthError(t, err, MessageInvalidToken, "context deadline exceeded")
	if waited := time.Since(start); waited > 500*time.Millisecond {
		t.Errorf("Authenticate waited %v for the JWKS after its context ended", waited)
	}
}

func TestParseJWKS(t *testing.T) {
	small := mustRSA(1024)
	ecPoint := ecJWK("bad-point", ecKeyA())
	ecPoint["y"] = ecPoint["x"] // almost surely not on the curve
	tests := []struct {
		name     string
		give     []map[string]any
		wantKids []string
		wantErr  string
	}{
		{
			name:     "RSA and EC",
			give:     []map[string]any{rsaJWK("r", rsaKeyA(), ""), ecJWK("e", ecKeyA())},
			wantKids: []string{"e", "r"},
		},
		{
			name:     "encryption key skipped",
			give:     []map[string]any{withField(rsaJWK("enc", rsaKeyA(), ""), "use", "enc"), ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:     "key_ops without verify skipped",
			give:     []map[string]any{withField(ecJWK("wrap", ecKeyA()), "key_ops", []string{"wrapKey"}), ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:     "RSA below 2048 bits skipped",
			give:     []map[string]any{rsaJWK("small", small, ""), ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:     "EC point off the curve skipped",
			give:     []map[string]any{ecPoint, ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:     "EC key with a mismatched alg skipped",
			give:     []map[string]any{withField(ecJWK("x", ecKeyA()), "alg", "ES384"), ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:     "RSA key with an HMAC alg skipped",
			give:     []map[string]any{rsaJWK("x", rsaKeyA(), "HS256"), ecJWK("e", ecKeyA())},
			wantKids: []string{"e"},
		},
		{
			name:    "only unusable keys",
			give:    []map[string]any{{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "OKP", "crv": "Ed25519", "x": "AA"}},
			wantErr: "no usable signature key",
		},
		{
			name:    "empty set",
			give:    []map[string]any{},
			wantErr: "no usable signature key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(map[string]any{"keys": tt.give})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := parseJWKS(data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseJWKS() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS() error = %v", err)
			}
			var kids []string
			for kid := range keys {
				kids = append(kids, kid)
			}
			if strings.Join(sorted(kids), ",") != strings.Join(tt.wantKids, ",") {
				t.Errorf("kids = %v, want %v", sorted(kids), tt.wantKids)
			}
		})
	}
	if _, err := parseJWKS([]byte("not json")); err == nil {
		t.Error("parseJWKS(not json) succeeded")
	}
}

func TestParseJWKSRepeatedKidKeepsTheFirst(t *testing.T) {
	data, err := json.Marshal(map[string]any{"keys": []any{ecJWK("e", ecKeyA()), ecJWK("e", ecKeyB())}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if k := keys["e"]; len(keys) != 1 || len(k.algs) != 1 || k.algs[0] != "ES256" {
		t.Errorf("keys = %+v, want only the first (P-256, ES256) key", keys)
	}
}

func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

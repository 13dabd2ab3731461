package auth

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name        string
		give        Config
		wantEnabled bool
		wantErr     string
	}{
		{name: "nothing set: off", give: Config{}, wantEnabled: false},
		{name: "issuer alone: off", give: Config{Issuer: "x", Audience: "y"}, wantEnabled: false},
		{name: "secret", give: Config{JWTSecret: "k"}, wantEnabled: true},
		{name: "https JWKS", give: Config{JWKSURL: "https://idp.test/.well-known/jwks.json"}, wantEnabled: true},
		{name: "http JWKS", give: Config{JWKSURL: "http://127.0.0.1:9/jwks"}, wantEnabled: true},
		{name: "both", give: Config{JWTSecret: "k", JWKSURL: "https://idp.test/jwks"},
			wantErr: "AUTH_JWT_SECRET and AUTH_JWKS_URL are both set; choose one"},
		{name: "ftp JWKS", give: Config{JWKSURL: "ftp://idp.test/jwks"}, wantErr: "is not an http(s) URL"},
		{name: "relative JWKS", give: Config{JWKSURL: "/jwks.json"}, wantErr: "is not an http(s) URL"},
		{name: "JWKS without host", give: Config{JWKSURL: "https:///jwks"}, wantErr: "is not an http(s) URL"},
		{name: "negative leeway", give: Config{JWTSecret: "k", Leeway: -time.Second}, wantErr: "negative"},
		{name: "negative refresh interval", give: Config{JWKSURL: "https://idp.test/jwks", JWKSRefreshMinInterval: -1},
			wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				if a != nil {
					t.Errorf("New() = %v with an error, want nil", a)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if a.Enabled() != tt.wantEnabled {
				t.Errorf("Enabled() = %v, want %v", a.Enabled(), tt.wantEnabled)
			}
		})
	}
}

func TestDisabledAuthenticatorIsAnonymous(t *testing.T) {
	for _, a := range []*Authenticator{nil, {}, mustNew(t, Config{})} {
		if a.Enabled() {
			t.Fatalf("%#v is enabled", a)
		}
		for _, header := range []string{"", "garbage", "Bearer x.y.z"} {
			p, err := a.Authenticate(t.Context(), header)
			if err != nil || p.Subject != "" || !p.CanWrite() || p.Authenticated {
				t.Errorf("Authenticate(%q) = %+v, %v; want Anonymous", header, p, err)
			}
		}
	}
}

func mustNew(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAuthenticateAttacks runs every way of presenting a bad token against
// an HS256 Authenticator that checks issuer and audience.
func TestAuthenticateAttacks(t *testing.T) {
	const secret = "hs-secret"
	cfg := Config{JWTSecret: secret, Issuer: "https://issuer.test", Audience: "items-api"}
	valid := func(now time.Time) jwt.MapClaims {
		c := claimsAt(now)
		c["iss"] = "https://issuer.test"
		c["aud"] = "items-api"
		return c
	}
	with := func(now time.Time, edit func(jwt.MapClaims)) jwt.MapClaims {
		c := valid(now)
		edit(c)
		return c
	}
	hs := func(t *testing.T, c jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodHS256, []byte(secret), "", c)
	}

	tests := []struct {
		name string
		// give builds the Authorization header at clock time now.
		give      func(t *testing.T, now time.Time) string
		wantMsg   string // "" for success
		wantCause any    // error for errors.Is, or string within the cause
	}{
		{
			name:    "valid",
			give:    func(t *testing.T, now time.Time) string { return "Bearer " + hs(t, valid(now)) },
			wantMsg: "",
		},
		{
			name:    "scheme in lower case",
			give:    func(t *testing.T, now time.Time) string { return "bearer " + hs(t, valid(now)) },
			wantMsg: "",
		},
		{
			name:    "extra spaces around",
			give:    func(t *testing.T, now time.Time) string { return "  BEARER   " + hs(t, valid(now)) + " " },
			wantMsg: "",
		},
		{
			name:      "no token",
			give:      func(*testing.T, time.Time) string { return "" },
			wantMsg:   MessageMissingToken,
			wantCause: errMissingToken,
		},
		{
			name:      "garbage",
			give:      func(*testing.T, time.Time) string { return "garbage" },
			wantMsg:   MessageInvalidToken,
			wantCause: "not Bearer",
		},
		{
			name:      "Bearer with no token",
			give:      func(*testing.T, time.Time) string { return "Bearer" },
			wantMsg:   MessageInvalidToken,
			wantCause: "empty",
		},
		{
			name:      "Bearer and spaces",
			give:      func(*testing.T, time.Time) string { return "Bearer    " },
			wantMsg:   MessageInvalidToken,
			wantCause: "empty",
		},
		{
			name:      "wrong scheme",
			give:      func(t *testing.T, now time.Time) string { return "Basic " + hs(t, valid(now)) },
			wantMsg:   MessageInvalidToken,
			wantCause: "not Bearer",
		},
		{
			name:      "scheme glued to token",
			give:      func(t *testing.T, now time.Time) string { return "Bearer," + hs(t, valid(now)) },
			wantMsg:   MessageInvalidToken,
			wantCause: "not Bearer",
		},
		{
			name: "two tokens",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, valid(now)) + " " + hs(t, valid(now))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "not one base64url JWT",
		},
		{
			name:      "not a JWT",
			give:      func(*testing.T, time.Time) string { return "Bearer abc.def" },
			wantMsg:   MessageInvalidToken,
			wantCause: "three parts",
		},
		{
			name:      "five parts (JWE)",
			give:      func(*testing.T, time.Time) string { return "Bearer a.b.c.d.e" },
			wantMsg:   MessageInvalidToken,
			wantCause: "three parts",
		},
		{
			name:      "three garbage parts",
			give:      func(*testing.T, time.Time) string { return "Bearer a.b.c" },
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenMalformed,
		},
		{
			name: "oversized",
			give: func(*testing.T, time.Time) string {
				return "Bearer " + strings.Repeat("a", maxTokenLen) + ".b.c"
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "more than",
		},
		{
			name: "wrong signature",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("other-secret"), "", valid(now))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "payload swapped after signing",
			give: func(t *testing.T, now time.Time) string {
				parts := strings.Split(hs(t, valid(now)), ".")
				parts[1] = b64(t, with(now, func(c jwt.MapClaims) { c["sub"] = "mallory" }))
				return "Bearer " + strings.Join(parts, ".")
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "expired",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) {
					c["iat"] = now.Add(-2 * time.Hour).Unix()
					c["exp"] = now.Add(-31 * time.Second).Unix()
				}))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenExpired,
		},
		{
			name: "expired but within leeway",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) {
					c["iat"] = now.Add(-time.Hour).Unix()
					c["exp"] = now.Add(-25 * time.Second).Unix()
				}))
			},
			wantMsg: "",
		},
		{
			name: "not yet valid (nbf)",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenNotValidYet,
		},
		{
			name: "nbf within leeway",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["nbf"] = now.Add(25 * time.Second).Unix() }))
			},
			wantMsg: "",
		},
		{
			name: "issued in the future (iat)",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenUsedBeforeIssued,
		},
		{
			name: "wrong issuer",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenInvalidIssuer,
		},
		{
			name: "missing issuer",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { delete(c, "iss") }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name: "wrong audience",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["aud"] = "other-api" }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenInvalidAudience,
		},
		{
			name: "audience array without ours",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenInvalidAudience,
		},
		{
			name: "audience array containing ours",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["aud"] = []string{"other-api", "items-api"} }))
			},
			wantMsg: "",
		},
		{
			name: "missing audience",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { delete(c, "aud") }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name: "alg none",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", valid(now))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "alg none with a stolen signature",
			give: func(t *testing.T, now time.Time) string {
				parts := strings.Split(hs(t, valid(now)), ".")
				parts[0] = b64(t, map[string]string{"alg": "none", "typ": "JWT"})
				return "Bearer " + strings.Join(parts, ".")
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "alg None spelt differently",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + b64(t, map[string]string{"alg": "None"}) + "." + b64(t, valid(now)) + "."
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenUnverifiable,
		},
		{
			name: "HS384 with the right secret",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + sign(t, jwt.SigningMethodHS384, []byte(secret), "", valid(now))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "RS256 against a secret",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + sign(t, jwt.SigningMethodRS256, rsaKeyA(), "", valid(now))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenSignatureInvalid,
		},
		{
			name: "missing sub",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { delete(c, "sub") }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "no sub",
		},
		{
			name: "empty sub",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["sub"] = "" }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "no sub",
		},
		{
			name: "sub posing as the unauthenticated subject",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["sub"] = Unauthenticated.Subject }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "control character",
		},
		{
			name: "sub not a string",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["sub"] = 42 }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenMalformed,
		},
		{
			name: "missing exp",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { delete(c, "exp") }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenRequiredClaimMissing,
		},
		{
			name: "exp as a string",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenMalformed,
		},
		{
			name: "scope neither string nor array",
			give: func(t *testing.T, now time.Time) string {
				return "Bearer " + hs(t, with(now, func(c jwt.MapClaims) { c["scope"] = 7 }))
			},
			wantMsg:   MessageInvalidToken,
			wantCause: jwt.ErrTokenMalformed,
		},
		{
			name: "crit header",
			give: func(t *testing.T, now time.Time) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, valid(now))
				tok.Header["crit"] = []string{"exp"}
				s, err := tok.SignedString([]byte(secret))
				if err != nil {
					t.Fatal(err)
				}
				return "Bearer " + s
			},
			wantMsg:   MessageInvalidToken,
			wantCause: "crit",
		},
	}
	a, clock := newHS(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(t.Context(), tt.give(t, clock.Now()))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Authenticate() error = %v, want success", err)
				}
				if p.Subject != "alice" || !p.Authenticated || !p.CanWrite() {
					t.Errorf("principal = %+v, want alice, authenticated, may write", p)
				}
				return
			}
			wantAuthError(t, err, tt.wantMsg, tt.wantCause)
			if p.Authenticated || p.Subject != "" || p.CanWrite() {
				t.Errorf("principal on error = %+v, want the zero Principal", p)
			}
		})
	}
}

func TestAuthenticateKeyConfusionWithSecret(t *testing.T) {
	// A server configured with a secret that happens to be a PEM public key
	// must still refuse RS256 tokens: alg comes from the configuration.
	pub, err := x509.MarshalPKIXPublicKey(&rsaKeyA().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	a, clock := newHS(t, Config{JWTSecret: pemKey})
	tok := sign(t, jwt.SigningMethodRS256, rsaKeyA(), "", claimsAt(clock.Now()))
	_, err = a.Authenticate(t.Context(), "Bearer "+tok)
	wantAuthError(t, err, MessageInvalidToken, jwt.ErrTokenSignatureInvalid)
}

func TestAuthenticateScopes(t *testing.T) {
	tests := []struct {
		name      string
		give      any // the scope claim; nil leaves it out
		giveScp   any // the scp claim; nil leaves it out
		want      []string
		wantWrite bool
	}{
		{name: "none", want: nil},
		{name: "write", give: "items:write", want: []string{"items:write"}, wantWrite: true},
		{name: "space separated", give: " items:read  items:write ", want: []string{"items:read", "items:write"}, wantWrite: true},
		{name: "read only", give: "items:read", want: []string{"items:read"}},
		{name: "empty", give: "", want: nil},
		{name: "similar but not write", give: "items:writer items", want: []string{"items:writer", "items"}},
		{name: "scope as array", give: []string{"items:write"}, want: []string{"items:write"}, wantWrite: true},
		{name: "scp array", giveScp: []string{"a", "items:write"}, want: []string{"a", "items:write"}, wantWrite: true},
		{name: "scope and scp", give: "a", giveScp: []string{"b"}, want: []string{"a", "b"}},
	}
	a, clock := newHS(t, Config{JWTSecret: "k"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claimsAt(clock.Now())
			delete(c, "scope")
			if tt.give != nil {
				c["scope"] = tt.give
			}
			if tt.giveScp != nil {
				c["scp"] = tt.giveScp
			}
			p, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodHS256, []byte("k"), "", c))
			if err != nil {
				t.Fatalf("Authenticate() error = %v", err)
			}
			if strings.Join(p.Scopes, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Scopes = %q, want %q", p.Scopes, tt.want)
			}
			if p.CanWrite() != tt.wantWrite {
				t.Errorf("CanWrite() = %v, want %v", p.CanWrite(), tt.wantWrite)
			}
		})
	}
}

func TestSecretIsRawBytes(t *testing.T) {
	// A secret that looks like base64 is not decoded: its bytes are the key.
	const secret = "c2VjcmV0"
	a, clock := newHS(t, Config{JWTSecret: secret})
	raw := sign(t, jwt.SigningMethodHS256, []byte(secret), "", claimsAt(clock.Now()))
	if _, err := a.Authenticate(t.Context(), "Bearer "+raw); err != nil {
		t.Fatalf("token signed with the raw secret: %v", err)
	}
	decoded := sign(t, jwt.SigningMethodHS256, []byte("secret"), "", claimsAt(clock.Now()))
	_, err := a.Authenticate(t.Context(), "Bearer "+decoded)
	wantAuthError(t, err, MessageInvalidToken, jwt.ErrTokenSignatureInvalid)
}

func TestLeewayIsConfigurable(t *testing.T) {
	a, clock := newHS(t, Config{JWTSecret: "k", Leeway: 5 * time.Second})
	c := claimsAt(clock.Now())
	c["exp"] = clock.Now().Add(-10 * time.Second).Unix()
	_, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodHS256, []byte("k"), "", c))
	wantAuthError(t, err, MessageInvalidToken, jwt.ErrTokenExpired)
}

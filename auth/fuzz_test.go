package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/items"
)

// FuzzAuthorizationHeader feeds arbitrary Authorization values to the
// header parser and to Authenticate. Neither may panic; a parsed token is
// a substring of the header made only of JWT characters; Authenticate
// either yields an authenticated principal with a subject or an
// UNAUTHENTICATED error with one of the two public messages.
func FuzzAuthorizationHeader(f *testing.F) {
	a, clock := newHS(f, Config{JWTSecret: "fuzz"})
	valid := sign(f, jwt.SigningMethodHS256, []byte("fuzz"), "", claimsAt(clock.Now()))
	for _, seed := range []string{
		"",
		" ",
		"Bearer",
		"Bearer ",
		"bearer " + valid,
		"Bearer " + valid,
		"Bearer  " + valid + "  ",
		"Bearer\t" + valid,
		"Basic dXNlcjpwYXNz",
		"Bearer " + valid + " extra",
		"Bearer a.b.c",
		"Bearer a.b",
		"Bearer ..",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"Bearer " + strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + ".",
		"Bearer \x00.\x01.\x02",
		"Bearer é.é.é",
		"BEARER " + valid,
		"Bearer=" + valid,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if tok, err := bearerToken(header); err == nil {
			if tok == "" || !strings.Contains(header, tok) || strings.Count(tok, ".") != 2 {
				t.Fatalf("bearerToken(%q) = %q", header, tok)
			}
			for i := 0; i < len(tok); i++ {
				if !isTokenByte(tok[i]) {
					t.Fatalf("bearerToken(%q) = %q with byte %q", header, tok, tok[i])
				}
			}
		}
		p, err := a.Authenticate(t.Context(), header)
		if err == nil {
			if !p.Authenticated || p.Subject == "" {
				t.Fatalf("Authenticate(%q) = %+v without error", header, p)
			}
			return
		}
		var e *items.Error
		if !errors.As(err, &e) || e.Code != items.CodeUnauthenticated ||
			(e.Message != MessageInvalidToken && e.Message != MessageMissingToken) || e.Err == nil {
			t.Fatalf("Authenticate(%q) error = %#v", header, err)
		}
		if p.Authenticated || p.CanWrite() {
			t.Fatalf("Authenticate(%q) = %+v with an error", header, p)
		}
	})
}

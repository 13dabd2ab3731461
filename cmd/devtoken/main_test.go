package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"itemsrv/auth"
)

func TestRunMintsATokenTheServerAccepts(t *testing.T) {
	env := map[string]string{"AUTH_JWT_SECRET": "s3cret", "AUTH_ISSUER": "https://issuer.test", "AUTH_AUDIENCE": "items"}
	var out bytes.Buffer
	if err := run([]string{"-sub", "alice", "-scope", "items:write items:read"}, func(k string) string { return env[k] }, &out, time.Now()); err != nil {
		t.Fatalf("run: %v", err)
	}
	a, err := auth.New(auth.Config{JWTSecret: "s3cret", Issuer: "https://issuer.test", Audience: "items"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(context.Background(), "Bearer "+strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.Subject != "alice" || !p.Authenticated || !p.CanWrite() || len(p.Scopes) != 2 {
		t.Errorf("principal = %+v, want alice with items:write and items:read", p)
	}
}

func TestRunReadOnlyTokenCannotWrite(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-secret", "k", "-sub", "bob", "-scope", ""}, func(string) string { return "" }, &out, time.Now()); err != nil {
		t.Fatalf("run: %v", err)
	}
	a, err := auth.New(auth.Config{JWTSecret: "k"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(context.Background(), "Bearer "+strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.CanWrite() {
		t.Errorf("principal %+v can write, want read-only", p)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want string
	}{
		{"no secret", []string{"-sub", "a"}, "no secret"},
		{"empty sub", []string{"-secret", "k", "-sub", ""}, "-sub is empty"},
		{"zero ttl", []string{"-secret", "k", "-ttl", "0s"}, "not positive"},
		{"stray argument", []string{"-secret", "k", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tt.give, func(string) string { return "" }, &out, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.give, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("run printed %q on error", out.String())
			}
		})
	}
}

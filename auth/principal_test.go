package auth

import (
	"context"
	"testing"
)

func TestFromContext(t *testing.T) {
	alice := Principal{Subject: "alice", Authenticated: true}
	tests := []struct {
		name      string
		give      context.Context
		want      string // the subject
		wantWrite bool
	}{
		{"auth off: Anonymous", context.Background(), "", true},
		{"principal set", WithPrincipal(context.Background(), alice), "alice", false},
		{"enabled, none set: Unauthenticated", withEnabled(context.Background()), Unauthenticated.Subject, false},
		{"enabled, then set", WithPrincipal(withEnabled(context.Background()), alice), "alice", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := FromContext(tt.give)
			if p.Subject != tt.want || p.CanWrite() != tt.wantWrite {
				t.Errorf("FromContext() = %+v, want subject %q, may write %v", p, tt.want, tt.wantWrite)
			}
		})
	}
}

// TestUnauthenticatedMatchesNoOwner: the fallback subject is neither the
// shared space of auth-off ("") nor any subject a token may carry.
func TestUnauthenticatedMatchesNoOwner(t *testing.T) {
	if Unauthenticated.Subject == Anonymous.Subject {
		t.Fatal("Unauthenticated shares Anonymous's subject")
	}
	if err := checkSubject(Unauthenticated.Subject); err == nil {
		t.Fatal("a token could carry the Unauthenticated subject")
	}
	if Unauthenticated.CanWrite() || Unauthenticated.Authenticated || len(Unauthenticated.Scopes) != 0 {
		t.Errorf("Unauthenticated = %+v, want no scopes", Unauthenticated)
	}
}

func TestHasScope(t *testing.T) {
	p := Principal{Scopes: []string{"items:read", WriteScope}}
	if !p.HasScope("items:read") || p.HasScope("items") || !p.CanWrite() {
		t.Errorf("scopes of %+v misread", p)
	}
}

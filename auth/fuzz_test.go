package auth

import (
	"errors"
	"testing"
	"time"
)

// FuzzVerify checks that no input makes the token parser panic, and that
// nothing but a token signed with the secret verifies.
func FuzzVerify(f *testing.F) {
	valid, err := Mint(testConfig, "alice", RoleEngineer, "", time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{valid, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", valid + "x", valid[:len(valid)-2]} {
		f.Add(seed)
	}
	v, err := NewVerifier(testConfig)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(token)
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Verify(%q) returned %v, which does not wrap ErrUnauthenticated", token, err)
		}
		if err == nil && token != valid {
			t.Fatalf("Verify accepted a token that was not minted with the secret: %q", token)
		}
	})
}

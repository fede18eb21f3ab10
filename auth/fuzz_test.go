package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify checks that no input makes the token parser panic, and that
// nothing but a token signed with the secret verifies. Each fuzz worker
// process mints its own seed token at its own time, so acceptance is checked
// against the signature itself rather than against one minted string.
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
		if err == nil && !signedWith(token, testConfig.HS256Secret) {
			t.Fatalf("Verify accepted a token that was not minted with the secret: %q", token)
		}
	})
}

// signedWith reports whether token carries a valid HS256 signature by secret
// over its header and payload.
func signedWith(token string, secret []byte) bool {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token[:i]))
	want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(token[i+1:]), []byte(want))
}

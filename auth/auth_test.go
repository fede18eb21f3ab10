package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testConfig = Config{HS256Secret: []byte("test-secret-of-enough-length-123"), Issuer: "https://issuer.test", Audience: "onboarding-api", ClockSkew: 30 * time.Second}

func TestVerifyHS256(t *testing.T) {
	v, err := NewVerifier(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	token, err := Mint(testConfig, "alice", RoleEngineer, "", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || p.Role != RoleEngineer {
		t.Errorf("principal = %+v, want alice as engineer", p)
	}
}

func TestVerifyRejects(t *testing.T) {
	v, err := NewVerifier(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	other := testConfig
	other.Issuer = "https://other.test"
	otherAudience := testConfig
	otherAudience.Audience = "other-api"
	wrongKey := testConfig
	wrongKey.HS256Secret = []byte("another-secret-of-enough-length!")
	mint := func(c Config, role, customer string, ttl time.Duration, at time.Time) string {
		token, err := Mint(c, "bob", role, customer, ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	cases := map[string]string{
		"expired":             mint(testConfig, RoleEngineer, "", time.Minute, now.Add(-2*time.Hour)),
		"not yet valid":       mint(testConfig, RoleEngineer, "", time.Hour, now.Add(time.Hour)),
		"wrong issuer":        mint(other, RoleEngineer, "", time.Hour, now),
		"wrong audience":      mint(otherAudience, RoleEngineer, "", time.Hour, now),
		"wrong key":           mint(wrongKey, RoleEngineer, "", time.Hour, now),
		"unknown role":        signUnchecked(t, "bob", "superuser", "", now),
		"customer no binding": signUnchecked(t, "bob", RoleCustomer, "", now),
		"no subject":          signUnchecked(t, "", RoleEngineer, "", now),
		"garbage":             "not.a.token",
		"alg none":            noneToken(t),
	}
	for name, token := range cases {
		if _, err := v.Verify(token); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: Verify returned %v, want ErrUnauthenticated", name, err)
		}
	}
	// Within the clock skew a just-expired token still passes.
	if _, err := v.Verify(mint(testConfig, RoleAuditor, "", time.Minute, now.Add(-time.Minute-10*time.Second))); err != nil {
		t.Errorf("token expired 10 s ago with 30 s skew: %v", err)
	}
}

func noneToken(t *testing.T) string {
	token, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "eve", "role": "admin", "iss": testConfig.Issuer, "aud": testConfig.Audience, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVerifyRS256AndES256FromJWKS(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
	}}
	raw, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{JWKSFile: path, Issuer: testConfig.Issuer, Audience: testConfig.Audience}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "carol", "role": "customer", "customerId": "acme", "iss": cfg.Issuer, "aud": cfg.Audience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for kid, signed := range map[string]func() (string, error){
		"r1": func() (string, error) {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
			tok.Header["kid"] = "r1"
			return tok.SignedString(rsaKey)
		},
		"e1": func() (string, error) {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
			tok.Header["kid"] = "e1"
			return tok.SignedString(ecKey)
		},
	} {
		token, err := signed()
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(token)
		if err != nil {
			t.Errorf("%s: %v", kid, err)
			continue
		}
		if p.CustomerID != "acme" || p.Role != RoleCustomer {
			t.Errorf("%s: principal %+v, want customer of acme", kid, p)
		}
	}
}

// An HS256 token signed with the bytes of a public key from the key set is
// rejected when only the key set is configured: HS256 is not accepted.
func TestVerifyRejectsAlgorithmConfusion(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "r1", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{JWKSFile: path, Issuer: testConfig.Issuer, Audience: testConfig.Audience})
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "eve", "role": "admin", "iss": testConfig.Issuer, "aud": testConfig.Audience, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "r1"
	signed, err := tok.SignedString(rsaKey.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(signed); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("HS256 token signed with public key bytes: %v, want ErrUnauthenticated", err)
	}
}

// signUnchecked signs claims that Mint refuses to mint, as a token from
// another issuer might carry.
func signUnchecked(t *testing.T, subject, role, customerID string, now time.Time) string {
	t.Helper()
	cl := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: subject, Issuer: testConfig.Issuer, Audience: jwt.ClaimStrings{testConfig.Audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Role: role, CustomerID: customerID,
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(testConfig.HS256Secret)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestMintRejectsClaimsVerifyRejects(t *testing.T) {
	for name, args := range map[string][3]string{
		"unknown role":        {"bob", "superuser", ""},
		"customer no binding": {"bob", RoleCustomer, ""},
		"no subject":          {"", RoleEngineer, ""},
	} {
		if _, err := Mint(testConfig, args[0], args[1], args[2], time.Hour, time.Now()); err == nil {
			t.Errorf("%s: Mint returned a token that Verify rejects", name)
		}
	}
}

// Package auth verifies the bearer tokens (JWTs) of API callers and mints
// tokens for local development.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a token may carry in its "role" claim.
const (
	RoleCustomer = "customer"
	RoleEngineer = "engineer"
	RoleAuditor  = "auditor"
	RoleAdmin    = "admin"
)

// Principal is the verified caller of a request.
type Principal struct {
	Subject string
	Role    string
	// CustomerID binds a customer token to one customer's projects.
	CustomerID string
	Expires    time.Time
}

// Config configures token verification. At least one of HS256Secret and
// JWKSFile must be set for authentication to be on.
type Config struct {
	// HS256Secret verifies HS256 tokens and signs development tokens.
	HS256Secret []byte
	// JWKSFile is a local JSON Web Key Set with RSA and EC public keys for
	// RS256 and ES256 tokens.
	JWKSFile string
	Issuer   string
	Audience string
	// ClockSkew is the leeway for exp and nbf.
	ClockSkew time.Duration
}

// Enabled reports whether the configuration turns authentication on.
func (c Config) Enabled() bool { return len(c.HS256Secret) > 0 || c.JWKSFile != "" }

// ErrUnauthenticated wraps every token failure.
var ErrUnauthenticated = errors.New("unauthenticated")

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	config Config
	keys   map[string]crypto.PublicKey
	parser *jwt.Parser
}

type claims struct {
	jwt.RegisteredClaims
	Role       string `json:"role"`
	CustomerID string `json:"customerId,omitempty"`
}

// NewVerifier loads the key set and returns a verifier.
func NewVerifier(c Config) (*Verifier, error) {
	if !c.Enabled() {
		return nil, errors.New("authentication needs an HS256 secret or a JWKS file")
	}
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("authentication needs an issuer and an audience to check")
	}
	v := &Verifier{config: c, keys: map[string]crypto.PublicKey{}}
	if c.JWKSFile != "" {
		keys, err := loadJWKS(c.JWKSFile)
		if err != nil {
			return nil, err
		}
		v.keys = keys
	}
	methods := []string{}
	if len(c.HS256Secret) > 0 {
		methods = append(methods, "HS256")
	}
	if c.JWKSFile != "" {
		methods = append(methods, "RS256", "ES256")
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithIssuer(c.Issuer), jwt.WithAudience(c.Audience),
		jwt.WithLeeway(c.ClockSkew), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithStrictDecoding())
	return v, nil
}

// Verify checks a token's signature, issuer, audience, expiry and not-before,
// and returns its principal. Errors wrap ErrUnauthenticated.
func (v *Verifier) Verify(token string) (Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if err := checkClaims(c.Subject, c.Role, c.CustomerID); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	p := Principal{Subject: c.Subject, Role: c.Role, CustomerID: c.CustomerID}
	if c.ExpiresAt != nil {
		p.Expires = c.ExpiresAt.Time
	}
	return p, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method.Alg() == "HS256" {
		return v.config.HS256Secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if key, ok := v.keys[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("no key with kid %q in the key set", kid)
}

// Mint signs an HS256 token for local development.
func Mint(c Config, subject, role, customerID string, ttl time.Duration, now time.Time) (string, error) {
	if len(c.HS256Secret) == 0 {
		return "", errors.New("minting a token needs the HS256 secret; set --jwt-secret or ONBOARDING_JWT_SECRET")
	}
	if err := checkClaims(subject, role, customerID); err != nil {
		return "", err
	}
	cl := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: subject, Issuer: c.Issuer, Audience: jwt.ClaimStrings{c.Audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Role: role, CustomerID: customerID,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(c.HS256Secret)
}

// jwk is one key of a JSON Web Key Set (RFC 7517), RSA or EC P-256.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func loadJWKS(path string) (map[string]crypto.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS file: %w", err)
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("JWKS file %s is not a JSON Web Key Set: %w", path, err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("JWKS file %s, key %q: %w", path, k.Kid, err)
		}
		keys[k.Kid] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS file %s has no keys", path)
	}
	return keys, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	decode := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err := decode(k.N)
		if err != nil {
			return nil, fmt.Errorf("modulus n: %w", err)
		}
		e, err := decode(k.E)
		if err != nil {
			return nil, fmt.Errorf("exponent e: %w", err)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q is not supported; use P-256 for ES256", k.Crv)
		}
		x, err := decode(k.X)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := decode(k.Y)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
	default:
		return nil, fmt.Errorf("key type %q is not supported; use RSA or EC", k.Kty)
	}
}

// checkClaims checks the claims that Verify needs beyond the registered
// ones, so that Mint refuses what Verify would reject.
func checkClaims(subject, role, customerID string) error {
	switch role {
	case RoleEngineer, RoleAuditor, RoleAdmin:
	case RoleCustomer:
		if customerID == "" {
			return errors.New("a customer token needs a customerId claim (the token command's --customer)")
		}
	default:
		return fmt.Errorf("role %q is unknown; use customer, engineer, auditor or admin", role)
	}
	if subject == "" {
		return errors.New("the token has no subject")
	}
	return nil
}

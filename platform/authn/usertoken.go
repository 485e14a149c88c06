package authn

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// UserTokenIssuer and UserTokenAudience are checked on every user access token.
	UserTokenIssuer   = "atrium-tenancy"
	UserTokenAudience = "atrium"
	// UserTokenTTL is the life of an access token; refresh tokens renew it.
	UserTokenTTL = 15 * time.Minute
)

// UserClaims are the claims of a user access token.
type UserClaims struct {
	TenantID string `json:"tid"`
	Role     Role   `json:"rol"`
	jwt.RegisteredClaims
}

// KeyID derives a stable key id from a public key, so issuer and verifiers agree without
// configuration.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// UserTokenIssuer signs user access tokens. Only tenancy holds one.
type UserTokenSigner struct {
	key ed25519.PrivateKey
	kid string
	now func() time.Time
}

// NewUserTokenSigner returns a signer for key.
func NewUserTokenSigner(key ed25519.PrivateKey) *UserTokenSigner {
	return &UserTokenSigner{key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), now: time.Now}
}

// Issue returns a signed access token for the user in the tenant and its expiry.
func (s *UserTokenSigner) Issue(userID, tenantID string, role Role) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(UserTokenTTL)
	claims := UserClaims{
		TenantID: tenantID,
		Role:     role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    UserTokenIssuer,
			Audience:  jwt.ClaimStrings{UserTokenAudience},
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        randomID(),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: sign user token: %w", err)
	}
	return signed, exp, nil
}

// JWKS returns the JSON Web Key Set of the signer's public key.
func (s *UserTokenSigner) JWKS() ([]byte, error) {
	return MarshalJWKS(s.key.Public().(ed25519.PublicKey))
}

// UserTokenVerifier verifies user access tokens against a set of public keys.
type UserTokenVerifier struct {
	keys map[string]ed25519.PublicKey
}

// NewUserTokenVerifier trusts the given public keys (by their KeyID).
func NewUserTokenVerifier(keys ...ed25519.PublicKey) *UserTokenVerifier {
	v := &UserTokenVerifier{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// ErrInvalidToken is returned for any token that fails verification; the reason is wrapped
// for logs, never shown to callers.
var ErrInvalidToken = errors.New("authn: invalid token")

// Verify checks signature (EdDSA only: "none", HS256 and the rest are refused), issuer,
// audience and expiry, and returns the claims.
func (v *UserTokenVerifier) Verify(token string) (*UserClaims, error) {
	claims := &UserClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := v.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return k, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(UserTokenIssuer),
		jwt.WithAudience(UserTokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Subject == "" || claims.TenantID == "" || !claims.Role.Valid() {
		return nil, fmt.Errorf("%w: missing subject, tenant or role", ErrInvalidToken)
	}
	return claims, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// MarshalJWKS encodes Ed25519 public keys as an RFC 7517 key set.
func MarshalJWKS(keys ...ed25519.PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k), Kid: KeyID(k), Use: "sig", Alg: "EdDSA"})
	}
	return json.Marshal(set)
}

// ParseJWKS decodes the Ed25519 keys of a key set; other key types are ignored.
func ParseJWKS(data []byte) ([]ed25519.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("authn: parse jwks: %w", err)
	}
	var out []ed25519.PublicKey
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("authn: jwks key %q: bad x", k.Kid)
		}
		out = append(out, ed25519.PublicKey(x))
	}
	if len(out) == 0 {
		return nil, errors.New("authn: jwks has no Ed25519 key")
	}
	return out, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

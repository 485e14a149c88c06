package authn

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// InternalTokenHeader carries the internal token from the gateway (or a calling service)
	// to a service. Services believe no other identity header.
	InternalTokenHeader = "Atrium-Internal-Token"

	internalIssuer   = "atrium-internal"
	internalAudience = "atrium-services"
	// InternalTokenTTL is short: a token only has to survive one hop.
	InternalTokenTTL = 60 * time.Second
)

type internalClaims struct {
	Identity Identity `json:"idn"`
	jwt.RegisteredClaims
}

// InternalSigner signs internal tokens. The gateway holds one, and so does any service that
// calls another (tenancy calling Provision).
type InternalSigner struct {
	key ed25519.PrivateKey
	now func() time.Time
}

// NewInternalSigner returns a signer for key.
func NewInternalSigner(key ed25519.PrivateKey) *InternalSigner {
	return &InternalSigner{key: key, now: time.Now}
}

// Sign returns a token carrying id.
func (s *InternalSigner) Sign(id Identity) (string, error) {
	now := s.now()
	c := internalClaims{
		Identity: id,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    internalIssuer,
			Audience:  jwt.ClaimStrings{internalAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(InternalTokenTTL)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("authn: sign internal token: %w", err)
	}
	return tok, nil
}

// InternalVerifier verifies internal tokens.
type InternalVerifier struct {
	pub    ed25519.PublicKey
	parser *jwt.Parser
}

// NewInternalVerifier trusts tokens signed by the private key of pub.
func NewInternalVerifier(pub ed25519.PublicKey) *InternalVerifier {
	return &InternalVerifier{pub: pub, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(internalIssuer),
		jwt.WithAudience(internalAudience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)}
}

// Verify returns the identity a valid token carries.
func (v *InternalVerifier) Verify(token string) (*Identity, error) {
	c := &internalClaims{}
	if _, err := v.parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return v.pub, nil }); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id := c.Identity
	return &id, nil
}

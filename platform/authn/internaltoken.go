package authn

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// InternalTokenHeader carries the internal token from the gateway (or a calling service)
	// to a service. Services believe no other identity header.
	InternalTokenHeader = "Atrium-Internal-Token"
	// RequestIDHeader carries the request id beside the internal token. The gateway always
	// sets it (and so does guard's CallerInterceptor). It is not part of the token so that one
	// token can serve every request of an identity for a while (InternalTokenCache): signing
	// per request was a tenth of the platform's CPU. A request id is a log and audit
	// correlation handle, not a credential, so it needs no signature; guard accepts it only
	// if ValidRequestID.
	RequestIDHeader = "X-Request-Id"

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

// ValidRequestID reports whether id is acceptable as a request id: 8 to 64 characters of
// letters, digits, '-', '_' and '.'. Anything else (too long for a log line, or carrying
// characters meant to confuse one) is not used.
func ValidRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, ch := range []byte(id) {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

// InternalTokenReuse is how long InternalTokenCache hands out one token: a third of its life,
// so a reused token still has at least 40 s to live when it is sent.
const InternalTokenReuse = InternalTokenTTL / 3

// InternalTokenCache hands out one signed token per identity (request id left out) for
// InternalTokenReuse, so a busy caller signs once per identity every 20 s instead of once per
// request. The request id travels in RequestIDHeader. It is safe for concurrent use.
type InternalTokenCache struct {
	signer *InternalSigner
	max    int

	mu     sync.RWMutex
	tokens map[Identity]cachedToken
}

type cachedToken struct {
	token    string
	signedAt time.Time
}

// NewInternalTokenCache caches the tokens of signer, for at most max identities at a time
// (max <= 0: 10,000). When full, expired entries go first, then everything: the cache only
// saves signatures, it never changes an answer.
func NewInternalTokenCache(signer *InternalSigner, max int) *InternalTokenCache {
	if max <= 0 {
		max = 10000
	}
	return &InternalTokenCache{signer: signer, max: max, tokens: make(map[Identity]cachedToken)}
}

// Token returns a token carrying id without its RequestID, signed at most InternalTokenReuse
// ago.
func (c *InternalTokenCache) Token(id Identity) (string, error) {
	id.RequestID = ""
	now := c.signer.now()
	c.mu.RLock()
	e, ok := c.tokens[id]
	c.mu.RUnlock()
	if ok && now.Sub(e.signedAt) < InternalTokenReuse && !now.Before(e.signedAt) {
		return e.token, nil
	}
	tok, err := c.signer.Sign(id)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tokens[id]; !ok && len(c.tokens) >= c.max {
		for k, e := range c.tokens {
			if now.Sub(e.signedAt) >= InternalTokenReuse {
				delete(c.tokens, k)
			}
		}
		if len(c.tokens) >= c.max {
			clear(c.tokens)
		}
	}
	c.tokens[id] = cachedToken{token: tok, signedAt: now}
	return tok, nil
}

// InternalVerifier verifies internal tokens. It keeps what it verified until the token
// expires, keyed by the token itself: the gateway sends one token per identity for 20 s
// (InternalTokenCache), and checking its signature again on every request was a tenth of a
// by-name read's CPU in the catalog. Each tenant keeps at most maxVerifiedPerTenant tokens
// and evicts only its own, and the verifier at most maxVerified, so no tenant's tokens push
// another's out. It is safe for concurrent use.
type InternalVerifier struct {
	pub    ed25519.PublicKey
	parser *jwt.Parser
	now    func() time.Time

	mu       sync.Mutex
	verified map[string]verifiedToken
	byTenant map[string][]string // each tenant's cached tokens, oldest first
	checks   int                 // signatures checked (for tests)
}

type verifiedToken struct {
	id      Identity
	expires time.Time
}

const (
	maxVerifiedPerTenant = 32
	maxVerified          = 4096
)

// NewInternalVerifier trusts tokens signed by the private key of pub.
func NewInternalVerifier(pub ed25519.PublicKey) *InternalVerifier {
	v := &InternalVerifier{pub: pub, now: time.Now, verified: map[string]verifiedToken{}, byTenant: map[string][]string{}}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(internalIssuer),
		jwt.WithAudience(internalAudience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// Verify returns the identity a valid token carries (a copy the caller may change).
func (v *InternalVerifier) Verify(token string) (*Identity, error) {
	now := v.now()
	v.mu.Lock()
	e, ok := v.verified[token]
	v.mu.Unlock()
	// Until its expiry (the parser allows five seconds more), a token that verified once
	// verifies again: its bytes are the signed ones, and nothing else is checked.
	if ok && now.Before(e.expires) {
		id := e.id
		return &id, nil
	}
	c := &internalClaims{}
	if _, err := v.parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return v.pub, nil }); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id := c.Identity
	v.keep(token, id, c.ExpiresAt.Time, now)
	return &id, nil
}

// keep caches a verified token within its tenant's share and the verifier's bound.
func (v *InternalVerifier) keep(token string, id Identity, expires, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.checks++
	if _, ok := v.verified[token]; ok {
		return
	}
	tenant := id.TenantID
	mine := v.byTenant[tenant]
	if len(mine) >= maxVerifiedPerTenant { // the tenant's oldest goes, never another's
		delete(v.verified, mine[0])
		mine = slices.Delete(mine, 0, 1)
		v.byTenant[tenant] = mine
	}
	if len(v.verified) >= maxVerified {
		for t, toks := range v.byTenant {
			toks = slices.DeleteFunc(toks, func(k string) bool {
				if !now.Before(v.verified[k].expires) {
					delete(v.verified, k)
					return true
				}
				return false
			})
			if len(toks) == 0 {
				delete(v.byTenant, t)
			} else {
				v.byTenant[t] = toks
			}
		}
		mine = v.byTenant[tenant]
		if len(v.verified) >= maxVerified {
			return // full of live tokens: this one is checked again next time
		}
	}
	v.verified[token] = verifiedToken{id: id, expires: expires}
	v.byTenant[tenant] = append(mine, token)
}

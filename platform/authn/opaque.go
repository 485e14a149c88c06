package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// Opaque token kinds, visible in the secret's prefix so a leaked secret is recognisable (and
// secret scanners can match it).
const (
	KindAPIToken      = "pat"
	KindOperatorToken = "op"
	KindRefreshToken  = "rt"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewOpaqueToken returns a fresh secret "atr_<kind>_<52 base32 chars>" (256 random bits) and
// the hash to store. Only the hash is ever persisted.
func NewOpaqueToken(kind string) (secret, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("authn: crypto/rand failed: " + err.Error()) // the OS is broken; nothing is safe
	}
	secret = "atr_" + kind + "_" + strings.ToLower(b32.EncodeToString(b[:]))
	return secret, HashOpaqueToken(secret)
}

// HashOpaqueToken hashes a secret for storage and lookup. SHA-256 suffices: the secrets carry
// 256 random bits, so there is nothing for a slow hash to protect.
func HashOpaqueToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// OpaqueKind returns the kind of an opaque secret, or "" if s is not one.
func OpaqueKind(s string) string {
	if !strings.HasPrefix(s, "atr_") {
		return ""
	}
	rest := s[len("atr_"):]
	i := strings.IndexByte(rest, '_')
	if i <= 0 {
		return ""
	}
	return rest[:i]
}

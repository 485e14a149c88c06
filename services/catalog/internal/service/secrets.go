package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"atrium.dev/platform/rpcerr"
)

// Secrets seals integration credentials and derives webhook secrets from the operator's
// key (32 bytes, from config). Sealed tokens are bound to the tenant schema and host they
// were stored for (AES-GCM additional data), so a row copied to another tenant or host does
// not open.
type Secrets struct {
	aead cipher.AEAD
	key  []byte
}

// NewSecrets returns nil for an empty key: credentials and webhooks are then unavailable.
func NewSecrets(key []byte) (*Secrets, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("catalog: the secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The webhook key is derived, not the sealing key itself.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("atrium catalog webhooks"))
	return &Secrets{aead: aead, key: mac.Sum(nil)}, nil
}

var errNoKey = rpcerr.FailedPrecondition("the operator has not configured the catalog's secret key (CATALOG_SECRET_KEY); credentials and webhooks are unavailable")

func aad(schema, host string) []byte { return []byte(schema + "\x00" + host) }

// Seal encrypts a token for a tenant schema and host.
func (s *Secrets) Seal(schema, host, token string) ([]byte, error) {
	if s == nil {
		return nil, errNoKey
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(token), aad(schema, host)), nil
}

// Open decrypts a sealed token.
func (s *Secrets) Open(schema, host string, sealed []byte) (string, error) {
	if s == nil {
		return "", errNoKey
	}
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("catalog: sealed credential is truncated")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad(schema, host))
	if err != nil {
		return "", errors.New("catalog: sealed credential does not open with the configured key")
	}
	return string(out), nil
}

// WebhookSecret derives the secret of a Location's push webhooks: nothing to store, and
// rotating the operator's key rotates them all.
func (s *Secrets) WebhookSecret(tenantID, locationID string) (string, error) {
	if s == nil {
		return "", errNoKey
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(tenantID + "\x00" + locationID))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// VerifyWebhook checks GitHub's X-Hub-Signature-256 ("sha256=<hex HMAC of the body>").
func (s *Secrets) VerifyWebhook(tenantID, locationID, header string, body []byte) bool {
	secret, err := s.WebhookSecret(tenantID, locationID)
	if err != nil || len(header) < 7 || header[:7] != "sha256=" {
		return false
	}
	got, err := hex.DecodeString(header[7:])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// Ed25519Key reads a private key from the variable name, which holds the
// 32-byte ed25519 seed in standard base64 (`openssl rand -base64 32`).
//
// An unset variable returns nil and records nothing: devstack generates its
// own keys, and production mains decide themselves that the key is required
// (e.Invalid(name, "required but not set")). A set but malformed value
// records a problem and returns nil. The value never appears in a message.
func Ed25519Key(e *Env, name string) ed25519.PrivateKey {
	v := e.get(name)
	if v == "" {
		return nil
	}
	seed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		e.Invalid(name, "not valid standard base64")
		return nil
	}
	if len(seed) != ed25519.SeedSize {
		e.Invalid(name, fmt.Sprintf("want a %d-byte ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed)))
		return nil
	}
	return ed25519.NewKeyFromSeed(seed)
}

// RequiredEd25519Key is Ed25519Key for processes that cannot run without the key: an unset
// variable is recorded as a problem (reported by Err with the others).
func RequiredEd25519Key(e *Env, name string) ed25519.PrivateKey {
	if e.get(name) == "" {
		e.Invalid(name, "required but not set (base64 of a 32-byte ed25519 seed)")
		return nil
	}
	return Ed25519Key(e, name)
}

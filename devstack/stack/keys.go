package stack

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loadOrCreateKey reads an ed25519 seed (standard base64, as ATRIUM_*_KEY holds it) from
// dir/name, creating it on first use, so tokens signed before a restart still verify after.
func loadOrCreateKey(dir, name string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		seed, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("stack: key %s is not a base64 ed25519 seed; delete it to make a new one", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stack: read key: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stack: key dir: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString(key.Seed()) + "\n"
	if err := os.WriteFile(path, []byte(enc), 0o600); err != nil {
		return nil, fmt.Errorf("stack: write key: %w", err)
	}
	return key, nil
}

func newKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("stack: generate key: %w", err)
	}
	return key, nil
}

// Package password hashes user passwords with argon2id and stores them as PHC strings
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), so the parameters can be raised later
// without invalidating stored hashes.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is OWASP's minimum argon2id configuration (19 MiB, 2 passes, 1 lane): tens of
// milliseconds per hash, which keeps sign-up fast while making offline guessing costly.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// ErrMalformed is returned for a stored hash that is not an argon2id PHC string.
var ErrMalformed = errors.New("password: malformed hash")

// Hash returns the PHC string of pw with a fresh random salt.
func Hash(pw string) (string, error) {
	return hashWith(pw, Default)
}

// Pending is a hash being computed in the background (Start).
type Pending struct {
	done chan struct{}
	hash string
	err  error
}

// Start hashes pw in a goroutine, so that the caller can do other work meanwhile (sign-up
// creates the tenant's schema while the owner's password is hashed). The goroutine ends when
// the hash is done, tens of milliseconds, whether or not anyone waits for it: a caller that
// gives up leaks nothing.
func Start(pw string) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.hash, p.err = Hash(pw)
	}()
	return p
}

// Wait returns the hash, or ctx's error if ctx ends first.
func (p *Pending) Wait(ctx context.Context) (string, error) {
	select {
	case <-p.done:
		return p.hash, p.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func hashWith(pw string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC string, comparing in constant time.
func Verify(pw, phc string) (bool, error) {
	p, salt, want, err := parse(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummy is verified against when there is no user, so an unknown email costs as much time
// as a wrong password and response times do not reveal which emails have accounts.
var dummy = func() string {
	h, err := Hash("no user has this password")
	if err != nil {
		panic(err) // crypto/rand failed at start-up; nothing can work
	}
	return h
}()

// Waste does the work of one Verify and always fails.
func Waste(pw string) {
	_, _ = Verify(pw, dummy)
}

func parse(phc string) (Params, []byte, []byte, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, ErrMalformed
	}
	// Bounds keep a corrupted row from asking for gigabytes or hours.
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return Params{}, nil, nil, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

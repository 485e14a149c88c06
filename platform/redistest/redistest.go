// Package redistest connects tests to the real Redis server under a key prefix of their own,
// removed at clean-up. A test that cannot reach Redis fails; only -short skips.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the server tests use.
const EnvURL = "ATRIUM_TEST_REDIS_URL"

// DefaultURL is the local server of the dev machines and CI.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL is the server tests use: ATRIUM_TEST_REDIS_URL, else ATRIUM_REDIS_URL, else the local
// server at ATRIUM_REDIS_PORT (the one `make deps` serves).
func URL() string {
	for _, name := range []string{EnvURL, "ATRIUM_REDIS_URL"} {
		if u := os.Getenv(name); u != "" {
			return u
		}
	}
	if p := os.Getenv("ATRIUM_REDIS_PORT"); p != "" {
		return "redis://127.0.0.1:" + p + "/0"
	}
	return DefaultURL
}

// Redis is a test's connection and its key prefix; code under test must put every key it
// writes under Prefix.
type Redis struct {
	URL    string
	Prefix string
	Client *redis.Client
}

// New connects and returns a fresh prefix.
func New(t testing.TB) *Redis {
	t.Helper()
	if testing.Short() {
		t.Skip("redistest: integration test skipped in -short mode")
	}
	u := URL()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis unreachable at %s (start it with scripts/deps.sh): %v", u, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	r := &Redis{URL: u, Prefix: "test:" + hex.EncodeToString(b) + ":", Client: c}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, r.Prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return r
}

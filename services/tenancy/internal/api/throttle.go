package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Throttle slows password guessing against one account: after FreeFailures wrong passwords for
// a (tenant, email) within Window, each further attempt must wait a doubling delay (1 s, 2 s,
// 4 s ... at most MaxDelay), answered ResourceExhausted with Retry-After, until a success or
// the window passes. The state is in Redis, so every tenancy replica sees it; without Redis
// (or while it fails) each replica keeps its own. The gateway separately limits failed
// authentication per client address.
type Throttle struct {
	rdb    *redis.Client
	prefix string
	// FreeFailures (default 5), Window (default 15 min), MaxDelay (default 15 min).
	FreeFailures int
	Window       time.Duration
	MaxDelay     time.Duration

	mu    sync.Mutex
	local map[string]*localThrottle
}

type localThrottle struct {
	fails   int
	since   time.Time
	blocked time.Time
}

// NewThrottle keeps its state under prefix+"atrium:login:" in rdb (nil: in process only).
func NewThrottle(rdb *redis.Client, prefix string) *Throttle {
	return &Throttle{rdb: rdb, prefix: prefix, FreeFailures: 5, Window: 15 * time.Minute, MaxDelay: 15 * time.Minute,
		local: map[string]*localThrottle{}}
}

func (t *Throttle) key(tenantID, email string) string {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + email))
	return t.prefix + "atrium:login:" + hex.EncodeToString(sum[:12])
}

// Wait returns how long the account must wait before another attempt (0: go ahead).
func (t *Throttle) Wait(ctx context.Context, tenantID, email string) time.Duration {
	k := t.key(tenantID, email)
	if t.rdb != nil {
		ms, err := t.rdb.PTTL(ctx, k+":block").Result()
		if err == nil {
			return max(ms, 0)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.local[k]; l != nil && time.Now().Before(l.blocked) {
		return time.Until(l.blocked)
	}
	return 0
}

// delay is the wait after the n-th failure in a window.
func (t *Throttle) delay(n int) time.Duration {
	if n < t.FreeFailures {
		return 0
	}
	return min(time.Second<<min(n-t.FreeFailures, 20), t.MaxDelay)
}

// Failed records a wrong password and returns the wait it imposes.
func (t *Throttle) Failed(ctx context.Context, tenantID, email string) time.Duration {
	k := t.key(tenantID, email)
	if t.rdb != nil {
		n, err := t.rdb.Incr(ctx, k).Result()
		if err == nil {
			t.rdb.PExpire(ctx, k, t.Window)
			d := t.delay(int(n))
			if d > 0 {
				t.rdb.Set(ctx, k+":block", strconv.Itoa(int(n)), d)
			}
			return d
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	l := t.local[k]
	if l == nil || now.Sub(l.since) > t.Window {
		if len(t.local) > 100000 {
			clear(t.local) // bounded memory beats perfect memory of old failures
		}
		l = &localThrottle{since: now}
		t.local[k] = l
	}
	l.fails++
	d := t.delay(l.fails)
	l.blocked = now.Add(d)
	return d
}

// Succeeded forgets the account's failures.
func (t *Throttle) Succeeded(ctx context.Context, tenantID, email string) {
	k := t.key(tenantID, email)
	if t.rdb != nil {
		t.rdb.Del(ctx, k, k+":block")
	}
	t.mu.Lock()
	delete(t.local, k)
	t.mu.Unlock()
}

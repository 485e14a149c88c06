// Package requestcount counts each tenant's API requests in the current UTC minute across
// every gateway, for the "requests this minute" entitlements shows beside the plan's rate.
//
// A request costs one map increment under a mutex. Run adds what this process counted since
// its last flush to a per-(tenant, minute) Redis counter (INCRBY, one pipelined round trip
// per flush whatever the traffic; keys expire after two minutes) and reports each active
// tenant's total, so two gateways report the sum, not the last writer's share. Without Redis
// the process's own count is reported. When Redis fails the flush reports nothing (the
// figure is informational; the rate limit itself is ratelimit's).
package requestcount

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults.
const (
	DefaultInterval   = 2 * time.Second
	DefaultMaxTenants = 100_000
)

// Config of a Counter.
type Config struct {
	Redis  *redis.Client // nil: this process's counts only
	Prefix string
	// Report receives a tenant's total this minute after each flush it had requests in.
	Report func(tenantID string, requests int64)
	// Interval between flushes (default 2 s); MaxTenants bounds the tenants counted per
	// minute (default 100,000; past it new tenants are not counted until the next minute).
	Interval   time.Duration
	MaxTenants int
	Log        *slog.Logger
	Now        func() time.Time
}

// Counter is safe for concurrent use.
type Counter struct {
	cfg Config

	mu     sync.Mutex
	minute time.Time
	// counts are this minute's requests by tenant; flushed what Flush has already added.
	counts, flushed map[string]int64
}

// New returns a counter; Run flushes it.
func New(cfg Config) *Counter {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxTenants <= 0 {
		cfg.MaxTenants = DefaultMaxTenants
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Counter{cfg: cfg, counts: map[string]int64{}, flushed: map[string]int64{}}
}

// Add counts one request of tenantID.
func (c *Counter) Add(tenantID string) {
	m := c.cfg.Now().UTC().Truncate(time.Minute)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !m.Equal(c.minute) {
		// A new minute: what the last one did not flush no longer says anything about "now".
		c.minute, c.counts, c.flushed = m, map[string]int64{}, map[string]int64{}
	}
	if _, ok := c.counts[tenantID]; !ok && len(c.counts) >= c.cfg.MaxTenants {
		return
	}
	c.counts[tenantID]++
}

// Flush adds the counts since the last flush to Redis and reports the totals.
func (c *Counter) Flush(ctx context.Context) {
	now := c.cfg.Now().UTC().Truncate(time.Minute)
	c.mu.Lock()
	if !now.Equal(c.minute) {
		c.mu.Unlock()
		return
	}
	deltas := map[string]int64{}
	totals := map[string]int64{}
	for id, n := range c.counts {
		if d := n - c.flushed[id]; d > 0 {
			deltas[id], totals[id] = d, n
			c.flushed[id] = n
		}
	}
	minute := c.minute
	c.mu.Unlock()
	if len(deltas) == 0 || c.cfg.Report == nil {
		return
	}
	if c.cfg.Redis != nil {
		suffix := ":" + strconv.FormatInt(minute.Unix(), 10)
		cmds := make(map[string]*redis.IntCmd, len(deltas))
		_, err := c.cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
			for id, d := range deltas {
				key := c.cfg.Prefix + "atrium:requests:" + id + suffix
				cmds[id] = p.IncrBy(ctx, key, d)
				p.Expire(ctx, key, 2*time.Minute)
			}
			return nil
		})
		if err != nil {
			c.cfg.Log.WarnContext(ctx, "requestcount: adding to Redis failed; this interval is not reported", "err", err)
			return
		}
		for id, cmd := range cmds {
			totals[id] = cmd.Val()
		}
	}
	for id, n := range totals {
		c.cfg.Report(id, n)
	}
}

// Run flushes every Interval until ctx ends.
func (c *Counter) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Flush(ctx)
		}
	}
}

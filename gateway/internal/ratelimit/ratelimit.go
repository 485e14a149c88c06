// Package ratelimit limits requests per key (a tenant, an operator, a client address) with the
// generic cell rate algorithm: one Redis key per limited caller holding its theoretical arrival
// time, updated by one Lua script in one round trip, so every gateway shares the budget.
// When Redis fails the limiter keeps answering from an in-process GCRA (per gateway, so the
// effective limit is multiplied by the number of gateways) and logs that at most once a minute.
package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is a sustained rate with a burst.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is when the caller may try again (set when not allowed).
	RetryAfter time.Duration
	// Local is true when the in-process limiter decided because Redis failed.
	Local bool
}

// Limiter is safe for concurrent use.
type Limiter struct {
	rdb    *redis.Client // nil: local only
	prefix string
	limit  Limit
	log    *slog.Logger
	local  *local

	// downUntil (unix nanos) skips Redis for a while after it failed, so a hanging Redis does
	// not add its timeout to every request.
	downUntil atomic.Int64
	lastLog   atomic.Int64
}

// New returns a limiter keeping its state under prefix+"atrium:ratelimit:" in rdb.
func New(rdb *redis.Client, prefix string, limit Limit, log *slog.Logger) *Limiter {
	if limit.Burst < 1 {
		limit.Burst = 1
	}
	return &Limiter{rdb: rdb, prefix: prefix, limit: limit, log: log, local: newLocal(100000)}
}

// gcra: KEYS[1] the caller's key; ARGV[1] emission interval T and ARGV[2] burst tolerance tau,
// both in microseconds. Returns {allowed, retry_after_us}. Redis's clock is the only clock, so
// gateways with skewed clocks agree. Times are formatted with %.0f because Lua's default
// number formatting keeps 14 digits and microsecond timestamps have 16.
var gcra = redis.NewScript(`
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tau
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
local new_tat = tat + T
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0}
`)

// Allow decides whether the caller key may make one request now. A limit of zero or less
// per second allows everything.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	if l.limit.PerSecond <= 0 {
		return Decision{Allowed: true}
	}
	T, tau := l.params()
	if l.rdb != nil && time.Now().UnixNano() >= l.downUntil.Load() {
		d, err := l.redisAllow(ctx, key, T, tau)
		if err == nil {
			return d
		}
		if ctx.Err() != nil {
			// The caller went away; that says nothing about Redis.
			return Decision{Allowed: true}
		}
		l.downUntil.Store(time.Now().Add(5 * time.Second).UnixNano())
		l.logFallback(ctx, err)
	}
	d := l.local.allow(key, T, tau, time.Now())
	d.Local = l.rdb != nil
	return d
}

func (l *Limiter) params() (T, tau time.Duration) {
	T = time.Duration(float64(time.Second) / l.limit.PerSecond)
	if T <= 0 {
		T = 1
	}
	tau = T * time.Duration(l.limit.Burst-1)
	return T, tau
}

func (l *Limiter) redisAllow(ctx context.Context, key string, T, tau time.Duration) (Decision, error) {
	us := func(d time.Duration) int64 { return max(int64(d/time.Microsecond), 1) }
	res, err := gcra.Run(ctx, l.rdb, []string{l.prefix + "atrium:ratelimit:" + key}, us(T), int64(tau/time.Microsecond)).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 2 {
		return Decision{}, errBadReply
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

func (l *Limiter) logFallback(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(time.Minute) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.log.WarnContext(ctx, "rate limit: Redis unavailable, limiting in process", "err", err)
}

type replyError string

func (e replyError) Error() string { return string(e) }

const errBadReply = replyError("ratelimit: unexpected script reply")

// local is the in-process GCRA used while Redis is down.
type local struct {
	mu   sync.Mutex
	max  int
	tats map[string]time.Time
}

func newLocal(max int) *local { return &local{max: max, tats: make(map[string]time.Time)} }

func (l *local) allow(key string, T, tau time.Duration, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	if allowAt := tat.Add(-tau); now.Before(allowAt) {
		return Decision{RetryAfter: allowAt.Sub(now)}
	}
	if len(l.tats) >= l.max {
		l.sweep(now)
	}
	l.tats[key] = tat.Add(T)
	return Decision{Allowed: true}
}

// sweep forgets callers whose budget is full again (their state equals a fresh one); if
// that frees nothing, it forgets everyone rather than grow without bound.
func (l *local) sweep(now time.Time) {
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
	if len(l.tats) >= l.max {
		clear(l.tats)
	}
}

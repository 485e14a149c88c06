// Package ratelimit limits requests per key (a tenant, an operator, a client address) with the
// generic cell rate algorithm (GCRA), shared by every gateway through Redis.
//
// By default the decision stays off the network: each gateway decides with an exact
// in-process GCRA of the same limit, and reports what it let through to Redis in the
// background, in pipelined batches (one round trip per batch, one Lua script per key). Redis
// keeps the fleet's total; when a key is over it, Redis answers with how long, and every
// gateway that reported for the key refuses it locally until then. The fleet can overshoot the
// limit by what the gateways let through during one batch round trip; a single gateway never
// does. With Strict, every request waits for the Redis script instead (exact across gateways,
// one round trip per request).
//
// When Redis fails, the gateway keeps limiting in process (per gateway, so the fleet's limit
// is multiplied by the number of gateways) and logs that at most once a minute.
package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"atrium.dev/gateway/internal/cache"
	"github.com/redis/go-redis/v9"
)

// Limit is a sustained rate with a burst.
type Limit struct {
	PerSecond float64
	Burst     int
	// Strict checks every request against Redis before answering.
	Strict bool
}

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is when the caller may try again (set when not allowed).
	RetryAfter time.Duration
	// Local is true when Redis was unavailable and the in-process limiter decided alone.
	Local bool
}

// Limiter is safe for concurrent use.
type Limiter struct {
	rdb    *redis.Client // nil: local only
	prefix string
	limit  Limit
	T, tau time.Duration // emission interval and burst tolerance
	log    *slog.Logger
	local  *local

	// Asynchronous mode: spends waiting to be reported, and the keys Redis found over the
	// fleet's budget, with when they may go again.
	spends chan string
	denied *cache.Cache[string, time.Time]

	// downUntil (unix nanos) skips Redis for a while after it failed, so a hanging Redis does
	// not add its timeout to every request.
	downUntil atomic.Int64
	lastLog   atomic.Int64
}

// New returns a limiter keeping its state under prefix+"atrium:ratelimit:" in rdb. Call Run
// for the asynchronous mode's reporting.
func New(rdb *redis.Client, prefix string, limit Limit, log *slog.Logger) *Limiter {
	if limit.Burst < 1 {
		limit.Burst = 1
	}
	l := &Limiter{
		rdb: rdb, prefix: prefix, limit: limit, log: log,
		local:  newLocal(100000),
		spends: make(chan string, 10000),
		denied: cache.New[string, time.Time](100000),
	}
	if limit.PerSecond > 0 {
		l.T = max(time.Duration(float64(time.Second)/limit.PerSecond), 1)
		l.tau = l.T * time.Duration(limit.Burst-1)
	}
	return l
}

// Allow decides whether the caller key may make one request now. A limit of zero or less
// per second allows everything.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	if l.limit.PerSecond <= 0 {
		return Decision{Allowed: true}
	}
	redisUp := l.rdb != nil && time.Now().UnixNano() >= l.downUntil.Load()
	if l.limit.Strict && redisUp {
		d, err := l.strictAllow(ctx, key)
		if err == nil {
			return d
		}
		if ctx.Err() != nil {
			// The caller went away; that says nothing about Redis.
			return Decision{Allowed: true}
		}
		l.redisFailed(ctx, err)
		redisUp = false
	}
	now := time.Now()
	if !l.limit.Strict {
		if until, ok := l.denied.Get(key); ok && now.Before(until) {
			return Decision{RetryAfter: until.Sub(now)}
		}
	}
	d := l.local.allow(key, l.T, l.tau, now)
	d.Local = l.rdb != nil && !redisUp
	if d.Allowed && !l.limit.Strict && redisUp {
		select {
		case l.spends <- key:
		default:
			// Reporting is behind; the local decision stands.
		}
	}
	return d
}

// Run reports spends to Redis until ctx ends (asynchronous mode; returns at once otherwise).
func (l *Limiter) Run(ctx context.Context) {
	if l.rdb == nil || l.limit.Strict || l.limit.PerSecond <= 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case key := <-l.spends:
			batch := map[string]int64{key: 1}
			// Gather for a moment: one round trip then carries many requests, and a busy
			// gateway does not wake up Redis for each one.
			window := time.NewTimer(reportWindow)
		fill:
			for len(batch) < 512 {
				select {
				case k := <-l.spends:
					batch[k]++
				case <-window.C:
					break fill
				case <-ctx.Done():
					break fill
				}
			}
			window.Stop()
			wctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := l.report(wctx, batch); err != nil {
				l.redisFailed(ctx, err)
			}
			cancel()
		}
	}
}

// reportWindow is how long spends gather before they are reported: it adds to how late the
// fleet learns a key is over budget.
const reportWindow = 20 * time.Millisecond

func (l *Limiter) redisKey(key string) string { return l.prefix + "atrium:ratelimit:" + key }

func us(d time.Duration) int64 { return int64(d / time.Microsecond) }

// report adds each key's spends to the fleet's state and records the keys now over budget.
func (l *Limiter) report(ctx context.Context, batch map[string]int64) error {
	type result struct {
		key string
		cmd *redis.Cmd
	}
	run := func() ([]result, error) {
		results := make([]result, 0, len(batch))
		_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for key, n := range batch {
				results = append(results, result{key, spendScript.EvalSha(ctx, p, []string{l.redisKey(key)}, max(us(l.T), 1), us(l.tau), n)})
			}
			return nil
		})
		return results, err
	}
	results, err := run()
	if err != nil && isNoScript(err) {
		if err := spendScript.Load(ctx, l.rdb).Err(); err != nil {
			return err
		}
		results, err = run()
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, r := range results {
		wait, err := r.cmd.Int64()
		if err != nil || wait <= 0 {
			continue
		}
		d := time.Duration(wait) * time.Microsecond
		l.denied.Set(r.key, now.Add(d), d)
	}
	return nil
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// strictAllow runs the GCRA in Redis for this one request.
func (l *Limiter) strictAllow(ctx context.Context, key string) (Decision, error) {
	res, err := allowScript.Run(ctx, l.rdb, []string{l.redisKey(key)}, max(us(l.T), 1), us(l.tau)).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 2 {
		return Decision{}, errors.New("ratelimit: unexpected script reply")
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

func (l *Limiter) redisFailed(ctx context.Context, err error) {
	l.downUntil.Store(time.Now().Add(5 * time.Second).UnixNano())
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(time.Minute) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.log.WarnContext(ctx, "rate limit: Redis unavailable, limiting in process", "err", err)
}

// local is the in-process GCRA.
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

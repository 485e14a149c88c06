package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// PlanLimiters limits each tenant to its plan's requests per minute. A Limiter has one rate
// for every key, and plans (with per-tenant overrides) have a handful of distinct rates, so
// there is one Limiter per distinct rate, made on first use. Keys carry the rate, so a tenant
// whose plan changes starts afresh under the new one rather than inheriting state computed at
// another rate.
type PlanLimiters struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger

	mu       sync.Mutex
	limiters map[int64]*Limiter
	runCtx   context.Context // set by Run; limiters made later start reporting at once
	wg       sync.WaitGroup
}

// NewPlanLimiters shares rdb (nil: local only) like New.
func NewPlanLimiters(rdb *redis.Client, prefix string, log *slog.Logger) *PlanLimiters {
	return &PlanLimiters{rdb: rdb, prefix: prefix, log: log, limiters: map[int64]*Limiter{}}
}

// Allow spends one request of tenantID's budget of perMinute (negative or 0: unlimited). The
// burst is a tenth of a minute's budget, so a quiet tenant may send 6 s of traffic at once but
// not the whole minute's.
func (p *PlanLimiters) Allow(ctx context.Context, tenantID string, perMinute int64) Decision {
	if perMinute <= 0 {
		return Decision{Allowed: true}
	}
	return p.limiter(perMinute).Allow(ctx, "plan:"+strconv.FormatInt(perMinute, 10)+":t:"+tenantID)
}

func (p *PlanLimiters) limiter(perMinute int64) *Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.limiters[perMinute]
	if ok {
		return l
	}
	l = New(p.rdb, p.prefix, Limit{PerSecond: float64(perMinute) / 60, Burst: int(max(perMinute/10, 1))}, p.log)
	p.limiters[perMinute] = l
	if p.runCtx != nil {
		p.start(l)
	}
	return l
}

// start runs l's reporting; called with mu held.
func (p *PlanLimiters) start(l *Limiter) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		l.Run(p.runCtx)
	}()
}

// Run reports every limiter's spends to Redis until ctx ends (see Limiter.Run).
func (p *PlanLimiters) Run(ctx context.Context) {
	p.mu.Lock()
	p.runCtx = ctx
	for _, l := range p.limiters {
		p.start(l)
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.wg.Wait()
}

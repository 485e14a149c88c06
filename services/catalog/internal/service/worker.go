package service

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/services/catalog/internal/store"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WorkerConfig tunes the source worker.
type WorkerConfig struct {
	// Interval is the default refresh interval of a Location (tenants may set their own).
	Interval time.Duration
	// Concurrency bounds refreshes in flight in this process; PerTenant bounds them per
	// tenant, so one tenant's slow repositories take at most PerTenant of the slots and
	// every other tenant's refreshes go on.
	Concurrency, PerTenant int
	// Rescan is how often the worker re-reads which tenants have which Locations.
	Rescan time.Duration
	// Tick is how often due Locations are dispatched.
	Tick time.Duration
}

// Defaults of the worker.
const (
	DefaultRefreshInterval = 5 * time.Minute
	maxBackoff             = 6 * time.Hour
	// workerLockKey is the advisory lock that makes one process per shard the refresher
	// (every catalog replica runs a worker; each shard's Locations are refreshed once).
	workerLockKey = 0x61747231 // "atr1"
)

// Worker refreshes every tenant's Locations on their schedule: a jittered interval per
// tenant, with exponential backoff after failures. Bookkeeping (when each Location is due,
// how often it failed in a row) is in memory and rebuilt from Postgres: a refresh that finds
// the source unchanged writes nothing.
type Worker struct {
	src *Sources
	cfg WorkerConfig
	log *slog.Logger

	mu      sync.Mutex
	tenants map[string]*tenantSched // schema -> schedule
	order   []string                // round-robin order of schemas
	next    int
	slots   chan struct{}
	locks   map[string]*pgxpool.Conn // shard -> connection holding the worker lock
	pools   func(shard string) (*pgxpool.Pool, error)
}

type tenantSched struct {
	shard, schema string
	interval      time.Duration
	running       int
	locs          map[string]*locSched
}

type locSched struct {
	due      time.Time
	failures int
	running  bool
}

// NewWorker returns a worker; pools gives each shard's pool (for the leadership lock).
func NewWorker(src *Sources, cfg WorkerConfig, pools func(string) (*pgxpool.Pool, error), log *slog.Logger) *Worker {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultRefreshInterval
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.PerTenant <= 0 {
		cfg.PerTenant = 1
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = 30 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Worker{src: src, cfg: cfg, log: log, tenants: map[string]*tenantSched{}, slots: make(chan struct{}, cfg.Concurrency),
		locks: map[string]*pgxpool.Conn{}, pools: pools}
}

// Run works until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	defer w.release()
	tick := time.NewTicker(w.cfg.Tick)
	defer tick.Stop()
	var lastScan time.Time
	for {
		if time.Since(lastScan) >= w.cfg.Rescan {
			w.scan(ctx)
			lastScan = time.Now()
		}
		w.dispatch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *Worker) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for shard, c := range w.locks {
		_, _ = c.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", workerLockKey)
		c.Release()
		delete(w.locks, shard)
	}
}

// lead reports whether this process refreshes the shard, taking the lock when free.
func (w *Worker) lead(ctx context.Context, shard string) bool {
	w.mu.Lock()
	c, ok := w.locks[shard]
	w.mu.Unlock()
	if ok {
		if err := c.Ping(ctx); err == nil {
			return true
		}
		c.Release()
		w.mu.Lock()
		delete(w.locks, shard)
		w.mu.Unlock()
	}
	pool, err := w.pools(shard)
	if err != nil {
		return false
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", workerLockKey).Scan(&got); err != nil || !got {
		conn.Release()
		return false
	}
	w.mu.Lock()
	w.locks[shard] = conn
	w.mu.Unlock()
	return true
}

// tenantContext is the identity the worker acts as for a tenant.
func tenantContext(ctx context.Context, shard, schema string) context.Context {
	return authn.WithIdentity(ctx, &authn.Identity{
		TenantID: strings.TrimPrefix(schema, "t_"), Schema: schema, Shard: shard, Service: "catalog-sources",
	})
}

// scan reloads the tenants and Locations of the shards this process leads.
func (w *Worker) scan(ctx context.Context) {
	byShard, err := w.src.store.TenantsWithLocations(ctx)
	if err != nil {
		w.log.WarnContext(ctx, "source worker: list tenants", "err", err)
		return
	}
	seen := map[string]bool{}
	for shard, schemas := range byShard {
		if !w.lead(ctx, shard) {
			continue
		}
		for _, schema := range schemas {
			tctx := tenantContext(ctx, shard, schema)
			locs, _, err := w.src.store.ListLocations(tctx, store.LocationQuery{})
			if err != nil {
				w.log.WarnContext(ctx, "source worker: list locations", "schema", schema, "err", err)
				continue
			}
			interval, err := w.src.store.RefreshInterval(tctx)
			if err != nil || interval <= 0 {
				interval = w.cfg.Interval
			}
			seen[schema] = true
			w.mu.Lock()
			ts := w.tenants[schema]
			if ts == nil {
				ts = &tenantSched{shard: shard, schema: schema, locs: map[string]*locSched{}}
				w.tenants[schema] = ts
			}
			ts.interval = interval
			ids := map[string]bool{}
			for _, l := range locs {
				ids[l.ID] = true
				if _, ok := ts.locs[l.ID]; !ok {
					// Spread first refreshes over the interval, not all at start-up.
					last := l.RefreshedAt
					if t := w.src.CheckedAt(l.ID); t.After(last) {
						last = t
					}
					due := last.Add(jitter(interval))
					if last.IsZero() {
						due = time.Now().Add(time.Duration(rand.Int64N(int64(interval)/10 + 1)))
					}
					ts.locs[l.ID] = &locSched{due: due, failures: l.Failures}
				}
			}
			for id, ls := range ts.locs {
				if !ids[id] && !ls.running {
					delete(ts.locs, id)
				}
			}
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	for schema := range w.tenants {
		if !seen[schema] && w.tenants[schema].running == 0 {
			delete(w.tenants, schema)
		}
	}
	w.order = w.order[:0]
	for schema := range w.tenants {
		w.order = append(w.order, schema)
	}
	sort.Strings(w.order)
	w.mu.Unlock()
}

// jitter spreads d by ±10% so Locations registered together do not refresh together.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5+1))
}

// dispatch starts due refreshes, visiting tenants round-robin so each gets its turn.
func (w *Worker) dispatch(ctx context.Context) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.order)
	for i := 0; i < n; i++ {
		ts := w.tenants[w.order[(w.next+i)%n]]
		if ts == nil || ts.running >= w.cfg.PerTenant {
			continue
		}
		for id, ls := range ts.locs {
			if ls.running || ls.due.After(now) {
				continue
			}
			select {
			case w.slots <- struct{}{}:
			default:
				w.next = (w.next + i) % n
				return // every slot is busy; the next tick continues from this tenant
			}
			ls.running = true
			ts.running++
			go w.refresh(ctx, ts, id, ls)
			if ts.running >= w.cfg.PerTenant {
				break
			}
		}
	}
	if n > 0 {
		w.next = (w.next + 1) % n
	}
}

func (w *Worker) refresh(ctx context.Context, ts *tenantSched, id string, ls *locSched) {
	defer func() { <-w.slots }()
	tctx := tenantContext(ctx, ts.shard, ts.schema)
	_, err := w.src.Refresh(tctx, id, false)
	w.mu.Lock()
	defer w.mu.Unlock()
	ls.running = false
	ts.running--
	if err != nil {
		ls.failures++
		backoff := ts.interval
		for i := 1; i < ls.failures && backoff < maxBackoff; i++ {
			backoff *= 2
		}
		ls.due = time.Now().Add(jitter(min(backoff, maxBackoff)))
		w.log.InfoContext(ctx, "source worker: refresh failed", "schema", ts.schema, "location", id, "failures", ls.failures, "err", err)
		return
	}
	ls.failures = 0
	ls.due = time.Now().Add(jitter(ts.interval))
}

// Kick makes a Location due now (a push webhook).
func (w *Worker) Kick(schema, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ts := w.tenants[schema]; ts != nil {
		if ls := ts.locs[id]; ls != nil {
			ls.due = time.Time{}
		}
	}
}

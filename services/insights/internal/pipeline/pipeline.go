// Package pipeline moves usage events from the Redis stream into each tenant's tables.
//
// Several workers read the stream as one consumer group (XREADGROUP batches). A batch is
// split by tenant and handed to the writers that own its tenants, which write the parts of
// every batch queued for them at once, in multi-tenant transactions per shard
// (store.IngestMany: each tenant's raw events deduplicated on the producer's event id, and
// the rollups of what was new, as that tenant). A worker reads on while its batches are
// written, up to MaxInFlight entries, so that under a backlog each writer finds many batches
// queued and a tenant's call carries more events. A batch's entries are acknowledged (XACK)
// only after every part committed, so a worker that dies
// mid-batch leaves its entries pending; another worker takes them over with XAUTOCLAIM once
// they have been idle for ClaimIdle, and the raw table's primary key makes the second
// delivery count nothing twice. Transient failures (Postgres down) are retried without
// acknowledging, so nothing is lost either; the lag metric shows the backlog and its recovery.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/store"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"golang.org/x/sync/semaphore"
)

// Limits names the plan limits the pipeline applies. platform/entitlements' Client has this
// method; a nil Limits, or an error, means the defaults.
type Limits interface {
	Limit(ctx context.Context, tenantID, name string) (int64, error)
}

// Limit names (entitlements snapshot keys).
const (
	LimitMonthlyEvents = "usage_events_per_month"
	LimitRetentionDays = "insights_retention_days"
)

// Config of a Pipeline.
type Config struct {
	Redis  *redis.Client
	Stream string // RedisPrefix + "atrium:usage"
	Group  string // default "insights"
	// TenantsKey is a Redis hash (tenant id -> shard) of the tenants seen, for retention.
	TenantsKey string
	Store      *store.Store
	Limits     Limits
	// Usage, when set, hears each tenant's events this month after every batch it wrote
	// (entitlements' ReportUsage: a map write; it sends periodically).
	Usage func(tenantID string, monthEvents int64)
	// Resolve returns a tenant's shard; nil: the shard the producer wrote in the event.
	Resolve func(ctx context.Context, tenantID string) (string, error)
	// Workers (default 4), BatchSize (entries per XREADGROUP, default 10,000: a read returns
	// what is there, so this only matters under a backlog, where fuller batches give each
	// tenant's call more events), Block (default 1 s), ClaimIdle (default 30 s),
	// ClaimInterval (default 5 s).
	Workers   int
	BatchSize int
	// Writers (default 2) write the batches the workers read, each for its own share of the
	// tenants (by hash).
	Writers int
	// PerTenantBatch bounds one tenant's events in a write's first transactions (default
	// 1000); the excess is written after the other tenants' events committed.
	PerTenantBatch int
	// MaxInFlight bounds the entries read and not yet acknowledged (default 5 x BatchSize,
	// at least BatchSize). A writer writes everything queued for it at once, so under a
	// backlog this is also about how many events one write merges.
	MaxInFlight   int
	Block         time.Duration
	ClaimIdle     time.Duration
	ClaimInterval time.Duration
	// DefaultRetentionDays applies when the plan says nothing (default 90); <0 keeps all.
	DefaultRetentionDays int
	// RetentionInterval between retention sweeps (default 1 h; 0 in tests: no sweeps).
	RetentionInterval time.Duration
	// ConsumerName prefixes the workers' consumer names (default host-pid).
	ConsumerName string
	Log          *slog.Logger
	Meter        metric.Meter
	Now          func() time.Time
	// AfterCommit, when set, runs after a batch committed and before it is acknowledged
	// (tests use it to die in the window that matters).
	AfterCommit func(entries int)
}

// Pipeline is the consumer group's workers in this process.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	results metric.Int64Counter
	batchMs metric.Float64Histogram
	trimmed atomic.Int64
	lag     atomic.Pointer[Lag]
	// last entries-added/entries-read seen by the monitor, to count trimming deltas.
	lastUnreadGap atomic.Int64
	tenants       sync.Map // tenant id -> shard, recorded in TenantsKey once per process
	writers       []chan *writeJob
	inFlight      *semaphore.Weighted // entries read and not yet acknowledged
	writes, parts atomic.Int64        // see Stats
	written, busy atomic.Int64
	acks          sync.WaitGroup // batches waiting for their writes
}

// writerQueue is how many jobs may wait for one writer; a worker handing it one more waits.
// With MaxInFlight it bounds the batches in flight when batches are small (a slow database
// under light traffic).
const writerQueue = 256

// New returns a pipeline; Run runs it.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Redis == nil || cfg.Store == nil || cfg.Stream == "" {
		return nil, errors.New("pipeline: Redis, Store and Stream are required")
	}
	if cfg.Group == "" {
		cfg.Group = "insights"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10000
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 2
	}
	if cfg.PerTenantBatch <= 0 {
		cfg.PerTenantBatch = 1000
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 5 * cfg.BatchSize
	}
	cfg.MaxInFlight = max(cfg.MaxInFlight, cfg.BatchSize)
	if cfg.Block <= 0 {
		cfg.Block = time.Second
	}
	if cfg.ClaimIdle <= 0 {
		cfg.ClaimIdle = 30 * time.Second
	}
	if cfg.ClaimInterval <= 0 {
		cfg.ClaimInterval = 5 * time.Second
	}
	if cfg.DefaultRetentionDays == 0 {
		cfg.DefaultRetentionDays = 90
	}
	if cfg.ConsumerName == "" {
		h, _ := os.Hostname()
		cfg.ConsumerName = fmt.Sprintf("%s-%d-%04x", h, os.Getpid(), rand.IntN(1<<16))
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Meter == nil {
		cfg.Meter = noop.NewMeterProvider().Meter("insights")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, log: cfg.Log, inFlight: semaphore.NewWeighted(int64(cfg.MaxInFlight))}
	for range cfg.Writers {
		p.writers = append(p.writers, make(chan *writeJob, writerQueue))
	}
	var err error
	if p.results, err = cfg.Meter.Int64Counter("atrium_insights_events",
		metric.WithDescription("Stream entries processed, by result: new, duplicate, over_limit, expired, malformed, no_tenant, tenant_gone.")); err != nil {
		return nil, err
	}
	if p.batchMs, err = cfg.Meter.Float64Histogram("atrium_insights_batch_duration", metric.WithUnit("ms"),
		metric.WithDescription("Time from reading a batch to acknowledging it.")); err != nil {
		return nil, err
	}
	lagG, err := cfg.Meter.Int64ObservableGauge("atrium_insights_lag",
		metric.WithDescription("Stream entries not yet delivered to the consumer group."))
	if err != nil {
		return nil, err
	}
	pendG, err := cfg.Meter.Int64ObservableGauge("atrium_insights_pending",
		metric.WithDescription("Entries delivered but not acknowledged (in flight or left by a dead worker)."))
	if err != nil {
		return nil, err
	}
	trimC, err := cfg.Meter.Int64ObservableCounter("atrium_insights_trimmed_unread",
		metric.WithDescription("Entries trimmed by the stream's MAXLEN before the group read them (lost events)."))
	if err != nil {
		return nil, err
	}
	if _, err := cfg.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if l := p.lag.Load(); l != nil {
			o.ObserveInt64(lagG, l.Lag)
			o.ObserveInt64(pendG, l.Pending)
		}
		o.ObserveInt64(trimC, p.trimmed.Load())
		return nil
	}, lagG, pendG, trimC); err != nil {
		return nil, err
	}
	return p, nil
}

// Run runs the workers, the lag monitor and retention until ctx ends. Entries being
// processed when ctx ends are left pending (another worker claims them). It returns once
// every worker, writer and batch waiting for its writes has stopped.
func (p *Pipeline) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ch := range p.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.writer(ctx, ch)
		}()
	}
	for i := range p.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.worker(ctx, fmt.Sprintf("%s-%d", p.cfg.ConsumerName, i))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.monitor(ctx)
	}()
	defer p.acks.Wait()
	if p.cfg.RetentionInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.retention(ctx)
		}()
	}
	wg.Wait()
}

func (p *Pipeline) ensureGroup(ctx context.Context) error {
	// From "0": events already on the stream when the group is first made (history from
	// before insights ran) are ingested too.
	err := p.cfg.Redis.XGroupCreateMkStream(ctx, p.cfg.Stream, p.cfg.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func (p *Pipeline) worker(ctx context.Context, consumer string) {
	backoff := func() {
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		if err := p.ensureGroup(ctx); err != nil {
			if ctx.Err() == nil {
				p.log.Warn("insights: cannot create consumer group", "err", err)
			}
			backoff()
			continue
		}
		break
	}
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if time.Now().After(nextClaim) {
			nextClaim = time.Now().Add(p.cfg.ClaimInterval)
			if err := p.claim(ctx, consumer); err != nil && ctx.Err() == nil {
				p.redisError(ctx, err)
				backoff()
				continue
			}
		}
		// Room for a full batch first: what the read returns is held until acknowledged.
		if err := p.inFlight.Acquire(ctx, int64(p.cfg.BatchSize)); err != nil {
			return
		}
		res, err := p.cfg.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: p.cfg.Group, Consumer: consumer, Streams: []string{p.cfg.Stream, ">"},
			Count: int64(p.cfg.BatchSize), Block: p.cfg.Block,
		}).Result()
		read := 0
		for _, s := range res {
			read += len(s.Messages)
		}
		p.inFlight.Release(int64(p.cfg.BatchSize - read))
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				p.redisError(ctx, err)
				backoff()
			}
			continue
		}
		for _, s := range res {
			p.process(ctx, s.Messages)
		}
	}
}

// redisError logs and, when Redis lost the group (restarted without its data), makes it again.
func (p *Pipeline) redisError(ctx context.Context, err error) {
	if strings.Contains(err.Error(), "NOGROUP") {
		_ = p.ensureGroup(ctx)
		return
	}
	p.log.Warn("insights: stream read failed", "err", err)
}

// claim takes over entries another (dead) worker left pending for ClaimIdle and processes
// them. Entries trimmed from the stream while pending come back as deleted ids: lost, counted.
func (p *Pipeline) claim(ctx context.Context, consumer string) error {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := p.cfg.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: p.cfg.Stream, Group: p.cfg.Group, Consumer: consumer,
			MinIdle: p.cfg.ClaimIdle, Start: start, Count: int64(p.cfg.BatchSize),
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) {
				return nil
			}
			return err
		}
		if len(msgs) > 0 {
			p.log.Info("insights: claimed pending entries", "entries", len(msgs), "consumer", consumer)
			if err := p.inFlight.Acquire(ctx, int64(len(msgs))); err != nil {
				return nil
			}
			p.process(ctx, msgs)
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
	return nil
}

func (p *Pipeline) count(ctx context.Context, result string, n int) {
	if n > 0 {
		p.results.Add(ctx, int64(n), metric.WithAttributes(attribute.String("result", result)))
	}
}

// process hands one batch to the writers and returns; the batch is acknowledged once every
// tenant's part of it has committed (or can never be written), by a goroutine of its own, so
// the worker reads on meanwhile. The caller holds len(msgs) of inFlight, released after the
// acknowledgement. If ctx ends first, nothing is acknowledged: the entries stay pending.
//
// A writer writes the parts of every batch queued for it together, one transaction per
// shard and 32 tenants (store.IngestMany): a batch over a thousand tenants holds a few events
// per tenant, and a transaction per tenant cost more than its events. One tenant's flood is
// bounded within a write: a tenant's first PerTenantBatch events go into the write's first
// transactions with everyone else's, its excess into transactions after them, so the other
// tenants' events commit (and show) without waiting for the flood's writes. Should a
// transaction fail, its tenants are written one by one (ingestTenant: provisioning missing
// tables, dropping gone tenants, retrying transient failures), so one broken tenant costs the
// others a slower write, not their events.
func (p *Pipeline) process(ctx context.Context, msgs []redis.XMessage) {
	started := time.Now()
	ids := make([]string, 0, len(msgs))
	split := make([][]tenantPart, len(p.writers))
	at := map[string]int{} // tenant -> its part's index in its writer's split
	for _, m := range msgs {
		ids = append(ids, m.ID)
		// A claimed entry that was trimmed away arrives without values.
		if m.Values == nil {
			p.count(ctx, "malformed", 1)
			continue
		}
		e, err := event.Parse(m.Values)
		if err != nil {
			p.count(ctx, "malformed", 1)
			continue
		}
		if e.TenantID == "" {
			p.count(ctx, "no_tenant", 1)
			continue
		}
		w := writerOf(e.TenantID, len(p.writers))
		i, ok := at[e.TenantID]
		if !ok {
			i = len(split[w])
			at[e.TenantID] = i
			split[w] = append(split[w], tenantPart{tenant: e.TenantID})
		}
		split[w][i].events = append(split[w][i].events, e)
	}
	var jobs []*writeJob
	for w, parts := range split {
		if len(parts) == 0 {
			continue
		}
		j := &writeJob{parts: parts, done: make(chan error, 1)}
		select {
		case p.writers[w] <- j:
		case <-ctx.Done():
			p.inFlight.Release(int64(len(msgs)))
			return
		}
		jobs = append(jobs, j)
	}
	p.acks.Add(1)
	go func() {
		defer p.acks.Done()
		defer p.inFlight.Release(int64(len(msgs)))
		for _, j := range jobs {
			select {
			case err := <-j.done:
				if err != nil {
					return // ctx ended: leave the batch pending
				}
			case <-ctx.Done():
				return
			}
		}
		if p.cfg.AfterCommit != nil {
			p.cfg.AfterCommit(len(msgs))
		}
		// XACK failing (Redis down) leaves the entries pending: they are redelivered, and the
		// dedup makes that harmless.
		for {
			err := p.cfg.Redis.XAck(context.WithoutCancel(ctx), p.cfg.Stream, p.cfg.Group, ids...).Err()
			if err == nil || ctx.Err() != nil {
				break
			}
			p.log.Warn("insights: XACK failed, retrying", "err", err)
			time.Sleep(500 * time.Millisecond)
		}
		p.batchMs.Record(ctx, float64(time.Since(started).Microseconds())/1000)
	}()
}

type tenantPart struct {
	tenant string
	events []event.Event
}

// writeJob is a batch's parts for one writer: one part per tenant, in the order the batch
// first names them.
type writeJob struct {
	parts []tenantPart
	done  chan error // buffered: the writer never waits on it
}

// Stats are the writers' work since New.
type Stats struct {
	// Writes (each the jobs a writer found queued), the tenant parts they held (a function
	// call each) and their events; Busy is the writers' time writing, summed.
	Writes, Parts, Events int64
	Busy                  time.Duration
}

// Stats says how much the writers merged: events per part is what a tenant call carries.
func (p *Pipeline) Stats() Stats {
	return Stats{Writes: p.writes.Load(), Parts: p.parts.Load(), Events: p.written.Load(), Busy: time.Duration(p.busy.Load())}
}

// writerOf is the writer that owns a tenant (FNV-1a of its id).
func writerOf(tenantID string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(tenantID); i++ {
		h = (h ^ uint32(tenantID[i])) * 16777619
	}
	return int(h % uint32(n))
}

// writer writes the jobs of its tenants (a tenant hash picks the writer, so two writers of
// this process never wait on each other's tenant rows). Jobs that queued up while it wrote
// the last ones (the workers read on meanwhile) are written together, up to MaxInFlight
// events: under a backlog, fewer tenant calls holding more events each.
func (p *Pipeline) writer(ctx context.Context, jobs <-chan *writeJob) {
	for {
		var first *writeJob
		select {
		case <-ctx.Done():
			return
		case first = <-jobs:
		}
		batch := []*writeJob{first}
		n := 0
		for _, tp := range first.parts {
			n += len(tp.events)
		}
	more:
		for n < p.cfg.MaxInFlight {
			select {
			case j := <-jobs:
				batch = append(batch, j)
				for _, tp := range j.parts {
					n += len(tp.events)
				}
			default:
				break more
			}
		}
		started := time.Now()
		var err error
		for _, round := range p.mergeParts(batch) {
			if err = p.writeParts(ctx, round); err != nil {
				break
			}
			p.parts.Add(int64(len(round)))
			for _, tp := range round {
				p.written.Add(int64(len(tp.events)))
			}
		}
		p.writes.Add(1)
		p.busy.Add(int64(time.Since(started)))
		for _, j := range batch {
			j.done <- err
		}
	}
}

// mergeParts joins the jobs' parts of the same tenant: a tenant's part costs a function call
// whatever it holds (about 0.5 ms, more than a few events' writes), and under a backlog the
// jobs of several readers hold parts of mostly the same tenants. It returns rounds, written
// one after the other: the first holds each tenant's first PerTenantBatch events, in the
// order tenants were first seen, the next its excess, so a flood's excess does not delay the
// other tenants' first shares (see process).
func (p *Pipeline) mergeParts(batch []*writeJob) [][]tenantPart {
	byTenant := map[string][]event.Event{}
	var order []string
	for _, j := range batch {
		for _, tp := range j.parts {
			evs, ok := byTenant[tp.tenant]
			if !ok {
				order = append(order, tp.tenant)
				// Clipped: an append must not write into the backing array of a slice
				// that is not this merge's own.
				byTenant[tp.tenant] = slices.Clip(tp.events)
				continue
			}
			byTenant[tp.tenant] = append(evs, tp.events...)
		}
	}
	return rounds(order, byTenant, p.cfg.PerTenantBatch)
}

// rounds cuts each tenant's events into parts of at most bound: round k holds every tenant's
// k-th part, tenants in order, so that one tenant's flood waits behind the others' first
// shares instead of before them.
func rounds(order []string, byTenant map[string][]event.Event, bound int) [][]tenantPart {
	var out [][]tenantPart
	for round := 0; ; round++ {
		var parts []tenantPart
		for _, t := range order {
			evs := byTenant[t]
			lo := round * bound
			if lo >= len(evs) {
				continue
			}
			parts = append(parts, tenantPart{tenant: t, events: evs[lo:min(lo+bound, len(evs))]})
		}
		if len(parts) == 0 {
			return out
		}
		out = append(out, parts)
	}
}

// maxTenantsPerTx bounds the tenants of one multi-tenant transaction (see writeParts).
const maxTenantsPerTx = 32

// writeParts writes tenants' parts, one multi-tenant transaction per shard, falling back to
// one transaction per tenant when that fails. It returns an error only when ctx ends.
func (p *Pipeline) writeParts(ctx context.Context, parts []tenantPart) error {
	byShard := map[string][]store.Part{}
	var shards []string
	var single []tenantPart
	for _, tp := range parts {
		shard, err := p.shardOf(ctx, tp.tenant, tp.events)
		if err != nil {
			single = append(single, tp) // ingestTenant retries or drops it
			continue
		}
		p.noteTenant(ctx, tp.tenant, shard)
		if _, ok := byShard[shard]; !ok {
			shards = append(shards, shard)
		}
		id := &authn.Identity{TenantID: tp.tenant, Schema: tenantdb.SchemaFor(tp.tenant), Shard: shard, Service: "insights"}
		byShard[shard] = append(byShard[shard], store.Part{Tenant: id, Events: tp.events, Limits: p.limits(ctx, tp.tenant)})
	}
	// A transaction locks every table, index and partition it touches until commit, about 15
	// per tenant, in the server's shared lock table (max_locks_per_transaction x connections,
	// 6,400 by default): 400 tenants in one transaction exhausted it ("out of shared memory",
	// which also fails other sessions' transactions). So at most maxTenantsPerTx per transaction.
	var chunks []string
	for _, shard := range shards {
		all := byShard[shard]
		for lo := 0; lo < len(all); lo += maxTenantsPerTx {
			key := fmt.Sprintf("%s#%d", shard, lo)
			byShard[key] = all[lo:min(lo+maxTenantsPerTx, len(all))]
			chunks = append(chunks, key)
		}
	}
	for _, key := range chunks {
		sp := byShard[key]
		shard := sp[0].Tenant.Shard
		results, err := p.cfg.Store.IngestMany(ctx, shard, sp, p.cfg.Now())
		if err == nil {
			for i, res := range results {
				p.counted(ctx, sp[i].Tenant.TenantID, len(sp[i].Events), res)
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Info("insights: a multi-tenant batch failed; writing its tenants one by one", "shard", shard, "tenants", len(sp), "err", err)
		for _, part := range sp {
			single = append(single, tenantPart{tenant: part.Tenant.TenantID, events: part.Events})
		}
	}
	for _, tp := range single {
		if _, err := p.ingestTenant(ctx, tp.tenant, tp.events); err != nil {
			return err
		}
	}
	return nil
}

// counted reports a tenant's written part to the usage hook and the metrics.
func (p *Pipeline) counted(ctx context.Context, tenantID string, events int, res store.Result) {
	if p.cfg.Usage != nil && res.MonthEvents >= 0 {
		p.cfg.Usage(tenantID, res.MonthEvents)
	}
	p.count(ctx, "new", res.Counted)
	p.count(ctx, "over_limit", res.Dropped)
	p.count(ctx, "expired", res.Expired)
	p.count(ctx, "duplicate", events-res.New-res.Expired)
}

// noteTenant records a tenant in TenantsKey (for retention), once per process.
func (p *Pipeline) noteTenant(ctx context.Context, tenantID, shard string) {
	if _, ok := p.tenants.Load(tenantID); !ok && p.cfg.TenantsKey != "" {
		if p.cfg.Redis.HSet(ctx, p.cfg.TenantsKey, tenantID, shard).Err() == nil {
			p.tenants.Store(tenantID, shard)
		}
	}
}

// ingestTenant writes one tenant's events, retrying transient failures until it succeeds or
// ctx ends (the only error it returns). Permanent failures are logged, counted and dropped.
func (p *Pipeline) ingestTenant(ctx context.Context, tenantID string, evs []event.Event) (store.Result, error) {
	wait := 200 * time.Millisecond
	provisioned := false
	for {
		res, err := p.ingestOnce(ctx, tenantID, evs)
		switch {
		case err == nil:
			p.counted(ctx, tenantID, len(evs), res)
			return res, nil
		case ctx.Err() != nil:
			return res, ctx.Err()
		case store.IsMissingTables(err) && !provisioned:
			// A tenant from before insights was deployed: give it its tables, then retry.
			provisioned = true
			shard, serr := p.shardOf(ctx, tenantID, evs)
			if serr == nil {
				_, serr = p.cfg.Store.Provision(ctx, shard, tenantdb.SchemaFor(tenantID))
			}
			if serr != nil {
				p.log.Warn("insights: provisioning a tenant's tables failed", "tenant", tenantID, "err", serr)
			}
			continue
		case store.IsTenantGone(err) || errors.Is(err, tenantdb.ErrUnknownShard):
			p.log.Warn("insights: tenant's schema is gone; its events are dropped", "tenant", tenantID, "events", len(evs), "err", err)
			p.count(ctx, "tenant_gone", len(evs))
			return res, nil
		}
		p.log.Warn("insights: writing a tenant's batch failed; retrying", "tenant", tenantID, "events", len(evs), "err", err)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (p *Pipeline) shardOf(ctx context.Context, tenantID string, evs []event.Event) (string, error) {
	if p.cfg.Resolve != nil {
		return p.cfg.Resolve(ctx, tenantID)
	}
	for _, e := range evs {
		if e.Shard != "" {
			return e.Shard, nil
		}
	}
	return "", fmt.Errorf("pipeline: no shard for tenant %s", tenantID)
}

func (p *Pipeline) limits(ctx context.Context, tenantID string) store.Limits {
	lim := store.Limits{MonthlyEvents: -1, RetentionDays: p.cfg.DefaultRetentionDays}
	if p.cfg.Limits == nil {
		return lim
	}
	if v, err := p.cfg.Limits.Limit(ctx, tenantID, LimitMonthlyEvents); err == nil {
		lim.MonthlyEvents = v
	}
	if v, err := p.cfg.Limits.Limit(ctx, tenantID, LimitRetentionDays); err == nil {
		lim.RetentionDays = int(v)
	}
	return lim
}

func (p *Pipeline) ingestOnce(ctx context.Context, tenantID string, evs []event.Event) (store.Result, error) {
	shard, err := p.shardOf(ctx, tenantID, evs)
	if err != nil {
		return store.Result{}, err
	}
	p.noteTenant(ctx, tenantID, shard)
	id := &authn.Identity{TenantID: tenantID, Schema: tenantdb.SchemaFor(tenantID), Shard: shard, Service: "insights"}
	return p.cfg.Store.Ingest(authn.WithIdentity(ctx, id), evs, p.limits(ctx, tenantID), p.cfg.Now())
}

// Lag is the consumer group's state.
type Lag struct {
	Stream, Group    string
	Length, Lag      int64
	Pending          int64
	TrimmedUnread    int64
	Consumers        int64
	OldestPendingAge time.Duration
	LastDeliveredID  string
	StreamFirstID    string
}

// ReadLag asks Redis for the group's state now.
func (p *Pipeline) ReadLag(ctx context.Context) (*Lag, error) {
	l := &Lag{Stream: p.cfg.Stream, Group: p.cfg.Group, Lag: -1, TrimmedUnread: p.trimmed.Load()}
	info, err := p.cfg.Redis.XInfoStream(ctx, p.cfg.Stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return l, nil
		}
		return nil, err
	}
	l.Length, l.StreamFirstID = info.Length, info.FirstEntry.ID
	groups, err := p.cfg.Redis.XInfoGroups(ctx, p.cfg.Stream).Result()
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.Name != p.cfg.Group {
			continue
		}
		l.Pending, l.Consumers, l.Lag, l.LastDeliveredID = g.Pending, g.Consumers, g.Lag, g.LastDeliveredID
		// When MAXLEN trimmed past the last delivered entry, everything still on the stream is
		// unread and what was added beyond it since the last read is gone: entries-added minus
		// entries-read minus the stream's length were trimmed unread. (Redis reports lag as
		// unknown then, -1 here.)
		if idLess(g.LastDeliveredID, info.FirstEntry.ID) && info.EntriesAdded > 0 {
			l.Lag = l.Length
			if trimmed := info.EntriesAdded - g.EntriesRead - l.Length; trimmed > 0 {
				if prev := p.lastUnreadGap.Swap(trimmed); trimmed > prev {
					p.trimmed.Add(trimmed - prev)
				}
			}
		} else {
			p.lastUnreadGap.Store(0)
		}
		l.TrimmedUnread = p.trimmed.Load()
		if g.Pending > 0 {
			ps, err := p.cfg.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: p.cfg.Stream, Group: p.cfg.Group, Start: "-", End: "+", Count: 1,
			}).Result()
			if err == nil && len(ps) > 0 {
				l.OldestPendingAge = ps[0].Idle
			}
		}
	}
	return l, nil
}

// idLess compares stream ids ("ms-seq").
func idLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ami, _ := strconv.ParseUint(am, 10, 64)
	bmi, _ := strconv.ParseUint(bm, 10, 64)
	if ami != bmi {
		return ami < bmi
	}
	asi, _ := strconv.ParseUint(as, 10, 64)
	bsi, _ := strconv.ParseUint(bs, 10, 64)
	return asi < bsi
}

// monitor refreshes the lag gauges every 2 s.
func (p *Pipeline) monitor(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if l, err := p.ReadLag(ctx); err == nil {
			p.lag.Store(l)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retention sweeps every RetentionInterval, the first time a minute after the start (when a
// process restarted shortly before midnight, tomorrow's partitions should still be made).
func (p *Pipeline) retention(ctx context.Context) {
	next := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(next, p.cfg.RetentionInterval)):
		}
		next = p.cfg.RetentionInterval
		if err := p.SweepRetention(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("insights: retention sweep failed", "err", err)
		}
	}
}

// SweepRetention runs one pass over the tenants in TenantsKey: it drops raw partitions past
// each one's retention and makes today's and tomorrow's partitions ahead of their events.
func (p *Pipeline) SweepRetention(ctx context.Context) error {
	if p.cfg.TenantsKey == "" {
		return nil
	}
	all, err := p.cfg.Redis.HGetAll(ctx, p.cfg.TenantsKey).Result()
	if err != nil {
		return err
	}
	if err := p.prepareDays(ctx, all); err != nil {
		return err
	}
	for tenantID, shard := range all {
		lim := p.limits(ctx, tenantID)
		if lim.RetentionDays <= 0 {
			continue
		}
		id := &authn.Identity{TenantID: tenantID, Schema: tenantdb.SchemaFor(tenantID), Shard: shard, Service: "insights"}
		dropped, err := p.cfg.Store.DropExpired(authn.WithIdentity(ctx, id), lim.RetentionDays, p.cfg.Now())
		if err != nil {
			if store.IsTenantGone(err) || store.IsMissingTables(err) {
				p.cfg.Redis.HDel(ctx, p.cfg.TenantsKey, tenantID)
				continue
			}
			return err
		}
		if len(dropped) > 0 {
			p.log.Info("insights: raw partitions past retention dropped", "tenant", tenantID, "partitions", dropped)
		}
	}
	return nil
}

// prepareDays makes today's and tomorrow's raw partitions of the tenants (id -> shard) that
// lack them, shard by shard.
func (p *Pipeline) prepareDays(ctx context.Context, tenants map[string]string) error {
	byShard := map[string][]*authn.Identity{}
	for tenantID, shard := range tenants {
		byShard[shard] = append(byShard[shard], &authn.Identity{TenantID: tenantID, Schema: tenantdb.SchemaFor(tenantID), Shard: shard, Service: "insights"})
	}
	now := p.cfg.Now()
	days := []time.Time{now, now.AddDate(0, 0, 1)}
	for shard, ids := range byShard {
		n, err := p.cfg.Store.PrepareDays(ctx, shard, ids, days, now)
		if n > 0 {
			p.log.Info("insights: raw partitions made ahead", "shard", shard, "tenants", n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Replay re-ingests the tenant's entries still on the stream from a time on. Already counted
// events are duplicates and count nothing.
func (p *Pipeline) Replay(ctx context.Context, tenantID string, from time.Time) (read, inserted int64, err error) {
	start := strconv.FormatInt(from.UnixMilli(), 10) + "-0"
	for {
		msgs, err := p.cfg.Redis.XRangeN(ctx, p.cfg.Stream, start, "+", 1000).Result()
		if err != nil {
			return read, inserted, err
		}
		var evs []event.Event
		for _, m := range msgs {
			if e, err := event.Parse(m.Values); err == nil && e.TenantID == tenantID {
				evs = append(evs, e)
			}
		}
		if len(evs) > 0 {
			read += int64(len(evs))
			res, err := p.ingestTenant(ctx, tenantID, evs)
			if err != nil {
				return read, inserted, err
			}
			inserted += int64(res.Counted)
		}
		if len(msgs) < 1000 {
			return read, inserted, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

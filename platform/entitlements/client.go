// Package entitlements is the one cache of tenants' entitlement snapshots that every enforcing
// process uses (the gateway for plugins and request rates, catalog for entities, tenancy for
// seats, insights for events), so nobody writes it twice.
//
// A snapshot is fetched with EntitlementsInternalService.GetSnapshot on first use and kept in
// memory. The entitlements service publishes {"tenant_id","version"} on
// RedisPrefix+"atrium:entitlements-changed" after every committed change; Run listens and
// fetches the new snapshot at once, so a change is enforced everywhere within one message and
// one fetch. When Redis is down (or reconnecting, when messages may have been missed) cached
// snapshots are re-fetched every PollInterval instead; when entitlements is down the last
// snapshot keeps being enforced. Either way the client reports itself stale (Stale, and the
// atrium.entitlements.cache.stale metric) until it can confirm its snapshots again.
package entitlements

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Defaults.
const (
	DefaultPollInterval    = 5 * time.Second
	DefaultRefreshInterval = 5 * time.Minute
	DefaultFetchTimeout    = 2 * time.Second
	DefaultMaxTenants      = 100_000
)

// Config configures a Client.
type Config struct {
	// Internal is the entitlements internal API (with a caller interceptor signing as the
	// calling service). Required.
	Internal entitlementsv1connect.EntitlementsInternalServiceClient
	// Redis carries the change messages; nil: no messages, snapshots are polled every
	// PollInterval (and the client counts as stale).
	Redis  *redis.Client
	Prefix string
	// PollInterval is how often cached snapshots are re-fetched while messages cannot be
	// trusted (Redis down or reconnecting). Default 5 s.
	PollInterval time.Duration
	// RefreshInterval re-fetches every cached snapshot even while messages flow, a safety net
	// for a message lost between publish and subscribe. Default 5 min.
	RefreshInterval time.Duration
	// FetchTimeout bounds one GetSnapshot. Default 2 s.
	FetchTimeout time.Duration
	// MaxTenants bounds the cache; past it the least recently fetched entries are dropped.
	MaxTenants int
	// ReportInterval is how often usage noted with ReportUsage is sent. Default 10 s.
	ReportInterval time.Duration
	Logger         *slog.Logger
	// Meter, when set, exports atrium.entitlements.cache.stale (1 while stale),
	// atrium.entitlements.cache.age (seconds since the oldest snapshot was confirmed) and
	// atrium.entitlements.cache.fetches (by result).
	Meter metric.Meter
}

// Snapshot is a cached tenant snapshot with lookups precomputed for the hot path.
type Snapshot struct {
	*entv1.Snapshot
	installed   map[string]bool
	unavailable map[string]*entv1.PluginUnavailable
	// confirmed is when the entitlements service last vouched for it.
	confirmed time.Time
}

func newSnapshot(s *entv1.Snapshot, at time.Time) *Snapshot {
	out := &Snapshot{Snapshot: s, installed: make(map[string]bool, len(s.GetInstalledPlugins())),
		unavailable: make(map[string]*entv1.PluginUnavailable, len(s.GetUnavailablePlugins())), confirmed: at}
	for _, p := range s.GetInstalledPlugins() {
		out.installed[p] = true
	}
	for _, u := range s.GetUnavailablePlugins() {
		out.unavailable[u.GetPlugin()] = u
	}
	return out
}

// Installed reports whether plugin is installed.
func (s *Snapshot) Installed(plugin string) bool { return s.installed[plugin] }

// Unavailable explains a plugin that is not installed; nil when it is. A plugin the snapshot
// does not know (a newer registry than the service's) is locked.
func (s *Snapshot) Unavailable(plugin string) *entv1.PluginUnavailable {
	if s.installed[plugin] {
		return nil
	}
	if u, ok := s.unavailable[plugin]; ok {
		return u
	}
	return &entv1.PluginUnavailable{Plugin: plugin, State: entv1.PluginState_PLUGIN_STATE_LOCKED,
		Message: "unknown plugin", Unlock: &entv1.Unlock{Action: "contact_sales"}}
}

// Limit returns a limit's value (-1: unlimited) and whether the snapshot has it.
func (s *Snapshot) Limit(name string) (int64, bool) {
	v, ok := s.GetLimits()[name]
	return v, ok
}

// Client caches snapshots. It is safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger

	mu       sync.RWMutex
	entries  map[string]*Snapshot
	inflight map[string]*fetch

	// subscribed is true while the Redis subscription is live (messages can be trusted).
	subscribed atomic.Bool
	// fetchFailing is true after a fetch failed, until one succeeds.
	fetchFailing atomic.Bool
	fetches      metric.Int64Counter

	usageMu      sync.Mutex
	usage        map[usageKey]usageValue
	usageDropped int
}

type fetch struct {
	done chan struct{}
	snap *Snapshot
	err  error
}

// New returns a client; call Run for change messages and polling.
func New(cfg Config) (*Client, error) {
	if cfg.Internal == nil {
		return nil, errors.New("entitlements: Config.Internal is required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxTenants <= 0 {
		cfg.MaxTenants = DefaultMaxTenants
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Logger, entries: map[string]*Snapshot{}, inflight: map[string]*fetch{}, usage: map[usageKey]usageValue{}}
	if m := cfg.Meter; m != nil {
		var err error
		if c.fetches, err = m.Int64Counter("atrium.entitlements.cache.fetches",
			metric.WithDescription("GetSnapshot calls by result (ok, error)")); err != nil {
			return nil, err
		}
		stale, err := m.Int64ObservableGauge("atrium.entitlements.cache.stale",
			metric.WithDescription("1 while cached snapshots cannot be confirmed (Redis or entitlements unreachable)"))
		if err != nil {
			return nil, err
		}
		age, err := m.Float64ObservableGauge("atrium.entitlements.cache.age", metric.WithUnit("s"),
			metric.WithDescription("seconds since the least recently confirmed cached snapshot was confirmed"))
		if err != nil {
			return nil, err
		}
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			var v int64
			if c.Stale() {
				v = 1
			}
			o.ObserveInt64(stale, v)
			o.ObserveFloat64(age, c.OldestAge().Seconds())
			return nil
		}, stale, age); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Stale reports whether the client cannot currently vouch that its snapshots are current.
func (c *Client) Stale() bool { return !c.subscribed.Load() || c.fetchFailing.Load() }

// OldestAge is how long ago the least recently confirmed snapshot was confirmed (0: none).
func (c *Client) OldestAge() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var oldest time.Time
	for _, s := range c.entries {
		if oldest.IsZero() || s.confirmed.Before(oldest) {
			oldest = s.confirmed
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}

// Cached returns the cached snapshot without fetching.
func (c *Client) Cached(tenantID string) (*Snapshot, bool) {
	c.mu.RLock()
	s, ok := c.entries[tenantID]
	c.mu.RUnlock()
	return s, ok
}

// Get returns the tenant's snapshot: the cached one, else a fetched one. It fails only when
// nothing is cached and entitlements cannot be reached.
func (c *Client) Get(ctx context.Context, tenantID string) (*Snapshot, error) {
	if s, ok := c.Cached(tenantID); ok {
		return s, nil
	}
	return c.fetch(ctx, tenantID)
}

// Check returns nil when the tenant has plugin installed, else why not.
func (c *Client) Check(ctx context.Context, tenantID, plugin string) (*entv1.PluginUnavailable, error) {
	s, err := c.Get(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return s.Unavailable(plugin), nil
}

// Limit returns the tenant's value of a limit (-1: unlimited).
func (c *Client) Limit(ctx context.Context, tenantID, name string) (int64, error) {
	s, err := c.Get(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	v, ok := s.Limit(name)
	if !ok {
		return 0, errors.New("entitlements: snapshot has no limit " + name)
	}
	return v, nil
}

// LimitDecision is CheckLimit's answer.
type LimitDecision struct {
	Allowed bool
	Limit   int64
	Reason  string
}

// CheckLimit asks whether current+increment fits the tenant's limit, through the service
// (which records current as the tenant's usage). When the service cannot be reached the
// cached snapshot decides, so a limit keeps being enforced (and growth keeps working) while
// entitlements is down.
func (c *Client) CheckLimit(ctx context.Context, tenantID, name string, current, increment int64) (LimitDecision, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	res, err := c.cfg.Internal.CheckLimit(cctx, connect.NewRequest(&entv1.CheckLimitRequest{
		TenantId: tenantID, Limit: name, Current: current, Increment: increment}))
	cancel()
	if err == nil {
		return LimitDecision{Allowed: res.Msg.GetAllowed(), Limit: res.Msg.GetLimitValue(), Reason: res.Msg.GetReason()}, nil
	}
	if code := connect.CodeOf(err); code == connect.CodeInvalidArgument {
		return LimitDecision{}, err
	}
	s, ok := c.Cached(tenantID)
	if !ok {
		return LimitDecision{}, err
	}
	v, ok := s.Limit(name)
	if !ok {
		return LimitDecision{}, err
	}
	d := LimitDecision{Limit: v, Allowed: v < 0 || increment <= 0 || current+increment <= v}
	if !d.Allowed {
		d.Reason = "limit " + name + " of plan " + s.GetPlan() + " is " + itoa(v)
	}
	return d, nil
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fetch gets the snapshot from the service, one call per tenant at a time. On failure the
// cached snapshot (if any) is kept and returned.
func (c *Client) fetch(ctx context.Context, tenantID string) (*Snapshot, error) {
	s, _, err := c.fetchOrJoin(ctx, tenantID)
	return s, err
}

// fetchOrJoin is fetch that also says whether it joined a fetch already under way (which may
// have started before the change its caller heard about).
func (c *Client) fetchOrJoin(ctx context.Context, tenantID string) (_ *Snapshot, joined bool, _ error) {
	c.mu.Lock()
	if f, ok := c.inflight[tenantID]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.snap, true, f.err
		case <-ctx.Done():
			return nil, true, ctx.Err()
		}
	}
	f := &fetch{done: make(chan struct{})}
	c.inflight[tenantID] = f
	c.mu.Unlock()

	// The fetch outlives a caller that gives up: others may be waiting on it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
	res, err := c.cfg.Internal.GetSnapshot(fctx, connect.NewRequest(&entv1.GetSnapshotRequest{TenantId: tenantID}))
	cancel()
	now := time.Now()

	c.mu.Lock()
	delete(c.inflight, tenantID)
	if err != nil {
		f.err = err
		if old, ok := c.entries[tenantID]; ok {
			f.snap, f.err = old, nil
		}
	} else {
		s := newSnapshot(res.Msg.GetSnapshot(), now)
		// A fetch that started before a newer one finished must not move the version back.
		if old, ok := c.entries[tenantID]; ok && old.GetVersion() > s.GetVersion() {
			old.confirmed = now
			s = old
		} else {
			c.store(tenantID, s)
		}
		f.snap = s
	}
	c.mu.Unlock()
	close(f.done)
	c.count(ctx, err)
	if err != nil {
		c.fetchFailing.Store(true)
		return f.snap, false, f.err
	}
	c.fetchFailing.Store(false)
	return f.snap, false, nil
}

func (c *Client) count(ctx context.Context, err error) {
	if c.fetches == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.fetches.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}

// store puts s in the cache; called with mu held. Past MaxTenants the entry confirmed longest
// ago goes (a linear scan: it happens once per new tenant past a large bound).
func (c *Client) store(tenantID string, s *Snapshot) {
	if _, ok := c.entries[tenantID]; !ok && len(c.entries) >= c.cfg.MaxTenants {
		var victim string
		var oldest time.Time
		for id, e := range c.entries {
			if victim == "" || e.confirmed.Before(oldest) {
				victim, oldest = id, e.confirmed
			}
		}
		delete(c.entries, victim)
	}
	c.entries[tenantID] = s
}

// Invalidate drops a tenant's snapshot (the next Get fetches).
func (c *Client) Invalidate(tenantID string) {
	c.mu.Lock()
	delete(c.entries, tenantID)
	c.mu.Unlock()
}

// Apply handles one change message: a newer version is fetched at once, version 0 drops the
// tenant. Run calls it; it is exported for processes that receive changes another way.
func (c *Client) Apply(ctx context.Context, ch Change) {
	if ch.Version == 0 {
		c.Invalidate(ch.TenantID)
		return
	}
	s, ok := c.Cached(ch.TenantID)
	if !ok || s.GetVersion() >= ch.Version {
		// Not cached: the first Get fetches it. Already as new: nothing to do.
		return
	}
	s, joined, err := c.fetchOrJoin(ctx, ch.TenantID)
	if err == nil && joined && s.GetVersion() < ch.Version {
		// The fetch we joined began before this change committed (two quick changes: the
		// first one's fetch was still under way), so its answer is older: fetch once more,
		// or the cache would keep the older snapshot until the next periodic refresh.
		_, err = c.fetch(ctx, ch.TenantID)
	}
	if err != nil {
		c.log.WarnContext(ctx, "entitlements: fetch after change", "tenant_id", ch.TenantID, "err", err)
	}
}

// refreshAll re-fetches every cached snapshot.
func (c *Client) refreshAll(ctx context.Context) {
	c.mu.RLock()
	ids := make([]string, 0, len(c.entries))
	for id := range c.entries {
		ids = append(ids, id)
	}
	c.mu.RUnlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		_, _ = c.fetch(ctx, id)
	}
}

// Run listens for change messages and polls while they cannot be trusted, and sends reported
// usage, until ctx ends.
func (c *Client) Run(ctx context.Context) {
	go c.poll(ctx)
	go c.reportUsage(ctx)
	if c.cfg.Redis == nil {
		<-ctx.Done()
		return
	}
	channel := c.cfg.Prefix + Channel
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listen(ctx, channel)
		c.subscribed.Store(false)
		if ctx.Err() != nil {
			return
		}
		c.log.WarnContext(ctx, "entitlements: change subscription lost; polling snapshots until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen holds one subscription until it fails. Once subscribed it re-fetches everything
// cached: messages published while it was down were missed.
func (c *Client) listen(ctx context.Context, channel string) error {
	ps := c.cfg.Redis.Subscribe(ctx, channel)
	// A read blocked in ReceiveTimeout does not see ctx end (go-redis honours a context's
	// deadline, not its cancellation); closing the subscription ends the read. Without this, every service's Close waited
	// out its own timeout (the gateway's 5 s) or closed its Redis client under the read.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		if stop() {
			_ = ps.Close()
		}
	}()
	for {
		// A periodic ping keeps a dead connection from looking like a quiet channel.
		msg, err := ps.ReceiveTimeout(ctx, 30*time.Second)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				if perr := ps.Ping(ctx); perr != nil {
					return perr
				}
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.subscribed.Store(true)
				go c.refreshAll(ctx)
			}
		case *redis.Message:
			var ch Change
			if err := json.Unmarshal([]byte(m.Payload), &ch); err != nil || ch.TenantID == "" {
				c.log.WarnContext(ctx, "entitlements: bad change message", "payload", m.Payload)
				continue
			}
			go c.Apply(ctx, ch)
		case *redis.Pong:
		}
	}
}

// poll re-fetches cached snapshots every PollInterval while messages cannot be trusted, and
// every RefreshInterval regardless.
func (c *Client) poll(ctx context.Context) {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.Stale() || time.Since(last) >= c.cfg.RefreshInterval {
			c.refreshAll(ctx)
			last = time.Now()
		}
	}
}

// GrowthCheck adapts CheckLimit to the hooks enforcing services expose ("may the tenant, at
// current, take one more?"): nil when it may, ResourceExhausted naming the limit when it may
// not, Unavailable when neither entitlements nor the cache can say.
func (c *Client) GrowthCheck(limit string) func(ctx context.Context, tenantID string, current int64) error {
	return func(ctx context.Context, tenantID string, current int64) error {
		d, err := c.CheckLimit(ctx, tenantID, limit, current, 1)
		if err != nil {
			return rpcerr.Unavailable("cannot check the %s limit", limit).WithCause(err)
		}
		if !d.Allowed {
			return rpcerr.ResourceExhausted(0, "%s; upgrade the plan or free one first", d.Reason)
		}
		return nil
	}
}

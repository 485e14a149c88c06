// Package tenant resolves the tenant a request names, through tenancy's DirectoryService,
// with two cache levels: an in-process LRU (seconds) and Redis (shared by every gateway,
// a minute). Tenancy publishes {"tenant_id","slug","status"} (a bare id or slug works too) on
// RedisPrefix+"atrium:tenant-changed" when it suspends, resumes or deletes a tenant; every
// gateway then drops it from both levels.
package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"atrium.dev/gateway/internal/cache"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"
)

// Config of a Resolver.
type Config struct {
	Directory tenancyv1connect.DirectoryServiceClient
	// Redis is optional: without it only the local cache is used.
	Redis  *redis.Client
	Prefix string
	// LocalTTL (default 10s) bounds how stale a tenant can be when an invalidation is missed;
	// RedisTTL (default 60s) the same for the shared level.
	LocalTTL, RedisTTL time.Duration
	// NotFoundTTL (default 2s) caches unknown slugs locally, so a flood of made-up hosts does
	// not reach tenancy; kept short so a fresh sign-up resolves almost at once.
	NotFoundTTL time.Duration
	MaxEntries  int // default 10000
	Log         *slog.Logger
}

// Resolver is safe for concurrent use.
type Resolver struct {
	cfg   Config
	local *cache.Cache[string, *tenancyv1.Tenant] // nil value: known not to exist
	group singleflight.Group
}

// NewResolver returns a resolver.
func NewResolver(cfg Config) *Resolver {
	if cfg.LocalTTL <= 0 {
		cfg.LocalTTL = 10 * time.Second
	}
	if cfg.RedisTTL <= 0 {
		cfg.RedisTTL = time.Minute
	}
	if cfg.NotFoundTTL <= 0 {
		cfg.NotFoundTTL = 2 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Resolver{cfg: cfg, local: cache.New[string, *tenancyv1.Tenant](cfg.MaxEntries)}
}

// Channel is the pub/sub channel tenancy publishes changed tenants on.
func (r *Resolver) Channel() string { return r.cfg.Prefix + "atrium:tenant-changed" }

func (r *Resolver) redisKey(key string) string { return r.cfg.Prefix + "atrium:tenant:" + key }

// Resolve returns the tenant with slug or id key, whatever its status. An unknown tenant is a
// NotFound domain error; an unreachable directory is Unavailable.
func (r *Resolver) Resolve(ctx context.Context, key string) (*tenancyv1.Tenant, error) {
	if t, ok := r.local.Get(key); ok {
		if t == nil {
			return nil, notFound()
		}
		return t, nil
	}
	v, err, _ := r.group.Do(key, func() (any, error) {
		// The first caller's context must not cancel the lookup for everyone waiting on it.
		ctx := context.WithoutCancel(ctx)
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return r.fetch(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.(*tenancyv1.Tenant), nil
}

func (r *Resolver) fetch(ctx context.Context, key string) (*tenancyv1.Tenant, error) {
	if t := r.fromRedis(ctx, key); t != nil {
		r.local.Set(key, t, r.cfg.LocalTTL)
		return t, nil
	}
	res, err := r.cfg.Directory.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: key}))
	if err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			r.local.Set(key, nil, r.cfg.NotFoundTTL)
			return nil, notFound()
		}
		return nil, rpcerr.Unavailable("tenant directory unavailable").WithCause(err)
	}
	t := res.Msg.GetTenant()
	if t.GetId() == "" {
		return nil, rpcerr.Unavailable("tenant directory gave no tenant").WithCause(errors.New("empty ResolveTenant response"))
	}
	r.local.Set(key, t, r.cfg.LocalTTL)
	r.toRedis(ctx, t)
	return t, nil
}

func (r *Resolver) fromRedis(ctx context.Context, key string) *tenancyv1.Tenant {
	if r.cfg.Redis == nil {
		return nil
	}
	b, err := r.cfg.Redis.Get(ctx, r.redisKey(key)).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.cfg.Log.DebugContext(ctx, "tenant cache read", "err", err)
		}
		return nil
	}
	t := &tenancyv1.Tenant{}
	if err := proto.Unmarshal(b, t); err != nil || t.GetId() == "" {
		return nil
	}
	return t
}

// toRedis stores the tenant under its slug and its id, so an invalidation naming either finds
// both keys.
func (r *Resolver) toRedis(ctx context.Context, t *tenancyv1.Tenant) {
	if r.cfg.Redis == nil {
		return
	}
	b, err := proto.Marshal(t)
	if err != nil {
		return
	}
	_, err = r.cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.redisKey(t.GetSlug()), b, r.cfg.RedisTTL)
		p.Set(ctx, r.redisKey(t.GetId()), b, r.cfg.RedisTTL)
		return nil
	})
	if err != nil {
		r.cfg.Log.DebugContext(ctx, "tenant cache write", "err", err)
	}
}

// Invalidate forgets the tenant with slug or id key, locally and in Redis.
func (r *Resolver) Invalidate(ctx context.Context, key string) {
	keys := map[string]bool{key: true}
	r.local.DeleteFunc(func(k string, t *tenancyv1.Tenant) bool {
		if k == key || (t != nil && (t.GetId() == key || t.GetSlug() == key)) {
			keys[k] = true
			if t != nil {
				keys[t.GetId()], keys[t.GetSlug()] = true, true
			}
			return true
		}
		return false
	})
	if r.cfg.Redis == nil {
		return
	}
	if t := r.fromRedis(ctx, key); t != nil {
		keys[t.GetId()], keys[t.GetSlug()] = true, true
	}
	var del []string
	for k := range keys {
		if k != "" {
			del = append(del, r.redisKey(k))
		}
	}
	if err := r.cfg.Redis.Del(ctx, del...).Err(); err != nil {
		r.cfg.Log.WarnContext(ctx, "tenant cache invalidation", "tenant", key, "err", err)
	}
}

// Listen applies invalidations published on Channel until ctx ends, and returns as soon as it
// does, whatever Redis is doing. Whenever the subscription is (re)established the local cache
// is emptied, since messages may have been missed while disconnected. Without Redis it
// returns at once.
//
// go-redis receives in its own goroutine (ChannelWithSubscriptions), reconnects, and pings
// an idle subscription so a dead connection is noticed; Listen only waits on that channel
// and on ctx. Waiting in PubSub.Receive instead tied Listen's return, and so App.Close and
// gatewayd's exit on SIGTERM, to a network read ending.
func (r *Resolver) Listen(ctx context.Context) {
	if r.cfg.Redis == nil {
		return
	}
	ps := r.cfg.Redis.Subscribe(ctx, r.Channel())
	// Close ends go-redis's goroutines. It can wait for a reconnect in progress (seconds),
	// so it runs on its own; the gateway closes its Redis client right after anyway.
	defer func() { go ps.Close() }()
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(healthCheckInterval))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			r.apply(ctx, msg)
		}
	}
}

// healthCheckInterval is how long an idle subscription waits before pinging Redis to learn
// whether the connection is still alive (go-redis reconnects and resubscribes if not).
const healthCheckInterval = 15 * time.Second

// apply handles one message of the subscription.
func (r *Resolver) apply(ctx context.Context, msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		r.local.Purge()
	case *redis.Message:
		keys, all := changedKeys(m.Payload)
		if all {
			r.local.Purge()
			return
		}
		for _, k := range keys {
			r.Invalidate(ctx, k)
		}
	}
}

// changedKeys reads an invalidation message: tenancy's JSON {"tenant_id", "slug", ...}, or a
// bare id or slug. "", "*" or anything unreadable means every tenant.
func changedKeys(payload string) (keys []string, all bool) {
	payload = strings.TrimSpace(payload)
	if payload == "" || payload == "*" {
		return nil, true
	}
	if payload[0] != '{' {
		return []string{payload}, false
	}
	var c struct {
		TenantID string `json:"tenant_id"`
		Slug     string `json:"slug"`
	}
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return nil, true
	}
	for _, k := range []string{c.TenantID, c.Slug} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys, len(keys) == 0
}

func notFound() error { return rpcerr.NotFound("tenant not found") }

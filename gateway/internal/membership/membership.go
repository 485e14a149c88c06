// Package membership gives the gateway the caller's current role in a tenant, so a demotion or
// removal takes effect at once instead of when the access token (15 min) expires. Answers of
// tenancy's DirectoryService.GetMembership are cached per (tenant, user) and dropped when
// tenancy publishes on RedisPrefix+"atrium:membership-changed" ({"tenant_id","user_id",
// "token_id","operator_token_id"}); the same message revokes cached API and operator token
// introspections (OnChange). The TTL bounds staleness when a message is missed; on every
// (re)subscription everything cached is dropped, since messages may have been lost.
package membership

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"atrium.dev/gateway/internal/cache"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Change is one message of the channel.
type Change struct {
	TenantID        string `json:"tenant_id"`
	UserID          string `json:"user_id"`
	TokenID         string `json:"token_id"`
	OperatorTokenID string `json:"operator_token_id"`
	// All: the message could not be read, or the subscription was (re)established.
	All bool `json:"-"`
}

// Config of a Cache.
type Config struct {
	Directory tenancyv1connect.DirectoryServiceClient
	Redis     *redis.Client // nil: TTL only
	Prefix    string
	// TTL bounds staleness when an invalidation is missed (default 30 s with Redis, 2 s without).
	TTL time.Duration
	// OnChange is called for every change (after the cache dropped its entries).
	OnChange func(Change)
	Log      *slog.Logger
}

type key struct{ tenant, user string }

// Cache is safe for concurrent use.
type Cache struct {
	cfg   Config
	roles *cache.Cache[key, authn.Role] // "": not a member
	group singleflight.Group
}

// New returns a cache.
func New(cfg Config) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
		if cfg.Redis == nil {
			cfg.TTL = 2 * time.Second
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Cache{cfg: cfg, roles: cache.New[key, authn.Role](100000)}
}

// Channel is the pub/sub channel tenancy publishes membership changes on.
func (c *Cache) Channel() string { return c.cfg.Prefix + "atrium:membership-changed" }

// Role returns user's current role in tenant; "" means not a member. An unreachable directory
// is Unavailable: the gateway refuses rather than trust a role it cannot check.
func (c *Cache) Role(ctx context.Context, tenantID, userID string) (authn.Role, error) {
	k := key{tenantID, userID}
	if r, ok := c.roles.Get(k); ok {
		return r, nil
	}
	v, err, _ := c.group.Do(tenantID+"\x00"+userID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		res, err := c.cfg.Directory.GetMembership(ctx, connect.NewRequest(&tenancyv1.GetMembershipRequest{TenantId: tenantID, UserId: userID}))
		if err != nil {
			return authn.Role(""), rpcerr.Unavailable("membership directory unavailable").WithCause(err)
		}
		var r authn.Role
		if res.Msg.GetMember() {
			r = roleOf(res.Msg.GetRole())
		}
		c.roles.Set(k, r, c.cfg.TTL)
		return r, nil
	})
	if err != nil {
		return "", err
	}
	return v.(authn.Role), nil
}

func roleOf(r tenancyv1.Role) authn.Role {
	switch r {
	case tenancyv1.Role_ROLE_OWNER:
		return authn.RoleOwner
	case tenancyv1.Role_ROLE_ADMIN:
		return authn.RoleAdmin
	case tenancyv1.Role_ROLE_MEMBER:
		return authn.RoleMember
	}
	return ""
}

// Apply drops what a change makes stale.
func (c *Cache) Apply(ch Change) {
	switch {
	case ch.All:
		c.roles.Purge()
	case ch.UserID != "":
		c.roles.Delete(key{ch.TenantID, ch.UserID})
	case ch.TenantID != "":
		c.roles.DeleteFunc(func(k key, _ authn.Role) bool { return k.tenant == ch.TenantID })
	}
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(ch)
	}
}

// Listen applies changes published on Channel until ctx ends (see tenant.Resolver.Listen for
// why it waits on go-redis's channel). Without Redis it returns at once.
func (c *Cache) Listen(ctx context.Context) {
	if c.cfg.Redis == nil {
		return
	}
	ps := c.cfg.Redis.Subscribe(ctx, c.Channel())
	defer func() { go ps.Close() }()
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(15 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				c.Apply(Change{All: true})
			case *redis.Message:
				c.Apply(parse(m.Payload))
			}
		}
	}
}

func parse(payload string) Change {
	var ch Change
	if err := json.Unmarshal([]byte(strings.TrimSpace(payload)), &ch); err != nil ||
		(ch.TenantID == "" && ch.UserID == "" && ch.OperatorTokenID == "") {
		return Change{All: true}
	}
	return ch
}

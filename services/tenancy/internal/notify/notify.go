// Package notify tells other processes that a tenant changed (suspended, resumed, deleted), so
// the gateway drops its cached copy at once instead of when the cache entry expires.
package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the pub/sub channel name under the Redis prefix.
const Channel = "atrium:tenant-changed"

// Change is the message published on Channel, as JSON.
type Change struct {
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	Status   string `json:"status"`
}

// Publisher announces tenant changes.
type Publisher interface {
	TenantChanged(ctx context.Context, c Change)
}

// Nop drops every change; used when no Redis is configured.
type Nop struct{}

// TenantChanged does nothing.
func (Nop) TenantChanged(context.Context, Change) {}

// Redis publishes changes on prefix+Channel.
type Redis struct {
	client  *redis.Client
	channel string
	log     *slog.Logger
}

// NewRedis publishes through client under prefix.
func NewRedis(client *redis.Client, prefix string, log *slog.Logger) *Redis {
	return &Redis{client: client, channel: prefix + Channel, log: log}
}

// TenantChanged publishes c. A failure is logged, not returned: the change itself is already
// committed, and caches expire on their own within their short TTL.
func (r *Redis) TenantChanged(ctx context.Context, c Change) {
	msg, err := json.Marshal(c)
	if err == nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err = r.client.Publish(pctx, r.channel, msg).Err()
		cancel()
	}
	if err != nil {
		r.log.WarnContext(ctx, "publish tenant change", "tenant_id", c.TenantID, "err", err)
	}
}

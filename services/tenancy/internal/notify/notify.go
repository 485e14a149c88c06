// Package notify tells other processes that a tenant changed (suspended, resumed, deleted) or
// that a membership changed (role, removal, API token revoked), so the gateway drops its
// cached copy at once instead of when the cache entry expires.
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

// MembershipChannel is the channel of membership changes, under the Redis prefix.
const MembershipChannel = "atrium:membership-changed"

// MembershipChange is the message published on MembershipChannel, as JSON: the membership of
// user in tenant changed (role, removal, new account) or, with token_id, one of the user's API
// tokens was revoked. Receivers drop whatever they cached for (tenant, user).
type MembershipChange struct {
	TenantID string `json:"tenant_id"`
	UserID   string `json:"user_id,omitempty"`
	TokenID  string `json:"token_id,omitempty"`
	// OperatorTokenID: an operator credential was revoked.
	OperatorTokenID string `json:"operator_token_id,omitempty"`
}

// Publisher announces tenant and membership changes.
type Publisher interface {
	TenantChanged(ctx context.Context, c Change)
	MembershipChanged(ctx context.Context, c MembershipChange)
}

// Nop drops every change; used when no Redis is configured.
type Nop struct{}

// TenantChanged does nothing.
func (Nop) TenantChanged(context.Context, Change) {}

// MembershipChanged does nothing.
func (Nop) MembershipChanged(context.Context, MembershipChange) {}

// Redis publishes changes on prefix+Channel and prefix+MembershipChannel.
type Redis struct {
	client            *redis.Client
	channel           string
	membershipChannel string
	log               *slog.Logger
}

// NewRedis publishes through client under prefix.
func NewRedis(client *redis.Client, prefix string, log *slog.Logger) *Redis {
	return &Redis{client: client, channel: prefix + Channel, membershipChannel: prefix + MembershipChannel, log: log}
}

// MembershipChanged publishes c, logging a failure (the gateway's cache entries expire on
// their own within seconds).
func (r *Redis) MembershipChanged(ctx context.Context, c MembershipChange) {
	msg, err := json.Marshal(c)
	if err == nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err = r.client.Publish(pctx, r.membershipChannel, msg).Err()
		cancel()
	}
	if err != nil {
		r.log.WarnContext(ctx, "publish membership change", "tenant_id", c.TenantID, "user_id", c.UserID, "err", err)
	}
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

package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"atrium.dev/platform/entitlements"
	"github.com/redis/go-redis/v9"
)

// NopPublisher drops changes (no Redis configured): caches then see a change only when they
// ask again.
type NopPublisher struct{}

// Changed does nothing.
func (NopPublisher) Changed(context.Context, string, int64) {}

// RedisPublisher publishes changes on prefix+entitlements.Channel.
type RedisPublisher struct {
	client  *redis.Client
	channel string
	log     *slog.Logger
}

// NewRedisPublisher publishes through client under prefix.
func NewRedisPublisher(client *redis.Client, prefix string, log *slog.Logger) *RedisPublisher {
	return &RedisPublisher{client: client, channel: prefix + entitlements.Channel, log: log}
}

// Changed publishes the change. A failure is logged, not returned: the change is committed,
// and caches catch up when they next refresh (they poll as a fallback).
func (r *RedisPublisher) Changed(ctx context.Context, tenantID string, version int64) {
	msg, err := json.Marshal(entitlements.Change{TenantID: tenantID, Version: version})
	if err == nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err = r.client.Publish(pctx, r.channel, msg).Err()
		cancel()
	}
	if err != nil {
		r.log.WarnContext(ctx, "publish entitlements change", "tenant_id", tenantID, "version", version, "err", err)
	}
}

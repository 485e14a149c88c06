package entitlements

import (
	"context"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"connectrpc.com/connect"
)

// DefaultReportInterval is how often reported usage is sent to entitlements.
const DefaultReportInterval = 10 * time.Second

type usageKey struct{ tenant, limit string }

type usageValue struct {
	used int64
	at   time.Time
}

// ReportUsage notes a tenant's current use of a limit (entities stored, requests this
// minute, events this month) for GetEntitlements to show. It only sets a value in memory;
// Run sends the latest value of each (tenant, limit) once per ReportInterval through
// CheckLimit with increment 0, the call that already records seats. So the cost to the
// reporting path is a map write, a busy tenant costs entitlements one call per limit per
// interval whatever its traffic, and an idle one costs nothing. At most MaxTenants values
// wait; past that new ones are dropped until the next report (and logged).
func (c *Client) ReportUsage(tenantID, limit string, used int64) {
	if tenantID == "" {
		return
	}
	k := usageKey{tenantID, limit}
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	if _, ok := c.usage[k]; !ok && len(c.usage) >= c.cfg.MaxTenants {
		c.usageDropped++
		return
	}
	c.usage[k] = usageValue{used: used, at: time.Now()}
}

// FlushUsage sends every waiting usage value now (Run calls it each ReportInterval; tests
// and shutdown call it directly). A value that could not be sent stays for the next flush
// unless a newer one replaced it meanwhile.
func (c *Client) FlushUsage(ctx context.Context) {
	c.usageMu.Lock()
	batch, dropped := c.usage, c.usageDropped
	c.usage, c.usageDropped = make(map[usageKey]usageValue, len(batch)), 0
	c.usageMu.Unlock()
	if dropped > 0 {
		c.log.WarnContext(ctx, "entitlements: usage reports dropped (too many tenants waiting)", "dropped", dropped)
	}
	var failed map[usageKey]usageValue
	for k, v := range batch {
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
		_, err := c.cfg.Internal.CheckLimit(cctx, connect.NewRequest(&entv1.CheckLimitRequest{
			TenantId: k.tenant, Limit: k.limit, Current: max(v.used, 0)}))
		cancel()
		if err != nil {
			if connect.CodeOf(err) == connect.CodeInvalidArgument {
				c.log.WarnContext(ctx, "entitlements: usage report refused", "tenant_id", k.tenant, "limit", k.limit, "err", err)
				continue
			}
			if failed == nil {
				failed = map[usageKey]usageValue{}
			}
			failed[k] = v
		}
	}
	if len(failed) == 0 {
		return
	}
	c.log.WarnContext(ctx, "entitlements: usage reports failed; retrying at the next interval", "failed", len(failed))
	c.usageMu.Lock()
	for k, v := range failed {
		if _, newer := c.usage[k]; !newer && len(c.usage) < c.cfg.MaxTenants {
			c.usage[k] = v
		}
	}
	c.usageMu.Unlock()
}

// reportUsage flushes every ReportInterval until ctx ends, then once more.
func (c *Client) reportUsage(ctx context.Context) {
	t := time.NewTicker(c.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
			c.FlushUsage(fctx)
			cancel()
			return
		case <-t.C:
			c.FlushUsage(ctx)
		}
	}
}

package app_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
	"atrium.dev/services/billing/app"
	"atrium.dev/services/billing/internal/billingtest"
	"atrium.dev/services/billing/internal/meter"
	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"github.com/redis/go-redis/v9"
)

func TestOverage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ allowance, before, day, want int64 }{
		{100, 0, 50, 0},
		{100, 80, 50, 30},
		{100, 150, 50, 50},
		{100, 100, 0, 0},
		{-1, 1e9, 1e9, 0},
	} {
		if got := meter.Overage(tc.allowance, tc.before, tc.day); got != tc.want {
			t.Errorf("Overage(%d, %d, %d) = %d, want %d", tc.allowance, tc.before, tc.day, got, tc.want)
		}
	}
}

// Metered usage from the gateway's stream to a Billing Meter, exactly once: an entry
// redelivered after a crash is not counted twice, a report whose answer was lost is retried
// with the same identifier and idempotency key, and a report marked unsent after a crash is
// not billed again. Stripe is billingtest.Fake, which keeps one event per identifier and
// replays answers per idempotency key as Stripe does.
func TestMeterExactlyOnce(t *testing.T) {
	t.Parallel()
	rd := redistest.New(t)
	ps := plans.Defaults()
	for i := range ps {
		if ps[i].ID == "team" {
			ps[i].IncludedRequests = 10 // small allowance: the test's requests go over it
		}
	}
	h := newHarness(t, func(c *app.Config) {
		c.Plans = ps
		c.RedisURL, c.RedisPrefix = rd.URL, rd.Prefix
	})
	ctx := context.Background()
	tenant := "0tenantmmmmmmmmmmmmm"
	now := time.Now()
	sub := billingtest.Sub{ID: "sub_m", Customer: "cus_m", Status: "active", TenantID: tenant, Plan: "team", Seats: 1,
		MeteredLookupKey: "atrium_team_api_requests", Created: now.Unix()}
	h.stripe.Put(sub)
	if s := h.deliver(subEvent("evt_m1", "customer.subscription.created", now, sub)); s != 200 {
		t.Fatal(s)
	}

	rdb := rd.Client
	stream := rd.Prefix + "atrium:usage"
	if err := rdb.XGroupCreateMkStream(ctx, stream, "billing", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// Yesterday, as the clock has it: 25 requests of the tenant, 3 tenantless.
	yesterday := h.clock.Now().UTC().Truncate(24 * time.Hour).Add(-12 * time.Hour)
	for i := 0; i < 28; i++ {
		tid := tenant
		if i >= 25 {
			tid = ""
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{
			"time", strconv.FormatInt(yesterday.UnixMilli(), 10), "tenant", tid, "procedure", "/x"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	m := h.app.Meter()
	// Read without acknowledging would be a crash after commit; emulate it by consuming, then
	// rewinding the group so the same entries come back as pending-like new deliveries.
	if n, err := m.ConsumeOnce(ctx, ">", 0); err != nil || n != 28 {
		t.Fatalf("consume: %d, %v", n, err)
	}
	if err := rdb.XGroupSetID(ctx, stream, "billing", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.ConsumeOnce(ctx, ">", 0); err != nil || n != 28 {
		t.Fatalf("redelivery: %d, %v", n, err)
	}
	usage, err := h.app.Store().UsageOn(ctx, yesterday.Truncate(24*time.Hour))
	if err != nil || len(usage) != 1 || usage[0].Requests != 25 {
		t.Fatalf("usage after redelivery = %+v, %v; want 25 requests counted once", usage, err)
	}

	// The first answer is lost: the report is failed, and retried with the same identifier.
	h.stripe.LoseMeterAnswers(3) // stripe-go retries 500s twice itself
	if _, err := m.Report(ctx); err == nil {
		t.Fatal("a lost answer reported no error")
	}
	if sent, err := m.Report(ctx); err != nil || sent != 1 {
		t.Fatalf("retry: sent %d, %v", sent, err)
	}
	// A crash between Stripe's acceptance and our commit: the row is still unsent.
	reports, _ := h.app.Store().Reports(ctx, tenant, 10)
	if len(reports) != 1 || reports[0].Status != store.ReportSent || reports[0].Quantity != 15 {
		t.Fatalf("reports = %+v, want one sent report of 15 (25 - 10 included)", reports)
	}
	if err := h.app.Store().MarkReport(ctx, reports[0].Identifier, store.ReportPending, "crash"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Report(ctx); err != nil {
		t.Fatalf("after crash: %v", err)
	}
	billed := h.stripe.Billed()
	id := meter.Identifier(tenant, plans.DefaultMeter, yesterday.Truncate(24*time.Hour))
	if len(billed) != 1 || billed[id].Value != 15 || billed[id].Customer != "cus_m" {
		t.Fatalf("Stripe billed %+v, want one event %s of 15", billed, id)
	}
	ts := time.Unix(billed[id].Timestamp, 0)
	if h.clock.Now().Sub(ts) > meter.Window || ts.After(h.clock.Now()) {
		t.Fatalf("timestamp %v outside Stripe's window", ts)
	}
}

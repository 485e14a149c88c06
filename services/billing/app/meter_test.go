package app_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
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

// A billing replica that dies holding usage entries it read but never acknowledged: another
// replica takes them over once the dead consumer has been idle long enough, counting the ones
// it had not committed and only acknowledging the ones it had, so every request is counted
// once. Two replicas taking over at once, and the dead one coming back, count nothing twice.
// Real Redis; the dead replica's reads are raw XREADGROUPs that are never acknowledged.
func TestMeterClaimsDeadConsumer(t *testing.T) {
	t.Parallel()
	rd := redistest.New(t)
	h := newHarness(t)
	ctx := context.Background()
	rdb := rd.Client
	stream := rd.Prefix + "atrium:usage"
	if err := rdb.XGroupCreateMkStream(ctx, stream, "billing", "0").Err(); err != nil {
		t.Fatal(err)
	}
	tenant := "0tenantcccccccccccccc"
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	add := func(n int) {
		for i := 0; i < n; i++ {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{
				"time", strconv.FormatInt(day.Add(time.Hour).UnixMilli(), 10), "tenant", tenant, "procedure", "/x"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	reporter := func(name string) *meter.Reporter {
		return meter.New(meter.Config{Store: h.app.Store(), Redis: rdb, Stream: stream, Consumer: name, ClaimAfter: time.Hour})
	}
	// die reads n entries as consumer name and commits the first counted of them (a crash
	// between commit and acknowledgement), acknowledging none.
	die := func(name string, n, counted int) {
		t.Helper()
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "billing", Consumer: name,
			Streams: []string{stream, ">"}, Count: int64(n), Block: -1}).Result()
		if err != nil || len(res[0].Messages) != n {
			t.Fatalf("dead consumer's read: %v, %v", res, err)
		}
		if counted == 0 {
			return
		}
		err = h.app.Store().Tx(ctx, func(tx *store.Store) error {
			if err := tx.AddUsage(ctx, map[[2]string]int64{{tenant, day.Format(time.DateOnly)}: int64(counted)}); err != nil {
				return err
			}
			return tx.SetOffset(ctx, name, res[0].Messages[counted-1].ID)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	requests := func() int64 {
		t.Helper()
		u, err := h.app.Store().UsageOn(ctx, day)
		if err != nil || len(u) > 1 {
			t.Fatalf("usage %+v, %v", u, err)
		}
		if len(u) == 0 {
			return 0
		}
		return u[0].Requests
	}
	pending := func() int64 {
		t.Helper()
		p, err := rdb.XPending(ctx, stream, "billing").Result()
		if err != nil {
			t.Fatal(err)
		}
		return p.Count
	}

	add(30)
	die("billing-a", 20, 8) // 8 committed, 12 only read
	b, c := reporter("billing-b"), reporter("billing-c")
	if n, err := b.ConsumeOnce(ctx, ">", 0); err != nil || n != 10 {
		t.Fatalf("b's own read: %d, %v", n, err)
	}
	// Not idle long enough yet: a slow replica keeps its entries.
	if n, err := b.ClaimIdle(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("claim before the idle time: %d, %v", n, err)
	}
	if got := requests(); got != 18 {
		t.Fatalf("before the claim: %d requests, want 18 (8 committed by a, 10 by b)", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n, err := b.ClaimIdle(ctx, 20*time.Millisecond); err != nil || n != 20 {
		t.Fatalf("claim: took %d, %v; want a's 20", n, err)
	}
	if got, p := requests(), pending(); got != 30 || p != 0 {
		t.Fatalf("after the claim: %d requests, %d pending; want 30 and 0", got, p)
	}
	// The dead replica comes back: nothing of its own is pending any more.
	if n, err := reporter("billing-a").ConsumeOnce(ctx, "0", 0); err != nil || n != 0 {
		t.Fatalf("a back: %d, %v", n, err)
	}

	// Two replicas take over the same dead consumer at once.
	add(40)
	die("billing-d", 40, 15)
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*meter.Reporter{b, c} {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = r.ClaimIdle(ctx, 20*time.Millisecond) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got, p := requests(), pending(); got != 70 || p != 0 {
		t.Fatalf("after two claims at once: %d requests, %d pending; want 70 and 0", got, p)
	}
}

package app_test

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium.dev/services/billing/internal/billingtest"
	"atrium.dev/services/billing/internal/store"
)

// Webhook deliveries, good and bad. Stripe here is billingtest.Fake (a local server speaking
// Stripe's JSON, holding the subscription the handler re-reads); the events are signed with
// stripe-go's webhook package. After all of it the final state must be exact, nothing applied
// twice, and nothing changed by the bad deliveries.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const tenant = "0tenantaaaaaaaaaaaaa"
	now := time.Now()
	sub := billingtest.Sub{ID: "sub_1", Customer: "cus_1", Status: "active", TenantID: tenant, Plan: "team",
		Seats: 3, MeteredLookupKey: "atrium_team_api_requests", Created: now.Unix(),
		PeriodStart: now.Unix(), PeriodEnd: now.Add(30 * 24 * time.Hour).Unix()}
	h.stripe.Put(sub)

	created := subEvent("evt_created", "customer.subscription.created", now.Add(-time.Minute), sub)
	steps := []struct {
		name   string
		status int
		send   func() int
	}{
		{"valid", 200, func() int { return h.deliver(created) }},
		{"duplicate 1", 200, func() int { return h.deliver(created) }},
		{"duplicate 2", 200, func() int { return h.deliver(created) }},
		{"duplicate 3", 200, func() int { return h.deliver(created) }},
		{"forged signature", 400, func() int {
			forged := subEvent("evt_forged", "customer.subscription.deleted", now, sub)
			return h.post(forged, billingtest.Sign(created, time.Now())) // a signature of another body
		}},
		{"wrong secret", 400, func() int {
			body := subEvent("evt_wrongkey", "customer.subscription.deleted", now, sub)
			return h.post(body, signWith(body, "whsec_other"))
		}},
		{"no signature", 400, func() int { return h.post(subEvent("evt_nosig", "customer.subscription.deleted", now, sub), "") }},
		{"stale timestamp (6 min)", 400, func() int {
			body := subEvent("evt_stale", "customer.subscription.deleted", now, sub)
			return h.post(body, billingtest.Sign(body, time.Now().Add(-6*time.Minute)))
		}},
		{"malformed JSON, validly signed", 400, func() int { return h.deliver([]byte(`{"id":"evt_bad","type":`)) }},
		{"oversized", 413, func() int {
			big := bytes.Repeat([]byte(" "), 300<<10)
			body := append(subEvent("evt_big", "customer.subscription.deleted", now, sub), big...)
			return h.deliver(body)
		}},
		{"unknown type acknowledged", 200, func() int {
			return h.deliver(billingtest.Event("evt_unknown", "charge.refunded", now, map[string]any{"id": "ch_1", "object": "charge"}))
		}},
	}
	for _, s := range steps {
		if got := s.send(); got != s.status {
			t.Errorf("%s: status %d, want %d", s.name, got, s.status)
		}
	}

	got := h.sub(tenant)
	if got.State != store.StateActive || got.Plan != "team" || got.SeatsPaid != 3 || got.StripeSubscriptionID != "sub_1" {
		t.Fatalf("state after deliveries = %+v", got)
	}
	if plans := h.ent.calls(); !slices.Equal(plans, []string{"team"}) {
		t.Fatalf("entitlements got %v, want one SetPlan(team)", plans)
	}
	ledger := h.ledger("")
	if len(ledger) != 2 || ledger["evt_created"].Outcome != store.OutcomeApplied || ledger["evt_unknown"].Outcome != store.OutcomeIgnored {
		t.Fatalf("ledger = %+v, want evt_created applied and evt_unknown ignored only", ledger)
	}
	// One transition each, however often the event came.
	var actions []string
	for _, a := range h.audit(tenant) {
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"billing.state", "billing.plan", "billing.seats"}) {
		t.Fatalf("audit = %v", actions)
	}
}

func signWith(body []byte, secret string) string {
	return signHeader(body, secret, time.Now())
}

// Order is not trusted: whichever event comes first, the handler applies Stripe's current
// subscription, and an event older than what was applied changes nothing.
func TestWebhookOutOfOrder(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cases := []struct {
		name      string
		stripeNow string // the subscription's status in Stripe when the events arrive
		first     string // the newer event, delivered first
		second    string // the older one
		wantState string
		wantPlan  string
	}{
		{"deleted before updated", "canceled", "customer.subscription.deleted", "customer.subscription.updated", store.StateCanceled, "free"},
		{"updated before created", "active", "customer.subscription.updated", "customer.subscription.created", store.StateActive, "team"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tenant := "0tenantbbbbbbbbbbbbb"
			sub := billingtest.Sub{ID: "sub_2", Customer: "cus_2", Status: tc.stripeNow, TenantID: tenant, Plan: "team", Seats: 2, Created: now.Unix()}
			h.stripe.Put(sub)
			if s := h.deliver(subEvent("evt_new", tc.first, now, sub)); s != 200 {
				t.Fatalf("newer: %d", s)
			}
			if s := h.deliver(subEvent("evt_old", tc.second, now.Add(-10*time.Second), sub)); s != 200 {
				t.Fatalf("older: %d", s)
			}
			got := h.sub(tenant)
			if got.State != tc.wantState || got.Plan != tc.wantPlan {
				t.Fatalf("state %s plan %s, want %s %s", got.State, got.Plan, tc.wantState, tc.wantPlan)
			}
			l := h.ledger(tenant)
			if l["evt_new"].Outcome != store.OutcomeApplied || l["evt_old"].Outcome != store.OutcomeStale {
				t.Fatalf("ledger = %+v", l)
			}
		})
	}
}

// A transient failure (Stripe answers 500 on the re-read) is a 5xx with nothing recorded, so
// Stripe's retry applies the event; a permanent one (the subscription does not exist) is
// acknowledged with the error in the ledger.
func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tenant := "0tenantccccccccccccc"
	now := time.Now()
	sub := billingtest.Sub{ID: "sub_3", Customer: "cus_3", Status: "trialing", TenantID: tenant, Plan: "team", Seats: 1, Created: now.Unix()}
	h.stripe.Put(sub)
	ev := subEvent("evt_t", "customer.subscription.created", now, sub)

	// stripe-go retries 500s itself (2 retries), so three failures exhaust it.
	h.stripe.FailReads(3)
	if s := h.deliver(ev); s != http.StatusServiceUnavailable {
		t.Fatalf("transient: status %d, want 503", s)
	}
	if _, ok := h.ledger("")["evt_t"]; ok {
		t.Fatal("a transient failure was recorded: the retry would be a no-op")
	}
	if s := h.deliver(ev); s != 200 || h.sub(tenant).State != store.StateTrialing {
		t.Fatalf("retry: status %d, state %s", s, h.sub(tenant).State)
	}

	missing := billingtest.Sub{ID: "sub_missing", Customer: "cus_3", TenantID: tenant}
	if s := h.deliver(subEvent("evt_p", "customer.subscription.updated", now, missing)); s != 200 {
		t.Fatalf("permanent: status %d, want 200", s)
	}
	if e := h.ledger("")["evt_p"]; e.Outcome != store.OutcomeError || e.Error == "" {
		t.Fatalf("permanent failure ledger row = %+v", e)
	}
	if h.sub(tenant).State != store.StateTrialing {
		t.Fatal("a failed event changed the state")
	}
}

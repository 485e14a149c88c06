package root_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
)

// fakeStripe speaks Stripe's JSON for what billing reads back: subscriptions (one, a list by
// customer), the upcoming invoice and the invoice list. It holds the state stripe-mock cannot.
type fakeStripe struct {
	mu  sync.Mutex
	sub map[string]any
}

func (f *fakeStripe) set(tenant, status string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().Unix()
	f.sub = map[string]any{
		"id": "sub_tc", "object": "subscription", "customer": "cus_tc", "status": status, "created": now,
		"current_period_start": now, "current_period_end": now + 30*24*3600,
		"metadata": map[string]any{"tenant_id": tenant, "plan": "team"},
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": "si_tc", "object": "subscription_item", "quantity": 1,
			"price": map[string]any{"id": "price_team_seat", "object": "price", "lookup_key": "atrium_team_seat"},
		}}},
	}
	return f.sub
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	list := func(data ...any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": append([]any{}, data...), "has_more": false, "url": r.URL.Path})
	}
	switch {
	case r.URL.Path == "/v1/subscriptions/sub_tc" && f.sub != nil:
		_ = json.NewEncoder(w).Encode(f.sub)
	case r.URL.Path == "/v1/subscriptions" && f.sub != nil && r.URL.Query().Get("customer") == "cus_tc":
		list(f.sub)
	case r.URL.Path == "/v1/subscriptions", r.URL.Path == "/v1/invoices":
		list()
	case r.URL.Path == "/v1/invoices/upcoming":
		_, _ = w.Write([]byte(`{"object":"invoice","amount_due":1500,"currency":"usd"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"no such object"}}`))
	}
}

// webhook posts a signed event (Stripe's v1 scheme: HMAC-SHA256 of "<t>.<payload>") through
// the gateway.
func (c *cli) webhook(t *testing.T, id, typ string, object map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2023-10-16",
		"created": time.Now().Unix(), "type": typ, "data": map[string]any{"object": object}})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(stack.DevStripeWebhookSecret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, c.st.GatewayURL+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s: status %d", id, resp.StatusCode)
	}
}

type billingShowJSON struct {
	TenantID string `json:"tenantId"`
	Billing  struct {
		Plan      string `json:"plan"`
		State     string `json:"state"`
		SeatsUsed string `json:"seatsUsed"` // protojson writes int64 as strings
		SeatsPaid string `json:"seatsPaid"`
	} `json:"billing"`
	StripeCustomerID     string `json:"stripeCustomerId"`
	StripeSubscriptionID string `json:"stripeSubscriptionId"`
}

// testBilling runs billing show, events and sync against the shared stack, whose billing
// talks to fakeStripe: a tenant (umbrella, made here) subscribes through a signed webhook,
// then Stripe's state changes behind billing's back and sync repairs it.
func testBilling(t *testing.T, c *cli, stripe *fakeStripe) {
	r := c.ok(t, "tenants", "create", "umbrella", "--admin-email", "admin@umbrella.example.com", "-o", "json")
	tid := decode[struct {
		Tenant tenantJSON `json:"tenant"`
	}](t, r.stdout).Tenant.ID

	t.Run("show on the free plan", func(t *testing.T) {
		out := decode[billingShowJSON](t, c.ok(t, "billing", "show", "--tenant", "umbrella", "-o", "json").stdout)
		if out.TenantID != tid || out.Billing.Plan != "free" || out.Billing.State != "BILLING_STATE_NONE" || out.StripeCustomerID != "" {
			t.Fatalf("show: %+v", out)
		}
	})

	c.webhook(t, "evt_tc_1", "customer.subscription.created", stripe.set(tid, "active"))

	t.Run("show after subscribing", func(t *testing.T) {
		out := decode[billingShowJSON](t, c.ok(t, "billing", "show", "--tenant", tid, "-o", "json").stdout)
		if out.Billing.Plan != "team" || out.Billing.State != "BILLING_STATE_ACTIVE" || out.Billing.SeatsPaid != "1" ||
			out.StripeCustomerID != "cus_tc" || out.StripeSubscriptionID != "sub_tc" {
			t.Fatalf("show: %+v", out)
		}
		table := c.ok(t, "billing", "show", "--tenant", "umbrella").stdout
		for _, want := range []string{"PLAN", "team", "active", "1 used / 1 paid", "cus_tc"} {
			if !strings.Contains(table, want) {
				t.Fatalf("table has no %q:\n%s", want, table)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		out := decode[struct {
			Events []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				TenantID string `json:"tenantId"`
				Outcome  string `json:"outcome"`
			} `json:"events"`
		}](t, c.ok(t, "billing", "events", "--tenant", "umbrella", "-o", "json").stdout)
		if len(out.Events) != 1 || out.Events[0].ID != "evt_tc_1" || out.Events[0].Type != "customer.subscription.created" ||
			out.Events[0].TenantID != tid || out.Events[0].Outcome != "applied" {
			t.Fatalf("events: %+v", out.Events)
		}
		if table := c.ok(t, "billing", "events", "--tenant", "umbrella").stdout; !strings.Contains(table, "evt_tc_1") || !strings.Contains(table, "OUTCOME") {
			t.Fatalf("table:\n%s", table)
		}
	})

	t.Run("sync repairs a missed webhook", func(t *testing.T) {
		stripe.set(tid, "past_due") // no webhook: billing learns it only by re-reading
		out := decode[struct {
			Results []struct {
				TenantID string   `json:"tenantId"`
				Changed  bool     `json:"changed"`
				Error    string   `json:"error"`
				Repairs  []string `json:"repairs"`
			} `json:"results"`
		}](t, c.ok(t, "billing", "sync", "--tenant", "umbrella", "-o", "json").stdout)
		if len(out.Results) != 1 || out.Results[0].TenantID != tid || !out.Results[0].Changed || out.Results[0].Error != "" || len(out.Results[0].Repairs) == 0 {
			t.Fatalf("sync: %+v", out.Results)
		}
		if s := decode[billingShowJSON](t, c.ok(t, "billing", "show", "--tenant", "umbrella", "-o", "json").stdout); s.Billing.State != "BILLING_STATE_PAST_DUE" {
			t.Fatalf("after sync: %+v", s)
		}
		// A second sync finds nothing to repair.
		if table := c.ok(t, "billing", "sync", "--tenant", "umbrella").stdout; !strings.Contains(table, "false") {
			t.Fatalf("second sync:\n%s", table)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"billing", "show"},
			{"billing", "sync"},
			{"billing", "sync", "--tenant", "umbrella", "--all"},
			{"billing", "events", "--limit", "-1"},
		} {
			if r := c.run(t, "", args...); r.code != 2 {
				t.Errorf("tenantctl %s: exit %d, want 2 (usage)\n%s", strings.Join(args, " "), r.code, r.stderr)
			}
		}
		if r := c.run(t, "", "billing", "show", "--tenant", "nosuchtenant", "-o", "json"); r.code == 0 {
			t.Errorf("unknown tenant: exit 0\n%s", r.stdout)
		}
	})
}

func newFakeStripe(t *testing.T) (*fakeStripe, string) {
	f := &fakeStripe{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	billingapp "atrium.dev/services/billing/app"
	"connectrpc.com/connect"
)

// stripeSubs is a local server speaking Stripe's JSON for subscription reads: the state
// billing re-reads after each webhook. (Request validation against Stripe's spec is
// services/billing's stripe-mock test; here the state matters.)
type stripeSubs struct {
	mu   sync.Mutex
	subs map[string]map[string]any
}

func (s *stripeSubs) put(id, customer, tenant, status string) {
	s.putPlan(id, customer, tenant, status, "team")
}

// putPlan is put on plan ("team" or "enterprise"), one seat paid.
func (s *stripeSubs) putPlan(id, customer, tenant, status, plan string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[id] = map[string]any{
		"id": id, "object": "subscription", "customer": customer, "status": status, "created": time.Now().Unix(),
		"current_period_start": time.Now().Unix(), "current_period_end": time.Now().Add(30 * 24 * time.Hour).Unix(),
		"metadata": map[string]any{"tenant_id": tenant, "plan": plan},
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": "si_" + id, "object": "subscription_item", "quantity": 1,
			"price": map[string]any{"id": "price_" + plan + "_seat", "object": "price", "lookup_key": "atrium_" + plan + "_seat"},
		}}},
	}
}

func (s *stripeSubs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if sub, ok := s.subs[strings.TrimPrefix(r.URL.Path, "/v1/subscriptions/")]; ok && r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(sub)
		return
	}
	if r.URL.Path == "/v1/invoices/upcoming" {
		_, _ = w.Write([]byte(`{"object":"invoice","amount_due":1500,"currency":"usd"}`))
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"no such object"}}`))
}

// stripeSign is Stripe's v1 signature scheme: HMAC-SHA256 of "<t>.<payload>".
func stripeSign(payload []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

type billingEnv struct {
	*entEnv
	stripe *stripeSubs
}

func startBilling(t testing.TB, adjust func(*billingapp.Config)) *billingEnv {
	subs := &stripeSubs{subs: map[string]map[string]any{}}
	url := serveH2C(t, subs)
	e := startEntitlements(t.(*testing.T), func(o *stack.Options) {
		o.StripeURL = url
		o.Billing = adjust
	})
	return &billingEnv{entEnv: e, stripe: subs}
}

// webhook posts a signed event through the gateway's /webhooks/stripe.
func (e *billingEnv) webhook(t testing.TB, id, typ string, object map[string]any) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2023-10-16",
		"created": time.Now().Unix(), "type": typ, "data": map[string]any{"object": object}})
	req, _ := http.NewRequest(http.MethodPost, e.st.GatewayURL+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripeSign(body, stack.DevStripeWebhookSecret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) billing(token, tenant string) billingv1connect.BillingServiceClient {
	return billingv1connect.NewBillingServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

// Billing events reach entitlements and the gateway enforces the new plan; a past-due tenant
// is suspended after the grace period (read-only at the gateway) and resumed when paid; an
// admin of one tenant cannot see another's billing.
func TestBillingThroughGateway(t *testing.T) {
	e := startBilling(t, func(c *billingapp.Config) { c.Grace = time.Millisecond })
	ctx := context.Background()
	acme := signUp(t, e.env, "acme")
	globex := signUp(t, e.env, "globex")
	tid := acme.tenant.GetId()
	gated := func() error { return callGated(ctx, e.st.HTTPClient, e.st.GatewayURL, "Insights", acme.access, "acme") }

	// Billing runs only with a Stripe, so its read limit is checked here, beside the others'
	// in TestE2E.
	readLimited{"billing", e.st.BillingURL, billingv1connect.BillingServiceCreateCheckoutSessionProcedure, 1 << 20}.check(t, e.env)

	if err := wantDenied(entv1.PluginState_PLUGIN_STATE_LOCKED, entv1.LockReason_LOCK_REASON_REQUIRES_PLAN)(gated()); err != nil {
		t.Fatalf("free plan: %v", err)
	}
	e.stripe.put("sub_e2e", "cus_e2e", tid, "active")
	e.stripe.mu.Lock()
	sub := e.stripe.subs["sub_e2e"]
	e.stripe.mu.Unlock()
	if s := e.webhook(t, "evt_e2e_1", "customer.subscription.created", sub); s != 200 {
		t.Fatalf("webhook status %d", s)
	}
	// The plan is team now: insights is no longer locked by plan (only not installed).
	waitFor(t, "gateway enforces team", func() error {
		return wantDenied(entv1.PluginState_PLUGIN_STATE_AVAILABLE, entv1.LockReason_LOCK_REASON_UNSPECIFIED)(gated())
	})
	b, err := e.billing(acme.access, "acme").GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{}))
	if err != nil || b.Msg.GetBilling().GetPlan() != "team" || b.Msg.GetBilling().GetState() != billingv1.BillingState_BILLING_STATE_ACTIVE {
		t.Fatalf("GetBilling = %v, %v", b, err)
	}

	// Cross-tenant: acme's admin naming globex gets nothing of globex's.
	_, err = e.billing(acme.access, "globex").GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{}))
	if c := connect.CodeOf(err); c != connect.CodePermissionDenied && c != connect.CodeUnauthenticated {
		t.Fatalf("cross-tenant GetBilling: %v", err)
	}
	if _, err := e.billing(globex.access, "globex").GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{})); err != nil {
		t.Fatalf("globex's own billing: %v", err)
	}

	// Inviting past the paid seats (one, the owner's), through the gateway: tenancy asks
	// billing's CheckSeat. Team adds a seat; enterprise refuses naming the limit, and the
	// refused invitation is not created.
	if _, err := e.members(acme.access, "acme").InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{
		Email: "second@acme.example.com", Role: tenancyv1.Role_ROLE_MEMBER})); err != nil {
		t.Fatalf("team invitation past the paid seats (plan adds a seat): %v", err)
	}
	e.stripe.putPlan("sub_globex", "cus_globex", globex.tenant.GetId(), "active", "enterprise")
	e.stripe.mu.Lock()
	gsub := e.stripe.subs["sub_globex"]
	e.stripe.mu.Unlock()
	if s := e.webhook(t, "evt_e2e_g1", "customer.subscription.created", gsub); s != 200 {
		t.Fatalf("globex webhook status %d", s)
	}
	gmem := e.members(globex.access, "globex")
	_, err = gmem.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{
		Email: "second@globex.example.com", Role: tenancyv1.Role_ROLE_MEMBER}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), `limit "seats"`) {
		t.Fatalf("enterprise invitation past the paid seats: %v; want ResourceExhausted naming the seats limit", err)
	}
	if inv, err := gmem.ListInvitations(ctx, connect.NewRequest(&tenancyv1.ListInvitationsRequest{})); err != nil || len(inv.Msg.GetInvitations()) != 0 {
		t.Fatalf("refused invitation created: %v, %v", inv, err)
	}

	// Payment fails; the grace period (1 ms here) passes; dunning suspends.
	e.stripe.put("sub_e2e", "cus_e2e", tid, "past_due")
	if s := e.webhook(t, "evt_e2e_2", "invoice.payment_failed", map[string]any{"id": "in_1", "object": "invoice",
		"customer": "cus_e2e", "subscription": "sub_e2e"}); s != 200 {
		t.Fatalf("payment_failed: %d", s)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := e.st.Billing.Engine().Dunning(ctx); err != nil {
		t.Fatal(err)
	}
	me := e.tenants(acme.access, "acme")
	waitFor(t, "suspended tenant is read-only", func() error {
		_, err := me.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Acme?"}))
		if connect.CodeOf(err) == connect.CodeFailedPrecondition {
			return nil
		}
		return fmt.Errorf("write while suspended: %v", err)
	})
	// Paying is still possible while suspended.
	if b, err := e.billing(acme.access, "acme").GetBilling(ctx, connect.NewRequest(&billingv1.GetBillingRequest{})); err != nil ||
		b.Msg.GetBilling().GetState() != billingv1.BillingState_BILLING_STATE_SUSPENDED {
		t.Fatalf("GetBilling while suspended: %v, %v", b, err)
	}

	e.stripe.put("sub_e2e", "cus_e2e", tid, "active")
	if s := e.webhook(t, "evt_e2e_3", "invoice.paid", map[string]any{"id": "in_1", "object": "invoice",
		"customer": "cus_e2e", "subscription": "sub_e2e"}); s != 200 {
		t.Fatalf("paid: %d", s)
	}
	waitFor(t, "resumed after payment", func() error {
		_, err := me.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Acme Inc"}))
		return err
	})
}

// BenchmarkStripeWebhooks: 1,000 signed deliveries through the gateway, 20% of them
// redeliveries of an earlier event, 8 at a time; then plan flips (canceled <-> active) timed
// until the gateway enforces the new plan. Stripe's subscription reads are the local
// stripeSubs server. Reported: p50/p99 of receipt -> committed effect (the 200 is sent after
// the commit) and of webhook -> gateway enforcing.
//
//	go test ./devstack/e2e/ -run '^$' -bench StripeWebhooks -benchtime 1x
func BenchmarkStripeWebhooks(b *testing.B) {
	e := startBillingB(b)
	ctx := context.Background()
	const tenants, total, workers = 10, 1000, 8
	type tn struct{ id, token, slug string }
	var ts []tn
	for i := 0; i < tenants; i++ {
		s := signUpB(b, e.env, fmt.Sprintf("bill%d", i))
		ts = append(ts, tn{s.tenant.GetId(), s.access, s.slug})
		e.stripe.put("sub_b"+strconv.Itoa(i), "cus_b"+strconv.Itoa(i), s.tenant.GetId(), "active")
	}
	for i := 0; i < b.N; i++ {
		// 800 unique events, then 200 redeliveries of random earlier ones, interleaved.
		type delivery struct {
			id  string
			sub int
		}
		var ds []delivery
		for j := 0; j < total; j++ {
			if j%5 == 4 {
				ds = append(ds, ds[(j*7919)%len(ds)])
				continue
			}
			ds = append(ds, delivery{fmt.Sprintf("evt_b%d_%d", i, j), j % tenants})
		}
		lat := make([]time.Duration, len(ds))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range next {
					d := ds[k]
					e.stripe.mu.Lock()
					obj := e.stripe.subs["sub_b"+strconv.Itoa(d.sub)]
					e.stripe.mu.Unlock()
					start := time.Now()
					if s := e.webhook(b, d.id, "customer.subscription.updated", obj); s != 200 {
						b.Errorf("status %d", s)
					}
					lat[k] = time.Since(start)
				}
			}()
		}
		start := time.Now()
		for k := range ds {
			next <- k
		}
		close(next)
		wg.Wait()
		wall := time.Since(start)
		slices.Sort(lat)
		b.ReportMetric(ms(percentile(lat, 0.50)), "commit-p50-ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "commit-p99-ms")
		b.ReportMetric(float64(len(ds))/wall.Seconds(), "events/s")

		// Plan flips: webhook -> gateway refuses/allows by the new plan.
		var enforce []time.Duration
		for round, status := range []string{"canceled", "active", "canceled", "active"} {
			for j, x := range ts {
				sid := "sub_b" + strconv.Itoa(j)
				e.stripe.put(sid, "cus_b"+strconv.Itoa(j), x.id, status)
				e.stripe.mu.Lock()
				obj := e.stripe.subs[sid]
				e.stripe.mu.Unlock()
				want := entv1.PluginState_PLUGIN_STATE_AVAILABLE
				if status == "canceled" {
					want = entv1.PluginState_PLUGIN_STATE_LOCKED
				}
				time.Sleep(time.Second) // events are stamped in seconds: keep each flip newer than the last
				start := time.Now()
				if s := e.webhook(b, fmt.Sprintf("evt_flip%d_%d_%d", i, round, j), "customer.subscription.updated", obj); s != 200 {
					b.Fatalf("flip status %d", s)
				}
				for {
					err := callGated(ctx, e.st.HTTPClient, e.st.GatewayURL, "Insights", x.token, x.slug)
					if u := denial(err); u != nil && u.GetState() == want {
						break
					}
					if time.Since(start) > 5*time.Second {
						b.Fatalf("gateway never enforced %s: %v", status, err)
					}
					time.Sleep(time.Millisecond)
				}
				enforce = append(enforce, time.Since(start))
			}
		}
		slices.Sort(enforce)
		b.ReportMetric(ms(percentile(enforce, 0.50)), "enforce-p50-ms")
		b.ReportMetric(ms(percentile(enforce, 0.99)), "enforce-p99-ms")
	}
}

func startBillingB(b *testing.B) *billingEnv {
	subs := &stripeSubs{subs: map[string]map[string]any{}}
	url := serveH2C(b, subs)
	up := gatedUpstream(b)
	e := start(b, func(o *stack.Options) {
		o.StripeURL = url
		o.Gateway = func(cfg *gatewayapp.Config) {
			cfg.Upstreams[gatedService] = up
			cfg.RateLimit = gatewayapp.RateLimit{PerSecond: -1}
		}
	})
	return &billingEnv{entEnv: &entEnv{env: e, upstream: up}, stripe: subs}
}

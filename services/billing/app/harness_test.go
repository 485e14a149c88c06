package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/services/billing/app"
	"atrium.dev/services/billing/internal/billingtest"
	"atrium.dev/services/billing/internal/store"
	"atrium.dev/services/billing/internal/webhook"
	"connectrpc.com/connect"
)

// clock is the injectable time of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tenancy is a DirectoryService answering billing's two calls and recording the holds.
type tenancy struct {
	tenancyv1connect.UnimplementedDirectoryServiceHandler
	mu      sync.Mutex
	members map[string]int64
	holds   []bool
}

func (f *tenancy) CountMembers(_ context.Context, req *connect.Request[tenancyv1.CountMembersRequest]) (*connect.Response[tenancyv1.CountMembersResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&tenancyv1.CountMembersResponse{Count: f.members[req.Msg.GetTenantId()]}), nil
}

func (f *tenancy) SetBillingHold(_ context.Context, req *connect.Request[tenancyv1.SetBillingHoldRequest]) (*connect.Response[tenancyv1.SetBillingHoldResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds = append(f.holds, req.Msg.GetHold())
	return connect.NewResponse(&tenancyv1.SetBillingHoldResponse{}), nil
}

func (f *tenancy) ResolveTenant(_ context.Context, req *connect.Request[tenancyv1.ResolveTenantRequest]) (*connect.Response[tenancyv1.ResolveTenantResponse], error) {
	return connect.NewResponse(&tenancyv1.ResolveTenantResponse{Tenant: &tenancyv1.Tenant{Id: req.Msg.GetTenant()}}), nil
}

func (f *tenancy) setMembers(tenant string, n int64) {
	f.mu.Lock()
	f.members[tenant] = n
	f.mu.Unlock()
}

func (f *tenancy) holdCalls() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.holds...)
}

// entitlements records SetPlan calls.
type entitlements struct {
	mu    sync.Mutex
	plans []string
}

func (e *entitlements) SetPlan(_ context.Context, _, plan, _ string) error {
	e.mu.Lock()
	e.plans = append(e.plans, plan)
	e.mu.Unlock()
	return nil
}

func (e *entitlements) calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.plans...)
}

// harness is one billing App on a fresh database, with the Stripe fake (see billingtest),
// a fake tenancy and a recording entitlements.
type harness struct {
	t       *testing.T
	app     *app.App
	url     string
	key     ed25519.PrivateKey
	stripe  *billingtest.Fake
	tenancy *tenancy
	ent     *entitlements
	clock   *clock
	http    *http.Client
}

func newHarness(t *testing.T, mods ...func(*app.Config)) *harness {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h := &harness{t: t, key: key, stripe: billingtest.NewFake(t), tenancy: &tenancy{members: map[string]int64{}},
		ent: &entitlements{}, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, http: &http.Client{}}
	mux := http.NewServeMux()
	mux.Handle(tenancyv1connect.NewDirectoryServiceHandler(h.tenancy))
	ten := httptest.NewServer(mux)
	t.Cleanup(ten.Close)
	cfg := app.Config{
		DatabaseURL: pgtest.New(t), InternalKey: key, StripeKey: "sk_test_fake", StripeURL: h.stripe.URL,
		WebhookSecret: billingtest.WebhookSecret, TenancyURL: ten.URL, HTTPClient: &http.Client{},
		Entitlements: h.ent, Now: h.clock.Now, SeatDebounce: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mods {
		m(&cfg)
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	h.app, h.url = a, srv.URL
	return h
}

// post delivers a webhook body with a signature header; it returns the status.
func (h *harness) post(body []byte, sig string) int {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// deliver signs and posts an event now.
func (h *harness) deliver(body []byte) int { return h.post(body, billingtest.Sign(body, time.Now())) }

func (h *harness) sub(tenant string) store.Subscription {
	h.t.Helper()
	s, err := h.app.Store().Subscription(context.Background(), tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) ledger(tenant string) map[string]store.Event {
	h.t.Helper()
	evs, err := h.app.Store().ListEvents(context.Background(), tenant, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.Event{}
	for _, e := range evs {
		out[e.ID] = e
	}
	return out
}

func (h *harness) audit(tenant string) []store.Audit {
	h.t.Helper()
	a, err := h.app.Store().ListAudit(context.Background(), tenant, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
	return a
}

// identity signs internal tokens as the gateway would.
type identity struct {
	signer *authn.InternalSigner
	id     authn.Identity
}

func (i identity) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		tok, err := i.signer.Sign(i.id)
		if err != nil {
			return nil, err
		}
		req.Header().Set(authn.InternalTokenHeader, tok)
		return next(ctx, req)
	}
}
func (i identity) WrapStreamingClient(n connect.StreamingClientFunc) connect.StreamingClientFunc {
	return n
}
func (i identity) WrapStreamingHandler(n connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return n
}

func (h *harness) billingAs(id authn.Identity) billingv1connect.BillingServiceClient {
	return billingv1connect.NewBillingServiceClient(h.http, h.url,
		connect.WithInterceptors(identity{authn.NewInternalSigner(h.key), id}))
}

func (h *harness) internalAs(id authn.Identity) billingv1connect.BillingInternalServiceClient {
	return billingv1connect.NewBillingInternalServiceClient(h.http, h.url,
		connect.WithInterceptors(identity{authn.NewInternalSigner(h.key), id}))
}

func (h *harness) operator() billingv1connect.BillingOperatorServiceClient {
	return billingv1connect.NewBillingOperatorServiceClient(h.http, h.url,
		connect.WithInterceptors(identity{authn.NewInternalSigner(h.key), authn.Identity{OperatorID: "op1"}}))
}

func admin(tenant string, role authn.Role) authn.Identity {
	return authn.Identity{TenantID: tenant, TenantSlug: "acme", Schema: "t_" + tenant, Shard: "main", UserID: "u1", Role: role}
}

// subEvent is an event whose object is the subscription as the fake holds it.
func subEvent(id, typ string, created time.Time, s billingtest.Sub) []byte {
	return billingtest.Event(id, typ, created, s.JSON())
}

func invoiceEvent(id, typ string, created time.Time, s billingtest.Sub) []byte {
	return billingtest.Event(id, typ, created, map[string]any{"id": "in_" + id, "object": "invoice",
		"customer": s.Customer, "subscription": s.ID, "status": "open"})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func signHeader(body []byte, secret string, t time.Time) string {
	return webhook.Sign(body, secret, t)
}

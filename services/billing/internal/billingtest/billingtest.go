// Package billingtest holds billing's test doubles of Stripe, of two kinds, and every test
// says which it uses:
//
//   - StripeMock starts the pinned stripe-mock (tools/go.mod, built by `make tools` into
//     .atrium/bin) on free ports. It validates requests against Stripe's OpenAPI spec and
//     answers fixtures, so it proves billing's requests are ones Stripe accepts, but it holds
//     no state (a subscription read never reflects an update).
//   - Fake is a local HTTP server speaking Stripe's JSON for the few endpoints whose state
//     matters to a test (subscriptions, meter events, prices, customers, upcoming invoices),
//     driven through the real stripe-go client. State transitions are tested with it and with
//     signed webhook events built by Event.
package billingtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium.dev/services/billing/internal/webhook"
	"github.com/stripe/stripe-go/v76"
)

// WebhookSecret is the endpoint secret tests sign with.
const WebhookSecret = "whsec_test_atrium"

// Sub is a subscription as the fake holds it.
type Sub struct {
	ID, Customer, Status, TenantID, Plan string
	// SeatLookupKey names the seat price; Seats its quantity.
	SeatLookupKey     string
	Seats             int64
	MeteredLookupKey  string
	Created           int64
	PeriodStart       int64
	PeriodEnd         int64
	TrialEnd          int64
	CancelAtPeriodEnd bool
}

// JSON renders s as Stripe's subscription object.
func (s Sub) JSON() map[string]any {
	items := []any{map[string]any{
		"id": "si_seat_" + s.ID, "object": "subscription_item", "quantity": s.Seats,
		"price": map[string]any{"id": "price_" + s.SeatLookupKey, "object": "price", "lookup_key": s.SeatLookupKey,
			"recurring": map[string]any{"interval": "month", "usage_type": "licensed"}},
	}}
	if s.MeteredLookupKey != "" {
		items = append(items, map[string]any{
			"id": "si_metered_" + s.ID, "object": "subscription_item",
			"price": map[string]any{"id": "price_" + s.MeteredLookupKey, "object": "price", "lookup_key": s.MeteredLookupKey,
				"recurring": map[string]any{"interval": "month", "usage_type": "metered"}},
		})
	}
	return map[string]any{
		"id": s.ID, "object": "subscription", "customer": s.Customer, "status": s.Status,
		"created": s.Created, "current_period_start": s.PeriodStart, "current_period_end": s.PeriodEnd,
		"trial_end": s.TrialEnd, "cancel_at_period_end": s.CancelAtPeriodEnd,
		"metadata": map[string]any{"tenant_id": s.TenantID, "plan": s.Plan},
		"items":    map[string]any{"object": "list", "data": items, "has_more": false},
	}
}

// MeterCall is one meter event the fake received.
type MeterCall struct {
	Identifier, EventName, Customer, IdempotencyKey string
	Value                                           int64
	Timestamp                                       int64
}

// Update is one subscription update the fake received.
type Update struct {
	ID        string
	Quantity  int64
	Proration string
}

// Fake is the stateful Stripe stand-in.
type Fake struct {
	URL string

	mu   sync.Mutex
	subs map[string]Sub
	// FailSubscriptionReads makes the next n subscription reads answer 500.
	failReads int
	// meter events: accepted by identifier; idempotent replays by key.
	meterByID  map[string]MeterCall
	meterByKey map[string]bool
	MeterCalls []MeterCall
	// LoseMeterAnswers makes the next n accepted meter events answer 500 anyway (the event is
	// kept): a response lost in the network or a crash after Stripe committed.
	loseMeter int
	Updates   []Update
	Customers int
}

// NewFake starts the fake.
func NewFake(t testing.TB) *Fake {
	f := &Fake{subs: map[string]Sub{}, meterByID: map[string]MeterCall{}, meterByKey: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Put stores a subscription (as Stripe has it now).
func (f *Fake) Put(s Sub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.SeatLookupKey == "" {
		s.SeatLookupKey = "atrium_team_seat"
	}
	f.subs[s.ID] = s
}

// Get returns a stored subscription.
func (f *Fake) Get(id string) Sub {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[id]
}

// FailReads makes the next n subscription reads fail with 500.
func (f *Fake) FailReads(n int) { f.mu.Lock(); f.failReads = n; f.mu.Unlock() }

// LoseMeterAnswers: the next n meter events are kept but answered 500.
func (f *Fake) LoseMeterAnswers(n int) { f.mu.Lock(); f.loseMeter = n; f.mu.Unlock() }

// Billed returns the meter events Stripe holds, by identifier.
func (f *Fake) Billed() map[string]MeterCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]MeterCall{}
	for k, v := range f.meterByID {
		out[k] = v
	}
	return out
}

func stripeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/subscriptions/"):
		if f.failReads > 0 {
			f.failReads--
			stripeError(w, 500, "api_error", "try again")
			return
		}
		s, ok := f.subs[strings.TrimPrefix(path, "/v1/subscriptions/")]
		if !ok {
			stripeError(w, 404, "invalid_request_error", "No such subscription")
			return
		}
		writeJSON(w, s.JSON())
	case r.Method == http.MethodGet && path == "/v1/subscriptions":
		var data []any
		for _, s := range f.subs {
			if s.Customer == r.Form.Get("customer") {
				data = append(data, s.JSON())
			}
		}
		writeJSON(w, map[string]any{"object": "list", "data": data, "has_more": false, "url": "/v1/subscriptions"})
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v1/subscriptions/"):
		id := strings.TrimPrefix(path, "/v1/subscriptions/")
		s, ok := f.subs[id]
		if !ok {
			stripeError(w, 404, "invalid_request_error", "No such subscription")
			return
		}
		q, _ := strconv.ParseInt(r.Form.Get("items[0][quantity]"), 10, 64)
		if q > 0 {
			s.Seats = q
		}
		f.subs[id] = s
		f.Updates = append(f.Updates, Update{ID: id, Quantity: q, Proration: r.Form.Get("proration_behavior")})
		writeJSON(w, s.JSON())
	case r.Method == http.MethodPost && path == "/v1/billing/meter_events":
		key := r.Header.Get("Idempotency-Key")
		v, _ := strconv.ParseInt(r.Form.Get("payload[value]"), 10, 64)
		ts, _ := strconv.ParseInt(r.Form.Get("timestamp"), 10, 64)
		c := MeterCall{Identifier: r.Form.Get("identifier"), EventName: r.Form.Get("event_name"),
			Customer: r.Form.Get("payload[stripe_customer_id]"), IdempotencyKey: key, Value: v, Timestamp: ts}
		f.MeterCalls = append(f.MeterCalls, c)
		answer := map[string]any{"object": "billing.meter_event", "identifier": c.Identifier, "event_name": c.EventName,
			"timestamp": ts, "created": time.Now().Unix(), "livemode": false}
		if f.meterByKey[key] {
			writeJSON(w, answer) // an idempotent replay gets the first answer
			return
		}
		if _, dup := f.meterByID[c.Identifier]; dup {
			stripeError(w, 400, "invalid_request_error", "An event with identifier "+c.Identifier+" already exists")
			return
		}
		f.meterByID[c.Identifier] = c
		f.meterByKey[key] = true
		if f.loseMeter > 0 {
			f.loseMeter--
			stripeError(w, 500, "api_error", "answer lost")
			return
		}
		writeJSON(w, answer)
	case r.Method == http.MethodGet && path == "/v1/prices":
		key := r.Form.Get("lookup_keys[0]")
		writeJSON(w, map[string]any{"object": "list", "has_more": false, "url": "/v1/prices", "data": []any{map[string]any{
			"id": "price_" + key, "object": "price", "lookup_key": key, "unit_amount": 1500, "currency": "usd", "active": true,
			"recurring": map[string]any{"interval": "month", "usage_type": "licensed"}}}})
	case r.Method == http.MethodPost && path == "/v1/customers":
		f.Customers++
		writeJSON(w, map[string]any{"id": "cus_" + r.Form.Get("metadata[tenant_id]"), "object": "customer",
			"metadata": map[string]any{"tenant_id": r.Form.Get("metadata[tenant_id]")}})
	case r.Method == http.MethodGet && path == "/v1/invoices/upcoming":
		writeJSON(w, map[string]any{"object": "invoice", "amount_due": 4500, "currency": "usd",
			"lines": map[string]any{"object": "list", "data": []any{
				map[string]any{"id": "il_1", "object": "line_item", "amount": 1200, "proration": true, "description": "Remaining time"},
				map[string]any{"id": "il_2", "object": "line_item", "amount": 3300, "proration": false, "description": "Next period"},
			}}})
	default:
		stripeError(w, 404, "invalid_request_error", "fake: unhandled "+r.Method+" "+path)
	}
}

// Event builds a Stripe event of type typ around object, created at created.
func Event(id, typ string, created time.Time, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": created.Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Sign returns the Stripe-Signature header of payload signed now (or at t).
func Sign(payload []byte, t time.Time) string { return webhook.Sign(payload, WebhookSecret, t) }

// StripeMock starts the pinned stripe-mock on free loopback ports and returns its HTTP URL.
func StripeMock(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("billingtest: stripe-mock skipped in -short mode")
	}
	bin := filepath.Join(repoRoot(t), ".atrium", "bin", "stripe-mock")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("billingtest: %s missing: run `make tools` (%v)", bin, err)
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				found <- "http://" + strings.TrimSpace(addr)
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("billingtest: stripe-mock did not start")
	}
	return ""
}

func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("billingtest: go.work not found above " + fmt.Sprint(os.Getwd()))
		}
		dir = parent
	}
}

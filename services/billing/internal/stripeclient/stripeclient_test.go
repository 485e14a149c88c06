package stripeclient_test

import (
	"context"
	"testing"
	"time"

	"atrium.dev/services/billing/internal/billingtest"
	"atrium.dev/services/billing/internal/stripeclient"
	"github.com/stripe/stripe-go/v76"
)

// Every request billing makes, sent by the real stripe-go client to stripe-mock (the pinned
// v0.185.0), which validates it against Stripe's OpenAPI spec: a parameter Stripe does not
// know, a wrong type or a missing required one fails here. stripe-mock answers fixtures, so
// only the requests are checked, not the state (that is the fake's job in other tests).
func TestRequestsValidAgainstStripeMock(t *testing.T) {
	t.Parallel()
	c, err := stripeclient.New(stripeclient.Config{SecretKey: "sk_test_123", BaseURL: billingtest.StripeMock(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tid := "0abcdefghijklmnopqrs"
	cases := []struct {
		name string
		call func() error
	}{
		{"create customer (idempotency key, tenant id in metadata)", func() error {
			_, err := c.CreateCustomer(ctx, tid, "acme", "admin@acme.test")
			return err
		}},
		{"price by lookup key", func() error {
			_, err := c.Price(ctx, "atrium_team_seat")
			return err
		}},
		{"checkout session: licensed seats + metered add-on, trial", func() error {
			_, _, err := c.CreateCheckout(ctx, stripeclient.Checkout{TenantID: tid, Plan: "team", Customer: "cus_123",
				SeatPrice: "price_seat", MeteredPrice: "price_metered", Seats: 3, TrialDays: 14,
				SuccessURL: "http://acme.localhost:8080/billing?checkout=success", CancelURL: "http://acme.localhost:8080/billing",
				IdempotencyKey: "atrium-checkout-test"})
			return err
		}},
		{"customer portal", func() error {
			_, err := c.CreatePortal(ctx, "cus_123", "http://acme.localhost:8080/billing")
			return err
		}},
		{"subscription read", func() error {
			_, err := c.Subscription(ctx, "sub_123")
			return err
		}},
		{"customer's subscriptions", func() error {
			_, err := c.CustomerSubscriptions(ctx, "cus_123")
			return err
		}},
		{"seat quantity with proration", func() error {
			_, err := c.UpdateItems(ctx, "sub_123", []*stripe.SubscriptionItemsParams{{ID: stripe.String("si_1"), Quantity: stripe.Int64(5)}},
				"create_prorations", nil)
			return err
		}},
		{"plan change: swap prices", func() error {
			_, err := c.UpdateItems(ctx, "sub_123", []*stripe.SubscriptionItemsParams{
				{ID: stripe.String("si_1"), Price: stripe.String("price_ent_seat"), Quantity: stripe.Int64(5)},
				{ID: stripe.String("si_2"), Price: stripe.String("price_ent_metered")},
			}, "always_invoice", map[string]string{"plan": "enterprise"})
			return err
		}},
		{"upcoming invoice (next invoice)", func() error {
			_, err := c.Upcoming(ctx, "cus_123", "sub_123", nil, "", time.Now())
			return err
		}},
		{"upcoming invoice (proration preview)", func() error {
			_, err := c.Upcoming(ctx, "cus_123", "sub_123", []*stripe.SubscriptionItemsParams{{ID: stripe.String("si_1"), Quantity: stripe.Int64(7)}},
				"create_prorations", time.Now())
			return err
		}},
		{"invoices page", func() error {
			_, _, err := c.Invoices(ctx, "cus_123", "in_123", 20)
			return err
		}},
		{"billing meter event with identifier", func() error {
			return c.MeterEvent(ctx, "atrium_api_requests", "cus_123", 1234, tid+":atrium_api_requests:2026-11-30",
				time.Now().Add(-24*time.Hour))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatalf("stripe-mock refused: %v", err)
			}
		})
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   bool
	}{{0, true}, {400, false}, {402, false}, {404, false}, {409, true}, {429, true}, {500, true}, {503, true}} {
		err := &stripe.Error{HTTPStatusCode: tc.status}
		if got := stripeclient.Transient(err); got != tc.want {
			t.Errorf("Transient(%d) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

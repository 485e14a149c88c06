// Package stripeclient is billing's only door to Stripe: the calls billing makes, over
// stripe-go v76, against api.stripe.com, stripe-mock or a test server (BaseURL). Errors are
// classified here (Transient) so the webhook handler knows whether Stripe should retry.
package stripeclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Config reaches Stripe.
type Config struct {
	// SecretKey is the API key (sk_test_... against stripe-mock).
	SecretKey string
	// BaseURL overrides https://api.stripe.com (stripe-mock: http://127.0.0.1:12111).
	BaseURL    string
	HTTPClient *http.Client
	// MaxNetworkRetries: stripe-go retries 409, 429, 5xx and network errors with the same
	// idempotency key. Default 2.
	MaxNetworkRetries int64
	Logger            *slog.Logger
}

// Client wraps stripe-go's API client.
type Client struct {
	api *client.API

	mu     sync.Mutex
	prices map[string]*stripe.Price // by lookup key
}

// New returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripeclient: SecretKey is required")
	}
	retries := cfg.MaxNetworkRetries
	if retries == 0 {
		retries = 2
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		// stripe-go's own logger prints to stderr; billing logs errors itself.
		LeveledLogger:   &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry: stripe.Bool(false),
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(cfg.BaseURL)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := client.New(cfg.SecretKey, &stripe.Backends{API: b, Connect: b, Uploads: b})
	return &Client{api: api, prices: map[string]*stripe.Price{}}, nil
}

// Transient reports whether err is worth retrying (Stripe or the network failed, or rate
// limited us), as opposed to a request Stripe refused for good.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.HTTPStatusCode == 0 || se.HTTPStatusCode == http.StatusTooManyRequests ||
			se.HTTPStatusCode == http.StatusConflict || se.HTTPStatusCode >= 500
	}
	// Not an answer from Stripe: a network error or a timeout.
	return true
}

// NotFound reports whether Stripe answered that the object does not exist.
func NotFound(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && (se.HTTPStatusCode == http.StatusNotFound || se.Code == stripe.ErrorCodeResourceMissing)
}

// CustomerIdempotencyKey is derived from the tenant id: however often creation is retried,
// within Stripe's 24 h idempotency window it makes one customer. (After it, billing's own
// customers table is what prevents a second: creation only happens when it has none.)
func CustomerIdempotencyKey(tenantID string) string { return "atrium-customer-" + tenantID }

// CreateCustomer creates the tenant's customer, tenant id in metadata.
func (c *Client) CreateCustomer(ctx context.Context, tenantID, name, email string) (string, error) {
	p := &stripe.CustomerParams{Name: stripe.String(name)}
	if email != "" {
		p.Email = stripe.String(email)
	}
	p.Context = ctx
	p.AddMetadata("tenant_id", tenantID)
	p.SetIdempotencyKey(CustomerIdempotencyKey(tenantID))
	cu, err := c.api.Customers.New(p)
	if err != nil {
		return "", fmt.Errorf("stripe: create customer: %w", err)
	}
	return cu.ID, nil
}

// Price returns the active price with a lookup key, cached: prices are immutable in Stripe
// (a change is a new price taking over the key, picked up on restart).
func (c *Client) Price(ctx context.Context, lookupKey string) (*stripe.Price, error) {
	c.mu.Lock()
	p, ok := c.prices[lookupKey]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	params := &stripe.PriceListParams{LookupKeys: []*string{stripe.String(lookupKey)}, Active: stripe.Bool(true)}
	params.Context = ctx
	params.Limit = stripe.Int64(1)
	it := c.api.Prices.List(params)
	for it.Next() {
		p = it.Price()
		break
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("stripe: price %q: %w", lookupKey, err)
	}
	if p == nil {
		return nil, fmt.Errorf("stripe: no active price with lookup key %q", lookupKey)
	}
	c.mu.Lock()
	c.prices[lookupKey] = p
	c.mu.Unlock()
	return p, nil
}

// Checkout is what CreateCheckout sells.
type Checkout struct {
	TenantID, Plan, Customer string
	SeatPrice, MeteredPrice  string
	Seats                    int64
	TrialDays                int64
	SuccessURL, CancelURL    string
	// IdempotencyKey makes a double-clicked upgrade one session.
	IdempotencyKey string
}

// CreateCheckout starts a subscription Checkout Session.
func (c *Client) CreateCheckout(ctx context.Context, in Checkout) (url, id string, err error) {
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		Customer:          stripe.String(in.Customer),
		ClientReferenceID: stripe.String(in.TenantID),
		SuccessURL:        stripe.String(in.SuccessURL),
		CancelURL:         stripe.String(in.CancelURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{
			{Price: stripe.String(in.SeatPrice), Quantity: stripe.Int64(in.Seats)},
		},
		SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: map[string]string{"tenant_id": in.TenantID, "plan": in.Plan},
		},
	}
	if in.MeteredPrice != "" {
		// Metered prices take no quantity: usage comes from the meter.
		p.LineItems = append(p.LineItems, &stripe.CheckoutSessionLineItemParams{Price: stripe.String(in.MeteredPrice)})
	}
	if in.TrialDays > 0 {
		p.SubscriptionData.TrialPeriodDays = stripe.Int64(in.TrialDays)
	}
	p.Context = ctx
	p.AddMetadata("tenant_id", in.TenantID)
	if in.IdempotencyKey != "" {
		p.SetIdempotencyKey(in.IdempotencyKey)
	}
	s, err := c.api.CheckoutSessions.New(p)
	if err != nil {
		return "", "", fmt.Errorf("stripe: create checkout session: %w", err)
	}
	return s.URL, s.ID, nil
}

// CreatePortal returns a Customer Portal URL.
func (c *Client) CreatePortal(ctx context.Context, customer, returnURL string) (string, error) {
	p := &stripe.BillingPortalSessionParams{Customer: stripe.String(customer), ReturnURL: stripe.String(returnURL)}
	p.Context = ctx
	s, err := c.api.BillingPortalSessions.New(p)
	if err != nil {
		return "", fmt.Errorf("stripe: create portal session: %w", err)
	}
	return s.URL, nil
}

// Subscription reads a subscription as Stripe has it now, its prices expanded enough to see
// their lookup keys.
func (c *Client) Subscription(ctx context.Context, id string) (*stripe.Subscription, error) {
	p := &stripe.SubscriptionParams{}
	p.Context = ctx
	s, err := c.api.Subscriptions.Get(id, p)
	if err != nil {
		return nil, fmt.Errorf("stripe: get subscription: %w", err)
	}
	return s, nil
}

// CustomerSubscriptions lists a customer's subscriptions of every status, newest first.
func (c *Client) CustomerSubscriptions(ctx context.Context, customer string) ([]*stripe.Subscription, error) {
	p := &stripe.SubscriptionListParams{Customer: stripe.String(customer), Status: stripe.String("all")}
	p.Context = ctx
	p.Limit = stripe.Int64(10)
	var out []*stripe.Subscription
	it := c.api.Subscriptions.List(p)
	for it.Next() && len(out) < 10 {
		out = append(out, it.Subscription())
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("stripe: list subscriptions: %w", err)
	}
	return out, nil
}

// UpdateItems changes a subscription's items (plan or seat count) with a proration behavior
// ("create_prorations", "always_invoice" or "none").
func (c *Client) UpdateItems(ctx context.Context, subID string, items []*stripe.SubscriptionItemsParams, proration string, meta map[string]string) (*stripe.Subscription, error) {
	p := &stripe.SubscriptionParams{Items: items, ProrationBehavior: stripe.String(proration), Metadata: meta}
	p.Context = ctx
	s, err := c.api.Subscriptions.Update(subID, p)
	if err != nil {
		return nil, fmt.Errorf("stripe: update subscription: %w", err)
	}
	return s, nil
}

// Upcoming previews the next invoice; with items it previews that change (its proration
// lines are marked).
func (c *Client) Upcoming(ctx context.Context, customer, subID string, items []*stripe.SubscriptionItemsParams, proration string, at time.Time) (*stripe.Invoice, error) {
	p := &stripe.InvoiceUpcomingParams{Customer: stripe.String(customer)}
	if subID != "" {
		p.Subscription = stripe.String(subID)
	}
	if len(items) > 0 {
		p.SubscriptionItems = items
		p.SubscriptionProrationBehavior = stripe.String(proration)
		p.SubscriptionProrationDate = stripe.Int64(at.Unix())
	}
	p.Context = ctx
	inv, err := c.api.Invoices.Upcoming(p)
	if err != nil {
		return nil, fmt.Errorf("stripe: upcoming invoice: %w", err)
	}
	return inv, nil
}

// Invoices lists a customer's invoices, newest first, after the invoice id startingAfter.
func (c *Client) Invoices(ctx context.Context, customer, startingAfter string, limit int) ([]*stripe.Invoice, bool, error) {
	p := &stripe.InvoiceListParams{Customer: stripe.String(customer)}
	p.Context = ctx
	p.Limit = stripe.Int64(int64(limit))
	if startingAfter != "" {
		p.StartingAfter = stripe.String(startingAfter)
	}
	p.Single = true // one page: the caller pages
	it := c.api.Invoices.List(p)
	var out []*stripe.Invoice
	for it.Next() {
		out = append(out, it.Invoice())
	}
	if err := it.Err(); err != nil {
		return nil, false, fmt.Errorf("stripe: list invoices: %w", err)
	}
	more := false
	if l := it.InvoiceList(); l != nil {
		more = l.HasMore
	}
	return out, more, nil
}

// MeterEvent reports value for customer to the meter eventName at ts. identifier makes the
// report idempotent: Stripe keeps one event per identifier, so a retry cannot bill twice.
func (c *Client) MeterEvent(ctx context.Context, eventName, customer string, value int64, identifier string, ts time.Time) error {
	p := &stripe.BillingMeterEventParams{
		EventName:  stripe.String(eventName),
		Identifier: stripe.String(identifier),
		Timestamp:  stripe.Int64(ts.Unix()),
		Payload:    map[string]string{"stripe_customer_id": customer, "value": strconv.FormatInt(value, 10)},
	}
	p.Context = ctx
	// The identifier is also the idempotency key, so stripe-go's own retries are safe too.
	p.SetIdempotencyKey("atrium-meter-" + identifier)
	if _, err := c.api.BillingMeterEvents.New(p); err != nil {
		return fmt.Errorf("stripe: meter event: %w", err)
	}
	return nil
}

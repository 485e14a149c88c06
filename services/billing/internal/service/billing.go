// Package service implements billing's Connect services: BillingService (a tenant admin's),
// BillingOperatorService (tenantctl's) and BillingInternalService (other services').
//
// The tenant always comes from the verified identity, never from the request: an admin can
// only ever see and buy for the tenant their token names.
package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/billing/internal/engine"
	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"atrium.dev/services/billing/internal/stripeclient"
	"connectrpc.com/connect"
	"github.com/stripe/stripe-go/v76"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Stripe is what the handlers need from stripeclient.Client.
type Stripe interface {
	engine.Stripe
	CreateCustomer(ctx context.Context, tenantID, name, email string) (string, error)
	Price(ctx context.Context, lookupKey string) (*stripe.Price, error)
	CreateCheckout(ctx context.Context, in stripeclient.Checkout) (string, string, error)
	CreatePortal(ctx context.Context, customer, returnURL string) (string, error)
	Upcoming(ctx context.Context, customer, subID string, items []*stripe.SubscriptionItemsParams, proration string, at time.Time) (*stripe.Invoice, error)
	Invoices(ctx context.Context, customer, startingAfter string, limit int) ([]*stripe.Invoice, bool, error)
}

// Deps are the handlers' shared parts.
type Deps struct {
	Engine *engine.Engine
	Stripe Stripe
	// PortalURL is the web app's base ("http://{slug}.localhost:8080"): Checkout and the
	// Customer Portal return to PortalURL/billing. "{slug}" is replaced by the tenant's.
	PortalURL string
	TrialDays int64
	Log       *slog.Logger
}

// Billing is BillingService.
type Billing struct{ *Deps }

// NewBilling returns the service.
func NewBilling(d *Deps) *Billing { return &Billing{d} }

func tenantOf(ctx context.Context) (*authn.Identity, error) {
	id, ok := authn.FromContext(ctx)
	if !ok || id.TenantID == "" {
		return nil, rpcerr.PermissionDenied("no tenant for this request")
	}
	return id, nil
}

func (d *Deps) returnURL(slug, query string) string {
	base := strings.ReplaceAll(d.PortalURL, "{slug}", slug)
	// The portal routes on the fragment ("#/billing?checkout=success"); the gateway serves
	// the app at "/" only, so a "/billing" path would be a 404 after paying.
	return strings.TrimRight(base, "/") + "/#/billing" + query
}

const maxSeats = 10_000

// ensureCustomer returns the tenant's Stripe customer, creating it the first time. The
// idempotency key is derived from the tenant id, so concurrent first calls make one customer.
func (d *Deps) ensureCustomer(ctx context.Context, id *authn.Identity) (string, error) {
	st := d.Engine.Store
	cus, err := st.Customer(ctx, id.TenantID)
	if err != nil || cus != "" {
		return cus, err
	}
	name := id.TenantSlug
	if name == "" {
		name = id.TenantID
	}
	cus, err = d.Stripe.CreateCustomer(ctx, id.TenantID, name, "")
	if err != nil {
		return "", stripeErr(err)
	}
	if err := st.PutCustomer(ctx, id.TenantID, cus); err != nil {
		return "", err
	}
	// A concurrent caller may have stored first; the stored one is the tenant's.
	return st.Customer(ctx, id.TenantID)
}

func stripeErr(err error) error {
	if stripeclient.Transient(err) {
		return rpcerr.Unavailable("Stripe is not answering; try again").WithCause(err)
	}
	return rpcerr.FailedPrecondition("Stripe refused the request").WithCause(err)
}

func (b *Billing) paidPlan(field, id string) (plans.Plan, error) {
	p, ok := b.Engine.Plans.Get(id)
	if !ok {
		return plans.Plan{}, rpcerr.InvalidField(field, "unknown plan")
	}
	if p.ID == plans.Free {
		return plans.Plan{}, rpcerr.InvalidField(field, "free needs no subscription; cancel in the Customer Portal")
	}
	return p, nil
}

func (b *Billing) seats(ctx context.Context, tenantID string, n int64) (int64, error) {
	if n < 0 || n > maxSeats {
		return 0, rpcerr.InvalidField("seats", fmt.Sprintf("must be between 0 and %d", maxSeats))
	}
	if n > 0 {
		return n, nil
	}
	if b.Engine.Tenancy == nil {
		return 1, nil
	}
	count, err := b.Engine.Tenancy.CountMembers(ctx, tenantID)
	if err != nil {
		return 0, rpcerr.Unavailable("cannot count members").WithCause(err)
	}
	return max(count, 1), nil
}

// CreateCheckoutSession starts a subscription in Stripe Checkout.
func (b *Billing) CreateCheckoutSession(ctx context.Context, req *connect.Request[billingv1.CreateCheckoutSessionRequest]) (*connect.Response[billingv1.CreateCheckoutSessionResponse], error) {
	id, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	p, err := b.paidPlan("plan", req.Msg.GetPlan())
	if err != nil {
		return nil, err
	}
	if !p.SelfServe {
		return nil, rpcerr.FailedPrecondition("plan %s is sold by our sales team", p.ID)
	}
	sub, err := b.Engine.Store.Subscription(ctx, id.TenantID)
	if err != nil {
		return nil, err
	}
	if sub.Live() {
		return nil, rpcerr.FailedPrecondition("the tenant already has a %s subscription (%s): use ChangePlan or the Customer Portal", sub.Plan, sub.State)
	}
	seats, err := b.seats(ctx, id.TenantID, req.Msg.GetSeats())
	if err != nil {
		return nil, err
	}
	cus, err := b.ensureCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	seatPrice, err := b.Stripe.Price(ctx, p.SeatLookupKey)
	if err != nil {
		return nil, stripeErr(err)
	}
	in := stripeclient.Checkout{
		TenantID: id.TenantID, Plan: p.ID, Customer: cus, SeatPrice: seatPrice.ID, Seats: seats,
		TrialDays:  b.TrialDays,
		SuccessURL: b.returnURL(id.TenantSlug, "?checkout=success"),
		CancelURL:  b.returnURL(id.TenantSlug, "?checkout=canceled"),
		// A double click within the same minute gets the same session.
		IdempotencyKey: fmt.Sprintf("atrium-checkout-%s-%s-%d-%d", id.TenantID, p.ID, seats, time.Now().Unix()/60),
	}
	if p.MeteredLookupKey != "" {
		mp, err := b.Stripe.Price(ctx, p.MeteredLookupKey)
		if err != nil {
			return nil, stripeErr(err)
		}
		in.MeteredPrice = mp.ID
	}
	url, sid, err := b.Stripe.CreateCheckout(ctx, in)
	if err != nil {
		return nil, stripeErr(err)
	}
	return connect.NewResponse(&billingv1.CreateCheckoutSessionResponse{Url: url, SessionId: sid}), nil
}

// CreatePortalSession hands out a Customer Portal URL.
func (b *Billing) CreatePortalSession(ctx context.Context, _ *connect.Request[billingv1.CreatePortalSessionRequest]) (*connect.Response[billingv1.CreatePortalSessionResponse], error) {
	id, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	cus, err := b.Engine.Store.Customer(ctx, id.TenantID)
	if err != nil {
		return nil, err
	}
	if cus == "" {
		return nil, rpcerr.FailedPrecondition("no billing account yet: upgrade with CreateCheckoutSession first")
	}
	url, err := b.Stripe.CreatePortal(ctx, cus, b.returnURL(id.TenantSlug, ""))
	if err != nil {
		return nil, stripeErr(err)
	}
	return connect.NewResponse(&billingv1.CreatePortalSessionResponse{Url: url}), nil
}

// GetBilling is the Billing page.
func (b *Billing) GetBilling(ctx context.Context, _ *connect.Request[billingv1.GetBillingRequest]) (*connect.Response[billingv1.GetBillingResponse], error) {
	id, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	out, err := b.billing(ctx, id.TenantID, true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&billingv1.GetBillingResponse{Billing: out}), nil
}

// billing assembles a tenant's view. Stripe's and tenancy's parts are best effort: the page
// still shows the stored state when they do not answer.
func (d *Deps) billing(ctx context.Context, tenantID string, live bool) (*billingv1.Billing, error) {
	st := d.Engine.Store
	sub, err := st.Subscription(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	cus, err := st.Customer(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	now := d.Engine.Now()
	out := &billingv1.Billing{
		Plan: sub.Plan, State: stateProto(sub.State), StripeStatus: sub.StripeStatus, SeatsPaid: sub.SeatsPaid,
		CurrentPeriodStart: ts(sub.PeriodStart), CurrentPeriodEnd: ts(sub.PeriodEnd), TrialEndTime: ts(sub.TrialEnd),
		GraceEndTime: ts(sub.GraceEndsAt), GraceDaysLeft: engine.GraceDaysLeft(sub, now),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd, PaymentState: sub.PaymentState, HasCustomer: cus != "",
	}
	if out.PaymentState == "" {
		out.PaymentState = "ok"
	}
	if live && d.Engine.Tenancy != nil {
		if n, err := d.Engine.Tenancy.CountMembers(ctx, tenantID); err == nil {
			out.SeatsUsed = n
		} else {
			d.Log.WarnContext(ctx, "seat count unavailable", "tenant_id", tenantID, "err", err)
		}
	}
	if live && cus != "" && sub.Live() {
		if inv, err := d.Stripe.Upcoming(ctx, cus, sub.StripeSubscriptionID, nil, "", now); err == nil {
			out.NextInvoice = preview(inv, false)
		} else {
			d.Log.WarnContext(ctx, "next invoice unavailable", "tenant_id", tenantID, "err", err)
		}
	}
	events, err := st.ListAudit(ctx, tenantID, 20)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		out.RecentEvents = append(out.RecentEvents, auditProto(e))
	}
	for _, p := range d.Engine.Plans.All() {
		out.Plans = append(out.Plans, d.planProto(ctx, p, live))
	}
	return out, nil
}

func (d *Deps) planProto(ctx context.Context, p plans.Plan, live bool) *billingv1.Plan {
	out := &billingv1.Plan{
		Id: p.ID, DisplayName: p.DisplayName, SeatUnitAmount: p.SeatUnitAmount, Currency: p.Currency,
		Interval: p.Interval, IncludedRequests: p.IncludedRequests, OverageUnitAmount: p.OverageUnitAmount,
		Features: p.Features, SelfServe: p.SelfServe,
	}
	// Stripe's price is the truth when it answers (it is cached after the first read).
	if live && p.SeatLookupKey != "" {
		if pr, err := d.Stripe.Price(ctx, p.SeatLookupKey); err == nil && pr.LookupKey == p.SeatLookupKey {
			out.SeatUnitAmount, out.Currency = pr.UnitAmount, string(pr.Currency)
			if pr.Recurring != nil {
				out.Interval = string(pr.Recurring.Interval)
			}
		}
	}
	return out
}

// ListInvoices pages through Stripe's invoices of the tenant's customer.
func (b *Billing) ListInvoices(ctx context.Context, req *connect.Request[billingv1.ListInvoicesRequest]) (*connect.Response[billingv1.ListInvoicesResponse], error) {
	id, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0:
		return nil, rpcerr.InvalidField("page_size", "must not be negative")
	case size == 0:
		size = 20
	case size > 100:
		size = 100
	}
	after := ""
	if tok := req.Msg.GetPageToken(); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), "in_") {
			return nil, rpcerr.InvalidField("page_token", "is not a page token from a previous response")
		}
		after = string(raw)
	}
	cus, err := b.Engine.Store.Customer(ctx, id.TenantID)
	if err != nil {
		return nil, err
	}
	out := &billingv1.ListInvoicesResponse{}
	if cus == "" {
		return connect.NewResponse(out), nil
	}
	invs, more, err := b.Stripe.Invoices(ctx, cus, after, size)
	if err != nil {
		return nil, stripeErr(err)
	}
	for _, inv := range invs {
		out.Invoices = append(out.Invoices, invoiceProto(inv))
	}
	if more && len(invs) > 0 {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(invs[len(invs)-1].ID))
	}
	return connect.NewResponse(out), nil
}

// ChangePlan moves a live subscription to another plan or seat count, previewing the
// proration first (preview=true changes nothing).
func (b *Billing) ChangePlan(ctx context.Context, req *connect.Request[billingv1.ChangePlanRequest]) (*connect.Response[billingv1.ChangePlanResponse], error) {
	id, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	p, err := b.paidPlan("plan", req.Msg.GetPlan())
	if err != nil {
		return nil, err
	}
	if req.Msg.GetSeats() < 0 || req.Msg.GetSeats() > maxSeats {
		return nil, rpcerr.InvalidField("seats", fmt.Sprintf("must be between 0 and %d", maxSeats))
	}
	st := b.Engine.Store
	sub, err := st.Subscription(ctx, id.TenantID)
	if err != nil {
		return nil, err
	}
	if !sub.Live() {
		return nil, rpcerr.FailedPrecondition("no live subscription: start one with CreateCheckoutSession")
	}
	cus, err := st.Customer(ctx, id.TenantID)
	if err != nil {
		return nil, err
	}
	// Items are read from Stripe now, not from what was stored: the change must name the
	// subscription's current items.
	s, err := b.Stripe.Subscription(ctx, sub.StripeSubscriptionID)
	if err != nil {
		return nil, stripeErr(err)
	}
	items, err := b.changeItems(ctx, s, p, req.Msg.GetSeats())
	if err != nil {
		return nil, err
	}
	now := b.Engine.Now()
	inv, err := b.Stripe.Upcoming(ctx, cus, s.ID, items, b.Engine.Proration, now)
	if err != nil {
		return nil, stripeErr(err)
	}
	out := &billingv1.ChangePlanResponse{Proration: preview(inv, true)}
	if req.Msg.GetPreview() {
		return connect.NewResponse(out), nil
	}
	updated, err := b.Stripe.UpdateItems(ctx, s.ID, items, b.Engine.Proration, map[string]string{"plan": p.ID})
	if err != nil {
		return nil, stripeErr(err)
	}
	err = st.Tx(ctx, func(tx *store.Store) error {
		prev, err := tx.LockSubscription(ctx, id.TenantID)
		if err != nil {
			return err
		}
		next := engine.Next(prev, engine.Observe(b.Engine.Plans, updated), now, b.Engine.Grace)
		return b.Engine.Transition(ctx, tx, prev, next, id.Actor(), map[string]any{"change_plan": p.ID, "seats": req.Msg.GetSeats()})
	})
	if err != nil {
		return nil, err
	}
	if err := b.Engine.Deliver(ctx, id.TenantID); err != nil {
		b.Log.WarnContext(ctx, "plan change not delivered yet; the reconciler retries", "err", err)
	}
	out.Applied = true
	if out.Billing, err = b.billing(ctx, id.TenantID, false); err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// changeItems swaps the seat and metered prices to plan p's, keeping (or setting) the seats.
func (b *Billing) changeItems(ctx context.Context, s *stripe.Subscription, p plans.Plan, seats int64) ([]*stripe.SubscriptionItemsParams, error) {
	seatPrice, err := b.Stripe.Price(ctx, p.SeatLookupKey)
	if err != nil {
		return nil, stripeErr(err)
	}
	var meteredPrice string
	if p.MeteredLookupKey != "" {
		mp, err := b.Stripe.Price(ctx, p.MeteredLookupKey)
		if err != nil {
			return nil, stripeErr(err)
		}
		meteredPrice = mp.ID
	}
	var items []*stripe.SubscriptionItemsParams
	seatDone, meteredDone := false, false
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it == nil || it.Price == nil {
				continue
			}
			_, seat, known := b.Engine.Plans.ByLookupKey(it.Price.LookupKey)
			switch {
			case (known && seat || !known && it.Price.Recurring != nil && it.Price.Recurring.UsageType != stripe.PriceRecurringUsageTypeMetered) && !seatDone:
				q := it.Quantity
				if seats > 0 {
					q = seats
				}
				items = append(items, &stripe.SubscriptionItemsParams{ID: stripe.String(it.ID), Price: stripe.String(seatPrice.ID), Quantity: stripe.Int64(max(q, 1))})
				seatDone = true
			case !meteredDone:
				if meteredPrice != "" {
					items = append(items, &stripe.SubscriptionItemsParams{ID: stripe.String(it.ID), Price: stripe.String(meteredPrice)})
				} else {
					items = append(items, &stripe.SubscriptionItemsParams{ID: stripe.String(it.ID), Deleted: stripe.Bool(true)})
				}
				meteredDone = true
			}
		}
	}
	if !seatDone {
		return nil, rpcerr.FailedPrecondition("the subscription has no seat item to change")
	}
	if !meteredDone && meteredPrice != "" {
		items = append(items, &stripe.SubscriptionItemsParams{Price: stripe.String(meteredPrice)})
	}
	return items, nil
}

func preview(inv *stripe.Invoice, prorationsOnly bool) *billingv1.InvoicePreview {
	if inv == nil {
		return nil
	}
	out := &billingv1.InvoicePreview{AmountDue: inv.AmountDue, Currency: string(inv.Currency)}
	if inv.NextPaymentAttempt > 0 {
		out.Time = timestamppb.New(time.Unix(inv.NextPaymentAttempt, 0))
	} else if inv.PeriodEnd > 0 {
		out.Time = timestamppb.New(time.Unix(inv.PeriodEnd, 0))
	}
	var prorated int64
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l == nil {
				continue
			}
			if prorationsOnly && !l.Proration {
				continue
			}
			prorated += l.Amount
			out.Lines = append(out.Lines, &billingv1.InvoiceLine{Description: l.Description, Amount: l.Amount, Proration: l.Proration})
		}
	}
	if prorationsOnly {
		out.AmountDue = prorated
	}
	return out
}

func invoiceProto(inv *stripe.Invoice) *billingv1.Invoice {
	return &billingv1.Invoice{
		Id: inv.ID, Number: inv.Number, Status: string(inv.Status), AmountDue: inv.AmountDue, AmountPaid: inv.AmountPaid,
		Currency: string(inv.Currency), CreateTime: unixTS(inv.Created), PeriodStart: unixTS(inv.PeriodStart),
		PeriodEnd: unixTS(inv.PeriodEnd), HostedInvoiceUrl: inv.HostedInvoiceURL, PdfUrl: inv.InvoicePDF,
	}
}

func unixTS(s int64) *timestamppb.Timestamp {
	if s == 0 {
		return nil
	}
	return timestamppb.New(time.Unix(s, 0))
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

var states = map[string]billingv1.BillingState{
	store.StateNone:       billingv1.BillingState_BILLING_STATE_NONE,
	store.StateTrialing:   billingv1.BillingState_BILLING_STATE_TRIALING,
	store.StateActive:     billingv1.BillingState_BILLING_STATE_ACTIVE,
	store.StatePastDue:    billingv1.BillingState_BILLING_STATE_PAST_DUE,
	store.StateSuspended:  billingv1.BillingState_BILLING_STATE_SUSPENDED,
	store.StateCanceled:   billingv1.BillingState_BILLING_STATE_CANCELED,
	store.StateIncomplete: billingv1.BillingState_BILLING_STATE_INCOMPLETE,
}

func stateProto(s string) billingv1.BillingState { return states[s] }

func auditProto(a store.Audit) *billingv1.BillingEvent {
	details := "{}"
	if a.Details != nil {
		if b, err := jsonMarshal(a.Details); err == nil {
			details = string(b)
		}
	}
	return &billingv1.BillingEvent{Time: timestamppb.New(a.At), Action: a.Action, Actor: a.Actor, From: a.From, To: a.To, DetailsJson: details}
}

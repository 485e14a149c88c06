package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"atrium.dev/services/billing/internal/store"
	"github.com/stripe/stripe-go/v76"
)

// Event types billing acts on. Anything else is acknowledged and logged.
var handled = map[stripe.EventType]bool{
	"checkout.session.completed":           true,
	"customer.subscription.created":        true,
	"customer.subscription.updated":        true,
	"customer.subscription.deleted":        true,
	"customer.subscription.trial_will_end": true,
	"invoice.paid":                         true,
	"invoice.payment_failed":               true,
	"invoice.payment_action_required":      true,
}

// Result is what handling an event did, for logs and tests.
type Result struct {
	Outcome   string // store.Outcome*, or "duplicate"
	TenantID  string
	Committed time.Time
}

// ref is what an event's object says about whom it concerns.
type ref struct {
	tenantID, customer, subscription string
	payment                          string // payment state an invoice event reports
}

func parseRef(ev *stripe.Event) (ref, error) {
	var r ref
	raw := ev.Data.Raw
	switch {
	case ev.Type == "checkout.session.completed":
		var s stripe.CheckoutSession
		if err := json.Unmarshal(raw, &s); err != nil {
			return r, permanent("checkout session: %v", err)
		}
		r.tenantID = s.ClientReferenceID
		if r.tenantID == "" {
			r.tenantID = s.Metadata["tenant_id"]
		}
		if s.Customer != nil {
			r.customer = s.Customer.ID
		}
		if s.Subscription != nil {
			r.subscription = s.Subscription.ID
		}
	case len(ev.Type) > len("customer.subscription.") && ev.Type[:len("customer.subscription.")] == "customer.subscription.":
		var s stripe.Subscription
		if err := json.Unmarshal(raw, &s); err != nil {
			return r, permanent("subscription: %v", err)
		}
		r.subscription, r.tenantID = s.ID, s.Metadata["tenant_id"]
		if s.Customer != nil {
			r.customer = s.Customer.ID
		}
	default: // invoice.*
		var inv stripe.Invoice
		if err := json.Unmarshal(raw, &inv); err != nil {
			return r, permanent("invoice: %v", err)
		}
		if inv.Customer != nil {
			r.customer = inv.Customer.ID
		}
		if inv.Subscription != nil {
			r.subscription = inv.Subscription.ID
		}
		switch ev.Type {
		case "invoice.paid":
			r.payment = "ok"
		case "invoice.payment_failed":
			r.payment = "failed"
		case "invoice.payment_action_required":
			r.payment = "action_required"
		}
	}
	return r, nil
}

// HandleEvent applies one verified event exactly once. A nil error means "acknowledge": the
// effect is committed, or the event was a duplicate, stale, unknown, or failed for good (the
// failure recorded in the ledger). An error means a transient failure: nothing was recorded,
// so Stripe's retry will do it all again.
func (e *Engine) HandleEvent(ctx context.Context, ev *stripe.Event) (Result, error) {
	if ev.ID == "" {
		return Result{}, permanent("event without id")
	}
	// A redelivery is answered without asking Stripe anything.
	if seen, err := e.Store.HasEvent(ctx, ev.ID); err != nil || seen {
		return Result{Outcome: "duplicate"}, err
	}
	created := time.Unix(ev.Created, 0).UTC()
	if !handled[ev.Type] {
		e.Log.InfoContext(ctx, "stripe event type not handled; acknowledged", "event_id", ev.ID, "type", ev.Type)
		return e.record(ctx, ev, created, "", store.OutcomeIgnored, "unhandled event type")
	}
	r, err := parseRef(ev)
	if err == nil {
		return e.apply(ctx, ev, created, r)
	}
	if errors.Is(err, ErrPermanent) {
		e.Log.WarnContext(ctx, "stripe event failed permanently; recorded and acknowledged", "event_id", ev.ID, "type", ev.Type, "err", err)
		return e.record(ctx, ev, created, r.tenantID, store.OutcomeError, err.Error())
	}
	return Result{}, err
}

func (e *Engine) apply(ctx context.Context, ev *stripe.Event, created time.Time, r ref) (Result, error) {
	res, err := e.applyOnce(ctx, ev, created, r)
	if errors.Is(err, ErrPermanent) {
		e.Log.WarnContext(ctx, "stripe event failed permanently; recorded and acknowledged", "event_id", ev.ID, "type", ev.Type, "err", err)
		return e.record(ctx, ev, created, r.tenantID, store.OutcomeError, err.Error())
	}
	return res, err
}

func (e *Engine) applyOnce(ctx context.Context, ev *stripe.Event, created time.Time, r ref) (Result, error) {
	tenantID := r.tenantID
	if r.customer != "" {
		known, err := e.Store.TenantOfCustomer(ctx, r.customer)
		if err != nil {
			return Result{}, err
		}
		if known != "" {
			// The customer table is the authority: metadata could be edited in the dashboard.
			tenantID = known
		}
	}
	if r.subscription == "" {
		return e.record(ctx, ev, created, tenantID, store.OutcomeIgnored, "no subscription on the event")
	}
	// Order is not trusted: whatever the event says, Stripe's subscription now is the truth.
	s, err := e.Stripe.Subscription(ctx, r.subscription)
	if err != nil {
		return Result{}, classify(err)
	}
	if tenantID == "" {
		tenantID = s.Metadata["tenant_id"]
	}
	if tenantID == "" {
		return Result{}, permanent("no tenant for customer %q / subscription %q", r.customer, r.subscription)
	}
	customer := r.customer
	if customer == "" && s.Customer != nil {
		customer = s.Customer.ID
	}
	o := Observe(e.Plans, s)
	now := e.Now()
	var res Result
	err = e.Store.Tx(ctx, func(tx *store.Store) error {
		if customer != "" {
			if err := tx.PutCustomer(ctx, tenantID, customer); err != nil {
				return err
			}
		}
		prev, err := tx.LockSubscription(ctx, tenantID)
		if err != nil {
			return err
		}
		outcome, reason := store.OutcomeApplied, ""
		switch {
		case prev.LastEventAt != nil && created.Before(*prev.LastEventAt):
			outcome, reason = store.OutcomeStale, "older than the state already applied"
		case prev.StripeSubscriptionID != "" && prev.StripeSubscriptionID != o.ID && prev.Live() &&
			(o.Status == string(stripe.SubscriptionStatusCanceled) || o.Status == string(stripe.SubscriptionStatusIncompleteExpired)):
			// A late event of an ended subscription must not undo the one that replaced it.
			outcome, reason = store.OutcomeIgnored, "subscription superseded by "+prev.StripeSubscriptionID
		}
		fresh, err := tx.RecordEvent(ctx, store.Event{ID: ev.ID, Type: string(ev.Type), TenantID: tenantID,
			CreatedAt: created, Outcome: outcome, Error: reason})
		if err != nil {
			return err
		}
		res = Result{Outcome: outcome, TenantID: tenantID}
		if !fresh {
			res.Outcome = "duplicate" // a concurrent delivery committed first
			return nil
		}
		if outcome != store.OutcomeApplied {
			return nil
		}
		next := Next(prev, o, now, e.Grace)
		if r.payment != "" {
			next.PaymentState = r.payment
			if r.payment == "ok" && next.State == store.StateActive {
				next.PaymentState = "ok"
			}
		}
		next.LastEventAt = &created
		details := map[string]any{"event": ev.ID, "type": string(ev.Type), "subscription": o.ID, "stripe_status": o.Status}
		if ev.Type == "customer.subscription.trial_will_end" {
			if err := tx.Audit(ctx, store.Audit{TenantID: tenantID, Actor: "stripe:" + ev.ID, Action: "billing.trial_will_end",
				To: o.TrialEnd.Format(time.RFC3339), Details: details}); err != nil {
				return err
			}
		}
		return e.Transition(ctx, tx, prev, next, "stripe:"+ev.ID, details)
	})
	if err != nil {
		return Result{}, err
	}
	res.Committed = time.Now()
	if res.Outcome == store.OutcomeApplied {
		e.deliverLogged(ctx, tenantID)
	}
	return res, nil
}

// record commits a ledger row for an event that has no effect.
func (e *Engine) record(ctx context.Context, ev *stripe.Event, created time.Time, tenantID, outcome, reason string) (Result, error) {
	fresh, err := e.Store.RecordEvent(ctx, store.Event{ID: ev.ID, Type: string(ev.Type), TenantID: tenantID,
		CreatedAt: created, Outcome: outcome, Error: reason})
	if err != nil {
		return Result{}, err
	}
	if !fresh {
		outcome = "duplicate"
	}
	return Result{Outcome: outcome, TenantID: tenantID, Committed: time.Now()}, nil
}

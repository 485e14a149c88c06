// Package engine is billing's behaviour: applying Stripe's state to a tenant (from webhooks
// and the reconciler), the dunning timeline, seat sync, and delivering the effects to
// entitlements (the plan) and tenancy (the billing hold).
//
// Effects on other services are never made inside a database transaction: the transaction
// stores the wanted plan and hold, and Deliver pushes them afterwards. What could not be
// delivered stays owed (plan <> applied_plan) and the reconciler retries it, so a crash between
// commit and delivery loses nothing.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"atrium.dev/services/billing/internal/stripeclient"
	"github.com/stripe/stripe-go/v76"
)

// Entitlements receives plan changes (issue 7's EntitlementsInternalService.SetPlan).
type Entitlements interface {
	SetPlan(ctx context.Context, tenantID, plan, reason string) error
}

// Tenancy is what billing asks tenancy: the seat count and the billing hold.
type Tenancy interface {
	CountMembers(ctx context.Context, tenantID string) (int64, error)
	SetHold(ctx context.Context, tenantID string, hold bool, reason string) error
	// Resolve turns an id or slug into an id.
	Resolve(ctx context.Context, ref string) (string, error)
}

// Stripe is the part of stripeclient.Client the engine uses.
type Stripe interface {
	Subscription(ctx context.Context, id string) (*stripe.Subscription, error)
	CustomerSubscriptions(ctx context.Context, customer string) ([]*stripe.Subscription, error)
	UpdateItems(ctx context.Context, subID string, items []*stripe.SubscriptionItemsParams, proration string, meta map[string]string) (*stripe.Subscription, error)
}

// Config tunes the engine.
type Config struct {
	Grace time.Duration
	// Proration is Stripe's proration_behavior for seat and plan changes.
	Proration string
	// SeatDebounce waits this long after a member change before syncing the seat count.
	SeatDebounce time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
}

// Engine applies billing.
type Engine struct {
	Store        *store.Store
	Stripe       Stripe
	Plans        *plans.Catalog
	Entitlements Entitlements
	Tenancy      Tenancy
	Log          *slog.Logger
	Config
}

// DefaultGrace is how long a past-due tenant keeps its plan before suspension.
const DefaultGrace = 7 * 24 * time.Hour

// New fills the defaults.
func New(e *Engine) *Engine {
	if e.Grace <= 0 {
		e.Grace = DefaultGrace
	}
	if e.Proration == "" {
		e.Proration = "create_prorations"
	}
	if e.SeatDebounce <= 0 {
		e.SeatDebounce = 5 * time.Second
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	return e
}

// ErrPermanent marks failures retrying cannot fix (unknown customer, missing subscription).
var ErrPermanent = errors.New("permanent")

func permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPermanent, fmt.Sprintf(format, args...))
}

// classify makes a Stripe failure permanent unless it is worth a retry.
func classify(err error) error {
	if err == nil || stripeclient.Transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Transition writes next over prev for a tenant and audits every change, in tx.
func (e *Engine) Transition(ctx context.Context, tx *store.Store, prev, next store.Subscription, actor string, details map[string]any) error {
	if err := tx.SaveSubscription(ctx, next); err != nil {
		return err
	}
	audit := func(action, from, to string) error {
		return tx.Audit(ctx, store.Audit{TenantID: next.TenantID, Actor: actor, Action: action, From: from, To: to, Details: details})
	}
	if prev.State != next.State {
		if err := audit("billing.state", prev.State, next.State); err != nil {
			return err
		}
	}
	if prev.Plan != next.Plan {
		if err := audit("billing.plan", prev.Plan, next.Plan); err != nil {
			return err
		}
	}
	if prev.Hold != next.Hold {
		action := "billing.resume"
		if next.Hold {
			action = "billing.suspend"
		}
		if err := audit(action, fmt.Sprint(prev.Hold), fmt.Sprint(next.Hold)); err != nil {
			return err
		}
	}
	if prev.SeatsPaid != next.SeatsPaid {
		if err := audit("billing.seats", fmt.Sprint(prev.SeatsPaid), fmt.Sprint(next.SeatsPaid)); err != nil {
			return err
		}
	}
	if prev.PaymentState != next.PaymentState && prev.PaymentState != "" {
		if err := audit("billing.payment", prev.PaymentState, next.PaymentState); err != nil {
			return err
		}
	}
	return nil
}

// Changed reports whether next differs from prev in anything the admin sees.
func Changed(prev, next store.Subscription) bool {
	return prev.State != next.State || prev.Plan != next.Plan || prev.Hold != next.Hold ||
		prev.SeatsPaid != next.SeatsPaid || prev.PaymentState != next.PaymentState ||
		prev.StripeStatus != next.StripeStatus || prev.StripeSubscriptionID != next.StripeSubscriptionID ||
		prev.CancelAtPeriodEnd != next.CancelAtPeriodEnd || !eqTime(prev.PeriodEnd, next.PeriodEnd)
}

func eqTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// Deliver pushes a tenant's owed plan and hold to entitlements and tenancy. Both calls are
// idempotent, so delivering twice is harmless; failing leaves the effect owed.
func (e *Engine) Deliver(ctx context.Context, tenantID string) error {
	sub, err := e.Store.Subscription(ctx, tenantID)
	if err != nil {
		return err
	}
	if sub.Plan == sub.AppliedPlan && sub.Hold == sub.AppliedHold {
		return nil
	}
	if sub.Plan != sub.AppliedPlan && e.Entitlements != nil {
		if err := e.Entitlements.SetPlan(ctx, tenantID, sub.Plan, "billing: subscription "+sub.StripeStatus); err != nil {
			return fmt.Errorf("deliver plan %s to entitlements: %w", sub.Plan, err)
		}
	}
	if sub.Hold != sub.AppliedHold && e.Tenancy != nil {
		reason := "payment overdue past the grace period"
		if err := e.Tenancy.SetHold(ctx, tenantID, sub.Hold, reason); err != nil {
			return fmt.Errorf("deliver hold=%v to tenancy: %w", sub.Hold, err)
		}
	}
	return e.Store.MarkApplied(ctx, tenantID, sub.Plan, sub.Hold)
}

// deliverLogged delivers after a commit; a failure is the reconciler's to retry.
func (e *Engine) deliverLogged(ctx context.Context, tenantID string) {
	if err := e.Deliver(ctx, tenantID); err != nil {
		e.Log.WarnContext(ctx, "billing effect not delivered; the reconciler retries", "tenant_id", tenantID, "err", err)
	}
}

// DeliverOwed retries every owed effect.
func (e *Engine) DeliverOwed(ctx context.Context) error {
	owed, err := e.Store.Owed(ctx, 500)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range owed {
		if err := e.Deliver(ctx, s.TenantID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dunning suspends every past-due tenant whose grace period is over.
func (e *Engine) Dunning(ctx context.Context) (int, error) {
	now := e.Now()
	due, err := e.Store.GraceOver(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		var changed bool
		err := e.Store.Tx(ctx, func(tx *store.Store) error {
			prev, err := tx.LockSubscription(ctx, d.TenantID)
			if err != nil {
				return err
			}
			next, ok := Suspend(prev, now)
			if !ok {
				return nil
			}
			changed = true
			return e.Transition(ctx, tx, prev, next, "dunning", map[string]any{"grace_ended_at": prev.GraceEndsAt})
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
			e.deliverLogged(ctx, d.TenantID)
		}
	}
	return n, nil
}

// Sync re-reads a tenant's subscription from Stripe and applies it (missed webhooks): the
// reconciler and `tenantctl billing sync`. It returns what it repaired.
func (e *Engine) Sync(ctx context.Context, tenantID, customer, actor string) ([]string, error) {
	sub, err := e.Store.Subscription(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var s *stripe.Subscription
	if sub.StripeSubscriptionID != "" {
		s, err = e.Stripe.Subscription(ctx, sub.StripeSubscriptionID)
		if err != nil && !stripeclient.NotFound(err) {
			return nil, err
		}
	}
	// A customer's newer subscription (a checkout whose webhook never came) wins over the
	// stored one.
	if customer != "" {
		list, err := e.Stripe.CustomerSubscriptions(ctx, customer)
		if err != nil {
			return nil, err
		}
		if newest := pickSubscription(list); newest != nil && (s == nil || newest.Created > s.Created) {
			s = newest
		}
	}
	if s == nil {
		return nil, nil
	}
	var repairs []string
	err = e.Store.Tx(ctx, func(tx *store.Store) error {
		prev, err := tx.LockSubscription(ctx, tenantID)
		if err != nil {
			return err
		}
		next := Next(prev, Observe(e.Plans, s), e.Now(), e.Grace)
		if !Changed(prev, next) {
			return nil
		}
		repairs = describe(prev, next)
		return e.Transition(ctx, tx, prev, next, actor, map[string]any{"subscription": s.ID, "repair": true})
	})
	if err != nil {
		return nil, err
	}
	e.deliverLogged(ctx, tenantID)
	return repairs, nil
}

// pickSubscription prefers a live subscription, then the newest.
func pickSubscription(list []*stripe.Subscription) *stripe.Subscription {
	var best *stripe.Subscription
	live := func(s *stripe.Subscription) bool {
		switch s.Status {
		case stripe.SubscriptionStatusCanceled, stripe.SubscriptionStatusIncompleteExpired:
			return false
		}
		return true
	}
	for _, s := range list {
		switch {
		case best == nil:
			best = s
		case live(s) && !live(best):
			best = s
		case live(s) == live(best) && s.Created > best.Created:
			best = s
		}
	}
	return best
}

func describe(prev, next store.Subscription) []string {
	var out []string
	add := func(what, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s %s -> %s", what, a, b))
		}
	}
	add("state", prev.State, next.State)
	add("plan", prev.Plan, next.Plan)
	add("stripe_status", prev.StripeStatus, next.StripeStatus)
	add("seats_paid", fmt.Sprint(prev.SeatsPaid), fmt.Sprint(next.SeatsPaid))
	add("hold", fmt.Sprint(prev.Hold), fmt.Sprint(next.Hold))
	if len(out) == 0 {
		out = append(out, "period or subscription details refreshed")
	}
	return out
}

// SyncSeats sets each debounced tenant's paid seats to its member count (at least one), with
// the configured proration.
func (e *Engine) SyncSeats(ctx context.Context) (int, error) {
	dirty, err := e.Store.SeatsDirty(ctx, e.Now().Add(-e.SeatDebounce), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, d := range dirty {
		changed, err := e.syncSeats(ctx, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", d.TenantID, err))
			continue
		}
		if changed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (e *Engine) syncSeats(ctx context.Context, d store.Subscription) (bool, error) {
	if !d.Live() || d.SeatItemID == "" || d.State == store.StateCanceled || e.Tenancy == nil {
		return false, e.Store.ClearSeatsDirty(ctx, d.TenantID, d.SeatsChanges)
	}
	count, err := e.Tenancy.CountMembers(ctx, d.TenantID)
	if err != nil {
		return false, err
	}
	count = max(count, 1)
	if count == d.SeatsPaid {
		return false, e.Store.ClearSeatsDirty(ctx, d.TenantID, d.SeatsChanges)
	}
	s, err := e.Stripe.UpdateItems(ctx, d.StripeSubscriptionID, []*stripe.SubscriptionItemsParams{
		{ID: stripe.String(d.SeatItemID), Quantity: stripe.Int64(count)},
	}, e.Proration, nil)
	if err != nil {
		return false, err
	}
	err = e.Store.Tx(ctx, func(tx *store.Store) error {
		prev, err := tx.LockSubscription(ctx, d.TenantID)
		if err != nil {
			return err
		}
		next := Next(prev, Observe(e.Plans, s), e.Now(), e.Grace)
		if err := e.Transition(ctx, tx, prev, next, "seats", map[string]any{"members": count, "proration": e.Proration}); err != nil {
			return err
		}
		return tx.ClearSeatsDirty(ctx, d.TenantID, d.SeatsChanges)
	})
	return err == nil, err
}

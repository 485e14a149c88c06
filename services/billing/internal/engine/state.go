package engine

import (
	"time"

	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"github.com/stripe/stripe-go/v76"
)

// Observed is what billing takes from a Stripe subscription. The webhook and the reconciler
// both reduce Stripe's object to it, so they cannot disagree on what a subscription means.
type Observed struct {
	ID                string
	Status            string
	Plan              string
	Seats             int64
	SeatItemID        string
	PeriodStart       time.Time
	PeriodEnd         time.Time
	TrialEnd          time.Time
	CancelAtPeriodEnd bool
}

// Observe reduces a subscription. The plan is the one whose seat price (by lookup key) is on
// the subscription; failing that, the "plan" metadata Checkout wrote.
func Observe(cat *plans.Catalog, s *stripe.Subscription) Observed {
	o := Observed{
		ID: s.ID, Status: string(s.Status), CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		PeriodStart: unix(s.CurrentPeriodStart), PeriodEnd: unix(s.CurrentPeriodEnd), TrialEnd: unix(s.TrialEnd),
	}
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it == nil || it.Price == nil {
				continue
			}
			if p, seat, ok := cat.ByLookupKey(it.Price.LookupKey); ok && seat {
				o.Plan, o.Seats, o.SeatItemID = p.ID, it.Quantity, it.ID
				break
			}
		}
	}
	if o.Plan == "" {
		if p, ok := cat.Get(s.Metadata["plan"]); ok && p.ID != plans.Free {
			o.Plan = p.ID
			if s.Items != nil && len(s.Items.Data) > 0 && s.Items.Data[0] != nil {
				o.Seats, o.SeatItemID = s.Items.Data[0].Quantity, s.Items.Data[0].ID
			}
		}
	}
	return o
}

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Next is the state machine: the stored state prev, moved to what Stripe says now. It is pure
// (now and grace are given), so the dunning timeline is tested with a fake clock.
//
//	trialing -> active -> past_due (grace) -> suspended -> (paid) active, hold lifted
//	any -> canceled: plan free (the period is over when Stripe cancels), hold lifted
func Next(prev store.Subscription, o Observed, now time.Time, grace time.Duration) store.Subscription {
	next := prev
	next.StripeSubscriptionID = o.ID
	next.StripeStatus = o.Status
	next.CancelAtPeriodEnd = o.CancelAtPeriodEnd
	next.PeriodStart, next.PeriodEnd, next.TrialEnd = tp(o.PeriodStart), tp(o.PeriodEnd), tp(o.TrialEnd)
	if o.SeatItemID != "" {
		next.SeatsPaid, next.SeatItemID = o.Seats, o.SeatItemID
	}
	paidPlan := o.Plan
	if paidPlan == "" {
		paidPlan = prev.Plan // an unrecognised price keeps what was known
	}
	clearDunning := func() { next.PastDueSince, next.GraceEndsAt = nil, nil }

	switch stripe.SubscriptionStatus(o.Status) {
	case stripe.SubscriptionStatusTrialing:
		next.State, next.Plan, next.Hold = store.StateTrialing, paidPlan, false
		clearDunning()
	case stripe.SubscriptionStatusActive:
		next.State, next.Plan, next.Hold = store.StateActive, paidPlan, false
		next.PaymentState = "ok"
		clearDunning()
	case stripe.SubscriptionStatusPastDue, stripe.SubscriptionStatusUnpaid:
		next.Plan = paidPlan
		if next.PastDueSince == nil {
			since := now
			next.PastDueSince = &since
			end := since.Add(grace)
			next.GraceEndsAt = &end
		}
		if prev.State == store.StateSuspended || !now.Before(*next.GraceEndsAt) {
			next.State, next.Hold = store.StateSuspended, true
		} else {
			next.State, next.Hold = store.StatePastDue, false
		}
		if next.PaymentState == "ok" || next.PaymentState == "" {
			next.PaymentState = "failed"
		}
	case stripe.SubscriptionStatusCanceled, stripe.SubscriptionStatusIncompleteExpired:
		next.State, next.Plan, next.Hold = store.StateCanceled, plans.Free, false
		next.SeatsPaid = 0
		clearDunning()
	case stripe.SubscriptionStatusIncomplete:
		// Checkout's first payment is not through: nothing is sold yet.
		next.State = store.StateIncomplete
		if prev.State == store.StateNone || prev.State == store.StateCanceled || prev.State == "" {
			next.Plan = plans.Free
		}
	case stripe.SubscriptionStatusPaused:
		// A trial ended without a payment method: the paid plan stops.
		next.State, next.Plan, next.Hold = store.StateCanceled, plans.Free, false
		clearDunning()
	}
	return next
}

// Suspend is the dunning step: a past-due tenant whose grace ended becomes suspended.
func Suspend(prev store.Subscription, now time.Time) (store.Subscription, bool) {
	if prev.State != store.StatePastDue || prev.GraceEndsAt == nil || now.Before(*prev.GraceEndsAt) {
		return prev, false
	}
	next := prev
	next.State, next.Hold = store.StateSuspended, true
	return next, true
}

// GraceDaysLeft rounds up: "1 day left" until the last second.
func GraceDaysLeft(s store.Subscription, now time.Time) int32 {
	if s.State != store.StatePastDue || s.GraceEndsAt == nil || !now.Before(*s.GraceEndsAt) {
		return 0
	}
	left := s.GraceEndsAt.Sub(now)
	return int32((left + 24*time.Hour - 1) / (24 * time.Hour))
}

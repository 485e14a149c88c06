// Package plans maps Atrium's plans to Stripe prices. Prices are named by lookup key, not id,
// so the same configuration works in test mode, live mode and against stripe-mock, and a
// price can be replaced in Stripe (transfer_lookup_key) without a deploy.
package plans

import (
	"fmt"
	"slices"
)

// Seat policies: what inviting past the paid seats does.
const (
	SeatsAdd    = "add"    // add a seat to the subscription (prorated)
	SeatsRefuse = "refuse" // refuse the invitation naming the limit
)

// Free is the plan of a tenant without a subscription.
const Free = "free"

// Plan is one sellable plan.
type Plan struct {
	ID          string
	DisplayName string
	// SeatLookupKey is the per-seat licensed price; MeteredLookupKey the metered add-on
	// (API requests beyond the allowance) whose price is attached to Meter.
	SeatLookupKey    string
	MeteredLookupKey string
	// Meter is the Billing Meter's event name.
	Meter string
	// IncludedRequests per calendar month before usage is metered; -1 unlimited.
	IncludedRequests int64
	SeatPolicy       string
	SelfServe        bool
	// For the comparison table, until Stripe's prices are read (amounts in cents).
	SeatUnitAmount    int64
	OverageUnitAmount int64
	Currency          string
	Interval          string
	Features          []string
}

// Catalog is the configured plans, free first.
type Catalog struct{ plans []Plan }

// DefaultMeter is the Billing Meter event name of API requests.
const DefaultMeter = "atrium_api_requests"

// Defaults are the plans when the configuration names none.
func Defaults() []Plan {
	return []Plan{
		{ID: Free, DisplayName: "Free", IncludedRequests: 100_000, Currency: "usd",
			Features: []string{"Up to 5 members", "Catalog (2,000 entities)", "Community support"}},
		{ID: "team", DisplayName: "Team", SeatLookupKey: "atrium_team_seat", MeteredLookupKey: "atrium_team_api_requests",
			Meter: DefaultMeter, IncludedRequests: 1_000_000, SeatPolicy: SeatsAdd, SelfServe: true,
			SeatUnitAmount: 1500, OverageUnitAmount: 10, Currency: "usd", Interval: "month",
			Features: []string{"Unlimited members (per seat)", "Catalog sources from Git", "Search, Scorecards", "Insights"}},
		{ID: "enterprise", DisplayName: "Enterprise", SeatLookupKey: "atrium_enterprise_seat",
			MeteredLookupKey: "atrium_enterprise_api_requests", Meter: DefaultMeter, IncludedRequests: 10_000_000,
			SeatPolicy: SeatsRefuse, SelfServe: true, SeatUnitAmount: 4000, OverageUnitAmount: 5, Currency: "usd",
			Interval: "month", Features: []string{"Everything in Team", "Assistant, Feature flags", "SSO, audit export", "Priority support"}},
	}
}

// New checks plans and returns the catalog. A free plan is added when missing.
func New(ps []Plan) (*Catalog, error) {
	if len(ps) == 0 {
		ps = Defaults()
	}
	seen := map[string]bool{}
	keys := map[string]string{}
	var out []Plan
	for _, p := range ps {
		if p.ID == "" || seen[p.ID] {
			return nil, fmt.Errorf("plans: empty or repeated plan id %q", p.ID)
		}
		seen[p.ID] = true
		if p.ID != Free {
			if p.SeatLookupKey == "" {
				return nil, fmt.Errorf("plans: plan %q has no seat price lookup key", p.ID)
			}
			for _, k := range []string{p.SeatLookupKey, p.MeteredLookupKey} {
				if k == "" {
					continue
				}
				if other, dup := keys[k]; dup {
					return nil, fmt.Errorf("plans: lookup key %q used by %q and %q", k, other, p.ID)
				}
				keys[k] = p.ID
			}
			if p.SeatPolicy == "" {
				p.SeatPolicy = SeatsAdd
			}
			if p.SeatPolicy != SeatsAdd && p.SeatPolicy != SeatsRefuse {
				return nil, fmt.Errorf("plans: plan %q: seat policy %q (want add or refuse)", p.ID, p.SeatPolicy)
			}
		}
		out = append(out, p)
	}
	if !seen[Free] {
		out = append([]Plan{{ID: Free, DisplayName: "Free", IncludedRequests: -1}}, out...)
	}
	slices.SortStableFunc(out, func(a, b Plan) int {
		switch {
		case a.ID == Free:
			return -1
		case b.ID == Free:
			return 1
		}
		return 0
	})
	return &Catalog{plans: out}, nil
}

// All returns the plans, free first.
func (c *Catalog) All() []Plan { return slices.Clone(c.plans) }

// Get returns a plan by id.
func (c *Catalog) Get(id string) (Plan, bool) {
	for _, p := range c.plans {
		if p.ID == id {
			return p, true
		}
	}
	return Plan{}, false
}

// ByLookupKey returns the plan a price belongs to and whether it is its seat price.
func (c *Catalog) ByLookupKey(key string) (p Plan, seat bool, ok bool) {
	if key == "" {
		return Plan{}, false, false
	}
	for _, p := range c.plans {
		if p.SeatLookupKey == key {
			return p, true, true
		}
		if p.MeteredLookupKey == key {
			return p, false, true
		}
	}
	return Plan{}, false, false
}

// LookupKeys lists every configured price lookup key.
func (c *Catalog) LookupKeys() []string {
	var out []string
	for _, p := range c.plans {
		for _, k := range []string{p.SeatLookupKey, p.MeteredLookupKey} {
			if k != "" {
				out = append(out, k)
			}
		}
	}
	return out
}

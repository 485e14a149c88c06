// Package plans defines Atrium's plans: which plugins each includes and its limits. Like the
// registry, plans are code, so a price-sheet change is a reviewed commit.
package plans

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Limit names, the keys of every limits map (the proto documents the same strings).
const (
	Seats                 = "seats"
	CatalogEntities       = "catalog_entities"
	APIRequestsPerMinute  = "api_requests_per_minute"
	UsageEventsPerMonth   = "usage_events_per_month"
	InsightsRetentionDays = "insights_retention_days"
)

// Unlimited is the limit value that means no limit.
const Unlimited int64 = -1

// LimitNames lists every limit, in display order.
var LimitNames = []string{Seats, CatalogEntities, APIRequestsPerMinute, UsageEventsPerMonth, InsightsRetentionDays}

// ValidLimit reports whether name is a known limit.
func ValidLimit(name string) bool { return slices.Contains(LimitNames, name) }

// Plan ids.
const (
	Free       = "free"
	Team       = "team"
	Enterprise = "enterprise"
)

// Plan is one plan.
type Plan struct {
	ID   string
	Name string
	// Rank orders plans: moving to a lower rank is a downgrade.
	Rank int
	// Plugins the plan entitles a tenant to.
	Plugins []string
	// DefaultInstalled are installed when a tenant starts on the plan (the free plugins, so a
	// new portal works before anyone visits the marketplace).
	DefaultInstalled []string
	Limits           map[string]int64
}

// Includes reports whether the plan entitles a tenant to plugin.
func (p *Plan) Includes(plugin string) bool { return slices.Contains(p.Plugins, plugin) }

var all = []*Plan{
	{
		ID: Free, Name: "Free", Rank: 0,
		Plugins:          []string{"catalog", "catalog-sources", "search"},
		DefaultInstalled: []string{"catalog", "catalog-sources", "search"},
		Limits: map[string]int64{
			Seats:                 5,
			CatalogEntities:       10_000,
			APIRequestsPerMinute:  6_000,
			UsageEventsPerMonth:   100_000,
			InsightsRetentionDays: 7,
		},
	},
	{
		ID: Team, Name: "Team", Rank: 1,
		Plugins:          []string{"catalog", "catalog-sources", "search", "insights", "scorecards"},
		DefaultInstalled: []string{"catalog", "catalog-sources", "search"},
		Limits: map[string]int64{
			Seats:                 50,
			CatalogEntities:       100_000,
			APIRequestsPerMinute:  30_000,
			UsageEventsPerMonth:   5_000_000,
			InsightsRetentionDays: 90,
		},
	},
	{
		ID: Enterprise, Name: "Enterprise", Rank: 2,
		Plugins:          []string{"catalog", "catalog-sources", "search", "insights", "scorecards", "assistant", "feature-flags"},
		DefaultInstalled: []string{"catalog", "catalog-sources", "search"},
		Limits: map[string]int64{
			Seats: Unlimited,
			// The catalog's former hard-coded cap: one tenant's entities stay within what one
			// shard serves at the benchmarked latencies.
			CatalogEntities:       200_000,
			APIRequestsPerMinute:  120_000,
			UsageEventsPerMonth:   Unlimited,
			InsightsRetentionDays: 730,
		},
	},
}

// Get returns a plan by id.
func Get(id string) (*Plan, bool) {
	for _, p := range all {
		if p.ID == id {
			return p, true
		}
	}
	return nil, false
}

// All returns every plan by rank.
func All() []*Plan {
	out := slices.Clone(all)
	sort.Slice(out, func(i, j int) bool { return out[i].Rank < out[j].Rank })
	return out
}

// IDs lists the plan ids by rank.
func IDs() []string {
	var out []string
	for _, p := range All() {
		out = append(out, p.ID)
	}
	return out
}

// Cheapest returns the lowest-ranked plan that includes plugin, or nil.
func Cheapest(plugin string) *Plan {
	for _, p := range All() {
		if p.Includes(plugin) {
			return p
		}
	}
	return nil
}

// Within reports whether current+increment fits limit (Unlimited always fits). Growth is
// what limits refuse: a tenant already over a lowered limit keeps what it has.
func Within(limit, current, increment int64) bool {
	if limit == Unlimited || increment <= 0 {
		return true
	}
	return current+increment <= limit
}

// Describe renders a limit value for messages.
func Describe(v int64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// CurrentUse is a reported usage as of now. Request rate and monthly events count within a
// window (the UTC minute, the UTC month): a value reported in an earlier window says nothing
// about this one, whose use is 0 until the enforcing service reports again (it reports only
// while there is use). Other limits are levels and stay as reported.
func CurrentUse(name string, used int64, reportedAt, now time.Time) int64 {
	reportedAt, now = reportedAt.UTC(), now.UTC()
	switch name {
	case APIRequestsPerMinute:
		if !reportedAt.Truncate(time.Minute).Equal(now.Truncate(time.Minute)) {
			return 0
		}
	case UsageEventsPerMonth:
		if reportedAt.Year() != now.Year() || reportedAt.Month() != now.Month() {
			return 0
		}
	}
	return used
}

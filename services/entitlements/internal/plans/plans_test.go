package plans

import (
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	tests := []struct {
		limit, current, inc int64
		want                bool
	}{
		{5, 4, 1, true},
		{5, 5, 1, false},
		{5, 9, 0, true},  // over a lowered limit: nothing is taken away
		{5, 9, -1, true}, // shrinking is always allowed
		{Unlimited, 1 << 40, 1, true},
		{0, 0, 1, false},
	}
	for _, tt := range tests {
		if got := Within(tt.limit, tt.current, tt.inc); got != tt.want {
			t.Errorf("Within(%d, %d, %d) = %v", tt.limit, tt.current, tt.inc, got)
		}
	}
}

func TestPlansRankAndGrow(t *testing.T) {
	all := All()
	for i := 1; i < len(all); i++ {
		lo, hi := all[i-1], all[i]
		for _, p := range lo.Plugins {
			if !hi.Includes(p) {
				t.Errorf("%s includes %s but %s does not: an upgrade would lose it", lo.ID, p, hi.ID)
			}
		}
		for _, name := range LimitNames {
			l, h := lo.Limits[name], hi.Limits[name]
			if h != Unlimited && (l == Unlimited || h < l) {
				t.Errorf("%s: %s %d is below %s's %d", name, hi.ID, h, lo.ID, l)
			}
		}
	}
}

func TestCurrentUse(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 30, 20, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		limit    string
		reported time.Time
		want     int64
	}{
		{"requests this minute", APIRequestsPerMinute, now.Add(-15 * time.Second), 42},
		{"requests of the minute before", APIRequestsPerMinute, now.Add(-25 * time.Second), 0},
		{"events this month", UsageEventsPerMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 42},
		{"events of last month", UsageEventsPerMonth, time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC), 0},
		{"events of this month a year ago", UsageEventsPerMonth, now.AddDate(-1, 0, 0), 0},
		{"entities are a level", CatalogEntities, now.AddDate(0, -3, 0), 42},
		{"seats are a level", Seats, now.AddDate(-1, 0, 0), 42},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := CurrentUse(tt.limit, 42, tt.reported, now); got != tt.want {
				t.Fatalf("CurrentUse = %d, want %d", got, tt.want)
			}
		})
	}
}

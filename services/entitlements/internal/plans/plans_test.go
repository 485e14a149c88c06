package plans

import "testing"

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

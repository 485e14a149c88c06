package registry

import (
	"slices"
	"strings"
	"testing"

	"atrium.dev/services/entitlements/internal/plans"
)

func TestDefaultRegistry(t *testing.T) {
	r := Default()
	want := []string{"assistant", "catalog", "catalog-sources", "feature-flags", "insights", "scorecards", "search"}
	if got := r.IDs(); !slices.Equal(got, want) {
		t.Fatalf("ids = %v, want %v", got, want)
	}
	for _, p := range r.All() {
		// RequiredPlan must be what the plans say, or the marketplace would tell admins to buy
		// a plan that does not unlock the plugin.
		if c := plans.Cheapest(p.ID); c == nil || c.ID != p.RequiredPlan {
			t.Errorf("%s: RequiredPlan %q, cheapest plan including it %v", p.ID, p.RequiredPlan, c)
		}
		if p.ConfigSchema != "" {
			if errs, err := p.ValidateConfig(p.Defaults()); err != nil || len(errs) > 0 {
				t.Errorf("%s: defaults fail its own schema: %v %v", p.ID, errs, err)
			}
		}
		if p.Tier == TierPremium && p.RequiredPlan == plans.Free {
			t.Errorf("%s: premium but on the free plan", p.ID)
		}
	}
	for _, p := range plans.All() {
		for _, id := range p.Plugins {
			if _, ok := r.Get(id); !ok {
				t.Errorf("plan %s includes unknown plugin %s", p.ID, id)
			}
		}
		// A plan must include the dependencies of what it includes.
		closure, err := r.Closure(p.Plugins)
		if err != nil || !slices.Equal(closure, sorted(p.Plugins)) {
			t.Errorf("plan %s: plugins %v, with dependencies %v (%v)", p.ID, p.Plugins, closure, err)
		}
		for _, name := range plans.LimitNames {
			if _, ok := p.Limits[name]; !ok {
				t.Errorf("plan %s has no limit %s", p.ID, name)
			}
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestValidateConfig(t *testing.T) {
	r := Default()
	tests := []struct {
		plugin string
		config map[string]any
		want   []string // "pointer: message fragment"
	}{
		{"insights", map[string]any{"retention_days": 30}, nil},
		{"insights", map[string]any{"retention_days": 0}, []string{"/retention_days: minimum"}},
		{"insights", map[string]any{"retention_days": 1.5}, []string{"/retention_days: integer"}},
		{"insights", map[string]any{"colour": "red"}, []string{": additional"}},
		{"insights", map[string]any{"exclude_paths": []any{"/ok", "bad"}}, []string{"/exclude_paths/1: "}},
		{"scorecards", map[string]any{}, []string{"/checks: missing property"}},
		{"scorecards", map[string]any{"checks": []any{map[string]any{"id": "has-owner"}}}, []string{"/checks/0/weight: missing"}},
		{"scorecards", map[string]any{"checks": []any{map[string]any{"id": "x", "weight": 500}}}, []string{"/checks/0/weight: maximum"}},
		{"assistant", map[string]any{"model": "huge"}, []string{"/model: "}},
		{"catalog", map[string]any{}, nil},
		{"catalog", map[string]any{"x": 1}, []string{": takes no configuration"}},
		{"catalog-sources", map[string]any{"allowed_hosts": []any{"github.com", "git.example.com:8443"}}, nil},
		{"catalog-sources", map[string]any{"allowed_hosts": []any{"https://github.com"}}, []string{"/allowed_hosts/0: "}},
	}
	for _, tt := range tests {
		p, _ := r.Get(tt.plugin)
		errs, err := p.ValidateConfig(tt.config)
		if err != nil {
			t.Fatalf("%s %v: %v", tt.plugin, tt.config, err)
		}
		var got []string
		for _, e := range errs {
			got = append(got, e.Pointer+": "+e.Message)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s %v: errors %q, want %q", tt.plugin, tt.config, got, tt.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], strings.SplitN(tt.want[i], ": ", 2)[0]+": ") || !strings.Contains(got[i], strings.SplitN(tt.want[i], ": ", 2)[1]) {
				t.Errorf("%s %v: error %q, want %q", tt.plugin, tt.config, got[i], tt.want[i])
			}
		}
	}
}

func TestNewRejectsBadRegistries(t *testing.T) {
	tests := []struct {
		name    string
		plugins []Plugin
		want    string
	}{
		{"duplicate", []Plugin{{ID: "a"}, {ID: "a"}}, "defined twice"},
		{"unknown dependency", []Plugin{{ID: "a", Dependencies: []string{"b"}}}, "unknown plugin"},
		{"cycle", []Plugin{{ID: "a", Dependencies: []string{"b"}}, {ID: "b", Dependencies: []string{"a"}}}, "cycle"},
		{"bad schema", []Plugin{{ID: "a", ConfigSchema: `{"type": 12}`}}, "schema"},
	}
	for _, tt := range tests {
		if _, err := New(tt.plugins); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

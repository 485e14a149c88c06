package service

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/entitlements/internal/registry"
	"atrium.dev/services/entitlements/internal/store"
)

type recorder struct{ n atomic.Int64 }

func (r *recorder) Changed(context.Context, string, int64) { r.n.Add(1) }

func newEngine(t *testing.T, policy NewTenantPolicy) (*Engine, *recorder, *time.Time) {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.New(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	now := time.Now().UTC()
	pub := &recorder{}
	return NewEngine(st, registry.Default(), pub, func() time.Time { return now }, policy, slog.Default()), pub, &now
}

func TestIdempotentChangesCostNothing(t *testing.T) {
	e, pub, _ := newEngine(t, NewTenantPolicy{})
	ctx := context.Background()
	if err := e.Provision(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Provision(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		do      func() (*changeResult, error)
		changed bool
	}{
		{"set team", func() (*changeResult, error) { return e.SetPlan(ctx, "t1", "test", "team", nil, "") }, true},
		{"set team again", func() (*changeResult, error) { return e.SetPlan(ctx, "t1", "test", "team", nil, "") }, false},
		{"install", func() (*changeResult, error) { return e.Install(ctx, "t1", "test", "insights", nil) }, true},
		{"install again", func() (*changeResult, error) { return e.Install(ctx, "t1", "test", "insights", nil) }, false},
		{"same config", func() (*changeResult, error) {
			return e.Install(ctx, "t1", "test", "insights", map[string]any{"track_page_views": true, "exclude_paths": []any{}, "retention_days": float64(90)})
		}, false},
		{"uninstall", func() (*changeResult, error) { return e.Uninstall(ctx, "t1", "test", "insights") }, true},
		{"uninstall again", func() (*changeResult, error) { return e.Uninstall(ctx, "t1", "test", "insights") }, false},
		{"clear absent override", func() (*changeResult, error) { return e.SetLimitOverride(ctx, "t1", "test", "seats", 0, true, "") }, false},
		{"override", func() (*changeResult, error) { return e.SetLimitOverride(ctx, "t1", "test", "seats", 2, false, "") }, true},
	}
	published := pub.n.Load() // the first Provision
	for _, s := range steps {
		res, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.changed != s.changed {
			t.Fatalf("%s: changed = %v, want %v", s.name, res.changed, s.changed)
		}
		if s.changed {
			published++
		}
		if got := pub.n.Load(); got != published {
			t.Fatalf("%s: %d messages published, want %d", s.name, got, published)
		}
	}
}

func TestCheckLimit(t *testing.T) {
	e, _, _ := newEngine(t, NewTenantPolicy{})
	ctx := context.Background()
	if _, err := e.SetLimitOverride(ctx, "t1", "test", "seats", 3, false, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit         string
		current, inc  int64
		allowed       bool
		wantInvalid   bool
		wantLimitSeen int64
	}{
		{"seats", 2, 1, true, false, 3},
		{"seats", 3, 1, false, false, 3},
		{"seats", 7, 0, true, false, 3},
		{"catalog_entities", 9_999, 1, true, false, 10_000},
		{"bogus", 0, 1, false, true, 0},
	}
	for _, tt := range tests {
		res, err := e.CheckLimit(ctx, "t1", tt.limit, tt.current, tt.inc)
		if tt.wantInvalid {
			if rpcerr.KindOf(err) != rpcerr.KindInvalid {
				t.Errorf("%s: err = %v, want invalid", tt.limit, err)
			}
			continue
		}
		if err != nil || res.GetAllowed() != tt.allowed || res.GetLimitValue() != tt.wantLimitSeen {
			t.Errorf("%s %d+%d: %v, %v", tt.limit, tt.current, tt.inc, res, err)
		}
		if !tt.allowed && res.GetReason() == "" {
			t.Errorf("%s: refused without a reason", tt.limit)
		}
	}
	ent, err := e.entitlements(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ent.GetLimits() {
		if l.GetName() == "seats" && (!l.GetUsedKnown() || l.GetUsed() != 7) {
			t.Fatalf("seats usage = %v", l)
		}
	}
}

func TestTeamTrialEndsOnFree(t *testing.T) {
	e, _, now := newEngine(t, NewTenantPolicy{Plan: "team", TrialDays: 14})
	ctx := context.Background()
	if err := e.Provision(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Install(ctx, "t1", "test", "insights", nil); err != nil {
		t.Fatal(err)
	}
	v, _ := e.View(ctx, "t1")
	if s := v.snapshot(); s.GetPlan() != "team" || s.GetTrialEndsAt() == nil || !slices.Contains(s.GetInstalledPlugins(), "insights") {
		t.Fatalf("during trial: %v", s)
	}
	*now = now.Add(15 * 24 * time.Hour)
	// Enforced at once, before the sweep records it.
	v, _ = e.View(ctx, "t1")
	if s := v.snapshot(); s.GetPlan() != "free" || slices.Contains(s.GetInstalledPlugins(), "insights") {
		t.Fatalf("after trial, before sweep: %v", s)
	}
	if n, err := e.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if n, err := e.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v", n, err)
	}
	v, _ = e.View(ctx, "t1")
	if u := v.unavailable("insights"); u.GetMessage() != "trial expired" {
		t.Fatalf("insights after trial = %v", u)
	}
}

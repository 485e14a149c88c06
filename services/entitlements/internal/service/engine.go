// Package service implements the entitlements API: the tenant's marketplace (PluginService),
// the operator's controls (EntitlementsOperatorService), the internal snapshot/limit API and
// ProvisioningService. Every change goes through Engine.change: one transaction that locks the
// tenant, applies the change, uninstalls what is no longer entitled, bumps the version, writes
// the audit entry, and after commit publishes atrium:entitlements-changed.
package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/entitlements/internal/plans"
	"atrium.dev/services/entitlements/internal/registry"
	"atrium.dev/services/entitlements/internal/store"
)

// Publisher announces that a tenant's entitlements changed.
type Publisher interface {
	Changed(ctx context.Context, tenantID string, version int64)
}

// NewTenantPolicy is what a tenant starts with.
type NewTenantPolicy struct {
	// Plan is free or team; with TrialDays > 0 a plan other than free is a trial.
	Plan      string
	TrialDays int
}

// Engine holds the logic shared by every handler.
type Engine struct {
	st     *store.Store
	reg    *registry.Registry
	pub    Publisher
	now    func() time.Time
	log    *slog.Logger
	policy NewTenantPolicy
}

// NewEngine builds the engine. now is the clock (tests move it to expire trials).
func NewEngine(st *store.Store, reg *registry.Registry, pub Publisher, now func() time.Time, policy NewTenantPolicy, log *slog.Logger) *Engine {
	if policy.Plan == "" {
		policy.Plan = plans.Free
	}
	return &Engine{st: st, reg: reg, pub: pub, now: now, log: log, policy: policy}
}

// existing is the state a tenant without a row is treated as having: the free plan with its
// default installs. Tenants created before entitlements existed, or while it was down, start
// there; only Provision gives the configured trial.
func existing() store.NewTenant {
	p, _ := plans.Get(plans.Free)
	return store.NewTenant{Plan: p.ID, Installed: p.DefaultInstalled}
}

// View evaluates a tenant's entitlements now, without locking.
func (e *Engine) View(ctx context.Context, tenantID string) (*view, error) {
	st, err := e.st.Load(ctx, tenantID, existing())
	if err != nil {
		return nil, err
	}
	return evaluate(e.reg, st, e.now()), nil
}

// mutation changes a locked tenant's state (through tx) and says what it did. It returns
// changed=false for a no-op, which then writes nothing (idempotent calls cost no version).
type mutation func(ctx context.Context, tx *store.Store, st *store.State, v *view) (m outcome, err error)

type outcome struct {
	changed bool
	action  string
	reason  string
}

// changeResult is what a change leaves behind.
type changeResult struct {
	view        *view
	uninstalled []string
	changed     bool
}

// change runs fn on the tenant under its row lock, then reconciles installs with
// entitlements, bumps the version and audits, all in one transaction; it publishes after
// commit.
func (e *Engine) change(ctx context.Context, tenantID, actor string, fn mutation) (*changeResult, error) {
	var res changeResult
	err := e.st.Tx(ctx, func(tx *store.Store) error {
		res = changeResult{}
		st, err := tx.Lock(ctx, tenantID, existing())
		if err != nil {
			return err
		}
		now := e.now()
		before := evaluate(e.reg, st, now)
		beforeSummary := before.summary()
		out, err := fn(ctx, tx, st, before)
		if err != nil {
			return err
		}
		// Trials that ended are recorded as such whatever the change was, so the plan shown
		// and the plan stored agree from here on.
		if te := st.Tenant.TrialEndsAt; te != nil && !now.Before(*te) {
			st.Tenant.ExpiredTrial = st.Tenant.Plan
			st.Tenant.Plan, st.Tenant.TrialEndsAt = plans.Free, nil
			out.changed = true
		}
		after := evaluate(e.reg, st, now)
		// Whatever is marked installed but no longer counts as installed (entitlement gone, a
		// dependency gone) is uninstalled, keeping its config.
		for _, id := range e.reg.IDs() {
			in := st.Installs[id]
			if in == nil || !in.Installed || after.installed[id] {
				continue
			}
			in.Installed = false
			t := now
			in.UninstalledAt = &t
			if err := tx.SaveInstall(ctx, tenantID, in); err != nil {
				return err
			}
			res.uninstalled = append(res.uninstalled, id)
			out.changed = true
		}
		if !out.changed {
			res.view = after
			return nil
		}
		st.Tenant.Version++
		if err := tx.SaveTenant(ctx, st.Tenant); err != nil {
			return err
		}
		after = evaluate(e.reg, st, now)
		afterSummary := after.summary()
		if len(res.uninstalled) > 0 {
			afterSummary["uninstalled"] = res.uninstalled
		}
		if err := tx.Audit(ctx, store.AuditEntry{
			TenantID: tenantID, Actor: actor, Action: out.action, Reason: out.reason,
			Before: mustJSON(beforeSummary), After: mustJSON(afterSummary),
		}); err != nil {
			return err
		}
		res.view, res.changed = after, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.changed {
		e.pub.Changed(ctx, tenantID, res.view.st.Tenant.Version)
	}
	return &res, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// lookupPlugin returns a registry plugin or InvalidArgument naming field.
func (e *Engine) lookupPlugin(field, id string) (*registry.Plugin, error) {
	if id == "" {
		return nil, rpcerr.InvalidField(field, "must name a plugin")
	}
	pl, ok := e.reg.Get(id)
	if !ok {
		return nil, rpcerr.InvalidField(field, "unknown plugin; one of "+joinWords(e.reg.IDs()))
	}
	return pl, nil
}

// validateConfig checks cfg against pl's schema; failures are field violations named
// "config" + the failing value's JSON pointer.
func (e *Engine) validateConfig(pl *registry.Plugin, cfg map[string]any) error {
	errs, err := pl.ValidateConfig(cfg)
	if err != nil {
		return err
	}
	var vs rpcerr.Violations
	for _, ce := range errs {
		vs.Add("config"+ce.Pointer, ce.Message)
	}
	return vs.Err()
}

// Install installs an entitled plugin. cfg nil keeps the stored config (or the defaults).
func (e *Engine) Install(ctx context.Context, tenantID, actor, plugin string, cfg map[string]any) (*changeResult, error) {
	pl, err := e.lookupPlugin("plugin", plugin)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		if err := e.validateConfig(pl, cfg); err != nil {
			return nil, err
		}
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		if u := v.unavailable(plugin); u != nil && u.GetState() == entv1.PluginState_PLUGIN_STATE_LOCKED {
			if u.GetReason() == entv1.LockReason_LOCK_REASON_REQUIRES_PLUGIN {
				return outcome{}, rpcerr.FailedPrecondition("plugin %s requires plugin %s: install it first", plugin, joinWords(u.GetUnlock().GetPlugins()))
			}
			return outcome{}, rpcerr.FailedPrecondition("plugin %s is locked: %s", plugin, u.GetMessage())
		}
		in := st.Installs[plugin]
		if in == nil {
			in = &store.Install{Plugin: plugin, Config: pl.Defaults()}
		}
		if v.installed[plugin] && (cfg == nil || jsonEqual(cfg, in.Config)) {
			return outcome{}, nil
		}
		if cfg != nil {
			in.Config = cfg
		} else if err := e.validateConfig(pl, in.Config); err != nil {
			// A stored config from an older schema must be fixed before the plugin runs on it.
			return outcome{}, err
		}
		action := "plugin.config"
		if !in.Installed {
			action = "plugin.install"
			t := e.now()
			in.Installed, in.InstalledAt, in.UninstalledAt = true, &t, nil
		}
		st.Installs[plugin] = in
		if err := tx.SaveInstall(ctx, st.Tenant.TenantID, in); err != nil {
			return outcome{}, err
		}
		return outcome{changed: true, action: action, reason: plugin}, nil
	})
}

// Uninstall uninstalls a plugin, keeping its config and data.
func (e *Engine) Uninstall(ctx context.Context, tenantID, actor, plugin string) (*changeResult, error) {
	pl, err := e.lookupPlugin("plugin", plugin)
	if err != nil {
		return nil, err
	}
	if pl.AlwaysOn {
		return nil, rpcerr.FailedPrecondition("plugin %s is always installed", plugin)
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		in := st.Installs[plugin]
		if in == nil || !in.Installed {
			return outcome{}, nil
		}
		if deps := e.reg.Dependents(plugin, v.installedList()); len(deps) > 0 {
			return outcome{}, rpcerr.FailedPrecondition("plugin %s is needed by installed plugin %s: uninstall it first", plugin, joinWords(deps))
		}
		t := e.now()
		in.Installed, in.UninstalledAt = false, &t
		if err := tx.SaveInstall(ctx, st.Tenant.TenantID, in); err != nil {
			return outcome{}, err
		}
		return outcome{changed: true, action: "plugin.uninstall", reason: plugin}, nil
	})
}

// UpdateConfig replaces an installed plugin's config.
func (e *Engine) UpdateConfig(ctx context.Context, tenantID, actor, plugin string, cfg map[string]any) (*changeResult, error) {
	pl, err := e.lookupPlugin("plugin", plugin)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := e.validateConfig(pl, cfg); err != nil {
		return nil, err
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		in := st.Installs[plugin]
		if !v.installed[plugin] || in == nil {
			if pl.AlwaysOn && in == nil {
				in = &store.Install{Plugin: plugin, Installed: true}
			} else {
				return outcome{}, rpcerr.FailedPrecondition("plugin %s is not installed", plugin)
			}
		}
		if jsonEqual(cfg, in.Config) {
			return outcome{}, nil
		}
		in.Config = cfg
		st.Installs[plugin] = in
		if err := tx.SaveInstall(ctx, st.Tenant.TenantID, in); err != nil {
			return outcome{}, err
		}
		return outcome{changed: true, action: "plugin.config", reason: plugin}, nil
	})
}

// SetPlan moves the tenant to plan; trialEnds set makes it a trial. A downgrade uninstalls
// what the new plan does not entitle (change reports which).
func (e *Engine) SetPlan(ctx context.Context, tenantID, actor, plan string, trialEnds *time.Time, reason string) (*changeResult, error) {
	if _, ok := plans.Get(plan); !ok {
		return nil, rpcerr.InvalidField("plan", "unknown plan; one of "+joinWords(plans.IDs()))
	}
	if trialEnds != nil && !trialEnds.After(e.now()) {
		return nil, rpcerr.InvalidField("trial_ends_at", "must be in the future")
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		t := &st.Tenant
		if t.Plan == plan && timeEqual(t.TrialEndsAt, trialEnds) && v.expiredTrial == "" {
			return outcome{}, nil
		}
		t.Plan, t.TrialEndsAt, t.ExpiredTrial = plan, trialEnds, ""
		return outcome{changed: true, action: "plan.set", reason: reason}, nil
	})
}

// Grant entitles the tenant to plugin until expires (nil: no expiry).
func (e *Engine) Grant(ctx context.Context, tenantID, actor, plugin string, expires *time.Time, reason string) (*changeResult, error) {
	if _, err := e.lookupPlugin("plugin", plugin); err != nil {
		return nil, err
	}
	if expires != nil && !expires.After(e.now()) {
		return nil, rpcerr.InvalidField("expire_time", "must be in the future")
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		g := &store.Grant{Plugin: plugin, ExpiresAt: expires, Reason: reason, Actor: actor, CreatedAt: e.now().UTC().Truncate(time.Second)}
		st.Grants[plugin] = g
		if err := tx.SaveGrant(ctx, st.Tenant.TenantID, g); err != nil {
			return outcome{}, err
		}
		return outcome{changed: true, action: "grant.create", reason: reason}, nil
	})
}

// RevokeGrant removes a grant; the plugin is uninstalled unless the plan includes it.
func (e *Engine) RevokeGrant(ctx context.Context, tenantID, actor, plugin, reason string) (*changeResult, error) {
	if _, err := e.lookupPlugin("plugin", plugin); err != nil {
		return nil, err
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		ok, err := tx.DeleteGrant(ctx, st.Tenant.TenantID, plugin)
		if err != nil || !ok {
			return outcome{}, err
		}
		delete(st.Grants, plugin)
		return outcome{changed: true, action: "grant.revoke", reason: reason}, nil
	})
}

// SetLimitOverride sets or clears one limit's override.
func (e *Engine) SetLimitOverride(ctx context.Context, tenantID, actor, limit string, value int64, clear bool, reason string) (*changeResult, error) {
	if !plans.ValidLimit(limit) {
		return nil, rpcerr.InvalidField("limit", "unknown limit; one of "+joinWords(plans.LimitNames))
	}
	if !clear && value < plans.Unlimited {
		return nil, rpcerr.InvalidField("value", "must be -1 (unlimited) or more")
	}
	return e.change(ctx, tenantID, actor, func(ctx context.Context, tx *store.Store, st *store.State, v *view) (outcome, error) {
		cur, had := st.Overrides[limit]
		if (clear && !had) || (!clear && had && cur == value) {
			return outcome{}, nil
		}
		if err := tx.SetOverride(ctx, st.Tenant.TenantID, limit, value, clear); err != nil {
			return outcome{}, err
		}
		if clear {
			delete(st.Overrides, limit)
		} else {
			st.Overrides[limit] = value
		}
		return outcome{changed: true, action: "limit.override", reason: reason}, nil
	})
}

// Provision gives a new tenant its starting plan; a tenant that has a row keeps it.
func (e *Engine) Provision(ctx context.Context, tenantID string) error {
	p, _ := plans.Get(e.policy.Plan)
	nt := store.NewTenant{Plan: p.ID, Installed: p.DefaultInstalled}
	if p.ID != plans.Free && e.policy.TrialDays > 0 {
		t := e.now().Add(time.Duration(e.policy.TrialDays) * 24 * time.Hour).UTC()
		nt.TrialEndsAt = &t
	}
	var created bool
	err := e.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		if created, err = tx.Create(ctx, tenantID, nt); err != nil || !created {
			return err
		}
		st, err := tx.Load(ctx, tenantID, nt)
		if err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{
			TenantID: tenantID, Actor: "system", Action: "tenant.provision",
			After: mustJSON(evaluate(e.reg, st, e.now()).summary()),
		})
	})
	if err == nil && created {
		e.pub.Changed(ctx, tenantID, 1)
	}
	return err
}

// Deprovision forgets a deleted tenant's entitlements (the audit log stays).
func (e *Engine) Deprovision(ctx context.Context, tenantID string) error {
	var deleted bool
	err := e.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		if deleted, err = tx.DeleteTenant(ctx, tenantID); err != nil || !deleted {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{TenantID: tenantID, Actor: "system", Action: "tenant.deprovision"})
	})
	if err == nil && deleted {
		// Version 0 tells caches to drop the tenant and ask again.
		e.pub.Changed(ctx, tenantID, 0)
	}
	return err
}

// Sweep records ended trials and expired grants of every tenant due by now, uninstalling
// what they entitled, and returns how many tenants changed. The periodic sweeper and tests
// call it.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	ids, err := e.st.DueForExpiry(ctx, e.now(), 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		res, err := e.change(ctx, id, "system", func(context.Context, *store.Store, *store.State, *view) (outcome, error) {
			return outcome{action: "entitlement.expire", reason: "trial or grant ended"}, nil
		})
		if err != nil {
			return n, err
		}
		if res.changed {
			n++
		}
	}
	return n, nil
}

// CheckLimit answers whether current+increment fits the tenant's limit and records current as
// the limit's usage.
func (e *Engine) CheckLimit(ctx context.Context, tenantID, limit string, current, increment int64) (*entv1.CheckLimitResponse, error) {
	if !plans.ValidLimit(limit) {
		return nil, rpcerr.InvalidField("limit", "unknown limit; one of "+joinWords(plans.LimitNames))
	}
	if current < 0 {
		return nil, rpcerr.InvalidField("current", "must not be negative")
	}
	v, err := e.View(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if err := e.st.RecordUsage(ctx, tenantID, limit, current, e.now()); err != nil {
		// The answer does not depend on the bookkeeping.
		e.log.WarnContext(ctx, "record usage", "tenant_id", tenantID, "limit", limit, "err", err)
	}
	val := v.limits[limit]
	res := &entv1.CheckLimitResponse{Allowed: plans.Within(val, current, increment), LimitValue: val}
	if !res.Allowed {
		res.Reason = "limit " + limit + " of plan " + v.plan.ID + " is " + plans.Describe(val)
		if _, over := v.st.Overrides[limit]; over {
			res.Reason = "limit " + limit + " is " + plans.Describe(val) + " (set for this tenant)"
		}
	}
	return res, nil
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func jsonEqual(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && slices.Equal(ja, jb)
}

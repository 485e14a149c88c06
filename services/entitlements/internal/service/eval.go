package service

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/services/entitlements/internal/plans"
	"atrium.dev/services/entitlements/internal/registry"
	"atrium.dev/services/entitlements/internal/store"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// view is a tenant's entitlements evaluated at one instant: what its plan and grants entitle
// it to, what is installed, and why the rest is not usable. Everything the API answers and
// every snapshot is derived from a view, so the marketplace, the gateway and the limits never
// disagree.
type view struct {
	st  *store.State
	now time.Time
	reg *registry.Registry
	// plan is the effective plan: free once a trial has ended, even before the sweep has
	// recorded that.
	plan         *plans.Plan
	expiredTrial string
	entitled     map[string]bool
	installed    map[string]bool
	limits       map[string]int64
}

func evaluate(reg *registry.Registry, st *store.State, now time.Time) *view {
	v := &view{st: st, now: now, reg: reg, expiredTrial: st.Tenant.ExpiredTrial,
		entitled: map[string]bool{}, installed: map[string]bool{}}
	p, ok := plans.Get(st.Tenant.Plan)
	if !ok {
		p, _ = plans.Get(plans.Free)
	}
	if te := st.Tenant.TrialEndsAt; te != nil && !now.Before(*te) {
		v.expiredTrial = p.ID
		p, _ = plans.Get(plans.Free)
	}
	v.plan = p
	for _, pl := range reg.All() {
		if pl.AlwaysOn || p.Includes(pl.ID) || grantActive(st.Grants[pl.ID], now) {
			v.entitled[pl.ID] = true
		}
	}
	// Installed means installed, entitled and with every dependency installed; a plugin whose
	// entitlement lapsed is not enforced as installed even before the sweep uninstalls it.
	// Dependencies come first in Closure order, so one pass in that order settles chains.
	order, _ := reg.Closure(reg.IDs())
	for changed := true; changed; {
		changed = false
		for _, id := range order {
			pl, _ := reg.Get(id)
			in := st.Installs[id]
			ok := v.entitled[id] && (pl.AlwaysOn || (in != nil && in.Installed))
			for _, d := range pl.Dependencies {
				ok = ok && v.installed[d]
			}
			if ok != v.installed[id] {
				v.installed[id] = ok
				changed = true
			}
		}
	}
	v.limits = maps.Clone(p.Limits)
	for name, val := range st.Overrides {
		if plans.ValidLimit(name) {
			v.limits[name] = val
		}
	}
	return v
}

func grantActive(g *store.Grant, now time.Time) bool {
	return g != nil && (g.ExpiresAt == nil || now.Before(*g.ExpiresAt))
}

func grantExpired(g *store.Grant, now time.Time) bool {
	return g != nil && g.ExpiresAt != nil && !now.Before(*g.ExpiresAt)
}

// installedList is the sorted ids of installed plugins.
func (v *view) installedList() []string {
	var out []string
	for id, ok := range v.installed {
		if ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// unavailable explains a plugin that is not installed; nil when it is.
func (v *view) unavailable(id string) *entv1.PluginUnavailable {
	if v.installed[id] {
		return nil
	}
	pl, _ := v.reg.Get(id)
	u := &entv1.PluginUnavailable{Plugin: id}
	if v.entitled[id] {
		var missing []string
		for _, d := range pl.Dependencies {
			if !v.installed[d] {
				missing = append(missing, d)
			}
		}
		if len(missing) > 0 {
			u.State = entv1.PluginState_PLUGIN_STATE_LOCKED
			u.Reason = entv1.LockReason_LOCK_REASON_REQUIRES_PLUGIN
			u.Message = "requires plugin " + joinWords(missing)
			u.Unlock = &entv1.Unlock{Action: "install_dependencies", Plugins: missing}
			return u
		}
		u.State = entv1.PluginState_PLUGIN_STATE_AVAILABLE
		u.Message = "not installed"
		u.Unlock = &entv1.Unlock{Action: "install"}
		return u
	}
	u.State = entv1.PluginState_PLUGIN_STATE_LOCKED
	cheapest := plans.Cheapest(id)
	unlock := &entv1.Unlock{Action: "upgrade_plan", TrialAvailable: pl.Tier == registry.TierPremium}
	if cheapest != nil {
		unlock.Plan = cheapest.ID
		if cheapest.ID == plans.Enterprise {
			unlock.Action = "contact_sales"
		}
	}
	u.Unlock = unlock
	trialPlan, _ := plans.Get(v.expiredTrial)
	if grantExpired(v.st.Grants[id], v.now) || (trialPlan != nil && trialPlan.Includes(id)) {
		u.Reason = entv1.LockReason_LOCK_REASON_TRIAL_EXPIRED
		u.Message = "trial expired"
		// The trial was the trial; what is left is buying it.
		unlock.TrialAvailable = false
		return u
	}
	u.Reason = entv1.LockReason_LOCK_REASON_REQUIRES_PLAN
	if cheapest != nil {
		u.Message = "requires plan " + cheapest.ID
	} else {
		u.Message = "not offered on any plan"
	}
	return u
}

func joinWords(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}

// snapshot is the compact form the enforcing processes cache.
func (v *view) snapshot() *entv1.Snapshot {
	s := &entv1.Snapshot{
		TenantId:         v.st.Tenant.TenantID,
		Plan:             v.plan.ID,
		InstalledPlugins: v.installedList(),
		Limits:           v.limits,
		Version:          v.st.Tenant.Version,
	}
	if v.expiredTrial == "" && v.st.Tenant.TrialEndsAt != nil {
		s.TrialEndsAt = timestamppb.New(*v.st.Tenant.TrialEndsAt)
	}
	for _, id := range v.reg.IDs() {
		if u := v.unavailable(id); u != nil {
			s.UnavailablePlugins = append(s.UnavailablePlugins, u)
		}
	}
	return s
}

// tenantPlugin is one plugin as ListPlugins shows it.
func (v *view) tenantPlugin(pl *registry.Plugin) *entv1.TenantPlugin {
	tp := &entv1.TenantPlugin{Plugin: pluginProto(pl), State: entv1.PluginState_PLUGIN_STATE_INSTALLED}
	if u := v.unavailable(pl.ID); u != nil {
		tp.State, tp.Unavailable = u.GetState(), u
	}
	if in := v.st.Installs[pl.ID]; in != nil {
		if s, err := structpb.NewStruct(in.Config); err == nil {
			tp.Config = s
		}
		if in.Installed && in.InstalledAt != nil {
			tp.InstallTime = timestamppb.New(*in.InstalledAt)
		}
	}
	if tp.Config == nil {
		tp.Config, _ = structpb.NewStruct(pl.Defaults())
	}
	if g := v.st.Grants[pl.ID]; g != nil && g.ExpiresAt != nil && !v.plan.Includes(pl.ID) {
		tp.GrantExpireTime = timestamppb.New(*g.ExpiresAt)
	}
	return tp
}

// tenantPlugins lists every plugin, installed first, then available, then locked, each group
// in registry order.
func (v *view) tenantPlugins() []*entv1.TenantPlugin {
	var out []*entv1.TenantPlugin
	for _, pl := range v.reg.All() {
		out = append(out, v.tenantPlugin(pl))
	}
	slices.SortStableFunc(out, func(a, b *entv1.TenantPlugin) int { return int(a.GetState()) - int(b.GetState()) })
	return out
}

func pluginProto(pl *registry.Plugin) *entv1.Plugin {
	p := &entv1.Plugin{
		Id: pl.ID, Name: pl.Name, Summary: pl.Summary, Description: pl.Description,
		Category: pl.Category, RequiredPlan: pl.RequiredPlan, Dependencies: pl.Dependencies,
		GatedServices: pl.GatedServices, AlwaysOn: pl.AlwaysOn,
		Tier: entv1.PluginTier_PLUGIN_TIER_FREE,
	}
	if pl.Tier == registry.TierPremium {
		p.Tier = entv1.PluginTier_PLUGIN_TIER_PREMIUM
	}
	if sch := pl.Schema(); sch != nil {
		p.ConfigSchema, _ = structpb.NewStruct(sch)
	}
	return p
}

func planProto(p *plans.Plan) *entv1.Plan {
	return &entv1.Plan{Id: p.ID, Name: p.Name, Rank: int32(p.Rank), IncludedPlugins: p.Plugins, Limits: maps.Clone(p.Limits)}
}

// summary is the audit-log form of a tenant's state: enough to see what a change did.
func (v *view) summary() map[string]any {
	out := map[string]any{
		"plan":      v.plan.ID,
		"installed": v.installedList(),
		"version":   v.st.Tenant.Version,
	}
	if te := v.st.Tenant.TrialEndsAt; te != nil && v.expiredTrial == "" {
		out["trial_ends_at"] = te.UTC().Format(time.RFC3339)
	}
	if len(v.st.Overrides) > 0 {
		out["overrides"] = maps.Clone(v.st.Overrides)
	}
	var grants []string
	for id, g := range v.st.Grants {
		if g.ExpiresAt != nil {
			grants = append(grants, fmt.Sprintf("%s until %s", id, g.ExpiresAt.UTC().Format(time.RFC3339)))
		} else {
			grants = append(grants, id)
		}
	}
	if len(grants) > 0 {
		sort.Strings(grants)
		out["grants"] = grants
	}
	return out
}

// Package snapshotview prints a tenant's entitlements snapshot, what the plans, plugins and
// limits commands answer after a change.
package snapshotview

import (
	"sort"
	"strconv"
	"strings"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/tenantctl/internal/output"
)

// Limit renders a limit value (-1 is unlimited).
func Limit(v int64) string {
	if v < 0 {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

// Limits renders a limits map as "name=value" pairs in name order.
func Limits(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + Limit(m[n])
	}
	return strings.Join(parts, " ")
}

// Print writes the snapshot as fields; uninstalled names the plugins a change took away
// (their data is kept). The change itself is in the entitlements audit log.
func Print(p *output.Printer, s *entv1.Snapshot, uninstalled []string) error {
	return p.Fields([][2]string{
		{"tenant", s.GetTenantId()},
		{"plan", s.GetPlan()},
		{"trial ends", output.Time(s.GetTrialEndsAt())},
		{"installed", output.Or(strings.Join(s.GetInstalledPlugins(), ", "))},
		{"uninstalled now", output.Or(strings.Join(uninstalled, ", "))},
		{"limits", Limits(s.GetLimits())},
		{"version", strconv.FormatInt(s.GetVersion(), 10)},
	})
}

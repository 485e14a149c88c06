// Package tenantview prints tenants the same way for every tenants command.
package tenantview

import (
	"fmt"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/output"
)

// Status is a status's short lower-case name ("active").
func Status(s tenancyv1.TenantStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TENANT_STATUS_"))
}

// ParseStatus reads a short status name.
func ParseStatus(s string) (tenancyv1.TenantStatus, error) {
	v, ok := tenancyv1.TenantStatus_value["TENANT_STATUS_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown status %q: want provisioning, active, suspended, deleting, deleted or failed", s)
	}
	return tenancyv1.TenantStatus(v), nil
}

// Header is the table header of Row.
var Header = []string{"SLUG", "ID", "NAME", "STATUS", "SHARD", "CREATED"}

// Row is one tenant as a table row.
func Row(t *tenancyv1.Tenant) []string {
	return []string{t.GetSlug(), t.GetId(), output.Or(t.GetDisplayName()), Status(t.GetStatus()), t.GetShard(), output.Time(t.GetCreateTime())}
}

// Print writes one tenant: every field in a table, or the message as JSON.
func Print(p *output.Printer, t *tenancyv1.Tenant) error {
	if p.Format == output.JSON {
		return p.Proto(t)
	}
	fields := [][2]string{
		{"slug", t.GetSlug()},
		{"id", t.GetId()},
		{"name", output.Or(t.GetDisplayName())},
		{"status", Status(t.GetStatus())},
		{"shard", t.GetShard()},
		{"schema", t.GetSchema()},
		{"created", output.Time(t.GetCreateTime())},
		{"updated", output.Time(t.GetUpdateTime())},
	}
	if t.GetStatusReason() != "" {
		fields = append(fields, [2]string{"reason", t.GetStatusReason()})
	}
	if t.GetPurgeTime() != nil {
		fields = append(fields, [2]string{"purge at", output.Time(t.GetPurgeTime())})
	}
	return p.Fields(fields)
}

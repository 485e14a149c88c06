package pipeline

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"atrium.dev/gateway/internal/credential"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
)

type entitlements map[string]bool

func (e entitlements) Check(_ context.Context, tenantID, plugin string) (*entv1.PluginUnavailable, error) {
	if tenantID == "broken" {
		return nil, errors.New("entitlements down")
	}
	if e[tenantID+"/"+plugin] {
		return nil, nil
	}
	return &entv1.PluginUnavailable{Plugin: plugin, State: entv1.PluginState_PLUGIN_STATE_LOCKED,
		Reason: entv1.LockReason_LOCK_REASON_REQUIRES_PLAN, Message: "requires plan team"}, nil
}

func (e entitlements) Limit(context.Context, string, string) (int64, error) { return -1, nil }

func TestPluginEntitlement(t *testing.T) {
	rule := access.Rule{Procedure: "/atrium.insights.v1.InsightsService/Query", Level: access.TenantMember, Plugin: "insights", ReadOnly: true}
	tests := []struct {
		name   string
		ent    Entitlements
		tenant string
		kind   rpcerr.Kind
	}{
		{"no entitlements service: denied", nil, "acme1", rpcerr.KindPermissionDenied},
		{"entitled", entitlements{"acme1/insights": true}, "acme1", 0},
		{"not entitled", entitlements{"globex1/insights": true}, "acme1", rpcerr.KindPermissionDenied},
		{"entitlements unreachable", entitlements{}, "broken", rpcerr.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gateway{cfg: Config{Entitlements: tt.ent}}
			c := &call{
				rule:   rule,
				tenant: &tenancyv1.Tenant{Id: tt.tenant, Slug: "s", Schema: "t_" + tt.tenant, Shard: "main", Status: tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE},
				cred:   &credential.Credential{UserID: "u1", TenantID: tt.tenant, Role: authn.RoleMember},
			}
			err := g.authorize(httptest.NewRequest("POST", rule.Procedure, nil), c)
			if got := rpcerr.KindOf(err); got != tt.kind {
				t.Fatalf("err = %v (kind %v), want kind %v", err, got, tt.kind)
			}
		})
	}
}

func TestRESTRule(t *testing.T) {
	tests := []struct {
		method, path string
		level        access.Level
		readOnly     bool
	}{
		{"GET", "/api/catalog/entities", access.TenantMember, true},
		{"HEAD", "/api/catalog/entities", access.TenantMember, true},
		{"POST", "/api/catalog/entities/by-query", access.TenantMember, true},
		{"POST", "/api/catalog/entities/by-refs", access.TenantMember, true},
		{"POST", "/api/catalog/locations", access.TenantMember, false},
		{"PUT", "/api/catalog/x", access.TenantMember, false},
		{"DELETE", "/api/catalog/entities/by-uid/1", access.TenantAdmin, false},
	}
	for _, tt := range tests {
		r := restRule(tt.method, tt.path)
		if r.Level != tt.level || r.ReadOnly != tt.readOnly {
			t.Errorf("%s %s = %+v", tt.method, tt.path, r)
		}
	}
}

func TestIsProcedurePath(t *testing.T) {
	for path, want := range map[string]bool{
		"/atrium.tenancy.v1.TenantService/GetTenant": true,
		"/x.y/z":            true,
		"/":                 false,
		"/catalog/entities": false,
		"/a.b/c/d":          false,
		"/a.b/":             false,
		"/assets/app.js":    false,
		"/favicon.ico":      false,
	} {
		if got := IsProcedurePath(path); got != want {
			t.Errorf("IsProcedurePath(%q) = %v", path, got)
		}
	}
}

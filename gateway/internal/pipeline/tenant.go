package pipeline

import (
	"context"
	"net/http"

	"atrium.dev/gateway/internal/tenant"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/access"
	"atrium.dev/platform/rpcerr"
)

// resolveTenant finds the tenant the host or the Atrium-Tenant header names. Operator methods
// and SignUp (which makes a tenant rather than acting in one: a sign-up sent from another org's
// portal, or with a stale header, must still work) ignore both. A request naming no tenant goes
// on: PUBLIC methods may have none, and tenant methods take the caller's token's tenant
// (authenticate).
func (g *Gateway) resolveTenant(r *http.Request, c *call) error {
	if c.rule.Level == access.Operator || c.rule.Procedure == tenancyv1connect.TenantServiceSignUpProcedure {
		return nil
	}
	slug, err := tenant.FromRequest(r, g.cfg.BaseDomains)
	if err != nil || slug == "" {
		return err
	}
	t, err := g.tenantByKey(r.Context(), slug)
	if err != nil {
		return err
	}
	c.tenant = t
	return nil
}

func (g *Gateway) tenantByKey(ctx context.Context, key string) (*tenancyv1.Tenant, error) {
	t, err := g.cfg.Tenants.Resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	return t, usable(t)
}

// usable says whether requests may reach a tenant. Suspended tenants may (access.Check keeps
// them read-only). A tenant still being provisioned is Unavailable, so a client that raced its
// own sign-up retries; deleted, deleting and failed tenants look like unknown ones, so their
// slug reveals nothing.
func usable(t *tenancyv1.Tenant) error {
	switch t.GetStatus() {
	case tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE, tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED:
		return nil
	case tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING:
		return rpcerr.Unavailable("tenant is being set up; retry shortly")
	}
	return rpcerr.NotFound("tenant not found")
}

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
	t, err := g.tenantByKey(r.Context(), slug, c.rule.Procedure)
	if err != nil {
		return err
	}
	c.tenant = t
	return nil
}

// tenantByKey resolves a tenant for a call of procedure ("" when the call is no RPC).
func (g *Gateway) tenantByKey(ctx context.Context, key, procedure string) (*tenancyv1.Tenant, error) {
	t, err := g.cfg.Tenants.Resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	if t.GetStatus() == tenancyv1.TenantStatus_TENANT_STATUS_DELETING && reopenProcedures[procedure] {
		// Tenancy decides who may (the owners, within the grace period of a deletion they
		// asked for); the gateway only lets these few calls reach it.
		return t, nil
	}
	return t, usable(t)
}

// reopenProcedures are what reaches an organization whose deletion is scheduled: signing in
// and out, reading the organization (its purge time) and cancelling the deletion.
var reopenProcedures = map[string]bool{
	tenancyv1connect.AuthServiceLoginProcedure:                  true,
	tenancyv1connect.AuthServiceRefreshProcedure:                true,
	tenancyv1connect.AuthServiceLogoutProcedure:                 true,
	tenancyv1connect.TenantServiceGetTenantProcedure:            true,
	tenancyv1connect.TenantServiceCancelTenantDeletionProcedure: true,
}

// usable says whether requests may reach a tenant. Suspended tenants may (access.Check keeps
// them read-only). A tenant still being provisioned is Unavailable, so a client that raced its
// own sign-up retries. A deleting tenant (its slug still taken, so nothing is revealed) is
// FailedPrecondition, so members whose session was open learn why their calls stop; deleted
// and failed tenants look like unknown ones, so their slug reveals nothing.
func usable(t *tenancyv1.Tenant) error {
	switch t.GetStatus() {
	case tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE, tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED:
		return nil
	case tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING:
		return rpcerr.Unavailable("tenant is being set up; retry shortly")
	case tenancyv1.TenantStatus_TENANT_STATUS_DELETING:
		return rpcerr.FailedPrecondition("this organization is being deleted")
	}
	return rpcerr.NotFound("tenant not found")
}

package pipeline

import (
	"net/http"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
)

// authorize builds the identity the request acts as and checks the method's access policy
// against it, then the tenant's entitlement to the method's plugin.
func (g *Gateway) authorize(r *http.Request, c *call) error {
	id := authn.Identity{RequestID: c.requestID}
	if t := c.tenant; t != nil {
		id.TenantID, id.TenantSlug, id.Schema, id.Shard = t.GetId(), t.GetSlug(), t.GetSchema(), t.GetShard()
		id.TenantReadOnly = t.GetStatus() == tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED
	}
	if cr := c.cred; cr != nil {
		id.UserID, id.Role, id.TokenID, id.OperatorID = cr.UserID, cr.Role, cr.TokenID, cr.OperatorID
	}
	c.identity = id
	if err := access.Check(c.rule, &id); err != nil {
		return err
	}
	if c.rule.Plugin == "" {
		return nil
	}
	if g.cfg.Entitlements == nil || id.TenantID == "" {
		return rpcerr.PermissionDenied("plugin %q is not enabled for this tenant", c.rule.Plugin)
	}
	ok, err := g.cfg.Entitlements.Entitled(r.Context(), id.TenantID, c.rule.Plugin)
	if err != nil {
		return rpcerr.Unavailable("cannot check plugin entitlement").WithCause(err)
	}
	if !ok {
		return rpcerr.PermissionDenied("plugin %q is not enabled for this tenant", c.rule.Plugin)
	}
	return nil
}

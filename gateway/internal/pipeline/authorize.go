package pipeline

import (
	"net/http"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
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
	// The role that counts is the current one, not the token's claim (issued up to 15 minutes
	// ago): a demoted admin or a removed member is refused at once.
	if id.UserID != "" && id.TenantID != "" && g.cfg.Members != nil {
		role, err := g.cfg.Members.Role(r.Context(), id.TenantID, id.UserID)
		if err != nil {
			return err
		}
		if role == "" {
			return rpcerr.PermissionDenied("not a member of this organization")
		}
		id.Role = role
	}
	c.identity = id
	if err := access.Check(c.rule, &id); err != nil {
		return err
	}
	if c.rule.Plugin == "" {
		return nil
	}
	if g.cfg.Entitlements == nil || id.TenantID == "" {
		return pluginDenied(&entv1.PluginUnavailable{Plugin: c.rule.Plugin, State: entv1.PluginState_PLUGIN_STATE_LOCKED,
			Message: "plugins are not enabled on this platform"})
	}
	u, err := g.cfg.Entitlements.Check(r.Context(), id.TenantID, c.rule.Plugin)
	if err != nil {
		// Only when nothing was ever cached for the tenant: a cached snapshot is enforced
		// however stale, so this is the first request of a tenant while entitlements is down.
		return rpcerr.Unavailable("cannot check plugin entitlement").WithCause(err)
	}
	if u != nil {
		return pluginDenied(u)
	}
	return nil
}

// pluginDenied is PermissionDenied with the PluginUnavailable detail a client reads to show
// the reason and the action that unlocks the plugin.
func pluginDenied(u *entv1.PluginUnavailable) error {
	return rpcerr.PermissionDenied("plugin %s is %s: %s", u.GetPlugin(), stateWord(u.GetState()), u.GetMessage()).WithDetail(u)
}

func stateWord(s entv1.PluginState) string {
	switch s {
	case entv1.PluginState_PLUGIN_STATE_AVAILABLE:
		return "available but not installed"
	case entv1.PluginState_PLUGIN_STATE_INSTALLED:
		return "installed"
	}
	return "locked"
}

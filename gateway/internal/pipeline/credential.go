package pipeline

import (
	"net/http"

	"atrium.dev/platform/access"
	"atrium.dev/platform/rpcerr"
)

// authenticate verifies the bearer token of non-public methods. PUBLIC methods ignore any
// token, so a stale one in a browser cannot break Login or Refresh. A user's token must
// belong to the request's tenant; with no tenant named, the token's tenant is the request's.
func (g *Gateway) authenticate(r *http.Request, c *call) error {
	if c.rule.Level == access.Public {
		return nil
	}
	cred, err := g.cfg.Auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if cred == nil {
		return rpcerr.Unauthenticated("credentials required: send Authorization: Bearer <token>")
	}
	c.cred = cred
	if c.rule.Level == access.Operator || cred.OperatorID != "" {
		// access.Check sorts out who may call what.
		return nil
	}
	if c.tenant == nil {
		t, err := g.tenantByKey(r.Context(), cred.TenantID, c.rule.Procedure)
		if err != nil {
			if rpcerr.KindOf(err) == rpcerr.KindNotFound {
				return rpcerr.Unauthenticated("the token's tenant no longer exists")
			}
			return err
		}
		c.tenant = t
	}
	if cred.TenantID != c.tenant.GetId() {
		return rpcerr.PermissionDenied("the token belongs to another tenant")
	}
	return nil
}

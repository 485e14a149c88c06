package access

import (
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
)

// Check decides whether id may call a method with rule. A nil id is an anonymous caller.
// Suspended tenants (TenantReadOnly) may only call read-only methods.
func Check(rule Rule, id *authn.Identity) error {
	switch rule.Level {
	case Public:
		return nil
	case TenantMember, TenantAdmin:
		if id == nil || id.UserID == "" {
			return rpcerr.Unauthenticated("a user access token is required")
		}
		if !id.HasTenant() {
			return rpcerr.PermissionDenied("no tenant for this request")
		}
		if rule.Level == TenantAdmin && !id.Role.IsAdmin() {
			return rpcerr.PermissionDenied("this method needs the admin or owner role")
		}
		if id.TenantReadOnly && !rule.ReadOnly {
			return rpcerr.FailedPrecondition("tenant is suspended: read-only")
		}
		return nil
	case Operator:
		if id == nil || (id.OperatorID == "" && id.UserID == "") {
			return rpcerr.Unauthenticated("an operator token is required")
		}
		if id.OperatorID == "" {
			return rpcerr.PermissionDenied("operator credentials required")
		}
		return nil
	case Internal:
		if id == nil || id.Service == "" {
			return rpcerr.PermissionDenied("internal method")
		}
		return nil
	}
	return rpcerr.PermissionDenied("method has no access policy")
}

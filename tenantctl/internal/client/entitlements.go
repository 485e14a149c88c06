package client

import "atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"

// Entitlements returns a client of the entitlements operator API (plans, grants, limits).
func Entitlements(t Target) entitlementsv1connect.EntitlementsOperatorServiceClient {
	return entitlementsv1connect.NewEntitlementsOperatorServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

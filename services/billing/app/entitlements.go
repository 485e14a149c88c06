package app

import (
	"net/http"

	"atrium.dev/platform/guard"
	"atrium.dev/services/billing/internal/engine"
)

// newEntitlementsClient is replaced by the generated EntitlementsInternalService client once
// atrium.entitlements.v1 is on main; until then no entitlements service is called.
func newEntitlementsClient(_ *http.Client, _ string, _ *guard.CallerInterceptor) engine.Entitlements {
	return nil
}

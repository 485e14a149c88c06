package app

import (
	"context"
	"net/http"

	entitlementsv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/platform/guard"
	"atrium.dev/services/billing/internal/engine"
	"connectrpc.com/connect"
)

// entitlementsClient tells entitlements a tenant's plan (source "billing"). Entitlements
// publishes the change on atrium:entitlements-changed, which is how the gateway starts
// enforcing it.
type entitlementsClient struct {
	c entitlementsv1connect.EntitlementsInternalServiceClient
}

func newEntitlementsClient(hc *http.Client, url string, caller *guard.CallerInterceptor) engine.Entitlements {
	return &entitlementsClient{c: entitlementsv1connect.NewEntitlementsInternalServiceClient(hc, url, connect.WithInterceptors(caller))}
}

func (e *entitlementsClient) SetPlan(ctx context.Context, tenantID, plan, reason string) error {
	_, err := e.c.SetPlan(ctx, connect.NewRequest(&entitlementsv1.SetPlanRequest{TenantId: tenantID, Plan: plan, Source: "billing", Reason: reason}))
	return err
}

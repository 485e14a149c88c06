package e2e

import (
	"context"
	"errors"
	"testing"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"connectrpc.com/connect"
)

// TestAnonymousFloodDoesNotStarveTenant is finding 2 of issue 6: anonymous calls naming a
// tenant (Refresh with a junk token, Atrium-Tenant: acme) were limited under acme's budget, so
// an outsider flooding them made acme's own members get resource_exhausted. Anonymous calls
// now spend the client address's budget; acme's members keep theirs.
func TestAnonymousFloodDoesNotStarveTenant(t *testing.T) {
	e := start(t, func(o *stack.Options) {
		o.Gateway = func(c *gatewayapp.Config) { c.RateLimit = gatewayapp.RateLimit{PerSecond: 5, Burst: 10} }
	})
	ctx := context.Background()
	acme := signUp(t, e, "acme")
	exhausted := 0
	for range 60 {
		_, err := e.auth("acme").Refresh(ctx, connect.NewRequest(&tenancyv1.RefreshRequest{RefreshToken: "atr_rt_junk"}))
		if connect.CodeOf(err) == connect.CodeResourceExhausted {
			exhausted++
		}
	}
	if exhausted == 0 {
		t.Fatal("an anonymous flood was never limited")
	}
	if _, err := e.tenants(acme.access, "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{})); err != nil {
		t.Fatalf("acme's owner after an anonymous flood under acme's name: %v", err)
	}
}

// TestLoginThrottled: wrong passwords for one account are slowed per (tenant, email) with
// backoff, answered ResourceExhausted with Retry-After; another account is not affected.
func TestLoginThrottled(t *testing.T) {
	e := start(t, func(o *stack.Options) {
		// The per-address budget is tested separately; here only tenancy's per-account backoff.
		o.Gateway = func(c *gatewayapp.Config) { c.AuthRateLimit = gatewayapp.RateLimit{PerSecond: -1} }
	})
	ctx := context.Background()
	acme := signUp(t, e, "acme")
	globex := signUp(t, e, "globex")
	var last error
	for range 8 {
		_, last = e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: "Wrong-Password-123"}))
	}
	wantCode(t, last, connect.CodeResourceExhausted)
	var ce *connect.Error
	if !errorsAs(last, &ce) || ce.Meta().Get("Retry-After") == "" {
		t.Fatalf("no Retry-After on %v", last)
	}
	// Even the right password waits while the account is throttled...
	_, err := e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: acme.email, Password: password}))
	wantCode(t, err, connect.CodeResourceExhausted)
	// ...but another tenant's account with the same kind of address is untouched.
	if _, err := e.auth("globex").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: globex.email, Password: password})); err != nil {
		t.Fatal(err)
	}
}

// TestFailedAuthLimitedPerAddress: invalid tokens are limited per client address.
func TestFailedAuthLimitedPerAddress(t *testing.T) {
	e := start(t, func(o *stack.Options) {
		o.Gateway = func(c *gatewayapp.Config) { c.AuthRateLimit = gatewayapp.RateLimit{PerSecond: 1, Burst: 5} }
	})
	ctx := context.Background()
	signUp(t, e, "acme")
	var last error
	for range 10 {
		_, last = e.tenants("atr_pat_"+"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "acme").GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
	}
	wantCode(t, last, connect.CodeResourceExhausted)
}

func errorsAs(err error, target **connect.Error) bool { return errors.As(err, target) }

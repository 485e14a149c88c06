package app_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// BenchmarkGatewayOverhead calls one cheap RPC (TenantService.GetTenant, which the test
// upstream answers from the internal token alone) directly at the upstream and through the
// gateway, with the same HTTP/2 client, in the same run. The gateway runs its whole path:
// tenant from the header (cached), JWT verification, access check, rate limit in Redis,
// internal token (reused per identity), h2c proxying, usage event.
//
//	go test -run '^$' -bench GatewayOverhead -benchtime 5000x ./app/
//
// "serial" alternates one direct and one gateway call and reports both medians and the
// difference; "parallel" measures throughput (ns/op is the inverse of calls per second).
func BenchmarkGatewayOverhead(b *testing.B) {
	s := newStack(b, func(c *app.Config) { c.RateLimit = app.RateLimit{PerSecond: 1e9, Burst: 1e9} })
	hc := h2cClient("")
	direct := tenancyv1connect.NewTenantServiceClient(hc, s.upstream.URL)
	gateway := tenancyv1connect.NewTenantServiceClient(hc, s.server.URL)
	userToken := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	signer := authn.NewInternalSigner(s.internalKey)

	// The direct call carries an internal token as the gateway would send it, signed ahead of
	// time (and again before it expires) so the direct side does not pay for signing.
	var (
		mu       sync.Mutex
		internal string
		signedAt time.Time
	)
	internalToken := func() string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(signedAt) > 30*time.Second {
			tok, err := signer.Sign(authn.Identity{TenantID: "acme1", TenantSlug: "acme", Schema: "t_acme1", Shard: "main", UserID: ownerAcme, Role: authn.RoleOwner, RequestID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			internal, signedAt = tok, time.Now()
		}
		return internal
	}
	callDirect := func() error {
		req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
		req.Header().Set(authn.InternalTokenHeader, internalToken())
		_, err := direct.GetTenant(context.Background(), req)
		return err
	}
	callGateway := func() error {
		req := connect.NewRequest(&tenancyv1.GetTenantRequest{})
		req.Header().Set("Atrium-Tenant", "acme")
		req.Header().Set("Authorization", "Bearer "+userToken)
		_, err := gateway.GetTenant(context.Background(), req)
		return err
	}
	for range 50 { // warm connections and caches
		if err := callDirect(); err != nil {
			b.Fatal(err)
		}
		if err := callGateway(); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("serial", func(b *testing.B) {
		directLat := make([]time.Duration, 0, b.N)
		gatewayLat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if err := callDirect(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := callGateway(); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			directLat = append(directLat, t1.Sub(t0))
			gatewayLat = append(gatewayLat, t2.Sub(t1))
		}
		b.StopTimer()
		dp50, gp50 := median(directLat), median(gatewayLat)
		b.ReportMetric(float64(mean(directLat).Nanoseconds()), "direct-ns/op")
		b.ReportMetric(float64(mean(gatewayLat).Nanoseconds()), "gateway-ns/op")
		b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-µs")
		b.ReportMetric(float64(gp50.Microseconds()), "gateway-p50-µs")
		b.ReportMetric(float64((gp50 - dp50).Microseconds()), "added-p50-µs")
	})

	for _, side := range []struct {
		name string
		call func() error
	}{{"parallel/direct", callDirect}, {"parallel/gateway", callGateway}} {
		b.Run(side.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := side.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

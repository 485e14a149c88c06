package app_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"connectrpc.com/connect"
)

// BenchmarkSignUp measures one full sign-up against tenancy directly (validation, argon2id,
// schema and role, one provisioner migration, owner, tokens) and reports p50/p99.
func BenchmarkSignUp(b *testing.B) {
	s := newStack(b)
	c := s.anon()
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		_, err := c.Tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
			OrgName: "Bench", Slug: fmt.Sprintf("bench%d", i), AdminEmail: fmt.Sprintf("b%d@example.com", i), AdminPassword: goodPassword,
		}))
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

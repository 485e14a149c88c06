package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/services/catalog/app"
	"connectrpc.com/connect"
)

// BenchmarkFilterBounds times ListEntities (a page of 100 with its total, through the
// Connect API) under the costliest filters the bounds of internal/filter allow, beside the
// same call without a filter, over a synthetic catalog (ATRIUM_BENCH_ENTITIES, default
// 10,000; the bounds are chosen for 100,000). It also times the refusal of issue 6's finding
// 5 (one set of 50 keys of 95 segments, 11 s before the bounds).
func BenchmarkFilterBounds(b *testing.B) {
	n := benchSize(b)
	s := newServer(b, func(c *app.Config) { c.EntityLimit = -1 })
	tn := s.env.Tenant(b, "bench")
	s.env.Seed(b, tn, n)
	c := s.catalog(&tn.Identity)
	ctx := context.Background()
	old := samples
	samples = 20 // the worst filters take up to seconds each
	defer func() { samples = old }()
	list := func(filters []string) func(int) error {
		return func(int) error {
			_, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: filters, PageSize: 100}))
			return err
		}
	}
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	// Keys most entities have, each an existence test of two subqueries (the key, and its
	// split into an array key and an item).
	common := []string{"spec.type", "spec.lifecycle", "spec.owner", "metadata.description", "metadata.tags", "spec.system", "metadata.links", "spec.providesapis", "spec.consumesapis", "spec.dependson"}
	worst := []struct {
		name    string
		filters []string
	}{
		{"4SetsOfOneCommonKey", many(4, func(i int) string { return common[i%len(common)] })},
		{"2SetsOf2CommonKeys", many(2, func(i int) string { return strings.Join(common[i*2:i*2+2], ",") })},
		{"2SetsOf2Relations", []string{"relations.ownedby,relations.partof", "relations.dependson,relations.providesapi"}},
		{"8SetsOfACommonValue", []string{"spec.lifecycle=production", "spec.type=service", "spec.lifecycle=experimental", "spec.type=website",
			"spec.type=library", "spec.lifecycle=deprecated", "metadata.tags=java", "metadata.tags=go"}},
		// The portal's "owned" view: a set per owner repeating the selection (Simplify makes it
		// four subqueries).
		{"20OwnersWithASelection", many(20, func(i int) string {
			return fmt.Sprintf("kind=component,spec.type=service,spec.lifecycle=production,relations.ownedby=group:default/team-%d", i)
		})},
		{"1KeyOf8Segments", []string{"spec.a.b.c.d.e.f.g"}},
		{"1SetOf12Keys", []string{"kind=component,metadata.namespace=default,metadata.name=x,metadata.uid=x,spec.lifecycle=production,spec.type=service,metadata.tags=java,spec.owner=x,metadata.description=x,spec.system=x,metadata.links=x,spec.providesapis=x"}},
		{"50SetsOf4ColumnTests", many(50, func(i int) string {
			return fmt.Sprintf("kind=component,metadata.namespace=default,metadata.name=c-%d,metadata.uid=00000000-0000-0000-0000-%012d", i, i)
		})},
	}
	b.Run("Baseline", func(b *testing.B) { measure(b, list(nil)).report(b, "") })
	for _, w := range worst {
		b.Run("Worst/"+w.name, func(b *testing.B) {
			measure(b, list(w.filters)).report(b, "")
			base := measure(b, list(nil))
			base.report(b, "baseline-")
		})
	}
	finding := []string{strings.Join(many(50, func(i int) string { return fmt.Sprintf("k%d", i) + strings.Repeat(".a", 94) }), ",")}
	b.Run("Finding5Refused", func(b *testing.B) {
		measure(b, func(int) error {
			if err := list(finding)(0); connect.CodeOf(err) != connect.CodeInvalidArgument {
				return fmt.Errorf("want InvalidArgument, got %v", err)
			}
			return nil
		}).report(b, "")
	})
}

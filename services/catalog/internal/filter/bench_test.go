package filter

import (
	"testing"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/yamldoc"
)

const benchYAML = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-service
  title: Payments
  description: Takes money, gives receipts.
  tags: [go, payments, tier-1]
  labels: {example.com/cost-center: cc-42}
  annotations:
    backstage.io/techdocs-ref: dir:.
    github.com/project-slug: acme/payments
  links:
    - url: https://grafana.example.com/d/payments
      title: Dashboard
spec:
  type: service
  lifecycle: production
  owner: team-payments
  system: checkout
  providesApis: [payments-api]
  consumesApis: [ledger-api, fraud-api]
  dependsOn: [resource:payments-db, component:ledger]
`

// BenchmarkEntityPipeline measures the pure per-entity work of an apply: decode, normalize,
// validate, derive relations, hash and flatten.
func BenchmarkEntityPipeline(b *testing.B) {
	src := []byte(benchYAML)
	b.ReportAllocs()
	for b.Loop() {
		docs, err := yamldoc.Parse(src, yamldoc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		e, err := entity.FromValue(docs[0].Value)
		if err != nil {
			b.Fatal(err)
		}
		e = entity.Normalize(e)
		if vs := entity.Validate(e); len(vs) > 0 {
			b.Fatal(vs)
		}
		edges, _ := entity.DeriveEdges(e)
		e.SetServerFields("uid", entity.Etag(e), 1, entity.RelationsOf(e.Ref(), edges))
		_ = entity.SpecHash(e)
		if len(Flatten(e)) == 0 {
			b.Fatal("no pairs")
		}
	}
}

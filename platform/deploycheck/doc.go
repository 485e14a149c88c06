// Package deploycheck holds no code, only tests: they read docker-compose.yml,
// infra/Dockerfile, infra/otel-collector.yaml and infra/k8s/*.yaml and fail when
// those deployment descriptions disagree with the code (the ports, variable names
// and defaults of platform/config, the stripe-mock version pinned in tools/go.mod)
// or with each other.
//
// Run with: go test ./platform/deploycheck (from the repository root).
package deploycheck

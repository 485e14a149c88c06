package app

import "atrium.dev/services/catalog/internal/synth"

// Synthetic returns the benchmark catalog of n entities (internal/synth with seed) as plain
// maps, and the refs of its teams: the same data set for benchmarks outside this module
// (devstack/e2e's reads through the gateway) as for BenchmarkCatalog.
func Synthetic(n int, seed uint64) ([]map[string]any, []string) {
	c := synth.Generate(n, seed)
	out := make([]map[string]any, len(c.Entities))
	for i, e := range c.Entities {
		out[i] = map[string]any(e)
	}
	return out, c.Teams
}

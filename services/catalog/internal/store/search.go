package store

import (
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
)

// columnKeys' search rows are not stored: entity columns answer them. metadata.uid (a draft
// has no uid yet), and name and namespace, which every entity has. Names are unique, so their
// rows would be the most expensive of all to index (an insert at a random place of the
// key/value index per entity).
var notSearched = map[string]bool{"metadata.uid": true, "metadata.name": true, "metadata.namespace": true}

// SearchPairs flattens an entity into its search rows (filter.Flatten, less the column keys).
//
// Rows are derived data: replacing an entity deletes the rows its stored body flattens to, so
// a change to Flatten must come with a migration that rebuilds catalog_search.
func SearchPairs(e entity.Entity) []Pair {
	flat := filter.Flatten(map[string]any(e))
	out := make([]Pair, 0, len(flat))
	for _, p := range flat {
		if notSearched[p.Key] {
			continue
		}
		sp := Pair{Key: p.Key}
		if !p.Null {
			v := p.Value
			sp.Value = &v
			if p.Original != p.Value {
				sp.Original = p.Original
			}
		}
		out = append(out, sp)
	}
	return out
}

// searchKeys lists the distinct keys of an entity's search rows.
func searchKeys(e entity.Entity) []string {
	seen := map[string]bool{}
	var keys []string
	for _, p := range SearchPairs(e) {
		if !seen[p.Key] {
			seen[p.Key] = true
			keys = append(keys, p.Key)
		}
	}
	return keys
}

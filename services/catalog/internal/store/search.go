package store

import (
	"strings"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
)

// columnKeys' search rows are not stored: entity columns answer them. metadata.uid (a draft
// has no uid yet), and name and namespace, which every entity has. Names are unique, so their
// rows would be the most expensive of all to index (an insert at a random place of the
// key/value index per entity).
var notSearched = map[string]bool{"metadata.uid": true, "metadata.name": true, "metadata.namespace": true}

// SearchPairs flattens an entity into its search rows: filter.Flatten, less the column keys,
// plus "relations.<type>" = target ref for each edge the entity's own spec states, as
// Backstage's search table has them. (Relations other entities state towards it, the reverse
// edges, are answered from catalog_relations: storing them here would mean rewriting other
// entities' rows.)
//
// Rows are derived data: replacing an entity deletes the rows its stored body flattens to, so
// a change to this function must come with a migration that rebuilds catalog_search.
func SearchPairs(e entity.Entity) []Pair {
	flat := filter.Flatten(map[string]any(e))
	out := make([]Pair, 0, len(flat)+4)
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
	edges, _ := entity.DeriveEdges(e)
	self := e.Ref().String()
	seen := map[string]bool{}
	for _, ed := range edges {
		if ed.Source.String() != self {
			continue
		}
		key, target := relationPrefix+strings.ToLower(ed.Type), ed.Target.String()
		if seen[key+"\x00"+target] {
			continue
		}
		seen[key+"\x00"+target] = true
		out = append(out, Pair{Key: key, Value: &target})
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

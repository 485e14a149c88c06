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
// Flatten also gives each string item of an array a pair "<key>.<item>" = "true" (so that
// metadata.tags.java matches). Those keys are as many as the distinct items in the catalog
// (every API name under spec.consumesapis.*), each a costly insert at a random place of both
// indexes. They are not stored: the item's own pair is marked Item instead, and a filter on a
// key ending in ".<item>" also looks for that (the compiler splits the key at its dots).
//
// Rows are derived data: replacing an entity deletes the rows its stored body flattens to, so
// a change to this function must come with a migration that rebuilds catalog_search.
func SearchPairs(e entity.Entity) []Pair {
	flat := filter.Flatten(map[string]any(e))
	values := make(map[[2]string]int, len(flat))
	for i, p := range flat {
		if !p.Null {
			values[[2]string{p.Key, p.Value}] = i
		}
	}
	items := map[int]bool{}
	synthetic := map[int]bool{}
	for i, p := range flat {
		if p.Null || p.Value != "true" {
			continue
		}
		for dot := strings.IndexByte(p.Key, '.'); dot > 0 && dot < len(p.Key)-1; {
			if j, ok := values[[2]string{p.Key[:dot], p.Key[dot+1:]}]; ok && j != i {
				synthetic[i], items[j] = true, true
				break
			}
			next := strings.IndexByte(p.Key[dot+1:], '.')
			if next < 0 {
				break
			}
			dot += next + 1
		}
	}
	out := make([]Pair, 0, len(flat)+4)
	for i, p := range flat {
		if notSearched[p.Key] || synthetic[i] {
			continue
		}
		sp := Pair{Key: p.Key, Item: items[i]}
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

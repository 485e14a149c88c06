package filter

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Pair is one search row of an entity.
type Pair struct {
	// Key is the lowercased dotted path, e.g. "spec.type", "metadata.tags",
	// "metadata.tags.java", "relations.ownedby".
	Key string
	// Value is the lowercased value; empty when Null.
	Value string
	// Original is the value as written (for facets); empty when Null.
	Original string
	// Null is set for null values and for values longer than MaxValueLength.
	Null bool
}

// searchSkipped are left out of the generic walk, as in Backstage: metadata.name, namespace
// and uid are added explicitly, relations from the relations array, the rest not at all.
var searchSkipped = map[string]bool{
	"attachments": true, "relations": true, "status": true,
	"metadata.name": true, "metadata.namespace": true, "metadata.uid": true, "metadata.etag": true,
}

type rawPair struct {
	key   string
	value any // nil, bool, float64 or string
}

// Flatten returns the search pairs of an entity (a stored entity: with metadata.uid and the
// relations array, if it has them), deduplicated, in a stable order: the generic walk in key
// order, then metadata.name, metadata.namespace, metadata.uid, then relations.
func Flatten(e map[string]any) []Pair {
	var raw []rawPair
	syntheticSeen := map[string]bool{}
	var visit func(path string, v any)
	visit = func(path string, v any) {
		if searchSkipped[path] {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				child := k
				if path != "" {
					child = path + "." + k
				}
				visit(child, x[k])
			}
		case []any:
			for _, item := range x {
				visit(path, item)
				if s, ok := item.(string); ok {
					synthetic := path + "." + s
					if lower := strings.ToLower(synthetic); !syntheticSeen[lower] {
						syntheticSeen[lower] = true
						raw = append(raw, rawPair{synthetic, true})
					}
				}
			}
		case nil, bool, string, float64:
			raw = append(raw, rawPair{path, x})
		case int:
			raw = append(raw, rawPair{path, float64(x)})
		case int64:
			raw = append(raw, rawPair{path, float64(x)})
		}
	}
	visit("", e)

	meta, _ := e["metadata"].(map[string]any)
	raw = append(raw, rawPair{"metadata.name", scalar(meta["name"])})
	raw = append(raw, rawPair{"metadata.namespace", scalar(meta["namespace"])})
	raw = append(raw, rawPair{"metadata.uid", scalar(meta["uid"])})
	if ns, _ := meta["namespace"].(string); ns == "" {
		raw = append(raw, rawPair{"metadata.namespace", "default"})
	}
	if rels, ok := e["relations"].([]any); ok {
		for _, r := range rels {
			rel, _ := r.(map[string]any)
			typ, _ := rel["type"].(string)
			target, _ := rel["targetRef"].(string)
			if typ != "" && target != "" {
				raw = append(raw, rawPair{"relations." + typ, target})
			}
		}
	}

	out := make([]Pair, 0, len(raw))
	seen := map[[2]string]bool{}
	for _, r := range raw {
		key := strings.ToLower(r.key)
		if len(key) > MaxKeyLength {
			continue
		}
		p := Pair{Key: key, Null: true}
		if r.value != nil {
			original := valueString(r.value)
			if jsLength(original) <= MaxValueLength {
				p = Pair{Key: key, Value: strings.ToLower(original), Original: original}
			}
		}
		dedupe := [2]string{p.Key, "\x00null"}
		if !p.Null {
			dedupe[1] = p.Value
		}
		if seen[dedupe] {
			continue
		}
		seen[dedupe] = true
		out = append(out, p)
	}
	return out
}

// scalar keeps a JSON scalar and drops anything else to nil.
func scalar(v any) any {
	switch v.(type) {
	case bool, string, float64:
		return v
	default:
		return nil
	}
}

// valueString is JavaScript's String(value) for the scalars Flatten meets.
func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return jsNumber(x)
	default:
		return ""
	}
}

func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	if abs := math.Abs(f); abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	// Exponent form: Go writes 1e-07, JavaScript 1e-7.
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, exp, _ := strings.Cut(s, "e")
	sign := exp[:1]
	digits := strings.TrimLeft(exp[1:], "0")
	return mantissa + "e" + sign + digits
}

// jsLength is a string's length in UTF-16 code units, as JavaScript counts it.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF { // a surrogate pair
			n += 2
		} else {
			n++
		}
	}
	return n
}

package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/store"
)

// Predicate limits.
const (
	maxPredicateDepth = 16
	maxPredicateNodes = 500
)

// ParsePredicate reads the "query" of Backstage's POST /entities/by-query: a JSON object whose
// keys are either operators or field paths, all of which must hold:
//
//	{"kind": "component", "spec.type": {"$in": ["service", "website"]}}
//	{"$any": [{"spec.lifecycle": "production"}, {"metadata.tags": {"$exists": true}}]}
//	{"$not": {"spec.owner": "group:default/team-a"}}
//	{"metadata.name": {"$hasPrefix": "pay"}}
//
// Operators: $all, $any, $not; on a field $exists, $in, $hasPrefix, or a plain string,
// number or boolean value. Values compare lowercased, as filters do.
func ParsePredicate(raw json.RawMessage) (store.Expr, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, rpcerr.InvalidField("query", "is not valid JSON")
	}
	p := predicateParser{}
	return p.node(v, "query", 0)
}

type predicateParser struct{ nodes int }

func (p *predicateParser) node(v any, path string, depth int) (store.Expr, error) {
	p.nodes++
	if depth > maxPredicateDepth || p.nodes > maxPredicateNodes {
		return nil, rpcerr.InvalidField(path, "the query is too large or too deeply nested")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, rpcerr.InvalidField(path, "expected an object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var all store.And
	for _, k := range keys {
		sub := path + "." + k
		val := obj[k]
		switch k {
		case "$all", "$any":
			items, ok := val.([]any)
			if !ok {
				return nil, rpcerr.InvalidField(sub, "expected an array of predicates")
			}
			var list []store.Expr
			for i, it := range items {
				x, err := p.node(it, fmt.Sprintf("%s[%d]", sub, i), depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, x)
			}
			if k == "$all" {
				all = append(all, store.And(list))
			} else {
				all = append(all, store.Or(list))
			}
		case "$not":
			x, err := p.node(val, sub, depth+1)
			if err != nil {
				return nil, err
			}
			all = append(all, store.Not{X: x})
		default:
			if len(k) > 0 && k[0] == '$' {
				return nil, rpcerr.InvalidField(sub, "unknown operator")
			}
			key, ferr := filter.NormalizeKey(k)
			if ferr != nil {
				return nil, rpcerr.InvalidField(sub, ferr.Description)
			}
			x, err := p.field(key, val, sub)
			if err != nil {
				return nil, err
			}
			all = append(all, x)
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

func (p *predicateParser) field(key string, v any, path string) (store.Expr, error) {
	if s, ok := scalarString(v); ok {
		return store.Match{Key: key, Values: []string{s}}, nil
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) != 1 {
		return nil, rpcerr.InvalidField(path, "expected a value or one of {$exists}, {$in}, {$hasPrefix}, {$contains}")
	}
	for op, arg := range obj {
		switch op {
		case "$exists":
			b, ok := arg.(bool)
			if !ok {
				return nil, rpcerr.InvalidField(path+".$exists", "expected true or false")
			}
			if b {
				return store.Match{Key: key}, nil
			}
			return store.Not{X: store.Match{Key: key}}, nil
		case "$in":
			items, ok := arg.([]any)
			if !ok {
				return nil, rpcerr.InvalidField(path+".$in", "expected an array of values")
			}
			values := make([]string, 0, len(items))
			for i, it := range items {
				s, ok := scalarString(it)
				if !ok {
					return nil, rpcerr.InvalidField(fmt.Sprintf("%s.$in[%d]", path, i), "expected a string, number or boolean")
				}
				values = append(values, s)
			}
			if len(values) == 0 {
				return store.Or{}, nil
			}
			p.nodes += len(values)
			return store.Match{Key: key, Values: values}, nil
		case "$contains":
			return p.contains(key, arg, path+".$contains")
		case "$hasPrefix":
			s, ok := arg.(string)
			if !ok || s == "" {
				return nil, rpcerr.InvalidField(path+".$hasPrefix", "expected a non-empty string")
			}
			return store.Match{Key: key, Prefix: s}, nil
		default:
			return nil, rpcerr.InvalidField(path+"."+op, "unknown operator")
		}
	}
	return nil, nil // unreachable: obj has one key
}

// contains compiles {"<array field>": {"$contains": X}}: some item of the array matches X. A
// value X matches a string item equal to it; an object X matches an object item whose fields
// match, which the search table answers through the flattened keys "<field>.<sub key>". On
// relations, {"type": T, "targetRef": R} is a relation of type T to R (or of type T, or to R).
func (p *predicateParser) contains(key string, arg any, path string) (store.Expr, error) {
	if s, ok := scalarString(arg); ok {
		return store.Match{Key: key, Values: []string{s}, Item: true}, nil
	}
	obj, ok := arg.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, rpcerr.InvalidField(path, "expected a value or an object of field values")
	}
	if key == "relations" {
		typ, _ := obj["type"].(string)
		target, hasTarget := scalarString(obj["targetRef"])
		for k := range obj {
			if k != "type" && k != "targetRef" {
				return nil, rpcerr.InvalidField(path+"."+k, "relations have only type and targetRef")
			}
		}
		var values []string
		if hasTarget {
			values = []string{target}
		}
		if typ != "" {
			return store.Match{Key: "relations." + strings.ToLower(typ), Values: values}, nil
		}
		if !hasTarget {
			return nil, rpcerr.InvalidField(path, "give type, targetRef or both")
		}
		var any store.Or
		for _, t := range entity.RelationTypes() {
			any = append(any, store.Match{Key: "relations." + strings.ToLower(t), Values: values})
		}
		return any, nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var all store.And
	for _, k := range keys {
		sub, ferr := filter.NormalizeKey(key + "." + k)
		if ferr != nil {
			return nil, rpcerr.InvalidField(path+"."+k, ferr.Description)
		}
		x, err := p.field(sub, obj[k], path+"."+k)
		if err != nil {
			return nil, err
		}
		all = append(all, x)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

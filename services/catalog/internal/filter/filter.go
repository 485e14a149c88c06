// Package filter reads Backstage's catalog query parameters (filter, order, fields) into
// values a store can compile to SQL, and flattens entities into the (key, value) search pairs
// those filters run against. It does no I/O.
//
// # Search pairs
//
// [Flatten] turns an entity into the rows of Backstage's search table: one pair per leaf, with
// the dotted path lowercased as key and the value lowercased (Original keeps the case, for
// facets). Arrays give one pair per item under the array's key, and string items also give
// "<key>.<item>" = "true". Each relation gives "relations.<type>" = target ref. Values longer
// than 200 characters are stored as null (still matching an exists check), keys longer than
// 200 are dropped. Filters, facets and ordering all address these keys.
//
// # Filters
//
// [Parse] reads Backstage filter strings: each string is a set of comma-separated conditions
// that must all hold, and an entity matches if any set holds.
//
//	kind=component,spec.type=service   kind is component AND spec.type is service
//	kind=component,spec.type=service,spec.type=website   ... type is service OR website
//	metadata.tags                     the entity has the key at all
//	metadata.tags=java                any tag is java (arrays match any item)
//	relations.ownedBy=group:default/team-a
//
// Keys and values are lowercased, so matching is case-insensitive. The result is a [Node]
// tree of [Any], [All], [Not] and [Cond]; [Match] evaluates one in memory over Flatten's
// pairs and is the reference semantics for a SQL compiler:
//
//	Cond{Key, nil}      EXISTS (key = Key)
//	Cond{Key, Values}   EXISTS (key = Key AND value IN Values)
//	All / Any / Not     AND / OR / NOT; an empty All matches everything, an empty Any nothing
//
// # Order and fields
//
// [ParseOrder] reads "asc:metadata.name" / "desc:spec.type" into [Order]s on search keys.
// [ParseFields] reads projection lists ("kind,metadata.name"); [Projection.Apply] copies just
// those paths of an entity, keeping object structure.
package filter

import (
	"fmt"
	"strings"
)

// Limits on what one request may ask for; beyond them Parse and friends return an *Error.
const (
	// MaxKeyLength is the longest key; Backstage does not index longer ones, so a longer key
	// could never match.
	MaxKeyLength = 200
	// MaxValueLength is the longest value; longer values are indexed as null.
	MaxValueLength = 200
	// MaxFilterSets is the most filter strings (ORed sets) in one query.
	MaxFilterSets = 50
	// MaxConditions is the most conditions over all sets of one query.
	MaxConditions = 200
	// MaxValues is the most values over all conditions of one query.
	MaxValues = 1000
	// MaxOrderFields is the most order fields.
	MaxOrderFields = 5
	// MaxFields is the most projected fields.
	MaxFields = 100

	// The bounds below keep every allowed filter planning and running within 2 s over a
	// tenant of 100,000 entities (BenchmarkFilterBounds; docs/BENCHMARKS.md). Before them,
	// one set of 50 keys of 95 segments each compiled to 4,750 subqueries and took 11 s.

	// MaxPathDepth is the most segments of one key. Each dot of an existence key adds a
	// subquery (the key may name an array item: metadata.tags.java), and real keys have a
	// handful (metadata.annotations.backstage.io/techdocs-ref has four).
	MaxPathDepth = 16
	// MaxKeysPerSet is the most distinct keys ANDed in one filter set.
	MaxKeysPerSet = 12
	// MaxSubqueries is the most search-table subqueries one query compiles to, over all
	// sets (see Subqueries), counted after Simplify. Under OR each is a hashed subplan that reads every row of its
	// key: at 100k entities one over a common key costs 30-150 ms depending on the machine's
	// load (12 of them in two sets: 1.2 s at p50, 2.1 s at p99 at load average 11 on two
	// cores; 44 in two sets took 1.5 s on a quieter run). 8 keeps the worst under 2 s.
	MaxSubqueries = 8
)

// columnKeys are answered from entity columns, with no subquery (as the store compiles them).
var columnKeys = map[string]bool{"kind": true, "metadata.namespace": true, "metadata.name": true, "metadata.uid": true}

// ItemSplits returns the ways a lowercased key splits at a dot into an array key and an
// item ("metadata.tags.java" is the item java of metadata.tags, or the item tags.java of
// metadata): an existence test, or a test for "true", also holds for each of them.
func ItemSplits(key string) [][2]string {
	var out [][2]string
	for dot := strings.IndexByte(key, '.'); dot > 0 && dot < len(key)-1; {
		out = append(out, [2]string{key[:dot], key[dot+1:]})
		next := strings.IndexByte(key[dot+1:], '.')
		if next < 0 {
			break
		}
		dot += next + 1
	}
	return out
}

// Subqueries is how many search-table subqueries a test of key compiles to: none for an
// entity column, two for a relation (its search rows and the stored edges), one otherwise,
// plus one per ItemSplits when the test is for existence or "true".
func Subqueries(key string, values []string, exact bool) int {
	switch {
	case columnKeys[key]:
		return 0
	case strings.HasPrefix(key, "relations.") && len(key) > len("relations."):
		return 2
	case exact && (len(values) == 0 || containsString(values, "true")):
		return 1 + len(ItemSplits(key))
	}
	return 1
}

// Error is a bad query parameter: Field names it ("filter[1]", "order[0]", "fields[2]").
type Error struct {
	Field       string
	Description string
}

func (e *Error) Error() string { return e.Field + ": " + e.Description }

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Description: fmt.Sprintf(format, args...)}
}

// Node is a filter expression. A nil Node matches every entity.
type Node interface{ node() }

// Cond holds for an entity that has a search pair with Key and, when Values is not empty,
// a non-null value equal to one of Values. Key and Values are lowercased.
type Cond struct {
	Key    string
	Values []string
}

// All holds when every node holds.
type All struct{ Of []Node }

// Any holds when at least one node holds.
type Any struct{ Of []Node }

// Not holds when Node does not.
type Not struct{ Node Node }

func (Cond) node() {}
func (All) node()  {}
func (Any) node()  {}
func (Not) node()  {}

// Parse reads filter strings as Backstage's filter query parameter. It returns nil when no
// string holds a condition (everything matches); otherwise Any{Of: [All{Of: [Cond...]}...]},
// one All per non-empty string, conditions in first-seen key order, a repeated key merging
// its values (key=a,key=b is key in (a, b); a bare key with values is just the values).
func Parse(filters []string) (Node, error) {
	var sets []Node
	var fields []string
	conditions, values := 0, 0
	for i, f := range filters {
		field := fmt.Sprintf("filter[%d]", i)
		set, err := parseSet(field, f)
		if err != nil {
			return nil, err
		}
		if len(set.Of) == 0 {
			continue
		}
		sets = append(sets, set)
		fields = append(fields, field)
		if len(sets) > MaxFilterSets {
			return nil, errorf(field, "more than %d filter sets", MaxFilterSets)
		}
		if len(set.Of) > MaxKeysPerSet {
			return nil, errorf(field, "more than %d keys in one filter set", MaxKeysPerSet)
		}
		conditions += len(set.Of)
		if conditions > MaxConditions {
			return nil, errorf(field, "more than %d conditions in all", MaxConditions)
		}
		for _, n := range set.Of {
			values += len(n.(Cond).Values)
		}
		if values > MaxValues {
			return nil, errorf(field, "more than %d values in all", MaxValues)
		}
	}
	if len(sets) == 0 {
		return nil, nil
	}
	if Cost(Simplify(Any{Of: sets})) > MaxSubqueries {
		// Name the first set that takes the query past the budget.
		for i := range sets {
			if n := Cost(Simplify(Any{Of: sets[:i+1]})); n > MaxSubqueries || i == len(sets)-1 {
				return nil, errorf(fields[i], "the filter is too costly: it needs %d subqueries, at most %d in all (use fewer sets, fewer keys or shorter keys; each dot of an existence key adds one)", n, MaxSubqueries)
			}
		}
	}
	return Any{Of: sets}, nil
}

func parseSet(field, s string) (All, error) {
	var conds []Cond
	index := map[string]int{}
	for _, statement := range strings.Split(s, ",") {
		statement = strings.TrimSpace(statement)
		if statement == "" {
			continue
		}
		rawKey, value, hasValue := strings.Cut(statement, "=")
		rawKey, value = strings.TrimSpace(rawKey), strings.TrimSpace(value)
		if rawKey == "" {
			return All{}, errorf(field, "%q is not a valid statement; expected a=b, a= or a", statement)
		}
		key, err := normalizeKey(rawKey)
		if err != nil {
			return All{}, errorf(field, "%s", err.Description)
		}
		i, seen := index[key]
		if !seen {
			i = len(conds)
			index[key] = i
			conds = append(conds, Cond{Key: key})
		}
		if !hasValue || value == "" {
			continue // a bare key, or "key=", is an existence check
		}
		if strings.IndexByte(value, 0) >= 0 {
			return All{}, errorf(field, "the value of %s holds a NUL byte", key)
		}
		if len(value) > MaxValueLength {
			return All{}, errorf(field, "the value of %s is longer than %d characters", key, MaxValueLength)
		}
		value = strings.ToLower(value)
		if !containsString(conds[i].Values, value) {
			conds[i].Values = append(conds[i].Values, value)
		}
	}
	set := All{Of: make([]Node, len(conds))}
	for i, c := range conds {
		set.Of[i] = c
	}
	return set, nil
}

// NormalizeKey validates a dotted search key ("spec.type", "relations.ownedBy",
// "metadata.annotations.backstage.io/techdocs-ref") and lowercases it. Use it for facet
// names too. It returns the concrete *Error (Field "key") so callers can use its
// Description; check it against nil before passing it on as an error.
func NormalizeKey(key string) (string, *Error) { return normalizeKey(key) }

func normalizeKey(key string) (string, *Error) {
	if key == "" {
		return "", errorf("key", "must not be empty")
	}
	if len(key) > MaxKeyLength {
		return "", errorf("key", "%q is longer than %d characters", truncate(key), MaxKeyLength)
	}
	if err := checkPath(key); err != "" {
		return "", errorf("key", "%q %s", key, err)
	}
	return strings.ToLower(key), nil
}

// checkPath returns why a dotted path is malformed, or "".
func checkPath(p string) string {
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "holds a control character"
		}
	}
	segs := strings.Split(p, ".")
	for _, seg := range segs {
		if seg == "" {
			return "has an empty path segment"
		}
	}
	if len(segs) > MaxPathDepth {
		return fmt.Sprintf("has %d path segments; at most %d", len(segs), MaxPathDepth)
	}
	return ""
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func containsString(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// Match evaluates n over an entity's search pairs (from Flatten). It is the reference
// semantics for compiled queries.
func Match(n Node, pairs []Pair) bool {
	switch x := n.(type) {
	case nil:
		return true
	case Cond:
		for _, p := range pairs {
			if p.Key != x.Key {
				continue
			}
			if len(x.Values) == 0 {
				return true
			}
			if !p.Null && containsString(x.Values, p.Value) {
				return true
			}
		}
		return false
	case All:
		for _, c := range x.Of {
			if !Match(c, pairs) {
				return false
			}
		}
		return true
	case Any:
		for _, c := range x.Of {
			if Match(c, pairs) {
				return true
			}
		}
		return false
	case Not:
		return !Match(x.Node, pairs)
	default:
		return false
	}
}

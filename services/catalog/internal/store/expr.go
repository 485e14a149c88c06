package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
)

// Expr is a filter over entities. Backstage filter sets are Or{And{Match...}...}; the
// predicate form of POST /entities/by-query adds Not and prefix matches.
type Expr interface{ isExpr() }

// And holds when every item holds (an empty And always holds).
type And []Expr

// Or holds when any item holds (an empty Or never holds).
type Or []Expr

// Not negates X.
type Not struct{ X Expr }

// Match tests one key, lowercased as a dotted path ("spec.type", "metadata.tags",
// "relations.ownedby"). Without Values and Prefix it tests that the key exists; with Values it
// holds when the key has any of them; with Prefix when a value starts with it. Values and
// Prefix are compared lowercased.
type Match struct {
	Key    string
	Values []string
	Prefix string
	// Contains holds when a value has it as a substring (Backstage's REST full-text filter,
	// which is a LIKE over search values, not a word search).
	Contains string
	// Item restricts Values to string items of an array (the predicate's $contains).
	Item bool
}

func (And) isExpr()   {}
func (Or) isExpr()    {}
func (Not) isExpr()   {}
func (Match) isExpr() {}

// sqlb accumulates SQL text and its bound arguments. No value from a request is ever written
// into SQL text: keys and values become parameters.
type sqlb struct {
	args []any
	// kindInSearch answers kind filters from the search table instead of the kind column.
	// Counts want it: every condition is then a stream of uids in index order, which
	// Postgres intersects with merge joins instead of hashing tens of thousands of rows.
	// Pages do not: the (kind, ref) index walks a kind in page order.
	kindInSearch bool
	// uid, when set, is the expression conditions test instead of the entity row's uid
	// (facets test a search row's entity_uid directly). needsRow records that a condition
	// needed the entity row anyway (a column or the ref).
	uid      string
	needsRow bool
}

func (b *sqlb) uidExpr() string {
	if b.uid != "" {
		return b.uid
	}
	return "e.uid"
}

func (b *sqlb) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// columnKeys are filter keys answered from entity columns (indexed, always present) rather
// than the search table.
var columnKeys = map[string]string{
	"kind":               "e.kind",
	"metadata.namespace": "e.namespace",
	"metadata.name":      "e.name",
	"metadata.uid":       "e.uid::text",
}

// relationPrefix starts filter keys that test relations ("relations.ownedby").
const relationPrefix = "relations."

// canonicalRelationType maps a lowercased relation type to Backstage's spelling.
func canonicalRelationType(t string) string {
	for _, known := range entity.RelationTypes() {
		if strings.EqualFold(known, t) {
			return known
		}
	}
	return t
}

// cond compiles x into a boolean SQL expression over the entity row "e". Conditions are
// uncorrelated IN subqueries: at the top level the planner turns them into semi-joins, under
// OR/NOT into hashed subplans, so no form degrades into a probe per row of the table.
func (b *sqlb) cond(x Expr) (string, error) {
	switch x := x.(type) {
	case nil:
		return "TRUE", nil
	case And:
		return b.join(x, " AND ", "TRUE")
	case Or:
		return b.join(x, " OR ", "FALSE")
	case Not:
		inner, err := b.cond(x.X)
		if err != nil {
			return "", err
		}
		return "NOT (" + inner + ")", nil
	case Match:
		return b.match(x)
	}
	return "", fmt.Errorf("store: unknown filter expression %T", x)
}

func (b *sqlb) join(items []Expr, sep, empty string) (string, error) {
	if len(items) == 0 {
		return empty, nil
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		c, err := b.cond(it)
		if err != nil {
			return "", err
		}
		parts = append(parts, c)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return "(" + strings.Join(parts, sep) + ")", nil
}

func lowerAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToLower(v)
	}
	return out
}

func (b *sqlb) match(m Match) (string, error) {
	key := strings.ToLower(m.Key)
	if key == "" {
		return "", fmt.Errorf("store: empty filter key")
	}
	values := lowerAll(m.Values)
	prefix := strings.ToLower(m.Prefix)
	contains := strings.ToLower(m.Contains)
	// test compares col with the values or prefix; "" for an exists check.
	test := func(col string) string {
		switch {
		case len(values) == 1 && col == "e.kind":
			// A range, not equality: with kind = x Postgres treats kind as a constant, drops
			// it from ORDER BY kind, ref and may walk the ref index skipping every other kind
			// (thousands of rows) instead of the (kind, ref) index.
			v := b.arg(values[0])
			return col + " BETWEEN " + v + " AND " + v
		case len(values) == 1:
			// Plain equality, not = ANY: Postgres can then read an index on (col, x) in x
			// order, which ordered pages need.
			return col + " = " + b.arg(values[0])
		case len(values) > 1:
			return col + " = ANY(" + b.arg(values) + "::text[])"
		case prefix != "":
			return col + " LIKE " + b.arg(likePrefix(prefix))
		case contains != "":
			return col + " LIKE " + b.arg("%"+likePrefix(contains))
		}
		return ""
	}
	if col, ok := columnKeys[key]; ok && !(key == "kind" && b.kindInSearch) {
		b.needsRow = true
		if t := test(col); t != "" {
			return t, nil
		}
		return "TRUE", nil
	}
	if t, ok := strings.CutPrefix(key, relationPrefix); ok && t != "" {
		// Entities with a relation of type t: those whose own spec states it (search rows, a
		// stream of uids like any other key), and the targets of stored edges whose inverse
		// is t (a type and its inverse go together, so naming both makes each lookup
		// index-only).
		typ := canonicalRelationType(t)
		q := b.uidExpr() + " IN (SELECT s.entity_uid FROM catalog_search s WHERE s.key = " + b.arg(relationPrefix+strings.ToLower(typ))
		if t := test("s.value"); t != "" {
			q += " AND " + t
		}
		q += " UNION ALL SELECT x.uid FROM catalog_relations r JOIN catalog_entities x ON x.ref = r.target_ref WHERE " + b.backward(typ)
		if t := test("r.source_ref"); t != "" {
			q += " AND " + t
		}
		return q + ")", nil
	}
	q := b.uidExpr() + " IN (SELECT s.entity_uid FROM catalog_search s WHERE s.key = " + b.arg(key)
	if t := test("s.value"); t != "" {
		q += " AND " + t
	}
	if m.Item {
		q += " AND s.item"
	}
	// "<array key>.<item>" (with no value, or true) holds for an array holding the item:
	// try every split of the key at a dot.
	// filter.Subqueries counts these branches to bound them.
	if exactTest(m) && (len(values) == 0 || slices.Contains(values, "true")) {
		for _, sp := range filter.ItemSplits(key) {
			q += " UNION ALL SELECT s.entity_uid FROM catalog_search s WHERE s.key = " + b.arg(sp[0]) +
				" AND s.value = " + b.arg(sp[1]) + " AND s.item"
		}
	}
	return q + ")", nil
}

// exactTest reports whether m tests existence or values (not a prefix, substring or array
// item), the tests the "<array key>.<item>" form applies to.
func exactTest(m Match) bool { return m.Prefix == "" && m.Contains == "" && !m.Item }

// Subqueries is how many search-table subqueries x compiles to (see filter.Subqueries).
func Subqueries(x Expr) int {
	switch x := x.(type) {
	case And:
		n := 0
		for _, it := range x {
			n += Subqueries(it)
		}
		return n
	case Or:
		n := 0
		for _, it := range x {
			n += Subqueries(it)
		}
		return n
	case Not:
		return Subqueries(x.X)
	case Match:
		key := strings.ToLower(x.Key)
		return filter.Subqueries(key, lowerAll(x.Values), exactTest(x))
	}
	return 0
}

// likePrefix escapes LIKE's wildcards in p and appends %.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// Words splits text into lowercased words of letters and digits: the full-text document is
// built from it and so is every query, so both sides agree on what a word is.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// tsQuery turns a search term into a prefix-matching tsquery: every word must match the
// start of some word of the entity ("pay gate" finds "payment-gateway"). Empty when the term
// has no words.
func tsQuery(term string) string {
	words := Words(term)
	if len(words) > 16 {
		words = words[:16]
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = "'" + w + "':*"
	}
	return strings.Join(parts, " & ")
}

// FromFilter converts a parsed Backstage filter (nil matches everything).
func FromFilter(n filter.Node) Expr {
	switch x := n.(type) {
	case nil:
		return nil
	case filter.Cond:
		return Match{Key: x.Key, Values: x.Values}
	case filter.All:
		out := make(And, len(x.Of))
		for i, c := range x.Of {
			out[i] = FromFilter(c)
		}
		return out
	case filter.Any:
		out := make(Or, len(x.Of))
		for i, c := range x.Of {
			out[i] = FromFilter(c)
		}
		return out
	case filter.Not:
		return Not{X: FromFilter(x.Node)}
	}
	return Or{} // unknown nodes match nothing
}

// pinnedKind reports the single kind every entity matching x has, when x says so at its top
// level (kind=component, alone or ANDed with other conditions).
func pinnedKind(x Expr) (string, bool) {
	switch x := x.(type) {
	case Match:
		if strings.ToLower(x.Key) == "kind" && len(x.Values) == 1 {
			return strings.ToLower(x.Values[0]), true
		}
	case And:
		for _, it := range x {
			if k, ok := pinnedKind(it); ok {
				return k, true
			}
		}
	case Or:
		if len(x) == 1 {
			return pinnedKind(x[0])
		}
	}
	return "", false
}

// backward selects the stored edges that read, reversed, as edges of type typ.
func (b *sqlb) backward(typ string) string {
	c := "r.inverse = " + b.arg(typ)
	if inv, ok := entity.InverseRelation(typ); ok {
		c += " AND r.type = " + b.arg(inv)
	}
	return c
}

// IsColumnKey reports whether a (lowercased) key is answered from an entity column, which
// every entity has.
func IsColumnKey(key string) bool {
	_, ok := columnKeys[strings.ToLower(key)]
	return ok
}

package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"atrium.dev/services/catalog/internal/entity"
	"github.com/jackc/pgx/v5"
)

// Order sorts by one field (a dotted path, compared lowercased). Entities without the field
// come last in either direction.
type Order struct {
	Field string
	Desc  bool
}

// Position is a keyset position: the order key values of a row (nil for a missing value) and
// its uid, the final tie-breaker.
type Position struct {
	Keys []*string `json:"k"`
	UID  string    `json:"u"`
}

// Query selects a page of entities.
type Query struct {
	Filter   Expr
	FullText string
	Order    []Order
	// Limit is the page size (callers cap it).
	Limit int
	// Offset skips rows (Backstage's offset parameter); keyset positions are cheaper.
	Offset int
	// After continues forward from a position; Before goes back from one (a previous page).
	// At most one is set.
	After, Before *Position
	SkipTotal     bool
	// Encoded says the caller reads the page's entities only through EncodePage: the page
	// keeps its rows as read (Raw) and Entities stays empty, so an encoder that writes from
	// the stored text (Encoder.Raw) never decodes them.
	Encoded bool
}

// Page is one page of entities with the positions of its ends.
type Page struct {
	Entities []entity.Entity
	// Total counts every entity matching the filter and full-text term; -1 when skipped.
	Total int64
	// Next is set when entities follow the page; Prev when entities precede it.
	Next, Prev *Position
	// forms keeps the encodings of a page the read cache holds (EncodePage).
	forms *pageForms
	// raws are the page's rows when it was listed for Query.Encoded (Entities is then nil).
	raws []Raw
}

type orderCol struct {
	expr     string
	nullable bool
	desc     bool
}

// orderCols maps order fields to SQL. Name, kind and namespace are columns (name has an index
// that serves ordered pages directly); other fields order by the smallest search value of the
// key, looked up per row through catalog_search_entity. The default order is by ref; when the
// filter pins one kind it is by (kind, ref), the same order, which the (kind, ref) index
// serves: ordered by ref alone Postgres walks the ref index and skips every other kind first.
func (b *sqlb) orderCols(order []Order, filter Expr) []orderCol {
	if len(order) == 0 {
		if _, ok := pinnedKind(filter); ok {
			return []orderCol{{expr: "e.kind"}, {expr: "e.ref"}}
		}
		return []orderCol{{expr: "e.ref"}}
	}
	cols := make([]orderCol, 0, len(order))
	for _, o := range order {
		key := strings.ToLower(o.Field)
		if col, ok := columnKeys[key]; ok {
			cols = append(cols, orderCol{expr: col, desc: o.Desc})
			continue
		}
		cols = append(cols, orderCol{
			expr:     "(SELECT min(s.value) FROM catalog_search s WHERE s.entity_uid = e.uid AND s.key = " + b.arg(key) + ")",
			nullable: true,
			desc:     o.Desc,
		})
	}
	return cols
}

// component is one term of the sort: an order value, the "is null" flag of a nullable one,
// or the uid.
type component struct {
	expr string
	desc bool
	// cursor value: a bool for flags, *string for values, string for the uid.
	flag    bool
	isFlag  bool
	value   *string
	isValue bool
}

func components(cols []orderCol, pos *Position, reverse bool, alias func(i int) string) []component {
	var out []component
	for i, c := range cols {
		expr := c.expr
		if alias != nil {
			expr = alias(i)
		}
		var v *string
		if pos != nil && i < len(pos.Keys) {
			v = pos.Keys[i]
		}
		if c.nullable {
			out = append(out, component{expr: "(" + expr + " IS NULL)", desc: reverse, isFlag: true, flag: v == nil})
		}
		out = append(out, component{expr: expr, desc: c.desc != reverse, isValue: true, value: v})
	}
	return out
}

func orderBy(comps []component, uidExpr string, reverse bool) string {
	parts := make([]string, 0, len(comps)+1)
	for _, c := range comps {
		parts = append(parts, c.expr+dir(c.desc))
	}
	parts = append(parts, uidExpr+dir(reverse))
	return strings.Join(parts, ", ")
}

func dir(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// keyset compiles "the row sorts after pos" for the components. When every component sorts
// the same way and none can be null it is one row comparison, which Postgres answers with an
// index range scan; otherwise the lexicographic OR chain.
func (b *sqlb) keyset(comps []component, pos *Position, reverse bool) (string, error) {
	uid := b.arg(pos.UID) + "::uuid"
	uniform := true
	for _, c := range comps {
		if c.isFlag || c.desc != reverse {
			uniform = false
		}
	}
	if uniform {
		lhs := make([]string, 0, len(comps)+1)
		rhs := make([]string, 0, len(comps)+1)
		for _, c := range comps {
			if c.value == nil {
				return "", fmt.Errorf("store: cursor lacks a value for a non-null order key")
			}
			lhs = append(lhs, c.expr)
			rhs = append(rhs, b.arg(*c.value))
		}
		lhs = append(lhs, "e.uid")
		rhs = append(rhs, uid)
		op := " > "
		if reverse {
			op = " < "
		}
		return "(" + strings.Join(lhs, ", ") + ")" + op + "(" + strings.Join(rhs, ", ") + ")", nil
	}
	var ors, eqs []string
	for _, c := range comps {
		switch {
		case c.isFlag:
			// Sorting false before true (nulls last), or true before false when reversed.
			// Ascending, false (a value) sorts before true (null); descending the reverse.
			// Nothing sorts after the last flag value but itself.
			switch {
			case c.flag != c.desc:
			case c.flag:
				ors = append(ors, conj(eqs, "NOT "+c.expr))
			default:
				ors = append(ors, conj(eqs, c.expr))
			}
			eqs = append(eqs, "("+c.expr+" = "+b.arg(c.flag)+")")
		case c.value == nil:
			// Both null (the flag before it matched): equal, no term.
		default:
			op := " > "
			if c.desc {
				op = " < "
			}
			v := b.arg(*c.value)
			ors = append(ors, conj(eqs, c.expr+op+v))
			eqs = append(eqs, c.expr+" = "+v)
		}
	}
	op := " > "
	if reverse {
		op = " < "
	}
	ors = append(ors, conj(eqs, "e.uid"+op+uid))
	return "(" + strings.Join(ors, " OR ") + ")", nil
}

func conj(eqs []string, last string) string {
	if len(eqs) == 0 {
		return last
	}
	return "(" + strings.Join(append(slices.Clone(eqs), last), " AND ") + ")"
}

// where compiles the filter and full-text term.
func (b *sqlb) where(filter Expr, fullText string) (string, error) {
	c, err := b.cond(filter)
	if err != nil {
		return "", err
	}
	if q := tsQuery(fullText); q != "" {
		c = "(" + c + ") AND e.search @@ to_tsquery('simple', " + b.arg(q) + ")"
	} else if strings.TrimSpace(fullText) != "" {
		// A term of punctuation only has no words to find: it matches nothing, as a term
		// of unknown words does, rather than everything.
		c = "false"
	}
	return c, nil
}

// List returns a page of entities and, unless skipped, the total under the same filter.
func (s *Store) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	page := Page{Total: -1}
	var b sqlb
	where, err := b.where(q.Filter, q.FullText)
	if err != nil {
		return page, err
	}
	cb := sqlb{kindInSearch: true}
	countWhere, err := cb.where(q.Filter, q.FullText)
	if err != nil {
		return page, err
	}
	reverse := q.Before != nil
	pos := q.After
	if reverse {
		pos = q.Before
	}
	cols := b.orderCols(q.Order, q.Filter)
	if pos != nil && len(pos.Keys) != len(cols) {
		return page, ErrBadPosition
	}
	comps := components(cols, pos, reverse, nil)
	if pos != nil {
		ks, err := b.keyset(comps, pos, reverse)
		if err != nil {
			return page, err
		}
		where = "(" + where + ") AND " + ks
	}
	keyExprs := make([]string, len(cols))
	for i, c := range cols {
		keyExprs[i] = c.expr + " AS k" + fmt.Sprint(i)
	}
	inner := "SELECT e.uid, " + strings.Join(keyExprs, ", ") + " FROM catalog_entities e WHERE " + where +
		" ORDER BY " + orderBy(comps, "e.uid", reverse) + " LIMIT " + b.arg(q.Limit+1)
	if q.Offset > 0 && pos == nil {
		inner += " OFFSET " + b.arg(q.Offset)
	}
	outerComps := components(cols, nil, reverse, func(i int) string { return "p.k" + fmt.Sprint(i) })
	keyCols := make([]string, len(cols))
	for i := range cols {
		keyCols[i] = "p.k" + fmt.Sprint(i)
	}
	sql := "SELECT " + entityColumns + ", " + strings.Join(keyCols, ", ") + " FROM (" + inner + ") p JOIN catalog_entities e ON e.uid = p.uid ORDER BY " + orderBy(outerComps, "p.uid", reverse)

	var (
		positions []Position
		raws      []Raw
		ck        listCache
	)
	if s.cache != nil {
		ck.key = cacheKey("list", sql, b.args, q.Limit, q.SkipTotal, countWhere, cb.args)
	}
	if v, hit, err := s.fresh(ctx, ck.key); err != nil {
		return Page{Total: -1}, err
	} else if hit {
		ck.hit = v.(cachedPage)
	} else {
		// The version (when caching) first, so that the page is at least as new as the
		// version it is cached under; then the page and its total: one round trip.
		batch := &pgx.Batch{}
		perCallPlans(batch)
		_, ck.on = s.caching(ctx)
		if ck.on {
			batch.Queue(versionSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&ck.version) })
		}
		batch.Queue(sql, b.args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				keys := make([]*string, len(cols))
				extra := make([]any, len(keys))
				for i := range keys {
					extra[i] = &keys[i]
				}
				r, err := readRaw(rows, extra...)
				if err != nil {
					return err
				}
				raws = append(raws, r)
				ck.size += int64(len(r.Body))
				positions = append(positions, Position{Keys: keys, UID: r.UID})
			}
			return rows.Err()
		})
		if !q.SkipTotal {
			batch.Queue("SELECT count(*) FROM catalog_entities e WHERE "+countWhere, cb.args...).QueryRow(func(row pgx.Row) error {
				return row.Scan(&page.Total)
			})
		}
		if err := s.shards.InReadBatch(ctx, batch); err != nil {
			return Page{Total: -1}, fmt.Errorf("store: list: %w", err)
		}
	}
	if ck.hit.cached {
		hit := ck.hit.page.clone()
		if !q.Encoded && hit.raws != nil { // cached for an encoding caller
			if hit.Entities, err = hit.forms.entities(hit.raws); err != nil {
				return Page{Total: -1}, err
			}
			hit.raws = nil
		}
		return hit, nil
	}
	more := len(raws) > q.Limit
	if more {
		raws = raws[:q.Limit]
		positions = positions[:q.Limit]
	}
	if reverse {
		slices.Reverse(raws)
		slices.Reverse(positions)
	}
	if q.Encoded {
		page.raws = raws
		if page.raws == nil {
			page.raws = []Raw{} // tells an empty encoded page from a decoded one
		}
	} else if page.Entities, err = decodeRaws(raws); err != nil {
		return Page{Total: -1}, err
	}
	if len(positions) == 0 {
		if reverse {
			// Nothing before the position: the next page starts at it again.
			page.Next = pos
		}
		return s.keepPage(ctx, ck, page), nil
	}
	first, last := positions[0], positions[len(positions)-1]
	if reverse {
		page.Next = &last
		if more {
			page.Prev = &first
		}
	} else {
		if more {
			page.Next = &last
		}
		if pos != nil || q.Offset > 0 {
			page.Prev = &first
		}
	}
	return s.keepPage(ctx, ck, page), nil
}

// listCache is a List's dealings with the read cache.
type listCache struct {
	key     string
	version int64
	on      bool       // the cache is in use and version was read
	size    int64      // bytes of the page's stored bodies
	hit     cachedPage // set on a hit
}

// cachedPage is a page in the read cache; cached tells a hit from the zero value.
type cachedPage struct {
	page   Page
	cached bool
}

// clone copies what a caller may change (the slice; the entities are shared and never
// changed after a read).
func (p Page) clone() Page {
	p.Entities = slices.Clone(p.Entities)
	return p
}

// decodeRaws decodes rows into entities (nil for none, as a page without entities has).
func decodeRaws(raws []Raw) ([]entity.Entity, error) {
	var out []entity.Entity
	for _, r := range raws {
		e, err := DecodeRaw(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// keepPage caches page when the cache is in use, and returns it.
func (s *Store) keepPage(ctx context.Context, ck listCache, page Page) Page {
	if ck.on {
		// Decoded entities take about three times their stored JSON, each of the page's
		// encodings (at most maxPageForms, EncodePage) about one and a half, and each whole
		// answer (at most maxPageAnswers, compressed, AnswerPage) about a quarter.
		size := 6*ck.size + ck.size/2 + 256
		page.forms = &pageForms{}
		s.keep(ctx, ck.key, ck.version, cachedPage{page: page.clone(), cached: true}, size)
	}
	return page
}

// ErrBadPosition reports a position with the wrong number of keys for the query's order.
var ErrBadPosition = errors.New("store: position does not match the query's order")

// Count returns how many entities match.
func (s *Store) Count(ctx context.Context, filter Expr, fullText string) (int64, error) {
	b := sqlb{kindInSearch: true}
	where, err := b.where(filter, fullText)
	if err != nil {
		return 0, err
	}
	var n int64
	batch := &pgx.Batch{}
	perCallPlans(batch)
	batch.Queue("SELECT count(*) FROM catalog_entities e WHERE "+where, b.args...).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	if err := s.shards.InReadBatch(ctx, batch); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// FacetValue is one value of a facet and how many entities have it.
type FacetValue struct {
	Value string
	Count int64
}

// Facets counts, for each key, the entities per value among those matching filter. Values
// compare lowercased; the value shown is one spelling as written. Relation facets
// ("relations.ownedBy") count entities per target ref. Values sort by count, then value.
func (s *Store) Facets(ctx context.Context, keys []string, filter Expr) (map[string][]FacetValue, error) {
	return s.FacetsMatching(ctx, keys, filter, "")
}

// FacetsMatching is Facets among the entities that also match the full-text term, so the
// counts beside a search say how many of the results have each value.
func (s *Store) FacetsMatching(ctx context.Context, keys []string, filter Expr, fullText string) (map[string][]FacetValue, error) {
	out := make(map[string][]FacetValue, len(keys))
	var (
		ck      string
		version int64
		caching bool
	)
	if s.cache != nil {
		ck = cacheKey("facets", keys, filter, fullText)
	}
	if v, hit, err := s.fresh(ctx, ck); err != nil {
		return nil, err
	} else if hit { // only a filter that compiled was cached
		maps.Copy(out, v.(map[string][]FacetValue))
		return out, nil
	}
	if _, err := (&sqlb{}).cond(filter); err != nil {
		return nil, err
	}
	// The version (when caching) first, so that the counts are at least as new as the
	// version they are cached under; then one statement per key: one round trip.
	batch := &pgx.Batch{}
	perCallPlans(batch)
	_, caching = s.caching(ctx)
	if caching {
		batch.Queue(versionSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
	}
	for _, key := range keys {
		b := sqlb{kindInSearch: true}
		// where compiles the filter over entity rows "e", binding its values.
		where := func() string {
			c, _ := b.where(filter, fullText)
			return c
		}
		// onUID restricts rows carrying an entity uid to the filtered entities: directly
		// on the uid when the filter needs nothing but search rows (then Postgres merges
		// uid-ordered index streams), else through the entity rows.
		onUID := func(uid string) string {
			if filter == nil && strings.TrimSpace(fullText) == "" {
				return ""
			}
			if strings.TrimSpace(fullText) != "" {
				// The term is matched on entity rows (their tsvector).
				return " AND " + uid + " IN (SELECT e.uid FROM catalog_entities e WHERE " + where() + ")"
			}
			bound := len(b.args)
			b.uid, b.needsRow = uid, false
			c, _ := b.cond(filter)
			b.uid = ""
			if !b.needsRow {
				return " AND " + c
			}
			b.args = b.args[:bound]
			return " AND " + uid + " IN (SELECT e.uid FROM catalog_entities e WHERE " + where() + ")"
		}
		lk := strings.ToLower(key)
		var sql string
		switch t, isRel := strings.CutPrefix(lk, relationPrefix); {
		case isRel && t != "":
			// Stated relations are search rows; reversed edges of type t count for their
			// targets (when those are entities under the filter and no stated relation
			// already says the same).
			typ := canonicalRelationType(t)
			fk := b.arg(relationPrefix + strings.ToLower(typ))
			stated := "SELECT s.value FROM catalog_search s WHERE s.key = " + fk + " AND s.value IS NOT NULL" + onUID("s.entity_uid")
			reversed := "SELECT r.source_ref FROM catalog_relations r JOIN catalog_entities x ON x.ref = r.target_ref WHERE " + b.backward(typ) +
				" AND NOT EXISTS (SELECT 1 FROM catalog_search f WHERE f.key = " + fk + " AND f.value = r.source_ref AND f.entity_uid = x.uid)" + onUID("x.uid")
			sql = "SELECT x.value, count(*) FROM (" + stated + " UNION ALL " + reversed + ") x GROUP BY x.value"
		case lk == "metadata.name":
			// Names live in a column (lowercased); the body has the spelling.
			sql = "SELECT max(e.body #>> '{metadata,name}'), count(*) FROM catalog_entities e WHERE " + where() + " GROUP BY e.name"
		case lk == "metadata.namespace":
			sql = "SELECT e.namespace, count(*) FROM catalog_entities e WHERE " + where() + " GROUP BY e.namespace"
		default:
			sql = "SELECT coalesce(max(s.original), s.value), count(*) FROM catalog_search s WHERE s.key = " + b.arg(lk) + " AND s.value IS NOT NULL" +
				onUID("s.entity_uid") + " GROUP BY s.value"
		}
		batch.Queue(sql, b.args...).Query(func(rows pgx.Rows) error {
			values, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FacetValue, error) {
				var v FacetValue
				err := r.Scan(&v.Value, &v.Count)
				return v, err
			})
			if err != nil {
				return fmt.Errorf("store: facet %s: %w", key, err)
			}
			sort.Slice(values, func(i, j int) bool {
				if values[i].Count != values[j].Count {
					return values[i].Count > values[j].Count
				}
				return values[i].Value < values[j].Value
			})
			out[key] = values
			return nil
		})
	}
	if err := s.shards.InReadBatch(ctx, batch); err != nil {
		return nil, fmt.Errorf("store: facets: %w", err)
	}
	if caching {
		size := int64(256)
		for k, vs := range out {
			size += int64(len(k)) + 48*int64(len(vs))
			for _, v := range vs {
				size += int64(len(v.Value))
			}
		}
		s.keep(ctx, ck, version, maps.Clone(out), size)
	}
	return out, nil
}

// customPlan runs a compiled query with an unnamed statement (its description cached), so
// Postgres plans it for the actual values every time. A cached prepared statement switches to
// a generic plan after five runs, and a generic plan cannot know that spec.type=service
// matches half the catalog while spec.type=grpc matches a few rows: it would pick one plan
// for both, slow for one of them.
func customPlan(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}

// perCallPlans queues, first in a batch for tenantdb.InReadBatch, two settings for the rest
// of its transaction. Every statement is planned for its values, as customPlan does:
// InReadBatch runs prepared statements, which Postgres would otherwise switch to a generic
// plan after five runs. And plans stay single-process: the tables already say so
// (parallel_workers = 0), but Postgres may still spread the branches of a top-level UNION
// (relation facets) over workers, and on a small machine serving concurrent requests workers
// cost more than they save.
func perCallPlans(b *pgx.Batch) {
	b.Queue(`SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('max_parallel_workers_per_gather', '0', true)`)
}

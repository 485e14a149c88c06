package store

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"atrium.dev/services/catalog/internal/entity"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Draft is one validated entity ready to store: everything derived from it is computed by the
// caller (package ingest), so the store only compares and writes.
type Draft struct {
	// Ref is the canonical lowercased "kind:namespace/name"; Kind, Namespace and Name are its
	// parts.
	Ref, Kind, Namespace, Name string
	// Body is the JSON of the normalized entity (no uid, etag, generation or relations).
	Body     []byte
	Etag     string
	SpecHash string
	// Words is the full-text document: lowercased words of name, title, description, tags.
	Words  string
	Search []Pair
	Edges  []Edge
}

// Pair is one search row. Value is lowercased; Original is the value as written when it
// differs, else "". A nil Value is a key present without a usable value.
type Pair struct {
	Key      string
	Value    *string
	Original string
	// Item marks a string item of an array (see SearchPairs).
	Item bool
}

// Edge is a relation edge between two canonical refs. Drafts carry only the entity's own
// edges (Source is the entity); the store derives the reverse ones.
type Edge struct {
	Source, Type, Target string
}

// Action says what applying a draft did (or would do).
type Action int

const (
	Created Action = iota + 1
	Updated
	Unchanged
	// Conflict: another Location already yields this ref; nothing was written for it.
	Conflict
)

func (a Action) String() string {
	switch a {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Unchanged:
		return "unchanged"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Result is the outcome for one draft, in input order.
type Result struct {
	Ref    string
	UID    string
	Etag   string
	Action Action
	// Generation after the apply.
	Generation int64
	// ConflictLocation is the id of the Location that owns the ref (Action Conflict).
	ConflictLocation string
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	DryRun bool
	// EntityLimit caps the tenant's entities after the batch; 0 means no limit.
	EntityLimit int
	// LocationID, when set, applies the drafts as that Location's entities: a ref another
	// Location owns is a Conflict (not overwritten, as Backstage reports it on the second
	// Location), and the others become the Location's. Direct applies (no LocationID)
	// leave an entity's Location as it is.
	LocationID string
	// counted, when set, receives the tenant's entity count after the batch (for the usage
	// report; set by the store's own callers).
	counted *int64
}

type existing struct {
	uid        string
	etag       string
	generation int64
	specHash   string
	location   string
}

// Apply writes drafts all or nothing. Refs must be unique within drafts (the caller reports
// duplicates with their document indexes). An unchanged draft (same etag) writes nothing; a
// changed one keeps its uid, takes the new etag and increments generation when its spec
// changed. Every write is audited with the identity's actor and request id. A dry run reads
// what exists and reports what would happen.
func (s *Store) Apply(ctx context.Context, drafts []Draft, opts ApplyOptions) ([]Result, error) {
	var results []Result
	run := s.shards.InTx
	if opts.DryRun {
		run = s.shards.InReadTx
	}
	var count int64
	opts.counted = &count
	err := run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		results, err = applyTx(ctx, tx, drafts, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		s.counted(ctx, count)
	}
	return results, nil
}

func applyTx(ctx context.Context, tx pgx.Tx, drafts []Draft, opts ApplyOptions) ([]Result, error) {
	lock := " FOR UPDATE"
	if opts.DryRun {
		lock = ""
	}
	var count int64
	if err := tx.QueryRow(ctx, `SELECT entity_count FROM catalog_state`+lock).Scan(&count); err != nil {
		return nil, fmt.Errorf("store: lock catalog: %w", err)
	}
	refs := make([]string, len(drafts))
	for i, d := range drafts {
		refs[i] = d.Ref
	}
	old := make(map[string]existing, len(drafts))
	rows, err := tx.Query(ctx, `SELECT ref, uid::text, etag, generation, spec_hash, coalesce(location_id::text, '') FROM catalog_entities WHERE ref = ANY($1)`, refs)
	if err != nil {
		return nil, fmt.Errorf("store: read existing: %w", err)
	}
	for rows.Next() {
		var ref string
		var e existing
		if err := rows.Scan(&ref, &e.uid, &e.etag, &e.generation, &e.specHash, &e.location); err != nil {
			rows.Close()
			return nil, err
		}
		old[ref] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read existing: %w", err)
	}

	results := make([]Result, len(drafts))
	var changed []int
	creates := 0
	for i, d := range drafts {
		prev, ok := old[d.Ref]
		switch {
		case !ok:
			uid := ""
			if !opts.DryRun {
				uid = newUID()
			}
			results[i] = Result{Ref: d.Ref, UID: uid, Etag: d.Etag, Action: Created, Generation: 1}
			creates++
			changed = append(changed, i)
		case opts.LocationID != "" && prev.location != "" && prev.location != opts.LocationID:
			results[i] = Result{Ref: d.Ref, UID: prev.uid, Etag: prev.etag, Action: Conflict, Generation: prev.generation, ConflictLocation: prev.location}
		case prev.etag == d.Etag && (opts.LocationID == "" || prev.location == opts.LocationID):
			results[i] = Result{Ref: d.Ref, UID: prev.uid, Etag: prev.etag, Action: Unchanged, Generation: prev.generation}
		default:
			gen := prev.generation
			if prev.specHash != d.SpecHash {
				gen++
			}
			results[i] = Result{Ref: d.Ref, UID: prev.uid, Etag: d.Etag, Action: Updated, Generation: gen}
			changed = append(changed, i)
		}
	}
	if opts.EntityLimit > 0 && count+int64(creates) > int64(opts.EntityLimit) {
		return nil, rpcerr.ResourceExhausted(0, "entity limit reached: the tenant has %d entities, this batch adds %d, the limit is %d", count, creates, opts.EntityLimit)
	}
	if opts.counted != nil {
		*opts.counted = count + int64(creates)
	}
	if opts.DryRun || len(changed) == 0 {
		return results, nil
	}
	if err := writeDrafts(ctx, tx, drafts, results, old, changed, opts.LocationID); err != nil {
		return nil, err
	}
	// The same statement raises the data version: every cached read of the tenant ends.
	if _, err := tx.Exec(ctx, `UPDATE catalog_state SET entity_count = entity_count + $1, data_version = data_version + 1`, creates); err != nil {
		return nil, fmt.Errorf("store: count entities: %w", err)
	}
	return results, nil
}

// writeDrafts upserts the changed entities with one statement over arrays, replaces their
// search rows and edges with COPY, and appends audit rows with COPY.
func writeDrafts(ctx context.Context, tx pgx.Tx, drafts []Draft, results []Result, old map[string]existing, changed []int, locationID string) error {
	n := len(changed)
	var (
		uids         = make([]string, n)
		refs         = make([]string, n)
		kinds        = make([]string, n)
		nss          = make([]string, n)
		names        = make([]string, n)
		bodies       = make([]string, n)
		etags        = make([]string, n)
		gens         = make([]int64, n)
		hashes       = make([]string, n)
		words        = make([]string, n)
		replaced     []string
		replacedRefs []string
	)
	for j, i := range changed {
		d, r := drafts[i], results[i]
		uids[j], refs[j], kinds[j], nss[j], names[j] = r.UID, d.Ref, d.Kind, d.Namespace, d.Name
		bodies[j], etags[j], gens[j], hashes[j], words[j] = string(d.Body), d.Etag, r.Generation, d.SpecHash, d.Words
		if r.Action == Updated {
			replaced = append(replaced, r.UID)
			replacedRefs = append(replacedRefs, r.Ref)
		}
	}
	// Derived rows go first: deleting an entity's search rows reads its stored body.
	if len(replaced) > 0 {
		if err := deleteSearchRows(ctx, tx, replaced); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM catalog_relations WHERE source_ref = ANY($1::text[])`, replacedRefs); err != nil {
			return fmt.Errorf("store: replace relations: %w", err)
		}
	}

	var loc any
	if locationID != "" {
		loc = locationID
	}
	// The body goes through jsonb to json: stored as the text jsonb prints, which reads send
	// as stored (migration 005 says why).
	_, err := tx.Exec(ctx, `
INSERT INTO catalog_entities (uid, ref, kind, namespace, name, body, etag, generation, spec_hash, search, location_id)
SELECT u.uid, u.ref, u.kind, u.namespace, u.name, u.body::jsonb::json, u.etag, u.generation, u.spec_hash, to_tsvector('simple', u.words), $11::uuid
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[])
  AS u(uid, ref, kind, namespace, name, body, etag, generation, spec_hash, words)
ON CONFLICT (ref) DO UPDATE SET
  body = EXCLUDED.body, etag = EXCLUDED.etag, generation = EXCLUDED.generation,
  spec_hash = EXCLUDED.spec_hash, search = EXCLUDED.search, updated_at = now(),
  location_id = coalesce(EXCLUDED.location_id, catalog_entities.location_id)`,
		uids, refs, kinds, nss, names, bodies, etags, gens, hashes, words, loc)
	if err != nil {
		return fmt.Errorf("store: write entities: %w", err)
	}
	type searchRow struct {
		uid      pgtype.UUID
		key      string
		value    *string
		original string
		item     bool
	}
	var search []searchRow
	var edgeRows [][]any
	for _, i := range changed {
		uid, err := uuid.Parse(results[i].UID)
		if err != nil {
			return fmt.Errorf("store: uid %q: %w", results[i].UID, err)
		}
		for _, p := range drafts[i].Search {
			search = append(search, searchRow{pgtype.UUID{Bytes: uid, Valid: true}, p.Key, p.Value, p.Original, p.Item})
		}
		for _, e := range drafts[i].Edges {
			inv, _ := entity.InverseRelation(e.Type)
			edgeRows = append(edgeRows, []any{e.Source, e.Type, e.Target, inv})
		}
	}
	// In index order: consecutive inserts then land on the same or neighbouring leaf pages of
	// the (key, value, uid) index instead of all over it.
	sort.Slice(search, func(i, j int) bool {
		a, b := search[i], search[j]
		if a.key != b.key {
			return a.key < b.key
		}
		if (a.value == nil) != (b.value == nil) {
			return a.value != nil
		}
		if a.value != nil && *a.value != *b.value {
			return *a.value < *b.value
		}
		return bytes.Compare(a.uid.Bytes[:], b.uid.Bytes[:]) < 0
	})
	searchRows := make([][]any, len(search))
	for i, r := range search {
		var val, orig any
		if r.value != nil {
			val = *r.value
		}
		if r.original != "" {
			orig = r.original
		}
		searchRows[i] = []any{r.uid, r.key, val, orig, r.item}
	}
	sort.Slice(edgeRows, func(i, j int) bool {
		a, b := edgeRows[i], edgeRows[j]
		if a[0].(string) != b[0].(string) {
			return a[0].(string) < b[0].(string)
		}
		if a[1].(string) != b[1].(string) {
			return a[1].(string) < b[1].(string)
		}
		return a[2].(string) < b[2].(string)
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"catalog_search"}, []string{"entity_uid", "key", "value", "original", "item"}, pgx.CopyFromRows(searchRows)); err != nil {
		return fmt.Errorf("store: copy search rows: %w", err)
	}
	if len(edgeRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"catalog_relations"}, []string{"source_ref", "type", "target_ref", "inverse"}, pgx.CopyFromRows(edgeRows)); err != nil {
			return fmt.Errorf("store: copy relations: %w", err)
		}
	}

	actor, requestID := actorOf(ctx)
	now := time.Now()
	audit := make([][]any, 0, n)
	for _, i := range changed {
		r := results[i]
		id, _ := uuid.Parse(r.UID)
		uid := pgtype.UUID{Bytes: id, Valid: true}
		var before any
		action := "create"
		if r.Action == Updated {
			action = "update"
			before = old[r.Ref].etag
		}
		audit = append(audit, []any{now, actor, action, r.Ref, uid, before, r.Etag, requestID})
	}
	return copyAudit(ctx, tx, audit)
}

// deleteSearchRows deletes the search rows of entities (before their bodies change): the keys
// their stored bodies flatten to, probed through (key, entity_uid).
func deleteSearchRows(ctx context.Context, tx pgx.Tx, uids []string) error {
	rows, err := tx.Query(ctx, `SELECT uid::text, ref, body FROM catalog_entities WHERE uid = ANY($1::uuid[])`, uids)
	if err != nil {
		return fmt.Errorf("store: read replaced entities: %w", err)
	}
	var keys, owners []string
	for rows.Next() {
		var uid, ref string
		var body []byte
		if err := rows.Scan(&uid, &ref, &body); err != nil {
			rows.Close()
			return fmt.Errorf("store: read replaced entities: %w", err)
		}
		e, err := decodeBody(ref, body)
		if err != nil {
			rows.Close()
			return err
		}
		for _, k := range searchKeys(e) {
			keys, owners = append(keys, k), append(owners, uid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read replaced entities: %w", err)
	}
	_, err = tx.Exec(ctx, `DELETE FROM catalog_search s USING unnest($1::text[], $2::uuid[]) AS u(key, uid)
WHERE s.key = u.key AND s.entity_uid = u.uid`, keys, owners)
	if err != nil {
		return fmt.Errorf("store: replace search rows: %w", err)
	}
	return nil
}

func copyAudit(ctx context.Context, tx pgx.Tx, rows [][]any) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"catalog_audit"},
		[]string{"at", "actor", "action", "entity_ref", "entity_uid", "etag_before", "etag_after", "request_id"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("store: write audit: %w", err)
	}
	return nil
}

func actorOf(ctx context.Context) (actor string, requestID any) {
	id, _ := authn.FromContext(ctx)
	rid := telemetry.RequestID(ctx)
	if id != nil && id.RequestID != "" {
		rid = id.RequestID
	}
	if rid == "" {
		return id.Actor(), nil
	}
	return id.Actor(), rid
}

// newUID returns a time-ordered (version 7) UUID: consecutive entities land next to each other
// in every index keyed by uid, so bulk loads append to the right edge of those btrees instead
// of splitting pages all over them. Callers treat uids as opaque, as Backstage's are.
func newUID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

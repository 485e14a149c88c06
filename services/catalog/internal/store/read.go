package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// entityColumns are what readEntity scans, from a row source aliased "e". The relations
// subquery runs per returned row, so queries apply it only after LIMIT: an entity's relations
// are its own edges and the reverse of the edges pointing at it. Loads of several known refs
// use byRefsSQL instead, whose relations come from one scan of each relations index.
const entityColumns = `e.uid::text, e.ref, e.etag, e.generation, e.body,
  (SELECT array_agg(DISTINCT x.rel) FROM (
     SELECT r.type || ' ' || r.target_ref AS rel FROM catalog_relations r WHERE r.source_ref = e.ref
     UNION ALL
     SELECT r.inverse || ' ' || r.source_ref FROM catalog_relations r WHERE r.target_ref = e.ref) x)`

// Raw is an entity as the store read it: its body as stored (the text Postgres prints for
// jsonb, which writers store as json: migration 005), and the fields the server adds
// (DecodeRaw makes the entity of both). Handlers may write it straight from the text
// (Encoder.Raw): decoding a page of bodies into maps only to encode the maps again was most
// of the CPU of a read that missed the read cache.
type Raw struct {
	Ref, UID, Etag string
	Generation     int64
	Body           []byte
	// Relations are sorted (entity.SortRelations) and never nil.
	Relations []entity.Relation
}

// DecodeRaw returns the entity in Backstage's shape.
func DecodeRaw(r Raw) (entity.Entity, error) {
	e, err := decodeBody(r.Ref, r.Body)
	if err != nil {
		return nil, err
	}
	e.SetServerFields(r.UID, r.Etag, r.Generation, r.Relations)
	return e, nil
}

// readRaw scans one row of entityColumns (then any extra columns into extra).
func readRaw(row pgx.Row, extra ...any) (Raw, error) {
	var (
		r    Raw
		rels []string
	)
	if err := row.Scan(append([]any{&r.UID, &r.Ref, &r.Etag, &r.Generation, &r.Body, &rels}, extra...)...); err != nil {
		return Raw{}, err
	}
	r.Relations = relationsOf(rels)
	return r, nil
}

// readEntity scans one row of entityColumns (then any extra columns into extra) into an
// entity in Backstage's shape.
func readEntity(row pgx.Row, extra ...any) (entity.Entity, string, error) {
	r, err := readRaw(row, extra...)
	if err != nil {
		return nil, "", err
	}
	e, err := DecodeRaw(r)
	return e, r.Ref, err
}

// decodeBody decodes a stored body. The store wrote it from a validated entity, so a plain
// decode (numbers as float64, as entities hold them) is enough; entity.FromJSON's checks and
// copy would double the cost of every read.
func decodeBody(ref string, body []byte) (entity.Entity, error) {
	v, err := decodeJSON(body)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, fmt.Errorf("store: stored entity %s is not a JSON object", ref)
	}
	return entity.Entity(m), nil
}

func relationsOf(rels []string) []entity.Relation {
	out := make([]entity.Relation, 0, len(rels))
	for _, s := range rels {
		typ, target, ok := strings.Cut(s, " ")
		if !ok {
			continue
		}
		ref, err := entity.ParseRef(target, "", "")
		if err != nil {
			continue
		}
		out = append(out, entity.Edge{Type: typ, Target: ref}.Relation())
	}
	return entity.SortRelations(out)
}

// GetByRef returns the entity with the canonical ref, or NotFound.
func (s *Store) GetByRef(ctx context.Context, ref string) (entity.Entity, error) {
	var e entity.Entity
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		e, _, err = readEntity(tx.QueryRow(ctx, `SELECT `+entityColumns+` FROM catalog_entities e WHERE e.ref = $1`, ref))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rpcerr.NotFound("no entity %s", ref)
	}
	return e, err
}

// GetByUID returns the entity with uid, or NotFound (also for a malformed uid).
func (s *Store) GetByUID(ctx context.Context, uid string) (entity.Entity, error) {
	id, err := uuid.Parse(uid)
	if err != nil {
		return nil, rpcerr.NotFound("no entity with uid %s", uid)
	}
	var e entity.Entity
	err = s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		e, _, err = readEntity(tx.QueryRow(ctx, `SELECT `+entityColumns+` FROM catalog_entities e WHERE e.uid = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rpcerr.NotFound("no entity with uid %s", uid)
	}
	return e, err
}

// GetByRefs returns one entity per canonical ref, in order; nil where none exists.
func (s *Store) GetByRefs(ctx context.Context, refs []string) ([]entity.Entity, error) {
	return s.GetByRefsWhere(ctx, refs, nil)
}

// GetByRefsWhere is GetByRefs returning only entities that also match filter (nil: all), as
// Backstage's by-refs with a filter: a ref whose entity does not match is nil like a missing
// one. The filter runs in SQL, so predicates and filters behave as they do in listings.
func (s *Store) GetByRefsWhere(ctx context.Context, refs []string, filter Expr) ([]entity.Entity, error) {
	out := make([]entity.Entity, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		byRef, err := loadByRefsWhere(ctx, tx, refs, filter)
		if err != nil {
			return err
		}
		for i, r := range refs {
			out[i] = byRef[r]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func loadByRefs(ctx context.Context, tx pgx.Tx, refs []string) (map[string]entity.Entity, error) {
	return loadByRefsWhere(ctx, tx, refs, nil)
}

func loadByRefsWhere(ctx context.Context, tx pgx.Tx, refs []string, filter Expr) (map[string]entity.Entity, error) {
	raws, err := loadRawByRefs(ctx, tx, refs, filter)
	if err != nil {
		return nil, err
	}
	byRef := make(map[string]entity.Entity, len(raws))
	for _, r := range raws {
		e, err := DecodeRaw(r)
		if err != nil {
			return nil, fmt.Errorf("store: load entities: %w", err)
		}
		byRef[r.Ref] = e
	}
	return byRef, nil
}

// loadRawByRefs is loadByRefsWhere without decoding: the rows as read, in no order.
func loadRawByRefs(ctx context.Context, tx pgx.Tx, refs []string, filter Expr) ([]Raw, error) {
	sql, args, err := byRefsQuery(refs, filter)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: load entities: %w", err)
	}
	return scanByRefs(rows, len(refs))
}

// byRefsQuery is loadRawByRefs' statement and its arguments.
func byRefsQuery(refs []string, filter Expr) (string, []any, error) {
	var b sqlb
	refsArg := b.arg(refs)
	where := ""
	if filter != nil {
		c, err := b.cond(filter)
		if err != nil {
			return "", nil, err
		}
		where = " AND " + c
	}
	args := b.args
	if filter != nil {
		// Only a filter's plan depends on its values (customPlan says why); refs alone take
		// the ref index whatever they are, and a prepared statement skips planning the
		// relations joins on every call.
		args = customPlan(args)
	}
	return byRefsSQL(len(refs), refsArg, where), args, nil
}

// scanByRefs reads byRefsQuery's rows (of at most n refs) and closes rows.
func scanByRefs(rows pgx.Rows, n int) ([]Raw, error) {
	out := make([]Raw, 0, n)
	err := eachByRefs(rows, func(r Raw) error { out = append(out, r); return nil })
	return out, err
}

// eachByRefs calls fn with each of byRefsQuery's rows as it arrives, and closes rows.
func eachByRefs(rows pgx.Rows, fn func(Raw) error) error {
	defer rows.Close()
	for rows.Next() {
		r, err := readRaw(rows)
		if err != nil {
			return fmt.Errorf("store: load entities: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// byRefsSQL selects entityColumns of the entities whose refs are in the
// text[] parameter refsArg (n refs), and that match where (" AND <condition on e>", or "").
//
// An entity's relations there are one array of its own edges and one of the reversed edges
// pointing at it, each from one grouped scan of its relations index over all the refs (no
// UNION: Postgres may run the branches of one in parallel workers, which cost a by-refs of
// 100 several milliseconds), instead of entityColumns' two index scans and an aggregate per
// row, which took more of a by-refs of 100 than its bodies did. The edges come back
// unsorted and, unlike entityColumns', not deduplicated: relationsOf sorts and deduplicates
// them either way, so the entities are the same. With a filter, the relations of refs it
// drops are read too. One ref keeps entityColumns, a little cheaper for a single row.
func byRefsSQL(n int, refsArg, where string) string {
	if n == 1 {
		return `SELECT ` + entityColumns + ` FROM catalog_entities e WHERE e.ref = ANY(` + refsArg + `)` + where
	}
	return `SELECT e.uid::text, e.ref, e.etag, e.generation, e.body, array_cat(rel_out.rels, rel_in.rels)
FROM catalog_entities e
LEFT JOIN (SELECT r.source_ref AS ref, array_agg(r.type || ' ' || r.target_ref) AS rels FROM catalog_relations r
  WHERE r.source_ref = ANY(` + refsArg + `) GROUP BY r.source_ref) rel_out ON rel_out.ref = e.ref
LEFT JOIN (SELECT r.target_ref AS ref, array_agg(r.inverse || ' ' || r.source_ref) AS rels FROM catalog_relations r
  WHERE r.target_ref = ANY(` + refsArg + `) GROUP BY r.target_ref) rel_in ON rel_in.ref = e.ref
WHERE e.ref = ANY(` + refsArg + `)` + where
}

// Delete removes the entity with uid, its search rows and the edges its spec stated (edges
// other entities state towards it stay: Backstage keeps dangling relations too), and audits it.
func (s *Store) Delete(ctx context.Context, uid string) error {
	id, err := uuid.Parse(uid)
	if err != nil {
		return rpcerr.NotFound("no entity with uid %s", uid)
	}
	var count int64
	err = s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM catalog_state FOR UPDATE`); err != nil {
			return fmt.Errorf("store: lock catalog: %w", err)
		}
		if err := deleteSearchRows(ctx, tx, []string{id.String()}); err != nil {
			return err
		}
		var ref, etag string
		err := tx.QueryRow(ctx, `DELETE FROM catalog_entities WHERE uid = $1 RETURNING ref, etag`, id).Scan(&ref, &etag)
		if errors.Is(err, pgx.ErrNoRows) {
			return rpcerr.NotFound("no entity with uid %s", uid)
		}
		if err != nil {
			return fmt.Errorf("store: delete: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM catalog_relations WHERE source_ref = $1`, ref); err != nil {
			return fmt.Errorf("store: delete: %w", err)
		}
		if err := tx.QueryRow(ctx, `UPDATE catalog_state SET entity_count = entity_count - 1, data_version = data_version + 1 RETURNING entity_count`).Scan(&count); err != nil {
			return fmt.Errorf("store: delete: %w", err)
		}
		actor, rid := actorOf(ctx)
		_, err = tx.Exec(ctx, `INSERT INTO catalog_audit (actor, action, entity_ref, entity_uid, etag_before, request_id) VALUES ($1, 'delete', $2, $3, $4, $5)`,
			actor, ref, id, etag, rid)
		if err != nil {
			return fmt.Errorf("store: audit delete: %w", err)
		}
		return nil
	})
	if err == nil {
		s.counted(ctx, count)
	}
	return err
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	Actor, Action, Ref, UID, EtagBefore, EtagAfter, RequestID string
}

// Audit returns the audit rows of a canonical ref, oldest first (for tests and tooling).
func (s *Store) Audit(ctx context.Context, ref string) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT actor, action, entity_ref, entity_uid::text, coalesce(etag_before, ''), coalesce(etag_after, ''), coalesce(request_id, '')
FROM catalog_audit WHERE entity_ref = $1 ORDER BY id`, ref)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
			var a AuditEntry
			err := r.Scan(&a.Actor, &a.Action, &a.Ref, &a.UID, &a.EtagBefore, &a.EtagAfter, &a.RequestID)
			return a, err
		})
		return err
	})
	return out, err
}

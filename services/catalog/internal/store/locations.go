package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/entity"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Location is a registered Backstage location (type "url") with its refresh state.
type Location struct {
	ID, Type, Target, EntityRef string
	CreatedAt, UpdatedAt        time.Time
	// RefreshedAt is when a refresh last changed the stored state (zero: never).
	RefreshedAt time.Time
	Revision    string
	LastError   string
	Failures    int
	Problems    []Problem
	EntityCount int
}

// Problem is one thing a refresh could not import, named as precisely as it is known.
type Problem struct {
	File      string `json:"file,omitempty"`
	Document  *int   `json:"document,omitempty"`
	Field     string `json:"field,omitempty"`
	EntityRef string `json:"entityRef,omitempty"`
	Message   string `json:"message"`
}

const locationColumns = `id::text, type, target, entity_ref, created_at, updated_at, coalesce(refreshed_at, 'epoch'::timestamptz),
  revision, last_error, failures, problems, entity_count`

func scanLocation(row pgx.Row) (Location, error) {
	var l Location
	var problems []byte
	err := row.Scan(&l.ID, &l.Type, &l.Target, &l.EntityRef, &l.CreatedAt, &l.UpdatedAt, &l.RefreshedAt,
		&l.Revision, &l.LastError, &l.Failures, &problems, &l.EntityCount)
	if err != nil {
		return l, err
	}
	if l.RefreshedAt.Equal(time.Unix(0, 0)) {
		l.RefreshedAt = time.Time{}
	}
	_ = json.Unmarshal(problems, &l.Problems)
	return l, nil
}

// ErrLocationExists is returned by CreateLocation for a (type, target) already registered.
var ErrLocationExists = errors.New("store: location exists")

// CreateLocation registers a location; a (type, target) already registered is AlreadyExists
// with Backstage's message.
func (s *Store) CreateLocation(ctx context.Context, typ, target, entityRef string) (Location, error) {
	var l Location
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = scanLocation(tx.QueryRow(ctx, `INSERT INTO catalog_locations (id, type, target, entity_ref) VALUES ($1, $2, $3, $4)
RETURNING `+locationColumns, newUID(), typ, target, entityRef))
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return l, rpcerr.AlreadyExists("Location %s:%s already exists", typ, target)
	}
	return l, err
}

// UpdateLocation changes a location's type and target.
func (s *Store) UpdateLocation(ctx context.Context, id, typ, target, entityRef string) (Location, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Location{}, rpcerr.NotFound("Found no location with ID %s", id)
	}
	var l Location
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = scanLocation(tx.QueryRow(ctx, `UPDATE catalog_locations SET type = $2, target = $3, entity_ref = $4, updated_at = now(), revision = ''
WHERE id = $1 RETURNING `+locationColumns, id, typ, target, entityRef))
		return err
	})
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return l, rpcerr.NotFound("Found no location with ID %s", id)
	case errors.As(err, &pe) && pe.Code == "23505":
		return l, rpcerr.AlreadyExists("Location %s:%s already exists", typ, target)
	}
	return l, err
}

// GetLocation returns a location, or NotFound with Backstage's message.
func (s *Store) GetLocation(ctx context.Context, id string) (Location, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Location{}, rpcerr.NotFound("Found no location with ID %s", id)
	}
	var l Location
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = scanLocation(tx.QueryRow(ctx, `SELECT `+locationColumns+` FROM catalog_locations WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return l, rpcerr.NotFound("Found no location with ID %s", id)
	}
	return l, err
}

// LocationQuery selects locations: an optional exact match on type, target or entityRef,
// a keyset position (the last id of the previous page) and a page size.
type LocationQuery struct {
	Type, Target, EntityRef, TargetPrefix string
	After                                 string
	Limit                                 int
}

// ListLocations returns locations in id order and the total matching the query.
func (s *Store) ListLocations(ctx context.Context, q LocationQuery) ([]Location, int64, error) {
	var out []Location
	var total int64
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var b sqlb
		where := "TRUE"
		if q.Type != "" {
			where += " AND type = " + b.arg(q.Type)
		}
		if q.Target != "" {
			where += " AND target = " + b.arg(q.Target)
		}
		if q.TargetPrefix != "" {
			where += " AND target LIKE " + b.arg(likePrefix(q.TargetPrefix))
		}
		if q.EntityRef != "" {
			where += " AND entity_ref = " + b.arg(q.EntityRef)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM catalog_locations WHERE "+where, b.args...).Scan(&total); err != nil {
			return fmt.Errorf("store: count locations: %w", err)
		}
		page := where
		if q.After != "" {
			page += " AND id > " + b.arg(q.After) + "::uuid"
		}
		sql := "SELECT " + locationColumns + " FROM catalog_locations WHERE " + page + " ORDER BY id"
		if q.Limit > 0 {
			sql += " LIMIT " + b.arg(q.Limit)
		}
		rows, err := tx.Query(ctx, sql, b.args...)
		if err != nil {
			return fmt.Errorf("store: list locations: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Location, error) { return scanLocation(r) })
		return err
	})
	return out, total, err
}

// LocationOf returns the location that yields the entity with the canonical ref (NotFound:
// no such entity, or one applied directly).
func (s *Store) LocationOf(ctx context.Context, ref string) (Location, error) {
	var l Location
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = scanLocation(tx.QueryRow(ctx, `SELECT `+prefixed("l.")+` FROM catalog_entities e JOIN catalog_locations l ON l.id = e.location_id WHERE e.ref = $1`, ref))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return l, rpcerr.NotFound("Found no location for entity %s", ref)
	}
	return l, err
}

func prefixed(p string) string {
	// The column list is a constant; qualify each plain column for a join.
	return p + "id::text, " + p + "type, " + p + "target, " + p + "entity_ref, " + p + "created_at, " + p + "updated_at, coalesce(" + p + "refreshed_at, 'epoch'::timestamptz), " +
		p + "revision, " + p + "last_error, " + p + "failures, " + p + "problems, " + p + "entity_count"
}

// DeleteLocation removes a location. Its entities stay, marked as orphans by the caller
// first (see OrphanLocation), and lose their link to it.
func (s *Store) DeleteLocation(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return rpcerr.NotFound("Found no location with ID %s", id)
	}
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM catalog_locations WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("store: delete location: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return rpcerr.NotFound("Found no location with ID %s", id)
		}
		_, err = tx.Exec(ctx, `UPDATE catalog_entities SET location_id = NULL WHERE location_id = $1`, id)
		return err
	})
}

// LocationEntities returns the refs of the entities a location yields.
func (s *Store) LocationEntities(ctx context.Context, id string) ([]string, error) {
	var refs []string
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT ref FROM catalog_entities WHERE location_id = $1 ORDER BY ref`, id)
		if err != nil {
			return err
		}
		refs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return refs, err
}

// LocationRefresh is what one refresh of a location found.
type LocationRefresh struct {
	LocationID string
	// Drafts are the entities the location yields now.
	Drafts   []Draft
	Revision string
	Problems []Problem
	// Orphan builds the draft of a stored entity the location no longer yields, marked as an
	// orphan (nil, false: it already is).
	Orphan      func(e entity.Entity) (Draft, bool, error)
	EntityLimit int
	// KeepLocations lists backstage.io/managed-by-location values whose stored entities
	// stay as they are when not yielded (their file had a problem); KeepAll keeps every one
	// (a file or target could not be read at all).
	KeepLocations []string
	KeepAll       bool
}

// RefreshOutcome reports what a refresh wrote.
type RefreshOutcome struct {
	Results  []Result
	Orphaned []string
}

// ApplyLocationRefresh writes a refresh in one transaction: the yielded entities (a ref
// another location owns becomes a Problem, not an overwrite), orphan marks on the entities
// no longer yielded, and the location's state.
func (s *Store) ApplyLocationRefresh(ctx context.Context, r LocationRefresh) (RefreshOutcome, error) {
	var out RefreshOutcome
	var count int64
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var exists bool
		// Serializes refreshes of one location (the worker and a webhook may race).
		if err := tx.QueryRow(ctx, `SELECT true FROM catalog_locations WHERE id = $1 FOR UPDATE`, r.LocationID).Scan(&exists); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return rpcerr.NotFound("Found no location with ID %s", r.LocationID)
			}
			return err
		}
		opts := ApplyOptions{LocationID: r.LocationID, EntityLimit: r.EntityLimit, counted: &count}
		res, err := applyTx(ctx, tx, r.Drafts, opts)
		if err != nil {
			return err
		}
		out.Results = res
		problems := append([]Problem(nil), r.Problems...)
		yielded := make([]string, 0, len(r.Drafts))
		owned := 0
		for _, x := range res {
			if x.Action == Conflict {
				var target string
				_ = tx.QueryRow(ctx, `SELECT type || ':' || target FROM catalog_locations WHERE id = $1`, x.ConflictLocation).Scan(&target)
				problems = append(problems, Problem{EntityRef: x.Ref, Message: fmt.Sprintf("Detected conflicting entityRef %s already referenced by %s; not overwritten", x.Ref, target)})
				continue
			}
			yielded = append(yielded, x.Ref)
			owned++
		}
		rows, err := tx.Query(ctx, `SELECT ref, body FROM catalog_entities WHERE location_id = $1 AND ref <> ALL($2::text[])`, r.LocationID, yielded)
		if err != nil {
			return fmt.Errorf("store: find orphans: %w", err)
		}
		var gone []Draft
		for rows.Next() {
			var ref string
			var body []byte
			if err := rows.Scan(&ref, &body); err != nil {
				rows.Close()
				return err
			}
			owned++
			if r.KeepAll {
				continue
			}
			e, err := decodeBody(ref, body)
			if err != nil {
				rows.Close()
				return err
			}
			if slices.Contains(r.KeepLocations, e.Annotations()[entity.AnnotationManagedByLocation]) {
				continue
			}
			d, mark, err := r.Orphan(e)
			if err != nil {
				rows.Close()
				return err
			}
			if mark {
				gone = append(gone, d)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(gone) > 0 {
			if _, err := applyTx(ctx, tx, gone, opts); err != nil {
				return err
			}
			for _, d := range gone {
				out.Orphaned = append(out.Orphaned, d.Ref)
			}
		}
		pj, _ := json.Marshal(problems)
		_, err = tx.Exec(ctx, `UPDATE catalog_locations SET revision = $2, last_error = '', failures = 0, problems = $3, entity_count = $4, refreshed_at = now()
WHERE id = $1`, r.LocationID, r.Revision, pj, owned)
		return err
	})
	if err == nil {
		s.counted(ctx, count)
	}
	return out, err
}

// RecordLocationFailure notes a failed refresh (fetch or parse of the root failed).
func (s *Store) RecordLocationFailure(ctx context.Context, id, msg string) error {
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE catalog_locations SET last_error = $2, failures = failures + 1, refreshed_at = now() WHERE id = $1`, id, msg)
		return err
	})
}

// RefreshInterval returns the tenant's refresh interval (0: the service default).
func (s *Store) RefreshInterval(ctx context.Context) (time.Duration, error) {
	var secs int
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT refresh_interval_seconds FROM catalog_state`).Scan(&secs)
	})
	return time.Duration(secs) * time.Second, err
}

// SetRefreshInterval sets the tenant's refresh interval.
func (s *Store) SetRefreshInterval(ctx context.Context, d time.Duration) error {
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE catalog_state SET refresh_interval_seconds = $1`, int(d/time.Second))
		return err
	})
}

// TenantsWithLocations lists, per shard, the tenant schemas that have catalog_locations
// rows. It reads as the shard owner (the worker is not a tenant).
func (s *Store) TenantsWithLocations(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for _, shard := range s.shards.Names() {
		pool, err := s.shards.Pool(shard)
		if err != nil {
			return nil, err
		}
		rows, err := pool.Query(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'catalog_locations' ORDER BY 1`)
		if err != nil {
			return nil, fmt.Errorf("store: list tenants on %s: %w", shard, err)
		}
		schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, sc := range schemas {
			if !tenantdb.ValidSchema(sc) {
				continue
			}
			var any bool
			q := `SELECT EXISTS (SELECT 1 FROM ` + pgx.Identifier{sc, "catalog_locations"}.Sanitize() + `)`
			if err := pool.QueryRow(ctx, q).Scan(&any); err != nil {
				continue // dropped meanwhile
			}
			if any {
				out[shard] = append(out[shard], sc)
			}
		}
	}
	return out, nil
}

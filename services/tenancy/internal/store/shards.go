package store

import (
	"context"
	"errors"
	"time"

	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
)

// Shard is a Postgres cluster that holds tenant schemas.
type Shard struct {
	Name           string
	DSN            string
	AcceptsTenants bool
	CreatedAt      time.Time
	// TenantCount counts the live tenants placed on the shard.
	TenantCount int64
	// MaxTenants caps TenantCount for placement; 0: no limit.
	MaxTenants int32
}

// UpsertShard records a configured shard, updating its DSN if the configuration changed.
func (s *Store) UpsertShard(ctx context.Context, name, dsn string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO tenancy.shards (name, dsn) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET dsn = excluded.dsn`, name, dsn)
	return translate(err, "shard")
}

// InsertShard registers a new shard; a known name is AlreadyExists on "name".
func (s *Store) InsertShard(ctx context.Context, name, dsn string, maxTenants int32) (Shard, error) {
	var sh Shard
	err := s.db.QueryRow(ctx, `
		INSERT INTO tenancy.shards (name, dsn, max_tenants) VALUES ($1, $2, $3)
		RETURNING name, dsn, accepts_tenants, created_at, max_tenants`,
		name, dsn, maxTenants).Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt, &sh.MaxTenants)
	return sh, translate(err, "shard")
}

// UpdateShard sets what is not nil and returns the shard with its tenant count.
func (s *Store) UpdateShard(ctx context.Context, name string, accepts *bool, maxTenants *int32) (Shard, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE tenancy.shards SET accepts_tenants = coalesce($2, accepts_tenants), max_tenants = coalesce($3, max_tenants)
		WHERE name = $1`, name, accepts, maxTenants)
	if err != nil {
		return Shard{}, translate(err, "shard")
	}
	if tag.RowsAffected() == 0 {
		return Shard{}, rpcerr.NotFound("no shard named %q", name)
	}
	return s.GetShard(ctx, name)
}

// ListShards returns every shard with its live tenant count, by name.
func (s *Store) ListShards(ctx context.Context) ([]Shard, error) {
	rows, err := s.db.Query(ctx, `
		SELECT s.name, s.dsn, s.accepts_tenants, s.created_at, s.max_tenants,
			(SELECT count(*) FROM tenancy.tenants t WHERE t.shard = s.name AND t.status NOT IN ('failed', 'deleted'))
		FROM tenancy.shards s ORDER BY s.name`)
	if err != nil {
		return nil, translate(err, "shards")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Shard, error) {
		var sh Shard
		err := r.Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt, &sh.MaxTenants, &sh.TenantCount)
		return sh, err
	})
	return out, translate(err, "shards")
}

// GetShard returns a shard by name.
func (s *Store) GetShard(ctx context.Context, name string) (Shard, error) {
	var sh Shard
	err := s.db.QueryRow(ctx, `
		SELECT name, dsn, accepts_tenants, created_at, max_tenants,
			(SELECT count(*) FROM tenancy.tenants t WHERE t.shard = s.name AND t.status NOT IN ('failed', 'deleted'))
		FROM tenancy.shards s WHERE name = $1`, name).
		Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt, &sh.MaxTenants, &sh.TenantCount)
	return sh, translate(err, "shard")
}

// HasRoom reports whether placement may put one more tenant on the shard.
func (sh Shard) HasRoom() bool { return sh.MaxTenants == 0 || sh.TenantCount < int64(sh.MaxTenants) }

// ErrShardsFull is what placement answers when no accepting shard has room.
func ErrShardsFull() error {
	return rpcerr.ResourceExhausted(0, "every shard accepting tenants is full (tenantctl shards list; raise --max-tenants or add a shard)")
}

// PickShard returns the shard accepting tenants with room that holds the fewest live ones
// (ties by name), other than except. Placement is advisory: two concurrent sign-ups may pick
// the same shard, so a shard can end one or two over its capacity, never many.
func (s *Store) PickShard(ctx context.Context, except ...string) (string, error) {
	var name string
	err := s.db.QueryRow(ctx, `
		SELECT s.name FROM tenancy.shards s
		LEFT JOIN tenancy.tenants t ON t.shard = s.name AND t.status NOT IN ('failed', 'deleted')
		WHERE s.accepts_tenants AND NOT (s.name = ANY($1))
		GROUP BY s.name, s.max_tenants
		HAVING s.max_tenants = 0 OR count(t.id) < s.max_tenants
		ORDER BY count(t.id), s.name LIMIT 1`, append([]string{}, except...)).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrShardsFull()
	}
	return name, translate(err, "shard accepting tenants")
}

package store

import (
	"context"
	"time"

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
}

// UpsertShard records a configured shard, updating its DSN if the configuration changed.
func (s *Store) UpsertShard(ctx context.Context, name, dsn string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO tenancy.shards (name, dsn) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET dsn = excluded.dsn`, name, dsn)
	return translate(err, "shard")
}

// InsertShard registers a new shard; a known name is AlreadyExists on "name".
func (s *Store) InsertShard(ctx context.Context, name, dsn string) (Shard, error) {
	var sh Shard
	err := s.db.QueryRow(ctx, `
		INSERT INTO tenancy.shards (name, dsn) VALUES ($1, $2) RETURNING name, dsn, accepts_tenants, created_at`,
		name, dsn).Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt)
	return sh, translate(err, "shard")
}

// ListShards returns every shard with its live tenant count, by name.
func (s *Store) ListShards(ctx context.Context) ([]Shard, error) {
	rows, err := s.db.Query(ctx, `
		SELECT s.name, s.dsn, s.accepts_tenants, s.created_at,
			(SELECT count(*) FROM tenancy.tenants t WHERE t.shard = s.name AND t.status NOT IN ('failed', 'deleted'))
		FROM tenancy.shards s ORDER BY s.name`)
	if err != nil {
		return nil, translate(err, "shards")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Shard, error) {
		var sh Shard
		err := r.Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt, &sh.TenantCount)
		return sh, err
	})
	return out, translate(err, "shards")
}

// GetShard returns a shard by name.
func (s *Store) GetShard(ctx context.Context, name string) (Shard, error) {
	var sh Shard
	err := s.db.QueryRow(ctx, `SELECT name, dsn, accepts_tenants, created_at FROM tenancy.shards WHERE name = $1`, name).
		Scan(&sh.Name, &sh.DSN, &sh.AcceptsTenants, &sh.CreatedAt)
	return sh, translate(err, "shard")
}

// PickShard returns the shard accepting tenants that holds the fewest live ones (ties by
// name). Placement is advisory: two concurrent sign-ups may pick the same shard.
func (s *Store) PickShard(ctx context.Context) (string, error) {
	var name string
	err := s.db.QueryRow(ctx, `
		SELECT s.name FROM tenancy.shards s
		LEFT JOIN tenancy.tenants t ON t.shard = s.name AND t.status NOT IN ('failed', 'deleted')
		WHERE s.accepts_tenants
		GROUP BY s.name ORDER BY count(t.id), s.name LIMIT 1`).Scan(&name)
	return name, translate(err, "shard accepting tenants")
}

// Package store keeps each tenant's insights in its Postgres schema: raw events partitioned
// by day (deduplicated on the producer's event id) and the rollups the queries read. Every
// tenant query runs through tenantdb, confined to the tenant of the identity in the context.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are insights' tern migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	return sub
}

// VersionTable is insights' tern version table inside each tenant schema.
const VersionTable = "insights_schema_version"

// tables are dropped by Deprovision (partitions go with their parent).
var tables = []string{"insights_events", "insights_users", "insights_user_months", "insights_user_hours",
	"insights_plugin_users", "insights_plugin_words", "insights_counts", "insights_months", VersionTable}

// Store is the insights of every tenant on a set of shards.
type Store struct {
	shards *tenantdb.Shards
	// parts remembers partitions known to exist ("schema/20261201"), so a batch issues DDL
	// only for a day it has not seen. Entries are added after commit only.
	mu    sync.Mutex
	parts map[string]bool
}

// New returns a store over shards.
func New(shards *tenantdb.Shards) *Store {
	return &Store{shards: shards, parts: map[string]bool{}}
}

// Shards returns the store's shards.
func (s *Store) Shards() *tenantdb.Shards { return s.shards }

// Provision creates or migrates the insights tables in a tenant schema. Idempotent.
func (s *Store) Provision(ctx context.Context, shard, schema string) (int64, error) {
	if !tenantdb.ValidSchema(schema) {
		return 0, rpcerr.InvalidField("schema", "not a tenant schema name")
	}
	exists, err := s.shards.SchemaExists(ctx, shard, schema)
	if errors.Is(err, tenantdb.ErrUnknownShard) {
		return 0, rpcerr.InvalidField("shard", "unknown shard")
	}
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, rpcerr.FailedPrecondition("tenant schema %s does not exist on shard %s", schema, shard)
	}
	return s.shards.Migrate(ctx, shard, schema, Migrations(), VersionTable)
}

// Deprovision drops the insights tables of a tenant schema. Idempotent.
func (s *Store) Deprovision(ctx context.Context, shard, schema string) error {
	if !tenantdb.ValidSchema(schema) {
		return rpcerr.InvalidField("schema", "not a tenant schema name")
	}
	pool, err := s.shards.Pool(shard)
	if err != nil {
		if errors.Is(err, tenantdb.ErrUnknownShard) {
			return rpcerr.InvalidField("shard", "unknown shard")
		}
		return err
	}
	exists, err := s.shards.SchemaExists(ctx, shard, schema)
	if err != nil || !exists {
		return err
	}
	q := pgx.Identifier{schema}.Sanitize()
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = q + "." + pgx.Identifier{t}.Sanitize()
	}
	if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+strings.Join(names, ", ")+" CASCADE"); err != nil {
		return fmt.Errorf("store: deprovision %s: %w", schema, err)
	}
	if _, err := pool.Exec(ctx, "DROP FUNCTION IF EXISTS "+q+".insights_ingest, "+q+".insights_ingest_agg, "+q+".insights_rebuild_plugin_words"); err != nil {
		return fmt.Errorf("store: deprovision %s: %w", schema, err)
	}
	s.mu.Lock()
	for k := range s.parts {
		if strings.HasPrefix(k, schema+"/") {
			delete(s.parts, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// IsMissingTables reports an error from a tenant whose insights tables (or ingest function)
// do not exist yet (a tenant created before insights was deployed, or not migrated to the
// latest version): the pipeline provisions and retries.
func IsMissingTables(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42883")
}

// IsTenantGone reports an error from a tenant whose schema or role no longer exists (deleted
// or moved): its events cannot be written there, ever.
func IsTenantGone(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "3F000", // invalid_schema_name
		"22023", // invalid_parameter_value: SET ROLE to a role that does not exist
		"42704": // undefined_object
		return true
	}
	return false
}

func dayUTC(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func monthUTC(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

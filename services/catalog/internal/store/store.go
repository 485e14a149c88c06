// Package store keeps each tenant's catalog in its Postgres schema: entities, their flattened
// search pairs, relation edges and the audit log. Every query runs through tenantdb, confined
// to the tenant of the identity in the context; filters compile to SQL with bound parameters.
// docs/catalog-storage.md explains the tables and indexes.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/readcache"
	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the catalog's tern migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	return sub
}

// VersionTable is the catalog's tern version table inside each tenant schema.
const VersionTable = "catalog_schema_version"

// tables are dropped by Deprovision, children first.
var tables = []string{"catalog_stars", "catalog_audit", "catalog_relations", "catalog_search", "catalog_entities", "catalog_state",
	"catalog_locations", "catalog_custom_kinds", "catalog_credentials", VersionTable}

// Store is the catalog of every tenant on a set of shards.
type Store struct {
	shards *tenantdb.Shards
	// cache, when set, keeps pages and facet counts under the tenant's data version.
	cache *readcache.Cache
	// onCount, when set, hears each tenant's entity count after every committed write.
	onCount func(tenantID string, count int64)
}

// CacheReads keeps the results of List and FacetsMatching, and entities' encodings
// (GetEncodedByRefs, EncodePage), in c (nil: none), each under the tenant's data version,
// which every write raises (internal/readcache says why that is exact across replicas).
func (s *Store) CacheReads(c *readcache.Cache) { s.cache = c }

// caching says whether reads as the identity in ctx use the read cache (there is one, and
// an identity to key it by), and returns the identity.
func (s *Store) caching(ctx context.Context) (*authn.Identity, bool) {
	id, ok := authn.FromContext(ctx)
	return id, ok && s.cache != nil
}

// versionSQL reads the tenant's data version, which every write raises in its transaction.
const versionSQL = `SELECT data_version FROM catalog_state`

// fresh returns the cached value of query when it is current, without a transaction of the
// read's own: with a value cached, one round trip (tenantdb.ReadInt) reads the tenant's data
// version, and the value is taken when it was cached under that version. ok is false without
// a cache, without a value, or when a write came since: the read then goes its usual way,
// which reads the version again with the data. A hit costs one round trip instead of
// the transaction's three, on the reads a portal repeats most (its first page, its facets,
// the entity it shows).
func (s *Store) fresh(ctx context.Context, query string) (value any, ok bool, err error) {
	id, caching := s.caching(ctx)
	if !caching {
		return nil, false, nil
	}
	cachedAt, ok := s.cache.Peek(id.Schema, query)
	if !ok {
		return nil, false, nil
	}
	version, err := s.shards.ReadInt(ctx, versionSQL)
	if err != nil {
		return nil, false, fmt.Errorf("store: data version: %w", err)
	}
	if version != cachedAt {
		return nil, false, nil
	}
	value, ok = s.cache.Get(id.Schema, query, version)
	return value, ok, nil
}

// keep caches a read's result computed after it read version.
func (s *Store) keep(ctx context.Context, query string, version int64, value any, size int64) {
	if id, ok := authn.FromContext(ctx); ok {
		s.cache.Put(id.Schema, query, version, value, size)
	}
}

// cacheKey writes a read's SQL and arguments as its cache key: they determine its result
// within a tenant's schema. Arguments are plain values (strings, string slices, numbers).
func cacheKey(kind string, parts ...any) string {
	return fmt.Sprintf("%s\x00%#v", kind, parts)
}

// OnEntityCount makes fn hear a tenant's entity count after every committed write (apply,
// delete, Location refresh), from the count the write itself kept: no extra query. fn runs
// on the write's goroutine, so it must be cheap (entitlements' ReportUsage is a map write).
func (s *Store) OnEntityCount(fn func(tenantID string, count int64)) { s.onCount = fn }

func (s *Store) counted(ctx context.Context, count int64) {
	if s.onCount == nil {
		return
	}
	if id, ok := authn.FromContext(ctx); ok && id.TenantID != "" {
		s.onCount(id.TenantID, count)
	}
}

// New returns a store over shards.
func New(shards *tenantdb.Shards) *Store {
	return &Store{shards: shards}
}

// Provision creates or migrates the catalog tables in a tenant schema and returns the schema
// version. The schema itself must exist (tenancy creates it). Idempotent.
func (s *Store) Provision(ctx context.Context, shard, schema string) (int64, error) {
	if err := s.checkTenant(ctx, shard, schema); err != nil {
		return 0, err
	}
	return s.shards.Migrate(ctx, shard, schema, Migrations(), VersionTable)
}

// Deprovision drops the catalog tables of a tenant schema. Idempotent: a missing schema or
// missing tables are fine.
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
	stmt := "DROP TABLE IF EXISTS "
	for i, t := range tables {
		if i > 0 {
			stmt += ", "
		}
		stmt += q + "." + pgx.Identifier{t}.Sanitize()
	}
	if _, err := pool.Exec(ctx, stmt+" CASCADE"); err != nil {
		return fmt.Errorf("store: deprovision %s: %w", schema, err)
	}
	return nil
}

func (s *Store) checkTenant(ctx context.Context, shard, schema string) error {
	if !tenantdb.ValidSchema(schema) {
		return rpcerr.InvalidField("schema", "not a tenant schema name")
	}
	exists, err := s.shards.SchemaExists(ctx, shard, schema)
	if errors.Is(err, tenantdb.ErrUnknownShard) {
		return rpcerr.InvalidField("shard", "unknown shard")
	}
	if err != nil {
		return err
	}
	if !exists {
		return rpcerr.FailedPrecondition("tenant schema %s does not exist on shard %s", schema, shard)
	}
	return nil
}

// Analyze refreshes the planner's statistics of the tenant's catalog tables after a large
// write. Postgres' autovacuum may be off (it is in the devstack) or late; until statistics
// exist, filters over freshly loaded rows get plans for empty tables (the page query took
// 77 ms instead of 5 at 10k entities). Errors are ignored: statistics are an optimisation.
func (s *Store) Analyze(ctx context.Context) {
	_ = s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ANALYZE catalog_entities, catalog_search, catalog_relations`)
		return err
	})
}

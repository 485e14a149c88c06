package tenantdb

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

// CreateTenant creates the tenant's role and schema on shard. Idempotent: re-running after a
// crash finishes what is missing. The role cannot log in, owns only its schema, and the schema
// is closed to PUBLIC.
func (s *Shards) CreateTenant(ctx context.Context, shard, schema string) error {
	if !ValidSchema(schema) {
		return fmt.Errorf("tenantdb: malformed schema %q", schema)
	}
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return err
	}
	q := pgx.Identifier{schema}.Sanitize()
	// CREATE ROLE has no IF NOT EXISTS; duplicate_object means an earlier attempt got this far.
	// The comment names the database, so test clean-up can find the roles a database made.
	stmts := []string{
		`DO $$ BEGIN CREATE ROLE ` + q + ` NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`DO $$ BEGIN EXECUTE format('COMMENT ON ROLE ` + q + ` IS %L', 'atrium tenant role; db=' || current_database()); END $$`,
		`GRANT ` + q + ` TO CURRENT_USER`,
		`CREATE SCHEMA IF NOT EXISTS ` + q + ` AUTHORIZATION ` + q,
		`REVOKE ALL ON SCHEMA ` + q + ` FROM PUBLIC`,
	}
	for _, st := range stmts {
		if _, err := pool.Exec(ctx, st); err != nil {
			var pe *pgconn.PgError
			// Concurrent creators can race on the grant; that is success too.
			if asPg(err, &pe) && pe.Code == "23505" {
				continue
			}
			return fmt.Errorf("tenantdb: create tenant %s: %w", schema, err)
		}
	}
	return nil
}

// DropTenant drops the tenant's schema (with all its tables) and role. Idempotent.
func (s *Shards) DropTenant(ctx context.Context, shard, schema string) error {
	if !ValidSchema(schema) {
		return fmt.Errorf("tenantdb: malformed schema %q", schema)
	}
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return err
	}
	q := pgx.Identifier{schema}.Sanitize()
	for _, st := range []string{
		`DROP SCHEMA IF EXISTS ` + q + ` CASCADE`,
		`DROP ROLE IF EXISTS ` + q,
	} {
		if _, err := pool.Exec(ctx, st); err != nil {
			return fmt.Errorf("tenantdb: drop tenant %s: %w", schema, err)
		}
	}
	return nil
}

// SchemaExists reports whether the tenant schema exists on shard.
func (s *Shards) SchemaExists(ctx context.Context, shard, schema string) (bool, error) {
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return false, err
	}
	var ok bool
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok)
	return ok, err
}

// Migrate applies a service's migrations (tern files in fsys, e.g. "001_entities.sql") to one
// tenant schema, as the tenant role so the tenant owns what is created. versionTable is the
// service's own version table inside the schema ("catalog_schema_version"). It returns the
// version after migrating. Safe to run concurrently: tern takes an advisory lock.
func (s *Shards) Migrate(ctx context.Context, shard, schema string, fsys fs.FS, versionTable string) (int64, error) {
	if !ValidSchema(schema) {
		return 0, fmt.Errorf("tenantdb: malformed schema %q", schema)
	}
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	clean := false
	defer func() {
		if clean {
			conn.Release()
			return
		}
		// Session settings could not be reset: do not hand this connection to anyone else.
		_ = conn.Hijack().Close(context.WithoutCancel(ctx))
	}()
	s.enteredSchema(conn.Conn(), schema)
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "SET search_path TO "+q+"; SET ROLE "+q, pgx.QueryExecModeSimpleProtocol); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: enter schema: %w", schema, err)
	}
	// tern runs RESET ALL after each migration, which puts search_path back to
	// "$user", public: later migrations still land in the tenant schema only because the role
	// keeps its name (RESET ALL leaves the role alone). The version table is qualified so it
	// never depends on that. tern also holds one database-wide advisory lock while migrating,
	// so migrations of tenants on one shard run one after another.
	m, err := migrate.NewMigrator(ctx, conn.Conn(), pgx.Identifier{schema, versionTable}.Sanitize())
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		return 0, fmt.Errorf("tenantdb: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: version: %w", schema, err)
	}
	if _, err := conn.Exec(ctx, "RESET ROLE; RESET search_path", pgx.QueryExecModeSimpleProtocol); err == nil {
		clean = true
	}
	return int64(v), nil
}

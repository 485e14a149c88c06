package tenantdb

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

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
	h := fnv.New64a()
	_, _ = h.Write([]byte("drop:" + schema))
	lock := strconv.FormatInt(int64(h.Sum64()), 10)
	// Two droppers of one tenant (an operator's immediate delete and another process's purge
	// loop) made Postgres fail the second with "tuple concurrently deleted"; the lock makes the
	// second wait, then find nothing left to drop.
	_, err = pool.Exec(ctx, `BEGIN; SELECT pg_advisory_xact_lock(`+lock+`); DROP SCHEMA IF EXISTS `+q+` CASCADE; DROP ROLE IF EXISTS `+q+`; COMMIT`,
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return fmt.Errorf("tenantdb: drop tenant %s: %w", schema, err)
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
// service's own version table inside the schema ("catalog_schema_version", tern's layout: one
// row, one int4 column). It returns the version after migrating. Safe to run concurrently.
//
// The files are read as tern reads them (templates, the "---- create above / drop below ----"
// split), but they are applied in one transaction of four round trips: a lock of this schema
// and service only (a transaction-scoped advisory lock) with the version table made if
// missing, the current version, every pending migration with the version update as one
// multi-statement request, and the commit. tern's own runner takes one database-wide advisory
// lock, so every service's provisioning of every new tenant on a shard took turns, and it
// spends about a dozen round trips per file. All pending files land together or not at all.
func (s *Shards) Migrate(ctx context.Context, shard, schema string, fsys fs.FS, versionTable string) (int64, error) {
	if !ValidSchema(schema) {
		return 0, fmt.Errorf("tenantdb: malformed schema %q", schema)
	}
	if !versionTableRE.MatchString(versionTable) {
		return 0, fmt.Errorf("tenantdb: malformed version table %q", versionTable)
	}
	// Without a connection tern only loads and parses.
	m, err := migrate.NewMigratorEx(ctx, nil, versionTable, &migrate.MigratorOptions{})
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		return 0, fmt.Errorf("tenantdb: load migrations: %w", err)
	}
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	s.enteredSchema(conn.Conn(), schema)
	q := pgx.Identifier{schema}.Sanitize()
	vt := pgx.Identifier{schema, versionTable}.Sanitize()
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema + "." + versionTable))
	lock := strconv.FormatInt(int64(h.Sum64()), 10)
	// Everything is local to the transaction: nothing outlives it on the pooled connection.
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+q+"; SET LOCAL ROLE "+q+"; SELECT pg_advisory_xact_lock("+lock+");"+
		"CREATE TABLE IF NOT EXISTS "+vt+" (version int4 NOT NULL);"+
		"INSERT INTO "+vt+" (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM "+vt+")", pgx.QueryExecModeSimpleProtocol); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: enter schema: %w", schema, err)
	}
	var current int32
	if err := tx.QueryRow(ctx, "SELECT version FROM "+vt, pgx.QueryExecModeSimpleProtocol).Scan(&current); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: version: %w", schema, err)
	}
	if current < 0 || int(current) > len(m.Migrations) {
		return 0, fmt.Errorf("tenantdb: migrate %s: version %d is outside 0 to %d", schema, current, len(m.Migrations))
	}
	if int(current) == len(m.Migrations) {
		return int64(current), nil // nothing to do; the rollback ends the transaction
	}
	var sql strings.Builder
	for _, mig := range m.Migrations[current:] {
		sql.WriteString(mig.UpSQL)
		sql.WriteString("\n;\n")
	}
	target := m.Migrations[len(m.Migrations)-1].Sequence
	fmt.Fprintf(&sql, "UPDATE %s SET version = %d", vt, target)
	if _, err := tx.Exec(ctx, sql.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: %w", schema, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("tenantdb: migrate %s: commit: %w", schema, err)
	}
	return int64(target), nil
}

// versionTableRE: version table names are quoted into SQL; they are code constants anyway.
var versionTableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Package controldb opens a service's control-plane schema on the control database: it
// connects and brings the schema to its latest version with the service's embedded tern
// migrations. Tenancy, entitlements and billing each own one schema there and open it the
// same way.
package controldb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Schema names a control schema and its migrations.
type Schema struct {
	// Name is the schema ("tenancy", "billing", ...); tern's version table is
	// <Name>.schema_version.
	Name string
	// Migrations holds the numbered tern .sql files at its root.
	Migrations fs.FS
	// MaxConns sizes the pool; 0 keeps pgxpool's default (or the DSN's pool_max_conns).
	MaxConns int32
}

// VersionTable is tern's version table of schema name.
func VersionTable(name string) string { return name + ".schema_version" }

// Open connects to dsn and migrates s; the pool is closed again when migration fails.
func Open(ctx context.Context, dsn string, s Schema) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if s.MaxConns > 0 {
		cfg.MaxConns = s.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := Migrate(ctx, pool, s); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Migrate brings s to its latest version on one connection of pool.
func Migrate(ctx context.Context, pool *pgxpool.Pool, s Schema) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	// tern resets session settings between migrations; drop the connection afterwards rather
	// than hand a connection in an unknown state to the pool.
	defer func() { _ = conn.Hijack().Close(context.WithoutCancel(ctx)) }()
	// The version table lives in the schema, so the schema comes first. Processes starting
	// together may race here; losing the race (23505, 42P06) is fine.
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.Name}.Sanitize()); err != nil && !isCode(err, "23505", "42P06") {
		return fmt.Errorf("store: create schema: %w", err)
	}
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable(s.Name))
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := m.LoadMigrations(s.Migrations); err != nil {
		return fmt.Errorf("store: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

func isCode(err error, codes ...string) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return false
	}
	for _, c := range codes {
		if pg.Code == c {
			return true
		}
	}
	return false
}

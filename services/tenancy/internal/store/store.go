// Package store is tenancy's control-plane data: the "tenancy" schema of the control database
// (tenants, shards, users, memberships, tokens, operators, audit log). Its migrations are
// embedded and applied with tern when the store opens. Postgres errors are translated here
// into rpcerr domain errors, so handlers never see a SQLSTATE.
package store

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"atrium.dev/platform/controldb"
	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is tern's version table for the tenancy schema.
const VersionTable = "tenancy.schema_version"

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes the tenancy schema. A Store from Tx runs every call inside that
// transaction.
type Store struct {
	pool *pgxpool.Pool
	db   querier
}

// Open connects to the control database and migrates the tenancy schema to the latest version.
func Open(ctx context.Context, dsn string) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	pool, err := controldb.Open(ctx, dsn, controldb.Schema{Name: "tenancy", Migrations: sub})
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, db: pool}, nil
}

// Pool is the control database's pool, for work that needs one session (advisory locks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Tx runs fn in a transaction; fn's error rolls it back.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx})
	})
}

// NewID returns a fresh random id: a digit, then 19 of a-z0-9 (about 100 random bits). Tenant
// ids become schema names (t_<id>), so they stay within [a-z0-9]; the leading digit tells ids
// apart from slugs, which start with a letter.
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error()) // the OS is broken; nothing is safe
	}
	out := make([]byte, len(b))
	out[0] = '0' + b[0]%10
	for i := 1; i < len(b); i++ {
		out[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(out)
}

// IsID reports whether s has the shape of an id rather than a slug.
func IsID(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// Cursor is a keyset position in a list ordered by (created_at, id).
type Cursor struct {
	At time.Time
	ID string
}

// fieldOfConstraint maps unique constraints to the request field that caused the conflict.
var fieldOfConstraint = map[string]struct{ field, msg string }{
	"tenants_live_slug":      {"slug", "slug is already taken"},
	"users_tenant_email_key": {"email", "an account with this email already exists in this organization"},
	"invitations_pending":    {"email", "this email already has a pending invitation; resend it instead"},
	"memberships_pkey":       {"email", "already a member of this organization"},
	"shards_pkey":            {"name", "a shard with this name already exists"},
	"operators_name_key":     {"name", "an operator with this name already exists"},
	"api_tokens_member_name": {"name", "you already have a token with this name; choose another or revoke that one"},
}

// translate turns Postgres errors callers can act on into domain errors and wraps the rest.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			if f, ok := fieldOfConstraint[pe.ConstraintName]; ok {
				e := rpcerr.AlreadyExists("%s", f.msg)
				e.Violations = []rpcerr.Violation{{Field: f.field, Description: f.msg}}
				return e.WithCause(err)
			}
			return rpcerr.AlreadyExists("%s already exists", what).WithCause(err)
		case "23503":
			return rpcerr.FailedPrecondition("%s refers to something that does not exist", what).WithCause(err)
		case "40001", "40P01":
			return rpcerr.Unavailable("conflicting concurrent change, try again").WithCause(err)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return rpcerr.NotFound("%s not found", what).WithCause(err)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

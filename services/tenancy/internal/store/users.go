package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is one row of tenancy.users: an account in exactly one tenant (its realm). The same
// person in two tenants has two accounts, with two passwords.
type User struct {
	ID           string
	TenantID     string
	Email        string
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
}

const userCols = `id, tenant_id, email, display_name, password_hash, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.TenantID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

// UserByEmail returns the account of a tenant with a normalized email. There is no lookup by
// email across tenants: nothing may depend on another tenant's accounts.
func (s *Store) UserByEmail(ctx context.Context, tenantID, email string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM tenancy.users WHERE tenant_id = $1 AND email = $2`,
		tenantID, email))
	return u, translate(err, "user")
}

// GetUser returns an account of a tenant by id.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM tenancy.users WHERE tenant_id = $1 AND id = $2`,
		tenantID, id))
	return u, translate(err, "user")
}

// InsertUser creates an account; an existing email in the tenant is AlreadyExists on "email".
func (s *Store) InsertUser(ctx context.Context, u User) (User, error) {
	out, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.users (id, tenant_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+userCols, u.ID, u.TenantID, u.Email, u.DisplayName, u.PasswordHash))
	return out, translate(err, "user")
}

// EnsureUser returns the tenant's account with u.Email, creating it from u if there is none.
// Provisioning uses it so that re-running the owner step finds the account the first run made.
func (s *Store) EnsureUser(ctx context.Context, u User) (User, error) {
	out, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.users (id, tenant_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, email) DO NOTHING RETURNING `+userCols, u.ID, u.TenantID, u.Email, u.DisplayName, u.PasswordHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return s.UserByEmail(ctx, u.TenantID, u.Email)
	}
	return out, translate(err, "user")
}

// SetPassword replaces an account's password hash and revokes its refresh tokens, so a reset
// also ends every session someone else may hold.
func (s *Store) SetPassword(ctx context.Context, tenantID, userID, hash string) error {
	tag, err := s.db.Exec(ctx, `UPDATE tenancy.users SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
		tenantID, userID, hash)
	if err != nil {
		return translate(err, "user")
	}
	if tag.RowsAffected() == 0 {
		return translate(pgx.ErrNoRows, "user")
	}
	_, err = s.db.Exec(ctx, `UPDATE tenancy.refresh_tokens SET revoked_at = now()
		WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, tenantID, userID)
	return translate(err, "refresh tokens")
}

// SetUserProfile sets an account's display name and password (an invitation accepted by an
// account that exists without a membership, e.g. after a removal, makes it new again).
func (s *Store) SetUserProfile(ctx context.Context, tenantID, userID, displayName, hash string) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.users SET display_name = $3, password_hash = $4, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`, tenantID, userID, displayName, hash)
	return translate(err, "user")
}

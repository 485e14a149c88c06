package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Member is a user's membership in a tenant.
type Member struct {
	TenantID  string
	User      User
	Role      string
	CreatedAt time.Time
}

const memberCols = `m.tenant_id, m.role, m.created_at, u.id, u.tenant_id, u.email, u.display_name, u.password_hash, u.created_at`

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	err := row.Scan(&m.TenantID, &m.Role, &m.CreatedAt, &m.User.ID, &m.User.TenantID, &m.User.Email, &m.User.DisplayName,
		&m.User.PasswordHash, &m.User.CreatedAt)
	return m, err
}

// Membership returns the membership of a user in a tenant.
func (s *Store) Membership(ctx context.Context, tenantID, userID string) (Member, error) {
	m, err := scanMember(s.db.QueryRow(ctx, `
		SELECT `+memberCols+` FROM tenancy.memberships m JOIN tenancy.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
		WHERE m.tenant_id = $1 AND m.user_id = $2`, tenantID, userID))
	return m, translate(err, "member")
}

// LockMembership is Membership, locked for update until the transaction ends.
func (s *Store) LockMembership(ctx context.Context, tenantID, userID string) (Member, error) {
	m, err := scanMember(s.db.QueryRow(ctx, `
		SELECT `+memberCols+` FROM tenancy.memberships m JOIN tenancy.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
		WHERE m.tenant_id = $1 AND m.user_id = $2 FOR UPDATE OF m`, tenantID, userID))
	return m, translate(err, "member")
}

// AddMembership adds a user to a tenant; an existing membership is AlreadyExists on "email".
func (s *Store) AddMembership(ctx context.Context, tenantID, userID, role string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)`,
		tenantID, userID, role)
	return translate(err, "member")
}

// EnsureMembership adds a user to a tenant unless it is already a member.
func (s *Store) EnsureMembership(ctx context.Context, tenantID, userID, role string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, user_id) DO NOTHING`, tenantID, userID, role)
	return translate(err, "member")
}

// ListMembers returns up to limit members of a tenant after the cursor (membership creation
// time, user id).
func (s *Store) ListMembers(ctx context.Context, tenantID string, after *Cursor, limit int) ([]Member, error) {
	var at time.Time
	var id string
	if after != nil {
		at, id = after.At, after.ID
	}
	rows, err := s.db.Query(ctx, `
		SELECT `+memberCols+` FROM tenancy.memberships m JOIN tenancy.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
		WHERE m.tenant_id = $1 AND ($2::boolean OR (m.created_at, m.user_id) > ($3, $4))
		ORDER BY m.created_at, m.user_id LIMIT $5`, tenantID, after == nil, at, id, limit)
	if err != nil {
		return nil, translate(err, "members")
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r) })
	return ms, translate(err, "members")
}

// LockOwners returns the owners of a tenant, locking their memberships so that two requests
// cannot each remove "another" owner and leave none.
func (s *Store) LockOwners(ctx context.Context, tenantID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT user_id FROM tenancy.memberships WHERE tenant_id = $1 AND role = 'owner'
		ORDER BY user_id FOR UPDATE`, tenantID)
	if err != nil {
		return nil, translate(err, "owners")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, translate(err, "owners")
}

// SetRole changes a member's role.
func (s *Store) SetRole(ctx context.Context, tenantID, userID, role string) error {
	tag, err := s.db.Exec(ctx, `UPDATE tenancy.memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2`,
		tenantID, userID, role)
	if err != nil {
		return translate(err, "member")
	}
	if tag.RowsAffected() == 0 {
		return translate(pgx.ErrNoRows, "member")
	}
	return nil
}

// RemoveMembership removes a member and revokes every token it holds in the tenant.
func (s *Store) RemoveMembership(ctx context.Context, tenantID, userID string) error {
	for _, q := range []string{
		`UPDATE tenancy.refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		`UPDATE tenancy.api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
	} {
		if _, err := s.db.Exec(ctx, q, tenantID, userID); err != nil {
			return translate(err, "member tokens")
		}
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM tenancy.memberships WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
	if err != nil {
		return translate(err, "member")
	}
	if tag.RowsAffected() == 0 {
		return translate(pgx.ErrNoRows, "member")
	}
	return nil
}

// CountMembers is the tenant's member count: billing's seats.
func (s *Store) CountMembers(ctx context.Context, tenantID string) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1`, tenantID).Scan(&n)
	return n, translate(err, "members")
}

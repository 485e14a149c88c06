package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invitation is one row of tenancy.invitations. Pending: neither accepted nor revoked (it may
// still have expired).
type Invitation struct {
	ID         string
	TenantID   string
	Email      string
	Role       string
	TokenHash  string
	InvitedBy  string
	CreatedAt  time.Time
	SentAt     time.Time
	SendCount  int
	ExpiresAt  time.Time
	AcceptedAt *time.Time
	RevokedAt  *time.Time
}

const invitationCols = `id, tenant_id, email, role, token_hash, invited_by, created_at, sent_at, send_count,
	expires_at, accepted_at, revoked_at`

func scanInvitation(row pgx.Row) (Invitation, error) {
	var i Invitation
	err := row.Scan(&i.ID, &i.TenantID, &i.Email, &i.Role, &i.TokenHash, &i.InvitedBy, &i.CreatedAt, &i.SentAt,
		&i.SendCount, &i.ExpiresAt, &i.AcceptedAt, &i.RevokedAt)
	return i, err
}

// InsertInvitation stores a pending invitation. A pending one for the same email in the
// tenant is AlreadyExists on "email"; an expired pending one is revoked first, so expiry
// never blocks inviting again.
func (s *Store) InsertInvitation(ctx context.Context, inv Invitation) (Invitation, error) {
	if _, err := s.db.Exec(ctx, `
		UPDATE tenancy.invitations SET revoked_at = now()
		WHERE tenant_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= now()`,
		inv.TenantID, inv.Email); err != nil {
		return Invitation{}, translate(err, "invitation")
	}
	out, err := scanInvitation(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.invitations (id, tenant_id, email, role, token_hash, invited_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+invitationCols,
		inv.ID, inv.TenantID, inv.Email, inv.Role, inv.TokenHash, inv.InvitedBy, inv.ExpiresAt))
	return out, translate(err, "invitation")
}

// CountPendingInvitations counts a tenant's unexpired pending invitations (they hold seats).
func (s *Store) CountPendingInvitations(ctx context.Context, tenantID string) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.invitations
		WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`, tenantID).Scan(&n)
	return n, translate(err, "invitations")
}

// LockPendingInvitation returns a tenant's pending invitation by id, locked.
func (s *Store) LockPendingInvitation(ctx context.Context, tenantID, id string) (Invitation, error) {
	i, err := scanInvitation(s.db.QueryRow(ctx, `SELECT `+invitationCols+` FROM tenancy.invitations
		WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL FOR UPDATE`, tenantID, id))
	return i, translate(err, "invitation")
}

// LockInvitationByToken returns the invitation with a token hash, whatever its state, locked
// so that two accepts of one link cannot both succeed.
func (s *Store) LockInvitationByToken(ctx context.Context, hash string) (Invitation, error) {
	i, err := scanInvitation(s.db.QueryRow(ctx, `SELECT `+invitationCols+` FROM tenancy.invitations
		WHERE token_hash = $1 FOR UPDATE`, hash))
	return i, translate(err, "invitation")
}

// RenewInvitation gives a pending invitation a new token and expiry (a resend).
func (s *Store) RenewInvitation(ctx context.Context, id, hash string, expires time.Time) (Invitation, error) {
	i, err := scanInvitation(s.db.QueryRow(ctx, `UPDATE tenancy.invitations
		SET token_hash = $2, expires_at = $3, sent_at = now(), send_count = send_count + 1
		WHERE id = $1 RETURNING `+invitationCols, id, hash, expires))
	return i, translate(err, "invitation")
}

// RevokeInvitation revokes a pending invitation.
func (s *Store) RevokeInvitation(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.invitations SET revoked_at = now() WHERE id = $1`, id)
	return translate(err, "invitation")
}

// AcceptInvitation marks an invitation used.
func (s *Store) AcceptInvitation(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.invitations SET accepted_at = now() WHERE id = $1`, id)
	return translate(err, "invitation")
}

// ListInvitations returns up to limit pending invitations of a tenant after the cursor.
func (s *Store) ListInvitations(ctx context.Context, tenantID string, after *Cursor, limit int) ([]Invitation, error) {
	var at time.Time
	var id string
	if after != nil {
		at, id = after.At, after.ID
	}
	rows, err := s.db.Query(ctx, `SELECT `+invitationCols+` FROM tenancy.invitations
		WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
		AND ($2::boolean OR (created_at, id) > ($3, $4))
		ORDER BY created_at, id LIMIT $5`, tenantID, after == nil, at, id, limit)
	if err != nil {
		return nil, translate(err, "invitations")
	}
	is, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) { return scanInvitation(r) })
	return is, translate(err, "invitations")
}

// PasswordReset is one row of tenancy.password_resets.
type PasswordReset struct {
	ID        string
	TenantID  string
	UserID    string
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// InsertPasswordReset stores a reset token by hash.
func (s *Store) InsertPasswordReset(ctx context.Context, tenantID, userID, hash string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO tenancy.password_resets (id, tenant_id, user_id, token_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, NewID(), tenantID, userID, hash, expires)
	return translate(err, "password reset")
}

// LockPasswordReset returns a reset by token hash, locked.
func (s *Store) LockPasswordReset(ctx context.Context, hash string) (PasswordReset, error) {
	var r PasswordReset
	err := s.db.QueryRow(ctx, `SELECT id, tenant_id, user_id, expires_at, used_at FROM tenancy.password_resets
		WHERE token_hash = $1 FOR UPDATE`, hash).Scan(&r.ID, &r.TenantID, &r.UserID, &r.ExpiresAt, &r.UsedAt)
	return r, translate(err, "password reset")
}

// UsePasswordResets marks every reset of an account used: one reset ends all outstanding
// links.
func (s *Store) UsePasswordResets(ctx context.Context, tenantID, userID string) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.password_resets SET used_at = now()
		WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL`, tenantID, userID)
	return translate(err, "password reset")
}

// CountRecentPasswordResets counts an account's resets requested since a time (a bound on
// how much mail one address can be sent).
func (s *Store) CountRecentPasswordResets(ctx context.Context, tenantID, userID string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.password_resets
		WHERE tenant_id = $1 AND user_id = $2 AND created_at > $3`, tenantID, userID, since).Scan(&n)
	return n, translate(err, "password resets")
}

package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RefreshToken is one link of a refresh-token family. Each refresh uses a token up and adds
// the next one to its family.
type RefreshToken struct {
	ID        string
	FamilyID  string
	UserID    string
	TenantID  string
	Hash      string
	UsedAt    *time.Time
	RevokedAt *time.Time
	ExpiresAt time.Time
}

// InsertRefreshToken stores a refresh token by hash.
func (s *Store) InsertRefreshToken(ctx context.Context, t RefreshToken) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO tenancy.refresh_tokens (id, family_id, user_id, tenant_id, hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, t.FamilyID, t.UserID, t.TenantID, t.Hash, t.ExpiresAt)
	return translate(err, "refresh token")
}

// LockRefreshToken returns a refresh token by hash, locked until the transaction ends so two
// refreshes with one token cannot both succeed.
func (s *Store) LockRefreshToken(ctx context.Context, hash string) (RefreshToken, error) {
	var t RefreshToken
	err := s.db.QueryRow(ctx, `
		SELECT id, family_id, user_id, tenant_id, hash, used_at, revoked_at, expires_at
		FROM tenancy.refresh_tokens WHERE hash = $1 FOR UPDATE`, hash).
		Scan(&t.ID, &t.FamilyID, &t.UserID, &t.TenantID, &t.Hash, &t.UsedAt, &t.RevokedAt, &t.ExpiresAt)
	return t, translate(err, "refresh token")
}

// UseRefreshToken marks a token as used up.
func (s *Store) UseRefreshToken(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.refresh_tokens SET used_at = now() WHERE id = $1`, id)
	return translate(err, "refresh token")
}

// RevokeFamily revokes every token of a refresh-token family.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	_, err := s.db.Exec(ctx, `
		UPDATE tenancy.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, familyID)
	return translate(err, "refresh tokens")
}

// APIToken is a personal API token; only its hash is stored.
type APIToken struct {
	ID         string
	TenantID   string
	UserID     string
	Name       string
	Prefix     string
	Hash       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

const apiTokenCols = `id, tenant_id, user_id, name, prefix, hash, created_at, expires_at, last_used_at, revoked_at`

func scanAPIToken(row pgx.Row) (APIToken, error) {
	var t APIToken
	err := row.Scan(&t.ID, &t.TenantID, &t.UserID, &t.Name, &t.Prefix, &t.Hash, &t.CreatedAt, &t.ExpiresAt,
		&t.LastUsedAt, &t.RevokedAt)
	return t, err
}

// InsertAPIToken stores a new API token.
func (s *Store) InsertAPIToken(ctx context.Context, t APIToken) (APIToken, error) {
	out, err := scanAPIToken(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.api_tokens (id, tenant_id, user_id, name, prefix, hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+apiTokenCols,
		t.ID, t.TenantID, t.UserID, t.Name, t.Prefix, t.Hash, t.ExpiresAt))
	return out, translate(err, "api token")
}

// ListAPITokens returns a member's unrevoked tokens in a tenant, newest first.
func (s *Store) ListAPITokens(ctx context.Context, tenantID, userID string) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+apiTokenCols+` FROM tenancy.api_tokens
		WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL
		ORDER BY created_at DESC, id`, tenantID, userID)
	if err != nil {
		return nil, translate(err, "api tokens")
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) { return scanAPIToken(r) })
	return ts, translate(err, "api tokens")
}

// GetAPIToken returns an unrevoked token of a tenant by id.
func (s *Store) GetAPIToken(ctx context.Context, tenantID, id string) (APIToken, error) {
	t, err := scanAPIToken(s.db.QueryRow(ctx, `
		SELECT `+apiTokenCols+` FROM tenancy.api_tokens WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`,
		tenantID, id))
	return t, translate(err, "api token")
}

// RevokeAPIToken revokes a token of a tenant.
func (s *Store) RevokeAPIToken(ctx context.Context, tenantID, id string) error {
	_, err := s.db.Exec(ctx, `
		UPDATE tenancy.api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`,
		tenantID, id)
	return translate(err, "api token")
}

// TokenGrant is what a valid API token stands for right now.
type TokenGrant struct {
	TokenID  string
	TenantID string
	UserID   string
	Role     string
}

// IntrospectAPIToken resolves a token hash to its grant. The role is the membership's current
// one; a revoked or expired token, a removed member or a tenant that is neither active nor
// suspended is NotFound. It records the use, at most once a minute per token.
func (s *Store) IntrospectAPIToken(ctx context.Context, hash string) (TokenGrant, error) {
	var g TokenGrant
	var lastUsed *time.Time
	err := s.db.QueryRow(ctx, `
		SELECT a.id, a.tenant_id, a.user_id, m.role, a.last_used_at
		FROM tenancy.api_tokens a
		JOIN tenancy.memberships m ON m.tenant_id = a.tenant_id AND m.user_id = a.user_id
		JOIN tenancy.tenants t ON t.id = a.tenant_id
		WHERE a.hash = $1 AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > now())
		AND t.status IN ('active', 'suspended')`, hash).Scan(&g.TokenID, &g.TenantID, &g.UserID, &g.Role, &lastUsed)
	if err != nil {
		return TokenGrant{}, translate(err, "api token")
	}
	// Throttled so a busy token does not turn every request into a write.
	if lastUsed == nil || time.Since(*lastUsed) > time.Minute {
		if _, err := s.db.Exec(ctx, `
			UPDATE tenancy.api_tokens SET last_used_at = now()
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, g.TokenID); err != nil {
			return TokenGrant{}, translate(err, "api token")
		}
	}
	return g, nil
}

// EnsureOperator returns the id of the operator with name, creating it if needed.
func (s *Store) EnsureOperator(ctx context.Context, name string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `
		INSERT INTO tenancy.operators (id, name) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING RETURNING id`, NewID(), name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.db.QueryRow(ctx, `SELECT id FROM tenancy.operators WHERE name = $1`, name).Scan(&id)
	}
	return id, translate(err, "operator")
}

// OperatorToken is an operator credential.
type OperatorToken struct {
	ID        string
	Name      string
	Operator  string // the operator's name
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// InsertOperatorToken stores an operator credential by hash; a nil expiry never expires (only
// make up's local credential).
func (s *Store) InsertOperatorToken(ctx context.Context, operatorID, name, hash string, expires *time.Time) (string, error) {
	id := NewID()
	_, err := s.db.Exec(ctx, `INSERT INTO tenancy.operator_tokens (id, operator_id, name, hash, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, operatorID, name, hash, expires)
	return id, translate(err, "operator token")
}

const operatorTokenCols = `t.id, t.name, o.name, t.created_at, t.expires_at, t.revoked_at`

func scanOperatorToken(row pgx.Row) (OperatorToken, error) {
	var t OperatorToken
	err := row.Scan(&t.ID, &t.Name, &t.Operator, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt)
	return t, err
}

// ListOperatorTokens returns every operator credential, newest first.
func (s *Store) ListOperatorTokens(ctx context.Context) ([]OperatorToken, error) {
	rows, err := s.db.Query(ctx, `SELECT `+operatorTokenCols+` FROM tenancy.operator_tokens t
		JOIN tenancy.operators o ON o.id = t.operator_id ORDER BY t.created_at DESC, t.id LIMIT 1000`)
	if err != nil {
		return nil, translate(err, "operator tokens")
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OperatorToken, error) { return scanOperatorToken(r) })
	return ts, translate(err, "operator tokens")
}

// RevokeOperatorToken revokes the live credential with id or name and returns it.
func (s *Store) RevokeOperatorToken(ctx context.Context, ref string) (OperatorToken, error) {
	t, err := scanOperatorToken(s.db.QueryRow(ctx, `
		WITH r AS (UPDATE tenancy.operator_tokens SET revoked_at = now()
		           WHERE id = (SELECT id FROM tenancy.operator_tokens WHERE (id = $1 OR (name = $1 AND name <> ''))
		                       AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1)
		           RETURNING *)
		SELECT `+operatorTokenCols+` FROM r t JOIN tenancy.operators o ON o.id = t.operator_id`, ref))
	return t, translate(err, "operator credential")
}

// OperatorByToken returns the operator id of a live (unrevoked, unexpired) operator token
// hash, and the credential's id.
func (s *Store) OperatorByToken(ctx context.Context, hash string) (operatorID, tokenID string, err error) {
	err = s.db.QueryRow(ctx, `
		SELECT operator_id, id FROM tenancy.operator_tokens WHERE hash = $1 AND revoked_at IS NULL
		AND (expires_at IS NULL OR expires_at > now())`, hash).Scan(&operatorID, &tokenID)
	return operatorID, tokenID, translate(err, "operator token")
}

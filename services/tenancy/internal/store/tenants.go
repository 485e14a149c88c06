package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is a tenant's lifecycle state.
type Status string

const (
	StatusProvisioning Status = "provisioning"
	StatusActive       Status = "active"
	StatusSuspended    Status = "suspended"
	StatusDeleting     Status = "deleting"
	StatusDeleted      Status = "deleted"
	StatusFailed       Status = "failed"
)

// Live reports whether a tenant in this state holds its slug and schema.
func (s Status) Live() bool { return s != StatusDeleted && s != StatusFailed }

// Tenant is one row of tenancy.tenants.
type Tenant struct {
	ID           string
	Slug         string
	DisplayName  string
	Status       Status
	Shard        string
	Schema       string
	StatusReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	PurgeAt      *time.Time

	// Provisioning bookkeeping: the owner to create, and how often provisioning was tried.
	AdminEmail        string
	AdminPasswordHash string
	ProvisionAttempts int
	RollingBack       bool
}

// ReasonImport is the status reason of a tenant provisioned by an import: a reconciler rolls
// such a tenant back rather than finish it without its data.
const ReasonImport = "import"

const tenantCols = `id, slug, display_name, status, shard, schema, status_reason, created_at, updated_at,
	purge_at, coalesce(admin_email, ''), coalesce(admin_password_hash, ''), provision_attempts, rolling_back`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Slug, &t.DisplayName, &t.Status, &t.Shard, &t.Schema, &t.StatusReason,
		&t.CreatedAt, &t.UpdatedAt, &t.PurgeAt, &t.AdminEmail, &t.AdminPasswordHash, &t.ProvisionAttempts, &t.RollingBack)
	return t, err
}

func collectTenants(rows pgx.Rows, err error) ([]Tenant, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
}

// InsertTenant inserts a tenant in state provisioning, counting the caller's run as the first
// attempt. A live tenant with the same slug is AlreadyExists on "slug".
func (s *Store) InsertTenant(ctx context.Context, t Tenant) (Tenant, error) {
	row := s.db.QueryRow(ctx, `
		INSERT INTO tenancy.tenants (id, slug, display_name, status, shard, schema, admin_email, admin_password_hash, provision_attempts, status_reason)
		VALUES ($1, $2, $3, 'provisioning', $4, $5, nullif($6, ''), nullif($7, ''), 1, $8)
		RETURNING `+tenantCols,
		t.ID, t.Slug, t.DisplayName, t.Shard, t.Schema, t.AdminEmail, t.AdminPasswordHash, t.StatusReason)
	out, err := scanTenant(row)
	return out, translate(err, "tenant")
}

// GetTenant returns a tenant by id.
func (s *Store) GetTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenancy.tenants WHERE id = $1`, id))
	return t, translate(err, "tenant")
}

// LockTenant returns a tenant by id, locked for update until the transaction ends.
func (s *Store) LockTenant(ctx context.Context, id string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenancy.tenants WHERE id = $1 FOR UPDATE`, id))
	return t, translate(err, "tenant")
}

// TenantBySlug returns the live tenant with slug or, when there is none, the newest failed or
// deleted one.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		SELECT `+tenantCols+` FROM tenancy.tenants WHERE slug = $1
		ORDER BY status NOT IN ('failed', 'deleted') DESC, created_at DESC LIMIT 1`, slug))
	return t, translate(err, "tenant")
}

// LookupTenant finds a tenant by id or slug (ids start with a digit, slugs with a letter).
func (s *Store) LookupTenant(ctx context.Context, idOrSlug string) (Tenant, error) {
	if IsID(idOrSlug) {
		return s.GetTenant(ctx, idOrSlug)
	}
	return s.TenantBySlug(ctx, idOrSlug)
}

// ListTenants returns up to limit tenants with one of statuses, after the cursor, in creation
// order.
func (s *Store) ListTenants(ctx context.Context, statuses []Status, after *Cursor, limit int) ([]Tenant, error) {
	var at time.Time
	var id string
	if after != nil {
		at, id = after.At, after.ID
	}
	ts, err := collectTenants(s.db.Query(ctx, `
		SELECT `+tenantCols+` FROM tenancy.tenants
		WHERE status = ANY($1) AND ($2::boolean OR (created_at, id) > ($3, $4))
		ORDER BY created_at, id LIMIT $5`,
		statusStrings(statuses), after == nil, at, id, limit))
	return ts, translate(err, "tenants")
}

// CountTenants counts tenants with one of statuses.
func (s *Store) CountTenants(ctx context.Context, statuses []Status) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants WHERE status = ANY($1)`, statusStrings(statuses)).Scan(&n)
	return n, translate(err, "tenants")
}

// TenantsWithStatus returns every tenant with one of statuses, in creation order.
func (s *Store) TenantsWithStatus(ctx context.Context, statuses ...Status) ([]Tenant, error) {
	ts, err := collectTenants(s.db.Query(ctx, `
		SELECT `+tenantCols+` FROM tenancy.tenants WHERE status = ANY($1) ORDER BY created_at, id`, statusStrings(statuses)))
	return ts, translate(err, "tenants")
}

func statusStrings(ss []Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// SetDisplayName renames a tenant.
func (s *Store) SetDisplayName(ctx context.Context, id, name string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET display_name = $2, updated_at = now() WHERE id = $1 RETURNING `+tenantCols, id, name))
	return t, translate(err, "tenant")
}

// SetStatus moves a tenant to status with a reason and purge time (nil clears it).
func (s *Store) SetStatus(ctx context.Context, id string, status Status, reason string, purgeAt *time.Time) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET status = $2, status_reason = $3, purge_at = $4, updated_at = now()
		WHERE id = $1 RETURNING `+tenantCols, id, status, reason, purgeAt))
	return t, translate(err, "tenant")
}

// TouchProvisioning records progress on a provisioning tenant, so other processes do not take
// it for stuck. It reports false when the tenant is no longer being provisioned forward (it
// is active, or a rollback has started).
func (s *Store) TouchProvisioning(ctx context.Context, id string) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE tenancy.tenants SET updated_at = now()
		WHERE id = $1 AND status = 'provisioning' AND NOT rolling_back`, id)
	if err != nil {
		return false, translate(err, "tenant")
	}
	return tag.RowsAffected() == 1, nil
}

// RecordOwnerHash is TouchProvisioning that also stores the pending owner's password hash,
// for a sign-up that hashed it while provisioning ran: a reconciler can finish the tenant from
// then on.
func (s *Store) RecordOwnerHash(ctx context.Context, id, hash string) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE tenancy.tenants SET updated_at = now(), admin_password_hash = $2
		WHERE id = $1 AND status = 'provisioning' AND NOT rolling_back`, id, hash)
	if err != nil {
		return false, translate(err, "tenant")
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimStuck takes up to limit tenants left in provisioning with no progress for olderThan:
// it counts an attempt and renews updated_at, which holds other reconcilers off for another
// olderThan.
func (s *Store) ClaimStuck(ctx context.Context, olderThan time.Duration, limit int) ([]Tenant, error) {
	ts, err := collectTenants(s.db.Query(ctx, `
		UPDATE tenancy.tenants SET provision_attempts = provision_attempts + 1, updated_at = now()
		WHERE id IN (
			SELECT id FROM tenancy.tenants
			WHERE status = 'provisioning' AND updated_at < now() - make_interval(secs => $1)
			ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+tenantCols, olderThan.Seconds(), limit))
	return ts, translate(err, "tenants")
}

// ClaimStuckTenant is ClaimStuck for the tenant id alone: it reports whether the tenant was
// provisioning with no progress for olderThan, and if so takes it over.
func (s *Store) ClaimStuckTenant(ctx context.Context, id string, olderThan time.Duration) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE tenancy.tenants SET provision_attempts = provision_attempts + 1, updated_at = now()
		WHERE id = $1 AND status = 'provisioning' AND updated_at < now() - make_interval(secs => $2)`, id, olderThan.Seconds())
	if err != nil {
		return false, translate(err, "tenant")
	}
	return tag.RowsAffected() == 1, nil
}

// Activate finishes provisioning: the tenant becomes active and its pending admin is cleared.
// It reports false if the tenant was not (or no longer) provisioning forward.
func (s *Store) Activate(ctx context.Context, id string) (Tenant, bool, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET status = 'active', status_reason = '', updated_at = now(), admin_email = NULL, admin_password_hash = NULL
		WHERE id = $1 AND status = 'provisioning' AND NOT rolling_back RETURNING `+tenantCols, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, false, nil
	}
	if err != nil {
		return Tenant{}, false, translate(err, "tenant")
	}
	return t, true, nil
}

// StartRollback marks a provisioning tenant as being rolled back; from then on only a rollback
// may touch it. It reports false if the tenant is not provisioning.
func (s *Store) StartRollback(ctx context.Context, id string) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		UPDATE tenancy.tenants SET rolling_back = true, updated_at = now()
		WHERE id = $1 AND status = 'provisioning'`, id)
	if err != nil {
		return false, translate(err, "tenant")
	}
	return tag.RowsAffected() == 1, nil
}

// FinishRollback records a rolled-back tenant as failed: its memberships and tokens go, as
// does the owner account the sign-up created if nothing else uses it. The slug is free again.
func (s *Store) FinishRollback(ctx context.Context, id, reason string) (Tenant, error) {
	t, err := s.LockTenant(ctx, id)
	if err != nil {
		return Tenant{}, err
	}
	if err := s.dropTenantAccess(ctx, id); err != nil {
		return Tenant{}, err
	}
	if t.AdminEmail != "" {
		if _, err := s.db.Exec(ctx, `
			DELETE FROM tenancy.users u WHERE u.email = $1 AND u.created_at >= $2
			AND NOT EXISTS (SELECT 1 FROM tenancy.memberships m WHERE m.user_id = u.id)
			AND NOT EXISTS (SELECT 1 FROM tenancy.refresh_tokens r WHERE r.user_id = u.id)
			AND NOT EXISTS (SELECT 1 FROM tenancy.api_tokens a WHERE a.user_id = u.id)`, t.AdminEmail, t.CreatedAt); err != nil {
			return Tenant{}, translate(err, "user")
		}
	}
	t, err = scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET status = 'failed', status_reason = $2, rolling_back = false, updated_at = now(),
			admin_email = NULL, admin_password_hash = NULL
		WHERE id = $1 RETURNING `+tenantCols, id, reason))
	return t, translate(err, "tenant")
}

// ClaimPurgeable takes up to limit deleting tenants whose purge time has passed, renewing
// updated_at so other processes leave them alone for lease. A tenant not claimed since it was
// scheduled still has updated_at <= purge_at; a claimed one has it after.
func (s *Store) ClaimPurgeable(ctx context.Context, lease time.Duration, limit int) ([]Tenant, error) {
	ts, err := collectTenants(s.db.Query(ctx, `
		UPDATE tenancy.tenants SET updated_at = now()
		WHERE id IN (
			SELECT id FROM tenancy.tenants
			WHERE status = 'deleting' AND purge_at <= now()
			AND (updated_at <= purge_at OR updated_at < now() - make_interval(secs => $1))
			ORDER BY purge_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+tenantCols, lease.Seconds(), limit))
	return ts, translate(err, "tenants")
}

// FinishPurge records a deleting tenant as deleted and removes its memberships and tokens.
func (s *Store) FinishPurge(ctx context.Context, id string) (Tenant, error) {
	if err := s.dropTenantAccess(ctx, id); err != nil {
		return Tenant{}, err
	}
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET status = 'deleted', purge_at = NULL, updated_at = now()
		WHERE id = $1 AND status = 'deleting' RETURNING `+tenantCols, id))
	return t, translate(err, "deleting tenant")
}

func (s *Store) dropTenantAccess(ctx context.Context, id string) error {
	for _, q := range []string{
		`DELETE FROM tenancy.refresh_tokens WHERE tenant_id = $1`,
		`DELETE FROM tenancy.api_tokens WHERE tenant_id = $1`,
		`DELETE FROM tenancy.memberships WHERE tenant_id = $1`,
	} {
		if _, err := s.db.Exec(ctx, q, id); err != nil {
			return translate(err, "tenant access")
		}
	}
	return nil
}

// Package store is the entitlements control schema ("entitlements" in the control database):
// per tenant its plan, installs, grants, limit overrides, reported usage and audit log.
// Migrations are embedded and applied with tern when the store opens. Every change to a tenant
// runs in one transaction that first locks the tenant's row (Lock), so concurrent installs,
// uninstalls and plan changes of one tenant serialize and the version grows by one per change.
package store

import (
	"context"
	"embed"
	"encoding/json"
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

// VersionTable is tern's version table for the entitlements schema.
const VersionTable = "entitlements.schema_version"

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes the entitlements schema. A Store from Tx runs every call inside that
// transaction.
type Store struct {
	pool *pgxpool.Pool
	db   querier
}

// Open connects to the control database and migrates the schema to the latest version.
func Open(ctx context.Context, dsn string, maxConns int32) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	pool, err := controldb.Open(ctx, dsn, controldb.Schema{Name: "entitlements", Migrations: sub, MaxConns: maxConns})
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, db: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Tx runs fn in a transaction; fn's error rolls it back.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx})
	})
	return translate(err, "transaction")
}

// Tenant is a tenant's row.
type Tenant struct {
	TenantID     string
	Plan         string
	TrialEndsAt  *time.Time
	ExpiredTrial string
	Version      int64
}

// Install is a plugin a tenant installed at some point.
type Install struct {
	Plugin        string
	Installed     bool
	Config        map[string]any
	InstalledAt   *time.Time
	UninstalledAt *time.Time
}

// Grant is an add-on or trial entitlement.
type Grant struct {
	Plugin    string
	ExpiresAt *time.Time
	Reason    string
	Actor     string
	CreatedAt time.Time
}

// State is everything about one tenant's entitlements.
type State struct {
	Tenant Tenant
	// Exists is false for a tenant without a row (it is then on DefaultPlan with the plan's
	// default installs, as Lock would create it).
	Exists    bool
	Installs  map[string]*Install
	Grants    map[string]*Grant
	Overrides map[string]int64
}

// NewTenant describes the row Lock or Create makes for a tenant seen for the first time.
type NewTenant struct {
	Plan        string
	TrialEndsAt *time.Time
	Installed   []string
}

// Create inserts the tenant's row and its default installs unless it exists, and reports
// whether it did.
func (s *Store) Create(ctx context.Context, tenantID string, nt NewTenant) (bool, error) {
	tag, err := s.db.Exec(ctx, `
		INSERT INTO entitlements.tenants (tenant_id, plan, trial_ends_at) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, nt.Plan, nt.TrialEndsAt)
	if err != nil {
		return false, translate(err, "tenant")
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	for _, p := range nt.Installed {
		if _, err := s.db.Exec(ctx, `
			INSERT INTO entitlements.installs (tenant_id, plugin, installed, installed_at)
			VALUES ($1, $2, true, now()) ON CONFLICT DO NOTHING`, tenantID, p); err != nil {
			return false, translate(err, "install")
		}
	}
	return true, nil
}

// Lock creates the tenant's row if needed (as nt) and locks it for the rest of the
// transaction, then loads the tenant's state. Call it only inside Tx.
func (s *Store) Lock(ctx context.Context, tenantID string, nt NewTenant) (*State, error) {
	if _, err := s.Create(ctx, tenantID, nt); err != nil {
		return nil, err
	}
	return s.load(ctx, tenantID, nt, true)
}

// Load reads the tenant's state without locking. A tenant without a row gets the state Lock
// would create for it (Exists false).
func (s *Store) Load(ctx context.Context, tenantID string, nt NewTenant) (*State, error) {
	return s.load(ctx, tenantID, nt, false)
}

func (s *Store) load(ctx context.Context, tenantID string, nt NewTenant, lock bool) (*State, error) {
	st := &State{
		Installs:  map[string]*Install{},
		Grants:    map[string]*Grant{},
		Overrides: map[string]int64{},
	}
	q := `SELECT tenant_id, plan, trial_ends_at, coalesce(expired_trial, ''), version
		FROM entitlements.tenants WHERE tenant_id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	t := &st.Tenant
	err := s.db.QueryRow(ctx, q, tenantID).Scan(&t.TenantID, &t.Plan, &t.TrialEndsAt, &t.ExpiredTrial, &t.Version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		st.Tenant = Tenant{TenantID: tenantID, Plan: nt.Plan, TrialEndsAt: nt.TrialEndsAt}
		for _, p := range nt.Installed {
			st.Installs[p] = &Install{Plugin: p, Installed: true, Config: map[string]any{}}
		}
		return st, nil
	case err != nil:
		return nil, translate(err, "tenant")
	}
	st.Exists = true

	// One round trip for the three small child tables.
	rows, err := s.db.Query(ctx, `
		SELECT 'i', plugin, installed, config, installed_at, uninstalled_at, NULL::timestamptz, '', '', NULL::bigint
		  FROM entitlements.installs WHERE tenant_id = $1
		UNION ALL
		SELECT 'g', plugin, false, NULL, NULL, NULL, expires_at, reason, actor, extract(epoch FROM created_at)::bigint
		  FROM entitlements.grants WHERE tenant_id = $1
		UNION ALL
		SELECT 'o', name, false, NULL, NULL, NULL, NULL, '', '', value
		  FROM entitlements.limit_overrides WHERE tenant_id = $1`, tenantID)
	if err != nil {
		return nil, translate(err, "tenant state")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, name, reason, actor string
			installed                 bool
			config                    []byte
			instAt, uninstAt, expires *time.Time
			num                       *int64
		)
		if err := rows.Scan(&kind, &name, &installed, &config, &instAt, &uninstAt, &expires, &reason, &actor, &num); err != nil {
			return nil, translate(err, "tenant state")
		}
		switch kind {
		case "i":
			in := &Install{Plugin: name, Installed: installed, InstalledAt: instAt, UninstalledAt: uninstAt}
			if err := json.Unmarshal(config, &in.Config); err != nil {
				return nil, fmt.Errorf("store: config of %s: %w", name, err)
			}
			if in.Config == nil {
				in.Config = map[string]any{}
			}
			st.Installs[name] = in
		case "g":
			g := &Grant{Plugin: name, ExpiresAt: expires, Reason: reason, Actor: actor}
			if num != nil {
				g.CreatedAt = time.Unix(*num, 0).UTC()
			}
			st.Grants[name] = g
		case "o":
			if num != nil {
				st.Overrides[name] = *num
			}
		}
	}
	return st, translate(rows.Err(), "tenant state")
}

// SaveTenant writes the plan fields and the version of a locked tenant.
func (s *Store) SaveTenant(ctx context.Context, t Tenant) error {
	_, err := s.db.Exec(ctx, `
		UPDATE entitlements.tenants
		SET plan = $2, trial_ends_at = $3, expired_trial = nullif($4, ''), version = $5, updated_at = now()
		WHERE tenant_id = $1`, t.TenantID, t.Plan, t.TrialEndsAt, t.ExpiredTrial, t.Version)
	return translate(err, "tenant")
}

// SaveInstall writes one install row.
func (s *Store) SaveInstall(ctx context.Context, tenantID string, in *Install) error {
	cfg := in.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("store: encode config: %w", err)
	}
	_, err = s.db.Exec(ctx, `
		INSERT INTO entitlements.installs (tenant_id, plugin, installed, config, installed_at, uninstalled_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (tenant_id, plugin) DO UPDATE
		SET installed = $3, config = $4, installed_at = $5, uninstalled_at = $6, updated_at = now()`,
		tenantID, in.Plugin, in.Installed, raw, in.InstalledAt, in.UninstalledAt)
	return translate(err, "install")
}

// SaveGrant creates or replaces a grant.
func (s *Store) SaveGrant(ctx context.Context, tenantID string, g *Grant) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO entitlements.grants (tenant_id, plugin, expires_at, reason, actor, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, plugin) DO UPDATE
		SET expires_at = $3, reason = $4, actor = $5, created_at = $6`,
		tenantID, g.Plugin, g.ExpiresAt, g.Reason, g.Actor, g.CreatedAt)
	return translate(err, "grant")
}

// DeleteGrant removes a grant and reports whether there was one.
func (s *Store) DeleteGrant(ctx context.Context, tenantID, plugin string) (bool, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM entitlements.grants WHERE tenant_id = $1 AND plugin = $2`, tenantID, plugin)
	return tag.RowsAffected() > 0, translate(err, "grant")
}

// SetOverride sets (or with clear, removes) a limit override.
func (s *Store) SetOverride(ctx context.Context, tenantID, name string, value int64, clear bool) error {
	var err error
	if clear {
		_, err = s.db.Exec(ctx, `DELETE FROM entitlements.limit_overrides WHERE tenant_id = $1 AND name = $2`, tenantID, name)
	} else {
		_, err = s.db.Exec(ctx, `
			INSERT INTO entitlements.limit_overrides (tenant_id, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id, name) DO UPDATE SET value = $3, updated_at = now()`, tenantID, name, value)
	}
	return translate(err, "limit override")
}

// Usage is the last reported use of one limit.
type Usage struct {
	Used       int64
	ReportedAt time.Time
}

// RecordUsage stores the usage an enforcing service reported. Older reports never replace
// newer ones, so a slow call cannot move the figure backwards in time.
func (s *Store) RecordUsage(ctx context.Context, tenantID, name string, used int64, at time.Time) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO entitlements.usage (tenant_id, name, used, reported_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, name) DO UPDATE SET used = $3, reported_at = $4
		WHERE entitlements.usage.reported_at <= $4`, tenantID, name, used, at)
	return translate(err, "usage")
}

// Usages returns the tenant's reported usage by limit name.
func (s *Store) Usages(ctx context.Context, tenantID string) (map[string]Usage, error) {
	rows, err := s.db.Query(ctx, `SELECT name, used, reported_at FROM entitlements.usage WHERE tenant_id = $1`, tenantID)
	if err != nil {
		return nil, translate(err, "usage")
	}
	defer rows.Close()
	out := map[string]Usage{}
	for rows.Next() {
		var name string
		var u Usage
		if err := rows.Scan(&name, &u.Used, &u.ReportedAt); err != nil {
			return nil, translate(err, "usage")
		}
		out[name] = u
	}
	return out, translate(rows.Err(), "usage")
}

// AuditEntry is one audit-log row. Before and After are JSON objects (nil: none).
type AuditEntry struct {
	ID        int64
	TenantID  string
	Actor     string
	Action    string
	Before    json.RawMessage
	After     json.RawMessage
	Reason    string
	CreatedAt time.Time
}

// Audit appends an entry. Call it in the transaction of the change it records, so a change is
// never made without its entry.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO entitlements.audit (tenant_id, actor, action, before, after, reason)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.TenantID, e.Actor, e.Action, nullJSON(e.Before), nullJSON(e.After), e.Reason)
	return translate(err, "audit entry")
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// ListAudit returns up to limit entries, newest first, with ids below before (0: from the
// newest), for one tenant or (tenantID "") all.
func (s *Store) ListAudit(ctx context.Context, tenantID string, before int64, limit int) ([]AuditEntry, error) {
	rows, err := s.db.Query(ctx, `
		SELECT id, tenant_id, actor, action, before, after, reason, created_at
		FROM entitlements.audit
		WHERE ($1 = '' OR tenant_id = $1) AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, tenantID, before, limit)
	if err != nil {
		return nil, translate(err, "audit entries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var before, after []byte
		err := r.Scan(&e.ID, &e.TenantID, &e.Actor, &e.Action, &before, &after, &e.Reason, &e.CreatedAt)
		e.Before, e.After = before, after
		return e, err
	})
	return out, translate(err, "audit entries")
}

// DueForExpiry returns tenants whose plan trial has ended, or who have an installed plugin
// whose grant has expired, by now. The sweep re-checks each under its lock, so a tenant listed
// here that changed meanwhile is simply left as it is.
func (s *Store) DueForExpiry(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT tenant_id FROM entitlements.tenants WHERE trial_ends_at <= $1
		UNION
		SELECT g.tenant_id FROM entitlements.grants g
		  JOIN entitlements.installs i ON i.tenant_id = g.tenant_id AND i.plugin = g.plugin AND i.installed
		 WHERE g.expires_at <= $1
		LIMIT $2`, now, limit)
	if err != nil {
		return nil, translate(err, "due tenants")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, translate(err, "due tenants")
}

// DeleteTenant removes the tenant's entitlements (not its audit log).
func (s *Store) DeleteTenant(ctx context.Context, tenantID string) (bool, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM entitlements.tenants WHERE tenant_id = $1`, tenantID)
	if err == nil {
		_, err = s.db.Exec(ctx, `DELETE FROM entitlements.usage WHERE tenant_id = $1`, tenantID)
	}
	return tag.RowsAffected() > 0, translate(err, "tenant")
}

// translate turns Postgres errors callers can act on into domain errors and wraps the rest.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *rpcerr.Error
	if errors.As(err, &de) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return rpcerr.AlreadyExists("%s already exists", what).WithCause(err)
		case "40001", "40P01":
			return rpcerr.Unavailable("conflicting concurrent change, try again").WithCause(err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
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

package store

import (
	"context"
	"encoding/json"
	"fmt"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantarchive"
	"github.com/jackc/pgx/v5"
)

// archiveTables are a tenant's rows in a tenant archive: its plan row, installs (with their
// configs), grants and limit overrides. Reported usage is re-reported by the services; the
// audit log stays with the source tenant.
var archiveTables = []struct{ name, order string }{
	{"tenants", ""},
	{"installs", "plugin"},
	{"grants", "plugin"},
	{"limit_overrides", "name"},
}

// ExportData emits the tenant's records from one snapshot.
func (s *Store) ExportData(ctx context.Context, tenantID string, emit func(string) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		for _, t := range archiveTables {
			if err := tenantarchive.ExportTable(ctx, tx, t.name, pgx.Identifier{"entitlements", t.name}, "tenant_id = $1", t.order, []any{tenantID}, emit); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportData replaces the new tenant's plan, installs, grants and overrides (what Provision
// gave it) with the records from next, in one transaction, and returns how many it applied
// and the tenant's version after.
func (s *Store) ImportData(ctx context.Context, tenantID string, next func() ([]string, bool, error)) (n, version int64, err error) {
	known := map[string]bool{}
	for _, t := range archiveTables {
		known[t.name] = true
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM entitlements.tenants WHERE tenant_id = $1 FOR UPDATE`, tenantID).Scan(&version); err != nil {
			if err == pgx.ErrNoRows {
				return rpcerr.FailedPrecondition("tenant %s is not provisioned", tenantID)
			}
			return err
		}
		for _, t := range []string{"installs", "grants", "limit_overrides"} {
			if _, err := tx.Exec(ctx, `DELETE FROM entitlements.`+t+` WHERE tenant_id = $1`, tenantID); err != nil {
				return err
			}
		}
		in := tenantarchive.NewInserter(tx, 500)
		for {
			lines, more, err := next()
			if err != nil {
				return err
			}
			for _, line := range lines {
				var rec tenantarchive.Record
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					return rpcerr.InvalidField("records", "an entitlements record is not JSON")
				}
				if !known[rec.Table] {
					return rpcerr.InvalidField("records", fmt.Sprintf("unknown entitlements table %q in the archive", rec.Table))
				}
				row, err := tenantarchive.Set(rec.Row, map[string]any{"tenant_id": tenantID})
				if err != nil {
					return rpcerr.InvalidField("records", fmt.Sprintf("entitlements %s record: %v", rec.Table, err))
				}
				n++
				if rec.Table == "tenants" {
					if _, err := tx.Exec(ctx, `UPDATE entitlements.tenants t
						SET plan = r.plan, trial_ends_at = r.trial_ends_at, expired_trial = r.expired_trial, updated_at = now()
						FROM json_populate_record(NULL::entitlements.tenants, $2::json) r WHERE t.tenant_id = $1`, tenantID, string(row)); err != nil {
						return fmt.Errorf("import tenants: %w", err)
					}
					continue
				}
				if err := in.Add(ctx, rec.Table, pgx.Identifier{"entitlements", rec.Table}, row); err != nil {
					return err
				}
			}
			if !more {
				break
			}
		}
		if err := in.Flush(ctx); err != nil {
			return err
		}
		version++
		_, err := tx.Exec(ctx, `UPDATE entitlements.tenants SET version = $2 WHERE tenant_id = $1`, tenantID, version)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO entitlements.audit (tenant_id, actor, action) VALUES ($1, 'system', 'tenant.import')`, tenantID)
		return err
	})
	return n, version, translate(err, "import")
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one audit-log entry.
type Event struct {
	ID        int64
	At        time.Time
	Actor     string
	Action    string
	TenantID  string
	Target    string
	RequestID string
	// Details is a JSON object.
	Details json.RawMessage
}

// Audit appends an event. Call it in the transaction of the change it records, so a change is
// never made without its entry.
func (s *Store) Audit(ctx context.Context, e Event) error {
	details := e.Details
	if len(details) == 0 {
		details = json.RawMessage(`{}`)
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO tenancy.audit_log (actor, action, tenant_id, target, request_id, details)
		VALUES ($1, $2, nullif($3, ''), $4, $5, $6)`, e.Actor, e.Action, e.TenantID, e.Target, e.RequestID, details)
	return translate(err, "audit event")
}

// ListAudit returns up to limit events, newest first, with ids below before (0: from the
// newest), for one tenant or (tenantID "") all.
func (s *Store) ListAudit(ctx context.Context, tenantID string, before int64, limit int) ([]Event, error) {
	rows, err := s.db.Query(ctx, `
		SELECT id, at, actor, action, coalesce(tenant_id, ''), target, request_id, details
		FROM tenancy.audit_log
		WHERE ($1 = '' OR tenant_id = $1) AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, tenantID, before, limit)
	if err != nil {
		return nil, translate(err, "audit events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantID, &e.Target, &e.RequestID, &e.Details)
		return e, err
	})
	return out, translate(err, "audit events")
}

// AuditFilter narrows a tenant's audit events; zero fields do not filter.
type AuditFilter struct {
	Actor string
	// Action is an exact action, or with ActionPrefix the start of one.
	Action       string
	ActionPrefix bool
	// From is inclusive, To exclusive.
	From, To time.Time
}

// ListTenantAudit returns up to limit of one tenant's events matching f, newest first, with
// ids below before (0: from the newest). tenantID must not be empty: this is a tenant's own
// view, never the fleet's.
func (s *Store) ListTenantAudit(ctx context.Context, tenantID string, f AuditFilter, before int64, limit int) ([]Event, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("store: tenant audit needs a tenant")
	}
	action, prefix := f.Action, ""
	if f.ActionPrefix {
		action, prefix = "", likePrefix(f.Action)
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := s.db.Query(ctx, `
		SELECT id, at, actor, action, coalesce(tenant_id, ''), target, request_id, details
		FROM tenancy.audit_log
		WHERE tenant_id = $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3)
		AND ($4 = '' OR action LIKE $4) AND ($5::timestamptz IS NULL OR at >= $5)
		AND ($6::timestamptz IS NULL OR at < $6) AND ($7 = 0 OR id < $7)
		ORDER BY id DESC LIMIT $8`, tenantID, f.Actor, action, prefix, from, to, before, limit)
	if err != nil {
		return nil, translate(err, "audit events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantID, &e.Target, &e.RequestID, &e.Details)
		return e, err
	})
	return out, translate(err, "audit events")
}

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(p) + "%"
}

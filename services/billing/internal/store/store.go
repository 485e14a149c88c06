// Package store is billing's control-plane data: the "billing" schema of the control database
// (customers, subscriptions, the webhook ledger, the audit log, metered-usage reports). Its
// migrations are embedded and applied with tern when the store opens. Postgres errors become
// rpcerr domain errors here.
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

// VersionTable is tern's version table for the billing schema.
const VersionTable = "billing.schema_version"

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes the billing schema. A Store given to a Tx callback runs every call
// inside that transaction.
type Store struct {
	pool *pgxpool.Pool
	db   querier
}

// Open connects to the control database and migrates the billing schema.
func Open(ctx context.Context, dsn string, maxConns int32) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	pool, err := controldb.Open(ctx, dsn, controldb.Schema{Name: "billing", Migrations: sub, MaxConns: maxConns})
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Store{pool: s.pool, db: tx})
	})
}

// Billing states (billing.subscriptions.state).
const (
	StateNone       = "none"
	StateTrialing   = "trialing"
	StateActive     = "active"
	StatePastDue    = "past_due"
	StateSuspended  = "suspended"
	StateCanceled   = "canceled"
	StateIncomplete = "incomplete"
)

// Subscription is a tenant's billing state.
type Subscription struct {
	TenantID             string
	StripeSubscriptionID string
	StripeStatus         string
	State                string
	Plan                 string
	SeatsPaid            int64
	SeatItemID           string
	PeriodStart          *time.Time
	PeriodEnd            *time.Time
	TrialEnd             *time.Time
	CancelAtPeriodEnd    bool
	PastDueSince         *time.Time
	GraceEndsAt          *time.Time
	PaymentState         string
	LastEventAt          *time.Time
	Hold                 bool
	AppliedPlan          string
	AppliedHold          bool
	SeatsDirtyAt         *time.Time
	SeatsChanges         int64
	UpdatedAt            time.Time
}

// Live reports whether the subscription is one Checkout must not duplicate.
func (s Subscription) Live() bool {
	switch s.State {
	case StateTrialing, StateActive, StatePastDue, StateSuspended, StateIncomplete:
		return s.StripeSubscriptionID != ""
	}
	return false
}

const subCols = `tenant_id, stripe_subscription_id, stripe_status, state, plan, seats_paid, seat_item_id,
	current_period_start, current_period_end, trial_end, cancel_at_period_end, past_due_since,
	grace_ends_at, payment_state, last_event_at, hold, applied_plan, applied_hold, seats_dirty_at, seats_changes, updated_at`

func scanSub(row pgx.Row) (Subscription, error) {
	var s Subscription
	err := row.Scan(&s.TenantID, &s.StripeSubscriptionID, &s.StripeStatus, &s.State, &s.Plan, &s.SeatsPaid,
		&s.SeatItemID, &s.PeriodStart, &s.PeriodEnd, &s.TrialEnd, &s.CancelAtPeriodEnd, &s.PastDueSince,
		&s.GraceEndsAt, &s.PaymentState, &s.LastEventAt, &s.Hold, &s.AppliedPlan, &s.AppliedHold,
		&s.SeatsDirtyAt, &s.SeatsChanges, &s.UpdatedAt)
	return s, err
}

// Subscription returns a tenant's state; a tenant billing never saw is on the free plan.
func (s *Store) Subscription(ctx context.Context, tenantID string) (Subscription, error) {
	sub, err := scanSub(s.db.QueryRow(ctx, `SELECT `+subCols+` FROM billing.subscriptions WHERE tenant_id = $1`, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{TenantID: tenantID, State: StateNone, Plan: "free", PaymentState: "ok"}, nil
	}
	return sub, translate(err, "subscription")
}

// LockSubscription returns a tenant's state locked for update, creating the row first, so
// concurrent webhooks for one tenant apply one after the other.
func (s *Store) LockSubscription(ctx context.Context, tenantID string) (Subscription, error) {
	if _, err := s.db.Exec(ctx, `INSERT INTO billing.subscriptions (tenant_id, applied_plan) VALUES ($1, 'free')
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
		return Subscription{}, translate(err, "subscription")
	}
	sub, err := scanSub(s.db.QueryRow(ctx, `SELECT `+subCols+` FROM billing.subscriptions WHERE tenant_id = $1 FOR UPDATE`, tenantID))
	return sub, translate(err, "subscription")
}

// SaveSubscription writes every field of sub but the seat marks (its row must exist:
// LockSubscription).
func (s *Store) SaveSubscription(ctx context.Context, sub Subscription) error {
	_, err := s.db.Exec(ctx, `UPDATE billing.subscriptions SET stripe_subscription_id = $2, stripe_status = $3,
		state = $4, plan = $5, seats_paid = $6, seat_item_id = $7, current_period_start = $8,
		current_period_end = $9, trial_end = $10, cancel_at_period_end = $11, past_due_since = $12,
		grace_ends_at = $13, payment_state = $14, last_event_at = $15, hold = $16, applied_plan = $17,
		applied_hold = $18, updated_at = now()
		WHERE tenant_id = $1`, sub.TenantID, sub.StripeSubscriptionID, sub.StripeStatus, sub.State, sub.Plan,
		sub.SeatsPaid, sub.SeatItemID, sub.PeriodStart, sub.PeriodEnd, sub.TrialEnd, sub.CancelAtPeriodEnd,
		sub.PastDueSince, sub.GraceEndsAt, sub.PaymentState, sub.LastEventAt, sub.Hold, sub.AppliedPlan,
		sub.AppliedHold)
	return translate(err, "subscription")
}

// MarkApplied records that entitlements has plan and tenancy has hold, unless the wanted
// state moved on meanwhile (then the newer effect is still owed).
func (s *Store) MarkApplied(ctx context.Context, tenantID, plan string, hold bool) error {
	_, err := s.db.Exec(ctx, `UPDATE billing.subscriptions SET applied_plan = $2, applied_hold = $3
		WHERE tenant_id = $1 AND plan = $2 AND hold = $3`, tenantID, plan, hold)
	return translate(err, "subscription")
}

// Owed lists the tenants whose plan or hold has not reached entitlements or tenancy yet.
func (s *Store) Owed(ctx context.Context, limit int) ([]Subscription, error) {
	return s.subs(ctx, `WHERE plan <> applied_plan OR hold <> applied_hold ORDER BY updated_at LIMIT $1`, limit)
}

// GraceOver lists past-due tenants whose grace period ended at now.
func (s *Store) GraceOver(ctx context.Context, now time.Time, limit int) ([]Subscription, error) {
	return s.subs(ctx, `WHERE state = 'past_due' AND grace_ends_at <= $2 ORDER BY grace_ends_at LIMIT $1`, limit, now)
}

// SeatsDirty lists the tenants whose member count changed before cutoff (debounced).
func (s *Store) SeatsDirty(ctx context.Context, cutoff time.Time, limit int) ([]Subscription, error) {
	return s.subs(ctx, `WHERE seats_dirty_at IS NOT NULL AND seats_dirty_at <= $2 ORDER BY seats_dirty_at LIMIT $1`, limit, cutoff)
}

// MarkSeatsDirty notes that a tenant's member count changed. The first mark of a burst
// stays, so a steady stream of changes still syncs once the debounce window has passed.
func (s *Store) MarkSeatsDirty(ctx context.Context, tenantID string, at time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO billing.subscriptions (tenant_id, applied_plan, seats_dirty_at, seats_changes)
		VALUES ($1, 'free', $2, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET seats_dirty_at = coalesce(billing.subscriptions.seats_dirty_at, $2),
			seats_changes = billing.subscriptions.seats_changes + 1`, tenantID, at)
	return translate(err, "subscription")
}

// ClearSeatsDirty removes the mark a sync acted on; a change counted after it (changes moved
// on) keeps the tenant dirty for the next round.
func (s *Store) ClearSeatsDirty(ctx context.Context, tenantID string, changes int64) error {
	_, err := s.db.Exec(ctx, `UPDATE billing.subscriptions SET seats_dirty_at = NULL
		WHERE tenant_id = $1 AND seats_changes = $2`, tenantID, changes)
	return translate(err, "subscription")
}

// Subscribed lists every tenant with a Stripe subscription id, after the given tenant id.
func (s *Store) Subscribed(ctx context.Context, after string, limit int) ([]Subscription, error) {
	return s.subs(ctx, `WHERE stripe_subscription_id <> '' AND tenant_id > $2 ORDER BY tenant_id LIMIT $1`, limit, after)
}

func (s *Store) subs(ctx context.Context, where string, limit int, args ...any) ([]Subscription, error) {
	rows, err := s.db.Query(ctx, `SELECT `+subCols+` FROM billing.subscriptions `+where, append([]any{limit}, args...)...)
	if err != nil {
		return nil, translate(err, "subscriptions")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSub(r) })
	return out, translate(err, "subscriptions")
}

// Customer returns the tenant's Stripe customer id, or "" when it has none.
func (s *Store) Customer(ctx context.Context, tenantID string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT stripe_customer_id FROM billing.customers WHERE tenant_id = $1`, tenantID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, translate(err, "customer")
}

// PutCustomer records the tenant's customer; recording the same pair again is a no-op.
func (s *Store) PutCustomer(ctx context.Context, tenantID, customerID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO billing.customers (tenant_id, stripe_customer_id) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, customerID)
	return translate(err, "customer")
}

// TenantOfCustomer maps a Stripe customer back to its tenant ("" when unknown).
func (s *Store) TenantOfCustomer(ctx context.Context, customerID string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT tenant_id FROM billing.customers WHERE stripe_customer_id = $1`, customerID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, translate(err, "customer")
}

// Customers lists tenants with a customer after the given tenant id.
func (s *Store) Customers(ctx context.Context, after string, limit int) ([][2]string, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, stripe_customer_id FROM billing.customers
		WHERE tenant_id > $1 ORDER BY tenant_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, translate(err, "customers")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var p [2]string
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	return out, translate(err, "customers")
}

// Webhook outcomes.
const (
	OutcomeApplied = "applied"
	OutcomeStale   = "stale"
	OutcomeIgnored = "ignored"
	OutcomeError   = "error"
)

// Event is one row of the webhook ledger.
type Event struct {
	Seq        int64
	ID         string
	Type       string
	TenantID   string
	CreatedAt  time.Time
	ReceivedAt time.Time
	Outcome    string
	Error      string
}

// RecordEvent inserts an event into the ledger and reports whether it is new. Call it in the
// transaction of the event's effect: false means the effect was already committed.
func (s *Store) RecordEvent(ctx context.Context, e Event) (bool, error) {
	tag, err := s.db.Exec(ctx, `INSERT INTO billing.webhook_events (event_id, type, tenant_id, created_at, outcome, error)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`,
		e.ID, e.Type, e.TenantID, e.CreatedAt, e.Outcome, e.Error)
	if err != nil {
		return false, translate(err, "webhook event")
	}
	return tag.RowsAffected() == 1, nil
}

// HasEvent reports whether an event is in the ledger.
func (s *Store) HasEvent(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM billing.webhook_events WHERE event_id = $1)`, id).Scan(&ok)
	return ok, translate(err, "webhook event")
}

// ListEvents returns up to limit ledger rows, newest first, with seq below before (0: from the
// newest), of one tenant or (tenantID "") all.
func (s *Store) ListEvents(ctx context.Context, tenantID string, before int64, limit int) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, event_id, type, tenant_id, created_at, received_at, outcome, error
		FROM billing.webhook_events WHERE ($1 = '' OR tenant_id = $1) AND ($2 = 0 OR seq < $2)
		ORDER BY seq DESC LIMIT $3`, tenantID, before, limit)
	if err != nil {
		return nil, translate(err, "webhook events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.Seq, &e.ID, &e.Type, &e.TenantID, &e.CreatedAt, &e.ReceivedAt, &e.Outcome, &e.Error)
		return e, err
	})
	return out, translate(err, "webhook events")
}

// Audit is one billing transition.
type Audit struct {
	ID       int64
	At       time.Time
	TenantID string
	Actor    string
	Action   string
	From, To string
	Details  map[string]any
}

// Audit appends a transition; call it in the transaction of the change.
func (s *Store) Audit(ctx context.Context, a Audit) error {
	details, err := json.Marshal(a.Details)
	if err != nil || a.Details == nil {
		details = []byte(`{}`)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO billing.audit_log (tenant_id, actor, action, from_value, to_value, details)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.TenantID, a.Actor, a.Action, a.From, a.To, details)
	return translate(err, "audit event")
}

// ListAudit returns the newest limit transitions of a tenant.
func (s *Store) ListAudit(ctx context.Context, tenantID string, limit int) ([]Audit, error) {
	rows, err := s.db.Query(ctx, `SELECT id, at, tenant_id, actor, action, from_value, to_value, details
		FROM billing.audit_log WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, translate(err, "audit events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Audit, error) {
		var a Audit
		err := r.Scan(&a.ID, &a.At, &a.TenantID, &a.Actor, &a.Action, &a.From, &a.To, &a.Details)
		return a, err
	})
	return out, translate(err, "audit events")
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
			return rpcerr.AlreadyExists("%s already exists", what).WithCause(err)
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

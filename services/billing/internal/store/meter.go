package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Meter report states.
const (
	ReportPending = "pending"
	ReportSent    = "sent"
	ReportFailed  = "failed"
	// ReportExpired: the day left Stripe's 35-day window before a report got through.
	ReportExpired = "expired"
)

// Report is one metered-usage report of a (tenant, meter, day).
type Report struct {
	TenantID   string
	Meter      string
	Day        time.Time
	Quantity   int64
	Identifier string
	Status     string
	Attempts   int
	LastError  string
}

// AddUsage adds request counts per (tenant, day) and moves the consumer's offset, in one
// statement each, inside the caller's transaction.
func (s *Store) AddUsage(ctx context.Context, counts map[[2]string]int64) error {
	for k, n := range counts {
		if _, err := s.db.Exec(ctx, `INSERT INTO billing.usage_daily (tenant_id, day, requests) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id, day) DO UPDATE SET requests = billing.usage_daily.requests + $3`, k[0], k[1], n); err != nil {
			return translate(err, "usage")
		}
	}
	return nil
}

// Offset is the last stream id a consumer counted ("" when none).
func (s *Store) Offset(ctx context.Context, consumer string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT last_id FROM billing.stream_offsets WHERE consumer = $1`, consumer).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, translate(err, "stream offset")
}

// LockOffset is Offset read for update inside a transaction (the row is created when
// missing, so a first batch is locked too): whoever counts a consumer's entries holds it.
func (s *Store) LockOffset(ctx context.Context, consumer string) (string, error) {
	if _, err := s.db.Exec(ctx, `INSERT INTO billing.stream_offsets (consumer, last_id) VALUES ($1, '')
		ON CONFLICT (consumer) DO NOTHING`, consumer); err != nil {
		return "", translate(err, "stream offset")
	}
	var id string
	err := s.db.QueryRow(ctx, `SELECT last_id FROM billing.stream_offsets WHERE consumer = $1 FOR UPDATE`, consumer).Scan(&id)
	return id, translate(err, "stream offset")
}

// SetOffset moves a consumer's offset.
func (s *Store) SetOffset(ctx context.Context, consumer, id string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO billing.stream_offsets (consumer, last_id) VALUES ($1, $2)
		ON CONFLICT (consumer) DO UPDATE SET last_id = $2`, consumer, id)
	return translate(err, "stream offset")
}

// Usage is a tenant's request count on a day.
type Usage struct {
	TenantID string
	Day      time.Time
	Requests int64
	// MonthBefore is the tenant's requests earlier in the same calendar month.
	MonthBefore int64
}

// UsageOn lists every tenant's requests on day, with the month's total before it.
func (s *Store) UsageOn(ctx context.Context, day time.Time) ([]Usage, error) {
	rows, err := s.db.Query(ctx, `
		SELECT u.tenant_id, u.day, u.requests,
			coalesce((SELECT sum(p.requests) FROM billing.usage_daily p
				WHERE p.tenant_id = u.tenant_id AND p.day >= date_trunc('month', u.day)::date AND p.day < u.day), 0)::bigint
		FROM billing.usage_daily u WHERE u.day = $1 ORDER BY u.tenant_id`, day)
	if err != nil {
		return nil, translate(err, "usage")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Usage, error) {
		var u Usage
		err := r.Scan(&u.TenantID, &u.Day, &u.Requests, &u.MonthBefore)
		return u, err
	})
	return out, translate(err, "usage")
}

// PutReport creates a day's report once: the quantity of a reported day never changes, so
// a retry sends exactly what the first attempt did.
func (s *Store) PutReport(ctx context.Context, r Report) error {
	_, err := s.db.Exec(ctx, `INSERT INTO billing.meter_reports (tenant_id, meter, day, quantity, identifier)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, meter, day) DO NOTHING`,
		r.TenantID, r.Meter, r.Day, r.Quantity, r.Identifier)
	return translate(err, "meter report")
}

// Unsent lists the reports not yet accepted by Stripe.
func (s *Store) Unsent(ctx context.Context, limit int) ([]Report, error) {
	return s.reports(ctx, `WHERE status IN ('pending', 'failed') ORDER BY day, tenant_id LIMIT $1`, limit)
}

// Reports lists a tenant's reports, newest day first.
func (s *Store) Reports(ctx context.Context, tenantID string, limit int) ([]Report, error) {
	return s.reports(ctx, `WHERE tenant_id = $2 ORDER BY day DESC LIMIT $1`, limit, tenantID)
}

func (s *Store) reports(ctx context.Context, where string, limit int, args ...any) ([]Report, error) {
	rows, err := s.db.Query(ctx, `SELECT tenant_id, meter, day, quantity, identifier, status, attempts, last_error
		FROM billing.meter_reports `+where, append([]any{limit}, args...)...)
	if err != nil {
		return nil, translate(err, "meter reports")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Report, error) {
		var m Report
		err := r.Scan(&m.TenantID, &m.Meter, &m.Day, &m.Quantity, &m.Identifier, &m.Status, &m.Attempts, &m.LastError)
		return m, err
	})
	return out, translate(err, "meter reports")
}

// MarkReport records an attempt's outcome.
func (s *Store) MarkReport(ctx context.Context, identifier, status, lastError string) error {
	_, err := s.db.Exec(ctx, `UPDATE billing.meter_reports SET status = $2, last_error = $3, attempts = attempts + 1,
		sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END WHERE identifier = $1`, identifier, status, lastError)
	return translate(err, "meter report")
}

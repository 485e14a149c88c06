package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Mail is one message of tenancy.outbox.
type Mail struct {
	ID        int64
	TenantID  string
	Kind      string
	Recipient string
	Subject   string
	Body      string
	Attempts  int
}

// EnqueueMail writes a message to the outbox. Call it in the transaction of the change that
// causes it: the mail is sent if and only if the change commits.
func (s *Store) EnqueueMail(ctx context.Context, m Mail) error {
	_, err := s.db.Exec(ctx, `INSERT INTO tenancy.outbox (tenant_id, kind, recipient, subject, body)
		VALUES (nullif($1, ''), $2, $3, $4, $5)`, m.TenantID, m.Kind, m.Recipient, m.Subject, m.Body)
	return translate(err, "mail")
}

// ClaimMail takes up to limit due messages for delivery: each is pushed lease into the future
// (so another sender skips it while this one works) and its attempt counted.
func (s *Store) ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]Mail, error) {
	rows, err := s.db.Query(ctx, `
		UPDATE tenancy.outbox o SET attempts = attempts + 1, next_attempt_at = now() + $2::interval
		WHERE id IN (SELECT id FROM tenancy.outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
		             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, coalesce(tenant_id, ''), kind, recipient, subject, body, attempts`, limit, lease)
	if err != nil {
		return nil, translate(err, "mail")
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mail, error) {
		var m Mail
		err := r.Scan(&m.ID, &m.TenantID, &m.Kind, &m.Recipient, &m.Subject, &m.Body, &m.Attempts)
		return m, err
	})
	return ms, translate(err, "mail")
}

// MailSent records a delivery and blanks the body: it holds one-time links nobody should read
// from the database later.
func (s *Store) MailSent(ctx context.Context, id int64) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.outbox SET sent_at = now(), body = '', last_error = '' WHERE id = $1`, id)
	return translate(err, "mail")
}

// MailFailed records a failed attempt: retried after retryIn, or given up when final.
func (s *Store) MailFailed(ctx context.Context, id int64, msg string, retryIn time.Duration, final bool) error {
	_, err := s.db.Exec(ctx, `UPDATE tenancy.outbox SET last_error = $2, next_attempt_at = now() + $3::interval,
		failed_at = CASE WHEN $4 THEN now() END, body = CASE WHEN $4 THEN '' ELSE body END WHERE id = $1`,
		id, msg, retryIn, final)
	return translate(err, "mail")
}

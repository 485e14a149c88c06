package store

import (
	"context"
	"errors"
	"time"

	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
)

// Move steps, in order. A move record's step is the next thing to do (or, for done, dropped
// and aborted, what it ended as), so a resumed move continues there.
const (
	MoveCapture   = "capture"
	MoveProvision = "provision"
	MoveCopy      = "copy"
	MoveCatchup   = "catchup"
	MovePause     = "pause"
	MoveVerify    = "verify"
	MoveSwitch    = "switch"
	MoveDone      = "done" // switched; the source copy waits for drop_after
	MoveDropped   = "dropped"
	MoveAborted   = "aborted"
)

// Move is one row of tenancy.tenant_moves.
type Move struct {
	ID         string
	TenantID   string
	FromShard  string
	ToShard    string
	Step       string
	Grace      time.Duration
	RowsTotal  int64
	RowsCopied int64
	PausedAt   *time.Time
	PauseMS    int64
	DropAfter  *time.Time
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const moveCols = `id, tenant_id, from_shard, to_shard, step, grace, rows_total, rows_copied, paused_at, pause_ms,
	drop_after, error, created_at, updated_at`

func scanMove(row pgx.Row) (Move, error) {
	var m Move
	err := row.Scan(&m.ID, &m.TenantID, &m.FromShard, &m.ToShard, &m.Step, &m.Grace, &m.RowsTotal, &m.RowsCopied,
		&m.PausedAt, &m.PauseMS, &m.DropAfter, &m.Error, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

// InsertMove records a new move at its first step. A tenant with an open move (one whose
// source copy still exists) is AlreadyExists.
func (s *Store) InsertMove(ctx context.Context, m Move) (Move, error) {
	out, err := scanMove(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.tenant_moves (id, tenant_id, from_shard, to_shard, step, grace)
		VALUES ($1, $2, $3, $4, 'capture', $5) RETURNING `+moveCols,
		m.ID, m.TenantID, m.FromShard, m.ToShard, m.Grace))
	return out, translate(err, "move")
}

// OpenMove returns the tenant's move that is not dropped or aborted, or NotFound.
func (s *Store) OpenMove(ctx context.Context, tenantID string) (Move, error) {
	m, err := scanMove(s.db.QueryRow(ctx, `
		SELECT `+moveCols+` FROM tenancy.tenant_moves
		WHERE tenant_id = $1 AND step NOT IN ('dropped', 'aborted')`, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, rpcerr.NotFound("no open move")
	}
	return m, translate(err, "move")
}

// UpdateMove writes a move's progress fields.
func (s *Store) UpdateMove(ctx context.Context, m Move) error {
	_, err := s.db.Exec(ctx, `
		UPDATE tenancy.tenant_moves SET step = $2, rows_total = $3, rows_copied = $4, paused_at = $5,
			pause_ms = $6, drop_after = $7, error = $8, updated_at = now()
		WHERE id = $1`, m.ID, m.Step, m.RowsTotal, m.RowsCopied, m.PausedAt, m.PauseMS, m.DropAfter, m.Error)
	return translate(err, "move")
}

// ListMoves returns up to 100 moves, newest first, of one tenant or ("") all.
func (s *Store) ListMoves(ctx context.Context, tenantID string) ([]Move, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+moveCols+` FROM tenancy.tenant_moves WHERE ($1 = '' OR tenant_id = $1)
		ORDER BY created_at DESC, id LIMIT 100`, tenantID)
	if err != nil {
		return nil, translate(err, "moves")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Move, error) { return scanMove(r) })
	return out, translate(err, "moves")
}

// MovesToDrop returns finished moves whose source copy's grace period is over.
func (s *Store) MovesToDrop(ctx context.Context, now time.Time) ([]Move, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+moveCols+` FROM tenancy.tenant_moves WHERE step = 'done' AND drop_after <= $1
		ORDER BY drop_after LIMIT 20`, now)
	if err != nil {
		return nil, translate(err, "moves")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Move, error) { return scanMove(r) })
	return out, translate(err, "moves")
}

// SwitchShard points the tenant at its new shard, if it is still on from.
func (s *Store) SwitchShard(ctx context.Context, tenantID, from, to string) (Tenant, error) {
	t, err := scanTenant(s.db.QueryRow(ctx, `
		UPDATE tenancy.tenants SET shard = $3, updated_at = now() WHERE id = $1 AND shard = $2
		RETURNING `+tenantCols, tenantID, from, to))
	if errors.Is(err, pgx.ErrNoRows) {
		// Already switched (a resumed move): fine when it is on to.
		cur, gerr := s.GetTenant(ctx, tenantID)
		if gerr == nil && cur.Shard == to {
			return cur, nil
		}
		return cur, rpcerr.FailedPrecondition("tenant is no longer on shard %s", from)
	}
	return t, translate(err, "tenant")
}

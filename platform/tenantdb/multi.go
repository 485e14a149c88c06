package tenantdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"atrium.dev/platform/authn"
	"github.com/jackc/pgx/v5"
)

// ErrNoTenantEntered is returned by MultiTx.Queue before any tenant was entered.
var ErrNoTenantEntered = errors.New("tenantdb: statement queued before a tenant was entered")

// MultiTx is one transaction on one shard that writes several tenants' rows, one tenant at a
// time: Enter switches the transaction's role and search_path to a tenant (the same
// confinement InTx gives), and every statement queued after it runs as that tenant until the
// next Enter. Statements are pipelined: Enter and Queue only queue, Flush sends everything
// queued in one round trip. It exists for the insights ingest, where a stream batch touches
// hundreds of tenants with a few events each and one transaction per tenant costs more than
// the events (a commit and its WAL flush per tenant).
//
// Isolation holds as in InTx: a tenant statement runs with the tenant's role, which has no
// privilege on any other schema, and with only the tenant's schema on its search path, so it
// can neither name nor find another tenant's tables. The switch is a statement of the same
// pipeline: if it fails (role or schema gone), the transaction is aborted and no later
// statement runs, under any role. The semantics of all-or-nothing are the transaction's:
// one tenant's failing statement rolls back every tenant's rows of the transaction.
type MultiTx struct {
	tx      pgx.Tx
	shard   string
	batch   *pgx.Batch
	current string // tenant whose role the queued statements will run as
	seen    map[string]bool
}

// InMultiTx runs fn in one read-write transaction on shard; fn enters tenants and queues
// their statements on mt. fn's error, or an error of any queued statement, rolls everything
// back; otherwise whatever is still queued is flushed and the transaction commits.
//
// The per-tenant concurrency cap of InTx does not apply: the caller is a bounded set of
// workers (insights' pipeline), not requests, and holds one connection however many tenants
// it writes. The statement timeout does.
func (s *Shards) InMultiTx(ctx context.Context, shard string, fn func(ctx context.Context, mt *MultiTx) error) error {
	pool, err := s.poolFor(ctx, shard)
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	mt := &MultiTx{tx: tx, shard: shard, batch: &pgx.Batch{}, seen: map[string]bool{}}
	if s.stmtTimeout > 0 {
		mt.batch.Queue(`SELECT set_config('statement_timeout', $1, true)`, strconv.FormatInt(s.stmtTimeout.Milliseconds(), 10))
	}
	if err := fn(ctx, mt); err != nil {
		return readOnlyAsPrecondition(err)
	}
	if err := mt.Flush(ctx); err != nil {
		return readOnlyAsPrecondition(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return readOnlyAsPrecondition(fmt.Errorf("tenantdb: commit: %w", err))
	}
	return nil
}

// Enter queues the switch to the tenant of id: its schema must be t_<tenant id> and its shard
// this transaction's. Statements queued after it run as that tenant.
func (mt *MultiTx) Enter(id *authn.Identity) error {
	if id == nil || !id.HasTenant() {
		return ErrNoTenant
	}
	if !ValidSchema(id.Schema) {
		return fmt.Errorf("tenantdb: malformed schema %q in identity", id.Schema)
	}
	if id.Schema != SchemaFor(id.TenantID) {
		return fmt.Errorf("%w: tenant %s, schema %s", ErrSchemaMismatch, id.TenantID, id.Schema)
	}
	if id.Shard != mt.shard {
		return fmt.Errorf("tenantdb: tenant %s is on shard %q, the transaction on %q", id.TenantID, id.Shard, mt.shard)
	}
	// set_config takes the names as values, so nothing is quoted into SQL. 'role' is what
	// SET ROLE sets; the permission check is the session user's membership, as for SET ROLE.
	// search_path first: should the role switch fail, the transaction is aborted anyway.
	mt.batch.Queue(`SELECT set_config('search_path', $1, true), set_config('role', $1, true)`, id.Schema)
	mt.current = id.Schema
	return nil
}

// Current is the schema of the tenant entered last ("" before any).
func (mt *MultiTx) Current() string { return mt.current }

// Queue queues a statement that runs as the tenant entered last. Its results reach the
// callbacks of the returned QueuedQuery when the pipeline is flushed. The first time a
// statement text is queued in a transaction, what is queued so far is flushed and the
// statement is prepared (a no-op when the connection has it already): prepared as the
// current tenant, since pgx would otherwise prepare it before the pipeline's tenant switch
// ran. Postgres re-resolves a prepared statement's tables whenever search_path differs from
// the one it was planned under, so one prepared statement serves tenant after tenant, each
// in its own schema (TestMultiTxIsolation).
func (mt *MultiTx) Queue(ctx context.Context, sql string, args ...any) (*pgx.QueuedQuery, error) {
	if mt.current == "" {
		return nil, ErrNoTenantEntered
	}
	if !mt.seen[sql] {
		if err := mt.Flush(ctx); err != nil {
			return nil, err
		}
		if _, err := mt.tx.Prepare(ctx, sql, sql); err != nil {
			return nil, fmt.Errorf("tenantdb: prepare as %s: %w", mt.current, err)
		}
		mt.seen[sql] = true
	}
	return mt.batch.Queue(sql, args...), nil
}

// Flush sends every queued statement in one round trip and runs their callbacks. The tenant
// entered last stays entered. An error aborts the transaction.
func (mt *MultiTx) Flush(ctx context.Context) error {
	if mt.batch.Len() == 0 {
		return nil
	}
	b := mt.batch
	mt.batch = &pgx.Batch{}
	if err := mt.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("tenantdb: multi-tenant batch: %w", err)
	}
	return nil
}

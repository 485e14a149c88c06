// Package move moves a tenant's schema from one shard to another while the tenant stays
// online. The steps, each recorded in tenancy.tenant_moves before the next starts so a move
// resumes where a crash left it:
//
//	capture    triggers on every source table record the primary key of each changed row
//	           in <schema>.atrium_move_changes (for a table without one, its group key: its
//	           NOT NULL columns; whole tables only for those with neither, and on TRUNCATE);
//	           a partitioned table's row trigger is on its parent, so a partition made
//	           during the move logs its rows too, and the table list is read again when
//	           the log names a table it lacks;
//	provision  the target role and schema, brought to every service's latest version by the
//	           services themselves (ProvisioningService), so the target has each service's
//	           own DDL; the source is migrated first so both are at the same version;
//	copy       every table, in one snapshot of the source, with COPY (binary) into the
//	           emptied target tables;
//	catchup    rounds that re-copy the rows the change log names, until few are left; then
//	           every row the log does not name is compared (count and checksum) while writes
//	           still flow, and one more round runs;
//	pause      the capture function is replaced by one that refuses writes with
//	           read_only_sql_transaction (tenantdb turns it into FailedPrecondition); once
//	           the writers that already passed it have committed, the last changes are
//	           applied and the sequences set;
//	verify     row count and an order-independent checksum, on both sides, of the rows
//	           changed since that comparison (of every row when the move was resumed after
//	           a crash in the pause);
//	switch     the directory points at the target, the audit log records it, and the
//	           tenant-changed message makes every gateway drop its cached routing;
//	done       the source copy is kept (still refusing writes, still answering reads of
//	           requests routed before the switch) until the grace period ends; then
//	dropped.
//
// Reads never stop: the source answers them until the switch and for the grace period after.
// Writes are refused only from pause to switch: one catch-up round and the comparison of the
// rows it changed, whatever the tenant's size.
package move

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/provision"
	"atrium.dev/services/tenancy/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultGrace is how long the source copy is kept after the switch.
const DefaultGrace = 10 * time.Minute

// ErrCrash, returned by Config.AfterStep, stops a move on the spot as a dying process would.
var ErrCrash = errors.New("move: simulated crash")

// Names of the objects the move puts in the source schema; tables with this prefix are never
// copied.
const (
	objPrefix    = "atrium_move_"
	changesTable = "atrium_move_changes"
	captureFn    = "atrium_move_capture"
)

// Config wires a Mover.
type Config struct {
	Store       *store.Store
	Shards      *tenantdb.Shards
	Provisioner *provision.Provisioner
	Notify      notify.Publisher
	Log         *slog.Logger
	// Audit records an event in the transaction tx (the api package's audit helper).
	Audit func(ctx context.Context, tx *store.Store, action, tenantID, target string, details any) error
	// CatchupRows: catch-up rounds run until a round finds fewer changes than this, then the
	// move pauses writes for the last one (default 200). CatchupRounds bounds the rounds
	// (default 20) for a tenant written to faster than it can be copied.
	CatchupRows   int
	CatchupRounds int
	// AfterStep, for tests only, runs after each step is recorded; ErrCrash stops the move.
	AfterStep func(step string) error
}

// Mover runs moves.
type Mover struct{ cfg Config }

// New returns a Mover.
func New(cfg Config) *Mover {
	if cfg.Notify == nil {
		cfg.Notify = notify.Nop{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CatchupRows <= 0 {
		cfg.CatchupRows = 200
	}
	if cfg.CatchupRounds <= 0 {
		cfg.CatchupRounds = 20
	}
	return &Mover{cfg: cfg}
}

// Progress receives the move after each piece of work, with a line for the operator.
type Progress func(m store.Move, msg string)

// Request is one MoveTenant call.
type Request struct {
	Tenant store.Tenant
	To     string // "" picks a shard
	Grace  time.Duration
}

// Run starts the tenant's move, or resumes its open one, and returns when the move is done
// (switched; the source is dropped later by DropDue) or failed. A failure leaves the move
// where it was for a later Run to resume; a verification failure aborts it.
func (mv *Mover) Run(ctx context.Context, req Request, progress Progress) (store.Move, error) {
	if progress == nil {
		progress = func(store.Move, string) {}
	}
	t := req.Tenant
	unlock, err := mv.lock(ctx, t.ID)
	if err != nil {
		return store.Move{}, err
	}
	defer unlock()

	m, err := mv.cfg.Store.OpenMove(ctx, t.ID)
	switch {
	case err == nil:
		if req.To != "" && req.To != m.ToShard {
			return m, rpcerr.FailedPrecondition("tenant has an open move to %s (step %s); finish it first", m.ToShard, m.Step)
		}
		if m.Step == store.MoveDone {
			return m, nil
		}
		progress(m, fmt.Sprintf("resuming the move to %s at step %s", m.ToShard, m.Step))
	case rpcerr.KindOf(err) == rpcerr.KindNotFound:
		if m, err = mv.start(ctx, req); err != nil {
			return m, err
		}
		progress(m, fmt.Sprintf("moving %s from %s to %s", t.Slug, m.FromShard, m.ToShard))
	default:
		return m, err
	}
	return mv.steps(ctx, t, m, progress)
}

func (mv *Mover) start(ctx context.Context, req Request) (store.Move, error) {
	t := req.Tenant
	if t.Status != store.StatusActive && t.Status != store.StatusSuspended {
		return store.Move{}, rpcerr.FailedPrecondition("tenant is %s; only active and suspended tenants move", t.Status)
	}
	to := req.To
	if to == "" {
		var err error
		if to, err = mv.cfg.Store.PickShard(ctx, t.Shard); err != nil {
			return store.Move{}, err
		}
	} else {
		sh, err := mv.cfg.Store.GetShard(ctx, to)
		if err != nil {
			if rpcerr.KindOf(err) == rpcerr.KindNotFound {
				return store.Move{}, rpcerr.InvalidField("to_shard", "unknown shard")
			}
			return store.Move{}, err
		}
		if to == t.Shard {
			return store.Move{}, rpcerr.InvalidField("to_shard", "is the tenant's shard already")
		}
		if !sh.HasRoom() {
			return store.Move{}, rpcerr.ResourceExhausted(0, "shard %s is full (%d of %d tenants)", sh.Name, sh.TenantCount, sh.MaxTenants)
		}
	}
	grace := req.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	var m store.Move
	err := mv.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		m, err = tx.InsertMove(ctx, store.Move{ID: store.NewID(), TenantID: t.ID, FromShard: t.Shard, ToShard: to, Grace: grace})
		if err != nil {
			return err
		}
		return mv.cfg.Audit(ctx, tx, "tenant.move.start", t.ID, "shard:"+to,
			map[string]any{"move_id": m.ID, "from": t.Shard, "to": to, "grace_seconds": int(grace.Seconds())})
	})
	return m, err
}

// lock holds a session advisory lock on the control database for the tenant's move, so two
// callers (or a caller and the resume loop) never run the same move at once.
func (mv *Mover) lock(ctx context.Context, tenantID string) (func(), error) {
	conn, err := mv.cfg.Store.Pool().Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('atrium.move:' || $1, 0))`, tenantID).Scan(&ok); err != nil {
		conn.Release()
		return nil, err
	}
	if !ok {
		conn.Release()
		return nil, rpcerr.FailedPrecondition("a move of this tenant is already running")
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended('atrium.move:' || $1, 0))`, tenantID)
		conn.Release()
	}, nil
}

// steps runs the move from its recorded step to done.
func (mv *Mover) steps(ctx context.Context, t store.Tenant, m store.Move, progress Progress) (store.Move, error) {
	src, err := mv.pool(ctx, m.FromShard)
	if err != nil {
		return m, err
	}
	dst, err := mv.pool(ctx, m.ToShard)
	if err != nil {
		return m, err
	}
	j := &job{mv: mv, t: t, m: m, src: src, dst: dst, progress: progress}
	for {
		var next string
		switch j.m.Step {
		case store.MoveCapture:
			err, next = j.capture(ctx), store.MoveProvision
		case store.MoveProvision:
			err, next = j.provision(ctx), store.MoveCopy
		case store.MoveCopy:
			err, next = j.copyAll(ctx), store.MoveCatchup
		case store.MoveCatchup:
			err, next = j.catchup(ctx), store.MovePause
		case store.MovePause:
			err, next = j.pause(ctx), store.MoveVerify
		case store.MoveVerify:
			err, next = j.verify(ctx), store.MoveSwitch
		case store.MoveSwitch:
			if err = j.switchOver(ctx); err == nil {
				return j.m, nil
			}
		default:
			return j.m, nil
		}
		if err != nil {
			return j.m, j.fail(ctx, err)
		}
		j.m.Step = next
		if err := mv.cfg.Store.UpdateMove(ctx, j.m); err != nil {
			return j.m, err
		}
		j.progress(j.m, "step "+next)
		if mv.cfg.AfterStep != nil {
			if err := mv.cfg.AfterStep(next); err != nil {
				return j.m, err
			}
		}
	}
}

func (mv *Mover) pool(ctx context.Context, shard string) (*pgxpool.Pool, error) {
	if err := mv.cfg.Provisioner.EnsureShard(ctx, shard); err != nil {
		return nil, err
	}
	return mv.cfg.Shards.Pool(shard)
}

// job is one run of a move.
type job struct {
	mv       *Mover
	t        store.Tenant
	m        store.Move
	src, dst *pgxpool.Pool
	progress Progress
	tables   []table
	// parents are the top-level partitioned tables: they hold no rows, but their row
	// triggers are cloned onto every partition, those made during the move included.
	parents []table
	// dirty holds the keys changed since preVerify compared every other row, so the pause
	// compares only these; nil (a move resumed after the pause began) compares every row.
	dirty *dirtyKeys
}

// dirtyKeys are rows to compare during the pause: by table, the primary keys (as the change
// log has them, by their text), and the tables to compare whole.
type dirtyKeys struct {
	keys  map[string]map[string]json.RawMessage
	whole map[string]bool
}

func (d *dirtyKeys) add(c change) {
	if c.pk == nil {
		d.whole[c.tbl] = true
		return
	}
	if d.keys[c.tbl] == nil {
		d.keys[c.tbl] = map[string]json.RawMessage{}
	}
	d.keys[c.tbl][string(c.pk)] = c.pk
}

// list is tb's dirty keys as one JSON array, and whether the whole table must be compared.
func (d *dirtyKeys) list(tb table) (string, bool) {
	if tb.key == nil || d.whole[tb.name] {
		return "", true
	}
	ks := make([]json.RawMessage, 0, len(d.keys[tb.name]))
	for _, k := range d.keys[tb.name] {
		ks = append(ks, k)
	}
	b, _ := json.Marshal(ks)
	return string(b), false
}

// table is one copied table: its columns (generated ones left out: COPY cannot write them
// and the target computes them) and the key its changes are logged and re-copied by.
//
// The key is the primary key; a table without one is keyed by its group key (grouped): every
// NOT NULL column whose type has a btree equality. Rows that share a group key are re-copied
// and compared together (the target's rows of the group deleted, the source's copied), which
// is as exact as a primary key, duplicates included. Without either (key nil) a change re-copies
// and compares the whole table, which is O(table) in the pause: the catalog's search rows and
// relations have no primary key, and every write of an entity changes them, so a pause of a
// 100k-entity tenant re-copied and checksummed about 400k rows of them.
type table struct {
	name    string
	cols    []string
	key     []string
	grouped bool
	// partition: a partition of a partitioned table, whose row trigger is its parent's.
	partition bool
}

func (j *job) q(name string) string { return pgx.Identifier{j.t.Schema, name}.Sanitize() }

func (j *job) colList(tb table) string {
	qs := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		qs[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(qs, ", ")
}

// fail records the error on the move. A verification failure aborts the move (the target is
// dropped, the source takes writes again); anything else leaves it to be resumed, and if
// writes were paused they are let through again first: a failed move must not leave a
// tenant read-only until someone notices.
func (j *job) fail(ctx context.Context, err error) error {
	if errors.Is(err, ErrCrash) {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	var mismatch *mismatchError
	if errors.As(err, &mismatch) {
		_ = j.removeCapture(ctx)
		_ = j.dropTarget(ctx)
		j.m.Step, j.m.Error = store.MoveAborted, err.Error()
		_ = j.mv.cfg.Store.UpdateMove(ctx, j.m)
		_ = j.mv.cfg.Store.Tx(ctx, func(tx *store.Store) error {
			return j.mv.cfg.Audit(ctx, tx, "tenant.move.abort", j.t.ID, "shard:"+j.m.ToShard, map[string]any{"move_id": j.m.ID, "error": err.Error()})
		})
		return rpcerr.FailedPrecondition("move aborted: %v", err)
	}
	if j.m.Step == store.MovePause || j.m.Step == store.MoveVerify {
		if uerr := j.installCapture(ctx, false); uerr == nil {
			j.m.Step, j.m.PausedAt = store.MoveCatchup, nil
		}
	}
	j.m.Error = err.Error()
	_ = j.mv.cfg.Store.UpdateMove(ctx, j.m)
	return err
}

// ---------------------------------------------------------------- capture

func (j *job) loadTables(ctx context.Context) error {
	if j.tables != nil {
		return nil
	}
	rows, err := j.src.Query(ctx, `
		SELECT c.relname,
			array(SELECT a.attname::text FROM pg_attribute a
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
				ORDER BY a.attnum),
			coalesce((SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
				FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
				WHERE i.indrelid = c.oid AND i.indisprimary), '{}'),
			array(SELECT a.attname::text FROM pg_attribute a
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attnotnull
					AND EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
						WHERE am.amname = 'btree' AND oc.opcdefault
							AND (oc.opcintype = a.atttypid OR (a.atttypid = 'varchar'::regtype AND oc.opcintype = 'text'::regtype)))
				ORDER BY a.attnum),
			c.relkind = 'p', c.relispartition
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND (c.relkind = 'r' OR (c.relkind = 'p' AND NOT c.relispartition))
			AND c.relname NOT LIKE 'atrium\_move\_%'
		ORDER BY c.relname`, j.t.Schema)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	var parents []table
	tables := []table{}
	for rows.Next() {
		var tb table
		var group []string
		var parent bool
		if err := rows.Scan(&tb.name, &tb.cols, &tb.key, &group, &parent, &tb.partition); err != nil {
			rows.Close()
			return fmt.Errorf("list tables: %w", err)
		}
		if len(tb.key) == 0 {
			tb.key, tb.grouped = group, true
		}
		if len(tb.key) == 0 {
			tb.key, tb.grouped = nil, false
		}
		if parent {
			parents = append(parents, tb)
		} else {
			tables = append(tables, tb)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	j.tables, j.parents = tables, parents
	return nil
}

// reloadTables lists the tables again, after the change log named one the list lacks: a
// partition made since (insights makes each day's on its first event). The partition is made
// on the target first; its rows were logged by the row trigger it took from its parent.
func (j *job) reloadTables(ctx context.Context) error {
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	j.tables = nil
	return j.loadTables(ctx)
}

func (j *job) capture(ctx context.Context) error {
	if err := j.loadTables(ctx); err != nil {
		return err
	}
	return j.installCapture(ctx, false)
}

// installCapture (re)creates the change log, the capture function and the triggers, as the
// tenant role so the tenant owns them. paused makes the function refuse every write instead;
// switching between the two replaces only the function, which takes no table lock.
func (j *job) installCapture(ctx context.Context, paused bool) error {
	if err := j.installFunction(ctx, paused); err != nil {
		return err
	}
	if paused {
		return nil
	}
	return j.installTriggers(ctx)
}

func (j *job) installFunction(ctx context.Context, paused bool) error {
	if err := j.loadTables(ctx); err != nil {
		return err
	}
	role := pgx.Identifier{j.t.Schema}.Sanitize()
	body := `
	DECLARE
		r jsonb;
		o jsonb;
	BEGIN
		IF TG_OP = 'TRUNCATE' OR TG_NARGS = 0 THEN
			INSERT INTO ` + j.q(changesTable) + ` (tbl, pk) VALUES (TG_TABLE_NAME, NULL);
			RETURN NULL;
		END IF;
		IF TG_OP IN ('INSERT', 'UPDATE') THEN
			SELECT jsonb_object_agg(k, to_jsonb(NEW) -> k) INTO r FROM unnest(TG_ARGV) k;
			INSERT INTO ` + j.q(changesTable) + ` (tbl, pk) VALUES (TG_TABLE_NAME, r);
		END IF;
		IF TG_OP IN ('UPDATE', 'DELETE') THEN
			SELECT jsonb_object_agg(k, to_jsonb(OLD) -> k) INTO o FROM unnest(TG_ARGV) k;
			IF r IS NULL OR o <> r THEN
				INSERT INTO ` + j.q(changesTable) + ` (tbl, pk) VALUES (TG_TABLE_NAME, o);
			END IF;
		END IF;
		RETURN NULL;
	END`
	if paused {
		// 25006 read_only_sql_transaction: what a write to a read-only tenant gets, so the
		// services answer FailedPrecondition, which clients retry.
		body = `BEGIN
		RAISE EXCEPTION 'tenant is being moved to another shard: writes resume within seconds'
			USING ERRCODE = '25006';
	END`
	}
	stmts := []string{
		`SET LOCAL ROLE ` + role,
		`CREATE TABLE IF NOT EXISTS ` + j.q(changesTable) + ` (id bigserial PRIMARY KEY, tbl text NOT NULL, pk jsonb)`,
		`CREATE OR REPLACE FUNCTION ` + j.q(captureFn) + `() RETURNS trigger LANGUAGE plpgsql AS $atrium$` + body + `$atrium$`,
	}
	return j.srcTx(ctx, stmts)
}

// installTriggers puts the capture triggers on every table, one table per transaction: one
// transaction for all would hold each table's lock while waiting for the next, and deadlock
// with a writer that holds that one and wants a table already locked.
//
// A partitioned table gets the row trigger on the parent, which Postgres clones onto every
// partition, also one made after this (a trigger on each partition alone missed the rows of a
// partition made during the move). Each partition keeps a TRUNCATE trigger of its own.
func (j *job) installTriggers(ctx context.Context) error {
	role := pgx.Identifier{j.t.Schema}.Sanitize()
	rowTrigger := func(tb table) []string {
		args := make([]string, len(tb.key))
		for i, c := range tb.key {
			args[i] = "'" + strings.ReplaceAll(c, "'", "''") + "'"
		}
		return []string{
			`DROP TRIGGER IF EXISTS ` + captureFn + ` ON ` + j.q(tb.name),
			`CREATE TRIGGER ` + captureFn + ` AFTER INSERT OR UPDATE OR DELETE ON ` + j.q(tb.name) +
				` FOR EACH ROW EXECUTE FUNCTION ` + j.q(captureFn) + `(` + strings.Join(args, ", ") + `)`,
		}
	}
	for _, p := range j.parents {
		err := pgx.BeginFunc(ctx, j.src, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+role+`; SET LOCAL lock_timeout = '5s'`); err != nil {
				return err
			}
			// A partition's own row trigger (a move resumed from a build that put them there)
			// would clash with the parent's clone: dropped in the same transaction.
			rows, err := tx.Query(ctx, `
				SELECT c.relname FROM pg_trigger tg
				JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = $1 AND tg.tgname = $2 AND tg.tgparentid = 0 AND c.relispartition`, j.t.Schema, captureFn)
			if err != nil {
				return err
			}
			own, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			stmts := []string{}
			for _, name := range own {
				stmts = append(stmts, `DROP TRIGGER `+captureFn+` ON `+j.q(name))
			}
			for _, st := range append(stmts, rowTrigger(p)...) {
				if _, err := tx.Exec(ctx, st); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("capture on %s: %s: %w", j.m.FromShard, p.name, err)
		}
	}
	for _, tb := range j.tables {
		stmts := []string{`SET LOCAL ROLE ` + role, `SET LOCAL lock_timeout = '5s'`}
		if !tb.partition {
			stmts = append(stmts, rowTrigger(tb)...)
		}
		stmts = append(stmts,
			`DROP TRIGGER IF EXISTS `+captureFn+`_truncate ON `+j.q(tb.name),
			`CREATE TRIGGER `+captureFn+`_truncate AFTER TRUNCATE ON `+j.q(tb.name)+
				` FOR EACH STATEMENT EXECUTE FUNCTION `+j.q(captureFn)+`()`)
		if err := j.srcTx(ctx, stmts); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) srcTx(ctx context.Context, stmts []string) error {
	return pgx.BeginFunc(ctx, j.src, func(tx pgx.Tx) error {
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st); err != nil {
				return fmt.Errorf("capture on %s: %w", j.m.FromShard, err)
			}
		}
		return nil
	})
}

// removeCapture drops what capture added to a schema (the source, when a move aborts and the
// tenant stays).
func (j *job) removeCapture(ctx context.Context) error {
	_, err := j.src.Exec(ctx, `DROP FUNCTION IF EXISTS `+j.q(captureFn)+`() CASCADE; DROP TABLE IF EXISTS `+j.q(changesTable))
	return err
}

// ---------------------------------------------------------------- provision

func (j *job) provision(ctx context.Context) error {
	// Both sides at the services' latest version, so their tables match column for column.
	if err := j.mv.cfg.Provisioner.Migrate(ctx, j.t); err != nil {
		return fmt.Errorf("migrate source: %w", err)
	}
	if err := j.mv.cfg.Provisioner.ProvisionOn(ctx, j.t, j.m.ToShard); err != nil {
		return fmt.Errorf("provision target: %w", err)
	}
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	// A table the migration added since capture needs its trigger too.
	j.tables = nil
	if err := j.installCapture(ctx, false); err != nil {
		return err
	}
	return j.sameTables(ctx)
}

// copyPartitions creates on the target the partitions the source has made since its tables
// were migrated: services create some on demand (insights partitions raw events by day), so
// provisioning the target alone does not give it them. They are made as the tenant role, so
// the service keeps owning (and may later drop) them.
func (j *job) copyPartitions(ctx context.Context) error {
	rows, err := j.src.Query(ctx, `
		SELECT c.relname, p.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_inherits i ON i.inhrelid = c.oid
		JOIN pg_class p ON p.oid = i.inhparent
		WHERE n.nspname = $1 AND c.relispartition AND c.relkind IN ('r', 'p')
		ORDER BY c.relname`, j.t.Schema)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	type partition struct{ name, parent, bound string }
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (partition, error) {
		var p partition
		return p, r.Scan(&p.name, &p.parent, &p.bound)
	})
	if err != nil || len(parts) == 0 {
		return err
	}
	tx, err := j.dst.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{j.t.Schema}.Sanitize()); err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	for _, p := range parts {
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+j.q(p.name)+" PARTITION OF "+j.q(p.parent)+" "+p.bound); err != nil {
			return fmt.Errorf("create partition %s: %w", p.name, err)
		}
	}
	return tx.Commit(ctx)
}

// sameTables checks that the target has every source table with the same columns.
func (j *job) sameTables(ctx context.Context) error {
	for _, tb := range j.tables {
		var cols []string
		err := j.dst.QueryRow(ctx, `
			SELECT array(SELECT a.attname::text FROM pg_attribute a
				WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
				ORDER BY a.attnum)`, j.q(tb.name)).Scan(&cols)
		if err != nil {
			return err
		}
		if strings.Join(cols, ",") != strings.Join(tb.cols, ",") {
			return &mismatchError{fmt.Sprintf("table %s: target columns %v, source %v", tb.name, cols, tb.cols)}
		}
	}
	return nil
}

// ---------------------------------------------------------------- copy

// copyAll empties the target tables and copies every source table from one snapshot.
func (j *job) copyAll(ctx context.Context) error {
	// The source may have made a partition since the last step (insights makes today's on
	// its first event of the day); the target needs it before rows or sums reach it.
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	if err := j.loadTables(ctx); err != nil {
		return err
	}
	srcTx, err := j.src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = srcTx.Rollback(context.WithoutCancel(ctx)) }()
	var total int64
	for _, tb := range j.tables {
		var n int64
		if err := srcTx.QueryRow(ctx, `SELECT count(*) FROM `+j.q(tb.name)).Scan(&n); err != nil {
			return err
		}
		total += n
	}
	j.m.RowsTotal, j.m.RowsCopied = total, 0
	j.progress(j.m, fmt.Sprintf("copying %d rows in %d tables", total, len(j.tables)))

	return j.inTarget(ctx, func(dstTx pgx.Tx) error {
		if len(j.tables) > 0 {
			names := make([]string, len(j.tables))
			for i, tb := range j.tables {
				names[i] = j.q(tb.name)
			}
			if _, err := dstTx.Exec(ctx, `TRUNCATE `+strings.Join(names, ", ")); err != nil {
				return err
			}
		}
		rebuild, err := j.dropSecondaryIndexes(ctx, dstTx)
		if err != nil {
			return err
		}
		for _, tb := range j.tables {
			n, err := pipe(ctx, srcTx.Conn().PgConn(), dstTx.Conn().PgConn(),
				`COPY `+j.q(tb.name)+` (`+j.colList(tb)+`) TO STDOUT (FORMAT binary)`,
				`COPY `+j.q(tb.name)+` (`+j.colList(tb)+`) FROM STDIN (FORMAT binary)`)
			if err != nil {
				return fmt.Errorf("copy %s: %w", tb.name, err)
			}
			j.m.RowsCopied += n
			j.progress(j.m, "copied "+tb.name)
		}
		for _, def := range rebuild {
			if _, err := dstTx.Exec(ctx, def); err != nil {
				return fmt.Errorf("rebuild index: %w", err)
			}
		}
		j.progress(j.m, fmt.Sprintf("built %d indexes", len(rebuild)))
		return nil
	})
}

// dropSecondaryIndexes drops the target's indexes that no constraint needs (in the copy's
// transaction) and returns the statements that build them again: one build after the copy
// costs a fraction of keeping them up to date row by row (the catalog's GIN index most; a
// 100k-entity tenant took 10 minutes to copy with them, pg_dump | psql 22 s). Indexes of
// partitions stay: they belong to their parent's index.
func (j *job) dropSecondaryIndexes(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT format('%I.%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition AND c.relname NOT LIKE 'atrium\_move\_%'
			AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
			AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
		ORDER BY 1`, j.t.Schema)
	if err != nil {
		return nil, fmt.Errorf("list target indexes: %w", err)
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var x index
		return x, r.Scan(&x.name, &x.def)
	})
	if err != nil {
		return nil, fmt.Errorf("list target indexes: %w", err)
	}
	defs := make([]string, len(idx))
	for i, x := range idx {
		if _, err := tx.Exec(ctx, `DROP INDEX `+x.name); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", x.name, err)
		}
		defs[i] = x.def
	}
	if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'`); err != nil {
		return nil, err
	}
	return defs, nil
}

// inTarget runs fn in a target transaction with triggers and foreign keys off
// (session_replication_role = replica): the rows arrive as the source has them, derived rows
// included, in whatever order.
func (j *job) inTarget(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, j.dst, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("target: %w (moves need a login role that may set session_replication_role)", err)
		}
		return fn(tx)
	})
}

// pipe streams one COPY TO into one COPY FROM and returns the rows written.
func pipe(ctx context.Context, from, to *pgconn.PgConn, out, in string) (int64, error) {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := from.CopyTo(ctx, pw, out)
		pw.CloseWithError(err)
		errc <- err
	}()
	tag, err := to.CopyFrom(ctx, pr, in)
	pr.CloseWithError(err) // unblocks the writer if the reader failed
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	return tag.RowsAffected(), err
}

// ---------------------------------------------------------------- catch-up

type change struct {
	id  int64
	tbl string
	pk  json.RawMessage // nil: the whole table
}

// catchup applies the change log in rounds until a round is small, then compares every row
// not changed since (preVerify), while writes still flow, and catches up once more: the pause
// then has only the last changes to apply and compare.
func (j *job) catchup(ctx context.Context) error {
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	if err := j.catchupRounds(ctx); err != nil {
		return err
	}
	if err := j.preVerify(ctx); err != nil {
		return err
	}
	n, err := j.applyChanges(ctx, 50000)
	if err != nil {
		return err
	}
	j.progress(j.m, fmt.Sprintf("catch-up after the comparison: %d changed rows", n))
	return nil
}

func (j *job) catchupRounds(ctx context.Context) error {
	for round := 1; round <= j.mv.cfg.CatchupRounds; round++ {
		n, err := j.applyChanges(ctx, 50000)
		if err != nil {
			return err
		}
		j.progress(j.m, fmt.Sprintf("catch-up round %d: %d changed rows", round, n))
		if n < j.mv.cfg.CatchupRows {
			return nil
		}
	}
	return nil
}

// applyChanges re-copies the rows named by up to limit log entries and deletes those entries
// (by id: an entry of a transaction that commits later keeps a lower id and is picked up by
// the next round).
func (j *job) applyChanges(ctx context.Context, limit int) (int, error) {
	if err := j.loadTables(ctx); err != nil {
		return 0, err
	}
	rows, err := j.src.Query(ctx, `SELECT id, tbl, pk FROM `+j.q(changesTable)+` ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return 0, err
	}
	changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (change, error) {
		var c change
		err := r.Scan(&c.id, &c.tbl, &c.pk)
		return c, err
	})
	if err != nil || len(changes) == 0 {
		return 0, err
	}
	// Every entry is applied before the log forgets it: one naming a table the list lacks (a
	// partition made since) makes the list be read again.
	for reloaded := false; ; reloaded = true {
		known := make(map[string]bool, len(j.tables))
		for _, tb := range j.tables {
			known[tb.name] = true
		}
		var unknown string
		for _, c := range changes {
			if !known[c.tbl] {
				unknown = c.tbl
				break
			}
		}
		if unknown == "" {
			break
		}
		if reloaded {
			return 0, fmt.Errorf("the change log names %s, which is not a table of the tenant", unknown)
		}
		if err := j.reloadTables(ctx); err != nil {
			return 0, err
		}
	}
	// Each key once: a group-keyed table logs the same key for every row of the group a
	// write replaces, and a row written twice logs its key twice.
	byTable := map[string][]json.RawMessage{}
	seen := map[string]map[string]bool{}
	whole := map[string]bool{}
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.id
		switch {
		case c.pk == nil:
			whole[c.tbl] = true
		case !seen[c.tbl][string(c.pk)]:
			if seen[c.tbl] == nil {
				seen[c.tbl] = map[string]bool{}
			}
			seen[c.tbl][string(c.pk)] = true
			byTable[c.tbl] = append(byTable[c.tbl], c.pk)
		}
	}
	err = j.inTarget(ctx, func(dstTx pgx.Tx) error {
		for _, tb := range j.tables {
			pks, some := byTable[tb.name]
			if !some && !whole[tb.name] {
				continue
			}
			if whole[tb.name] || tb.key == nil {
				if _, err := dstTx.Exec(ctx, `DELETE FROM `+j.q(tb.name)); err != nil {
					return err
				}
				if _, err := j.copyRows(ctx, dstTx, tb, ""); err != nil {
					return err
				}
				continue
			}
			set, _ := json.Marshal(pks)
			var match []string
			for _, c := range tb.key {
				qc := pgx.Identifier{c}.Sanitize()
				match = append(match, "t."+qc+" = r."+qc)
			}
			if _, err := dstTx.Exec(ctx, `DELETE FROM `+j.q(tb.name)+` t USING jsonb_populate_recordset(NULL::`+j.q(tb.name)+`, $1::jsonb) r WHERE `+
				strings.Join(match, " AND "), string(set)); err != nil {
				return fmt.Errorf("catch-up %s: %w", tb.name, err)
			}
			// COPY takes no parameters: the key set goes in as a quoted literal.
			lit := "'" + strings.ReplaceAll(string(set), "'", "''") + "'::jsonb"
			where := ` WHERE EXISTS (SELECT 1 FROM jsonb_populate_recordset(NULL::` + j.q(tb.name) + `, ` + lit + `) r WHERE ` +
				strings.Join(match, " AND ") + `)`
			if _, err := j.copyRows(ctx, dstTx, tb, where); err != nil {
				return fmt.Errorf("catch-up %s: %w", tb.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if _, err = j.src.Exec(ctx, `DELETE FROM `+j.q(changesTable)+` WHERE id = ANY ($1)`, ids); err != nil {
		return 0, err
	}
	if j.dirty != nil {
		for _, c := range changes {
			j.dirty.add(c)
		}
	}
	return len(changes), nil
}

// copyRows copies the source rows of tb matching where ("" all) into the target.
func (j *job) copyRows(ctx context.Context, dstTx pgx.Tx, tb table, where string) (int64, error) {
	conn, err := j.src.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	cols := j.colList(tb)
	sel := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		sel[i] = "t." + pgx.Identifier{c}.Sanitize()
	}
	return pipe(ctx, conn.Conn().PgConn(), dstTx.Conn().PgConn(),
		`COPY (SELECT `+strings.Join(sel, ", ")+` FROM `+j.q(tb.name)+` t`+where+`) TO STDOUT (FORMAT binary)`,
		`COPY `+j.q(tb.name)+` (`+cols+`) FROM STDIN (FORMAT binary)`)
}

// ---------------------------------------------------------------- pause

// pause refuses writes, waits for the writers already past the capture function, and
// applies the last changes and the sequences.
func (j *job) pause(ctx context.Context) error {
	if j.m.PausedAt == nil {
		now := time.Now()
		j.m.PausedAt = &now
		if err := j.mv.cfg.Store.UpdateMove(ctx, j.m); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := j.installCapture(ctx, true); err != nil {
		return err
	}
	// Every writer that logged a change holds ROW EXCLUSIVE on the log until it ends; SHARE
	// waits for them all. New writers fail in the function before they reach the log.
	if err := pgx.BeginFunc(ctx, j.src, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `LOCK TABLE `+j.q(changesTable)+` IN SHARE MODE`)
		return err
	}); err != nil {
		return fmt.Errorf("wait for writers: %w", err)
	}
	waited := time.Since(t0)
	applied := 0
	for {
		n, err := j.applyChanges(ctx, 50000)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		applied += n
	}
	if err := j.copySequences(ctx); err != nil {
		return err
	}
	j.progress(j.m, fmt.Sprintf("writes paused: writers done in %d ms, the last %d changes applied in %d ms",
		waited.Milliseconds(), applied, (time.Since(t0)-waited).Milliseconds()))
	return nil
}

func (j *job) copySequences(ctx context.Context) error {
	rows, err := j.src.Query(ctx, `SELECT sequencename, last_value, coalesce(last_value IS NOT NULL, false) FROM pg_sequences
		WHERE schemaname = $1 AND sequencename NOT LIKE 'atrium\_move\_%'`, j.t.Schema)
	if err != nil {
		return err
	}
	type seq struct {
		name   string
		last   *int64
		called bool
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seq, error) {
		var s seq
		err := r.Scan(&s.name, &s.last, &s.called)
		return s, err
	})
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s.last == nil {
			continue
		}
		if _, err := j.dst.Exec(ctx, `SELECT setval($1::regclass, $2, true)`, j.q(s.name), *s.last); err != nil {
			return fmt.Errorf("sequence %s: %w", s.name, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------- verify

type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// sessionText makes a row's text the same on both sides: it depends on session settings.
const sessionText = `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'`

// sumQuery is the row count and checksum (the sum of a 64-bit hash of each row's text, so row
// order does not matter) of tb's rows: all of them (keys ""), only those whose key is in the
// JSON array $1 (in true), or all the others (in false, which also counts every row).
func (j *job) sumQuery(tb table, keys string, in bool) string {
	if keys == "" {
		return `SELECT count(*), count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM ` + j.q(tb.name) + ` t`
	}
	cols := make([]string, len(tb.key))
	match := make([]string, len(tb.key))
	for i, c := range tb.key {
		qc := pgx.Identifier{c}.Sanitize()
		cols[i] = qc
		match[i] = "t." + qc + " = k." + qc
	}
	keyed := `(SELECT DISTINCT ` + strings.Join(cols, ", ") + `, true AS atrium_hit FROM jsonb_populate_recordset(NULL::` + j.q(tb.name) + `, $1::jsonb)) k`
	if in {
		// Only the keyed rows, by their primary key: the pause must not scan the table.
		return `SELECT count(*), count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM ` +
			j.q(tb.name) + ` t JOIN ` + keyed + ` ON ` + strings.Join(match, " AND ")
	}
	cond := "k.atrium_hit IS NULL"
	return `SELECT count(*), count(*) FILTER (WHERE ` + cond + `), coalesce(sum(hashtextextended(t::text, 0)) FILTER (WHERE ` + cond + `), 0)::text FROM ` +
		j.q(tb.name) + ` t LEFT JOIN ` + keyed + ` ON ` + strings.Join(match, " AND ")
}

type sumResult struct {
	all, n int64
	h      string
	err    error
}

func sumIn(ctx context.Context, q pgx.Tx, sql string, keys string) sumResult {
	var r sumResult
	var args []any
	if keys != "" {
		args = append(args, keys)
	}
	r.err = q.QueryRow(ctx, sql, args...).Scan(&r.all, &r.n, &r.h)
	return r
}

func (j *job) sumOn(ctx context.Context, pool *pgxpool.Pool, sql, keys string) sumResult {
	var r sumResult
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sessionText); err != nil {
			return err
		}
		r = sumIn(ctx, tx, sql, keys)
		return r.err
	})
	if err != nil {
		r.err = err
	}
	return r
}

func (j *job) compare(tb table, s, d sumResult, what string) error {
	if s.err != nil {
		return fmt.Errorf("verify %s on %s: %w", tb.name, j.m.FromShard, s.err)
	}
	if d.err != nil {
		return fmt.Errorf("verify %s on %s: %w", tb.name, j.m.ToShard, d.err)
	}
	if s.n != d.n || s.h != d.h {
		return &mismatchError{fmt.Sprintf("table %s differs after the copy (%s): %d rows (checksum %s) on %s, %d rows (checksum %s) on %s",
			tb.name, what, s.n, s.h, j.m.FromShard, d.n, d.h, j.m.ToShard)}
	}
	return nil
}

// preVerify compares, while writes still flow, every row the change log does not name: the
// source in one snapshot, with the log as that snapshot has it, the target as the copy and
// catch-up left it (only this job writes it). A row whose key is not in the log is, in that
// snapshot, as the last copy of it into the target had it: every committed change logs its
// key in the same transaction, and an entry leaves the log only once its row has been copied
// again. The keys the log names then, and every key changed after, are compared during the
// pause (j.dirty), so the pause's work no longer grows with the tenant's size.
func (j *job) preVerify(ctx context.Context) error {
	if err := j.loadTables(ctx); err != nil {
		return err
	}
	srcTx, err := j.src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = srcTx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := srcTx.Exec(ctx, sessionText); err != nil {
		return err
	}
	rows, err := srcTx.Query(ctx, `SELECT id, tbl, pk FROM `+j.q(changesTable))
	if err != nil {
		return err
	}
	pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (change, error) {
		var c change
		err := r.Scan(&c.id, &c.tbl, &c.pk)
		return c, err
	})
	if err != nil {
		return err
	}
	dirty := &dirtyKeys{keys: map[string]map[string]json.RawMessage{}, whole: map[string]bool{}}
	for _, c := range pending {
		dirty.add(c)
	}
	// The source's sums run one after another in the snapshot; the target's beside them.
	type pair struct{ s, d sumResult }
	res := make([]pair, len(j.tables))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	var total int64
	for i, tb := range j.tables {
		keys, whole := dirty.list(tb)
		if whole {
			continue // compared whole during the pause
		}
		sql := j.sumQuery(tb, keys, false)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res[i].d = j.sumOn(ctx, j.dst, sql, keys)
		})
		res[i].s = sumIn(ctx, srcTx, sql, keys)
		total += res[i].s.all
	}
	wg.Wait()
	for i, tb := range j.tables {
		if _, whole := dirty.list(tb); whole {
			continue
		}
		if err := j.compare(tb, res[i].s, res[i].d, "rows not changed since the copy"); err != nil {
			return err
		}
	}
	j.dirty = dirty
	j.m.RowsTotal, j.m.RowsCopied = total, total
	j.progress(j.m, fmt.Sprintf("verified %d rows while writes continue; %d changed rows are left for the pause", total, len(pending)))
	return nil
}

// verify compares, with writes paused, every table's row count and checksum on both sides:
// after preVerify only the rows changed since (and whole the tables without a primary key or
// truncated since), else every row.
func (j *job) verify(ctx context.Context) error {
	// The source may have made a partition since the last step (insights makes today's on
	// its first event of the day); the target needs it before rows or sums reach it.
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	if err := j.loadTables(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	// Writes are paused while this runs: every table on both sides at once, to keep it short.
	res := make([][2]sumResult, len(j.tables))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	compared := 0
	for i, tb := range j.tables {
		keys, in := "", false
		if j.dirty != nil {
			var whole bool
			keys, whole = j.dirty.list(tb)
			if !whole && keys == "[]" {
				continue
			}
			in = !whole
		}
		compared++
		sql := j.sumQuery(tb, keys, in)
		for side, pool := range []*pgxpool.Pool{j.src, j.dst} {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				res[i][side] = j.sumOn(ctx, pool, sql, keys)
			})
		}
	}
	wg.Wait()
	var rowsTotal, rows int64
	for i, tb := range j.tables {
		s, d := res[i][0], res[i][1]
		if s.err == nil && d.err == nil && s.h == "" && d.h == "" {
			continue // not compared: no row of it changed since preVerify
		}
		if err := j.compare(tb, s, d, "with writes paused"); err != nil {
			return err
		}
		rowsTotal += s.all
		rows += s.n
	}
	if j.dirty == nil {
		j.m.RowsTotal, j.m.RowsCopied = rowsTotal, rowsTotal
		j.progress(j.m, fmt.Sprintf("verified %d tables, %d rows: counts and checksums match", len(j.tables), rowsTotal))
		return nil
	}
	j.progress(j.m, fmt.Sprintf("verified the %d rows changed since in %d tables in %d ms: counts and checksums match",
		rows, compared, time.Since(t0).Milliseconds()))
	return nil
}

// ---------------------------------------------------------------- switch

func (j *job) switchOver(ctx context.Context) error {
	// Writes are paused, but a service may still make an empty partition (DDL is not a
	// paused write); the tenant must find it on its new shard.
	if err := j.copyPartitions(ctx); err != nil {
		return err
	}
	var t store.Tenant
	dropAfter := time.Now().Add(j.m.Grace)
	err := j.mv.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if t, err = tx.SwitchShard(ctx, j.t.ID, j.m.FromShard, j.m.ToShard); err != nil {
			return err
		}
		j.m.Step, j.m.DropAfter, j.m.Error = store.MoveDone, &dropAfter, ""
		if j.m.PausedAt != nil {
			j.m.PauseMS = time.Since(*j.m.PausedAt).Milliseconds()
		}
		if err := tx.UpdateMove(ctx, j.m); err != nil {
			return err
		}
		return j.mv.cfg.Audit(ctx, tx, "tenant.move", j.t.ID, "shard:"+j.m.ToShard, map[string]any{
			"move_id": j.m.ID, "from": j.m.FromShard, "to": j.m.ToShard, "rows": j.m.RowsTotal,
			"pause_ms": j.m.PauseMS, "drop_after": dropAfter.UTC(),
		})
	})
	if err != nil {
		return err
	}
	// Every gateway drops the tenant from its caches and routes to the new shard.
	j.mv.cfg.Notify.TenantChanged(ctx, notify.Change{TenantID: t.ID, Slug: t.Slug, Status: string(t.Status)})
	j.progress(j.m, fmt.Sprintf("switched to %s; writes were paused %d ms; the copy on %s is dropped after %s",
		j.m.ToShard, j.m.PauseMS, j.m.FromShard, dropAfter.UTC().Format(time.RFC3339)))
	return nil
}

// ---------------------------------------------------------------- drop

func (j *job) dropTarget(ctx context.Context) error {
	return dropSchema(ctx, j.dst, j.t.Schema)
}

// dropSchema drops a tenant copy. The role is dropped too unless another database of the
// cluster (the other copy, when both shards are one cluster) still has objects of it.
func dropSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+q+` CASCADE`); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `DROP ROLE IF EXISTS `+q); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "2BP01" {
			return nil
		}
		return err
	}
	return nil
}

// DropDue drops the source copies whose grace period is over and returns how many.
func (mv *Mover) DropDue(ctx context.Context) (int, error) {
	moves, err := mv.cfg.Store.MovesToDrop(ctx, time.Now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range moves {
		t, err := mv.cfg.Store.GetTenant(ctx, m.TenantID)
		if err != nil {
			return n, err
		}
		if t.Shard == m.FromShard {
			// Never drop the live copy, whatever the record says.
			return n, fmt.Errorf("move %s: tenant %s is on %s, the move's source; not dropping", m.ID, t.ID, m.FromShard)
		}
		pool, err := mv.pool(ctx, m.FromShard)
		if err != nil {
			return n, err
		}
		if err := dropSchema(ctx, pool, t.Schema); err != nil {
			return n, fmt.Errorf("drop %s on %s: %w", t.Schema, m.FromShard, err)
		}
		m.Step = store.MoveDropped
		if err := mv.cfg.Store.Tx(ctx, func(tx *store.Store) error {
			if err := tx.UpdateMove(ctx, m); err != nil {
				return err
			}
			return mv.cfg.Audit(ctx, tx, "tenant.move.drop_source", t.ID, "shard:"+m.FromShard, map[string]any{"move_id": m.ID})
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ResumePaused resumes the moves that stopped (a crash) while the tenant's writes were
// paused and have not progressed for stale: a tenant must not stay read-only until an
// operator notices. It returns how many it resumed; each runs to its end before the next.
func (mv *Mover) ResumePaused(ctx context.Context, stale time.Duration) int {
	moves, err := mv.cfg.Store.ListMoves(ctx, "")
	if err != nil {
		return 0
	}
	n := 0
	for _, m := range moves {
		if (m.Step != store.MovePause && m.Step != store.MoveVerify && m.Step != store.MoveSwitch) || time.Since(m.UpdatedAt) < stale {
			continue
		}
		t, err := mv.cfg.Store.GetTenant(ctx, m.TenantID)
		if err != nil {
			continue
		}
		if _, err := mv.Run(ctx, Request{Tenant: t}, nil); err != nil {
			mv.cfg.Log.WarnContext(ctx, "resume paused move", "move_id", m.ID, "tenant_id", m.TenantID, "err", err)
			continue
		}
		n++
	}
	return n
}

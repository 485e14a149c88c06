// Package tenantdb is the only code that turns a verified identity into a database session.
// Each shard is a Postgres cluster with one pgx pool; a tenant lives in schema t_<id> owned by
// role t_<id>. InTx confines a transaction to the caller's schema and role, so a query that
// names another tenant's schema fails with permission denied.
package tenantdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoTenant is returned by InTx when the context has no verified tenant identity.
var ErrNoTenant = errors.New("tenantdb: no tenant identity in context")

// ErrUnknownShard is returned for a shard name that has no configured DSN.
var ErrUnknownShard = errors.New("tenantdb: unknown shard")

var schemaRE = regexp.MustCompile(`^t_[a-z0-9]{1,40}$`)

// SchemaFor returns the schema (and role) name of a tenant id.
func SchemaFor(tenantID string) string { return "t_" + tenantID }

// ValidSchema reports whether s is a well-formed tenant schema name. Schema and role names
// cannot be bound as parameters, so every name is checked before it is quoted into SQL.
func ValidSchema(s string) bool { return schemaRE.MatchString(s) }

// Shards holds one pool per shard.
type Shards struct {
	mu    sync.RWMutex
	dsns  map[string]string
	pools map[string]*pgxpool.Pool
	// MaxConns caps each shard pool (0: pgx default) unless the shard's DSN sets
	// pool_max_conns itself.
	maxConns int32
	// Connection recycling (see DefaultMaxConnLifetime and DefaultMaxSchemasPerConn).
	connLifetime time.Duration
	maxSchemas   int
	connsMu      sync.Mutex
	conns        map[*pgx.Conn]*connSchemas
	// resolve finds the DSN of a shard this process was not configured with.
	resolve Resolver

	// Fairness (issue 6): one tenant's heavy queries must not take every pooled connection.
	// At most tenantConc transactions per tenant run at once in this process, half of that
	// while other tenants have some (acquire); more wait up to tenantWait, then get
	// ResourceExhausted. Every statement of a tenant transaction is
	// bounded by stmtTimeout.
	tenantConc  int
	tenantWait  time.Duration
	stmtTimeout time.Duration
	semMu       sync.Mutex
	sems        map[string]*tenantSem // tenants with transactions in flight or waiting
	semFree     chan struct{}         // closed when a slot frees or a tenant leaves sems
}

type tenantSem struct {
	inFlight int // transactions holding a slot
	users    int // transactions holding or waiting; the entry goes when it drops to 0
}

// Resolver returns the DSN of a shard by name. Services that do not own the shard list
// (catalog) resolve shards added at run time through it (tenancy's DirectoryService).
type Resolver func(ctx context.Context, shard string) (dsn string, err error)

// WithResolver makes unknown shards resolvable at run time.
func WithResolver(r Resolver) Option { return func(s *Shards) { s.resolve = r } }

// Option tunes Open.
type Option func(*Shards)

// WithMaxConns caps each shard's pool. A shard whose DSN sets pool_max_conns keeps its own
// size: pool sizes are per shard in ATRIUM_SHARDS and tenantctl shards add, this is the default.
func WithMaxConns(n int32) Option { return func(s *Shards) { s.maxConns = n } }

// WithConnRecycling sets how long a pooled connection lives (jittered by a tenth either way,
// so a pool's connections do not all reconnect at once) and after how many distinct tenant
// schemas it is closed on release; 0 keeps the default, a negative schema count lifts that
// bound. A shard's DSN may set pool_max_conn_lifetime and pool_max_conn_lifetime_jitter itself.
func WithConnRecycling(lifetime time.Duration, maxSchemas int) Option {
	return func(s *Shards) {
		if lifetime > 0 {
			s.connLifetime = lifetime
		}
		if maxSchemas != 0 {
			s.maxSchemas = maxSchemas
		}
	}
}

// Connection recycling defaults. Postgres keeps, for a connection's whole life, every relation
// descriptor and catalog row it has looked up (relcache, catcache), and a tenant transaction
// looks up its schema's tables and indexes: a connection that has served every tenant of a
// 10,000-tenant shard holds hundreds of MiB (measured in docs/BENCHMARKS.md, "Fleet at 1k and
// 10k tenants"). A connection is therefore closed once it has entered DefaultMaxSchemasPerConn
// distinct schemas, which bounds that memory whatever the fleet's size, and in any case after
// DefaultMaxConnLifetime (pgx's default is one hour without jitter).
const (
	DefaultMaxConnLifetime   = 30 * time.Minute
	DefaultMaxSchemasPerConn = 500
)

// connSchemas is what one pooled connection has entered.
type connSchemas struct {
	seen map[string]struct{}
	full bool
	// batched are the statements InReadBatch has run on the connection inside a tenant's
	// transaction, so prepared with a tenant's search path (at most maxBatched).
	batched map[string]struct{}
}

// maxBatched bounds a connection's batched statements; past it the set starts again.
const maxBatched = 256

// WithTenantConcurrency caps one tenant's concurrent transactions in this process (default:
// half of its shard pool's connections, at least 1; negative: no cap) and how long a
// transaction over the cap waits before it is refused with ResourceExhausted (default
// DefaultTenantWait). While other tenants have transactions in flight or waiting, a tenant
// starts new ones only below half of its cap (see acquire).
func WithTenantConcurrency(n int, wait time.Duration) Option {
	return func(s *Shards) {
		if n != 0 {
			s.tenantConc = n
		}
		if wait > 0 {
			s.tenantWait = wait
		}
	}
}

// WithStatementTimeout bounds every statement of a tenant transaction (default
// DefaultStatementTimeout).
func WithStatementTimeout(d time.Duration) Option { return func(s *Shards) { s.stmtTimeout = d } }

// Fairness defaults. A tenant gets at most half of its shard's pool (pgx defaults to
// max(4, CPUs) connections), so the others always find a connection.
const (
	DefaultTenantWait       = 2 * time.Second
	DefaultStatementTimeout = 10 * time.Second
)

// ErrSchemaMismatch: the identity's schema is not its tenant's (t_<tenant id>). A tenant record
// from a cache (Redis) is never trusted further than that.
var ErrSchemaMismatch = errors.New("tenantdb: identity schema does not belong to its tenant")

// Open prepares pools for the shards (name to DSN). Connections are made lazily.
func Open(ctx context.Context, dsns map[string]string, opts ...Option) (*Shards, error) {
	s := &Shards{dsns: map[string]string{}, pools: map[string]*pgxpool.Pool{}, sems: map[string]*tenantSem{},
		tenantWait: DefaultTenantWait, stmtTimeout: DefaultStatementTimeout,
		connLifetime: DefaultMaxConnLifetime, maxSchemas: DefaultMaxSchemasPerConn, conns: map[*pgx.Conn]*connSchemas{}}
	for _, o := range opts {
		o(s)
	}
	for name, dsn := range dsns {
		if err := s.Add(ctx, name, dsn); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Add registers a shard at run time (tenantctl shards add). Adding a known name with the same
// DSN is a no-op.
func (s *Shards) Add(ctx context.Context, name, dsn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.dsns[name]; ok {
		if old == dsn {
			return nil
		}
		return fmt.Errorf("tenantdb: shard %q already has another DSN", name)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("tenantdb: shard %q: %w", name, err)
	}
	if s.maxConns > 0 && !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = s.maxConns
	}
	if !strings.Contains(dsn, "pool_max_conn_lifetime") {
		cfg.MaxConnLifetime = s.connLifetime
		cfg.MaxConnLifetimeJitter = s.connLifetime / 10
	}
	cfg.AfterRelease = s.keepConn
	cfg.BeforeClose = s.forgetConn
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("tenantdb: shard %q: %w", name, err)
	}
	s.dsns[name] = dsn
	s.pools[name] = pool
	return nil
}

// enteredSchema records that conn has entered schema; past the bound the connection is closed
// when it is next released instead of going back to the pool.
func (s *Shards) enteredSchema(conn *pgx.Conn, schema string) {
	if s.maxSchemas < 0 {
		return
	}
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	cs := s.connState(conn)
	if cs.full {
		return
	}
	cs.seen[schema] = struct{}{}
	if len(cs.seen) >= s.maxSchemas {
		cs.full, cs.seen = true, nil
	}
}

// connState is conn's entry, made if it has none; the caller holds connsMu.
func (s *Shards) connState(conn *pgx.Conn) *connSchemas {
	cs := s.conns[conn]
	if cs == nil {
		cs = &connSchemas{seen: map[string]struct{}{}}
		s.conns[conn] = cs
	}
	return cs
}

// keepConn is the pools' AfterRelease: false closes the connection.
func (s *Shards) keepConn(conn *pgx.Conn) bool {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	cs := s.conns[conn]
	return cs == nil || !cs.full
}

// forgetConn is the pools' BeforeClose.
func (s *Shards) forgetConn(conn *pgx.Conn) {
	s.connsMu.Lock()
	delete(s.conns, conn)
	s.connsMu.Unlock()
}

// Names lists the shard names, sorted.
func (s *Shards) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.dsns))
	for n := range s.dsns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Pool returns a shard's pool. Only provisioning and migrations should need it; tenant data
// goes through InTx.
func (s *Shards) Pool(shard string) (*pgxpool.Pool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.pools[shard]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownShard, shard)
	}
	return p, nil
}

// poolFor is Pool, resolving and adding a shard this process does not know yet.
func (s *Shards) poolFor(ctx context.Context, shard string) (*pgxpool.Pool, error) {
	p, err := s.Pool(shard)
	if err == nil || s.resolve == nil || !errors.Is(err, ErrUnknownShard) {
		return p, err
	}
	dsn, rerr := s.resolve(ctx, shard)
	if rerr != nil {
		return nil, fmt.Errorf("tenantdb: resolve shard %q: %w", shard, rerr)
	}
	if err := s.Add(ctx, shard, dsn); err != nil {
		return nil, err
	}
	return s.Pool(shard)
}

// Close closes every pool.
func (s *Shards) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.Close()
	}
	s.pools = map[string]*pgxpool.Pool{}
	s.dsns = map[string]string{}
}

// InTx runs fn in a read-write transaction confined to the tenant of the verified identity in
// ctx: search_path is the tenant schema and the role is the tenant role, both local to the
// transaction, so nothing survives commit. fn's error rolls the transaction back.
func (s *Shards) InTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.inTx(ctx, pgx.TxOptions{}, fn)
}

// InReadTx is InTx in a read-only transaction.
func (s *Shards) InReadTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.inTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

// InSnapshotTx is InReadTx at repeatable read: every statement sees the same snapshot, as an
// export of several tables needs.
func (s *Shards) InSnapshotTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.inTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, fn)
}

func (s *Shards) inTx(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	id, conn, release, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.runTx(ctx, id, conn, opts, fn)
}

// runTx runs fn in a transaction as the tenant id on conn (entered by enter).
func (s *Shards) runTx(ctx context.Context, id *authn.Identity, conn *pgxpool.Conn, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	// BEGIN and the tenant's settings go in one simple-protocol round trip: a read of one
	// entity is three round trips (begin, query, commit) instead of four.
	opts.BeginQuery = s.begin(id, opts)
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		// A setting refused (the tenant's role gone, say) leaves the BEGIN standing.
		endFailed(ctx, conn)
		return fmt.Errorf("tenantdb: enter tenant %s: %w", id.TenantID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(ctx, tx); err != nil {
		return readOnlyAsPrecondition(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return readOnlyAsPrecondition(fmt.Errorf("tenantdb: commit: %w", err))
	}
	return nil
}

// enter checks the tenant of the verified identity in ctx, takes one of its transaction
// slots and a connection of its shard, and counts the schema towards the connection's
// recycling. release gives both back.
func (s *Shards) enter(ctx context.Context) (id *authn.Identity, conn *pgxpool.Conn, release func(), err error) {
	id, ok := authn.FromContext(ctx)
	if !ok || !id.HasTenant() {
		return nil, nil, nil, ErrNoTenant
	}
	if !ValidSchema(id.Schema) {
		return nil, nil, nil, fmt.Errorf("tenantdb: malformed schema %q in identity", id.Schema)
	}
	if id.Schema != SchemaFor(id.TenantID) {
		return nil, nil, nil, fmt.Errorf("%w: tenant %s, schema %s", ErrSchemaMismatch, id.TenantID, id.Schema)
	}
	pool, err := s.poolFor(ctx, id.Shard)
	if err != nil {
		return nil, nil, nil, err
	}
	leave, err := s.acquire(ctx, id.TenantID, pool)
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err = pool.Acquire(ctx)
	if err != nil {
		leave()
		return nil, nil, nil, fmt.Errorf("tenantdb: begin: %w", err)
	}
	s.enteredSchema(conn.Conn(), id.Schema)
	return id, conn, func() { conn.Release(); leave() }, nil
}

// begin is the BEGIN of a transaction as the tenant: the statement and the tenant's settings,
// local to the transaction, for the simple protocol. The schema name was validated by enter
// and is quoted.
func (s *Shards) begin(id *authn.Identity, opts pgx.TxOptions) string {
	q := pgx.Identifier{id.Schema}.Sanitize()
	b := beginSQL(opts) + "; SET LOCAL search_path TO " + q + "; SET LOCAL ROLE " + q
	if s.stmtTimeout > 0 {
		b += "; SET LOCAL statement_timeout = " + strconv.FormatInt(s.stmtTimeout.Milliseconds(), 10)
	}
	return b
}

// InReadBatch runs b's queued statements, with their callbacks, as the tenant in ctx in one
// read-only transaction, sent together with its BEGIN, the tenant's settings and its COMMIT
// in one pipeline: one round trip where InReadTx costs three or more. The statements run in
// b's order, in extended protocol with the connection's prepared statements, so each takes
// its cached (after five runs, generic) plan, unless b sets plan_cache_mode first (the
// catalog's pages do). A failed statement skips the rest; its error is returned.
//
// pgx prepares a batch's new statements before it runs any, so outside the transaction,
// where the tenant's tables are not on the search path. So the first time a connection
// meets one of b's statements, the batch runs as InReadTx would (BEGIN and settings, then the
// batch, then COMMIT: three round trips), which prepares them inside the transaction, and the
// connection remembers them. (A statement prepared before is re-analysed by Postgres whenever
// the search path differs from the one it was analysed under, as InReadTx's are.)
func (s *Shards) InReadBatch(ctx context.Context, b *pgx.Batch) error {
	id, conn, release, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	if s.batchedBefore(conn.Conn(), b) {
		err = s.pipelined(ctx, id, conn, b)
		var pre pgx.ErrPreprocessingBatch
		if err == nil || !errors.As(err, &pre) {
			if err != nil {
				s.forgetBatched(conn.Conn(), b)
			}
			return readErr(id, err)
		}
		// pgx's statement cache let one go and it was prepared again, outside the
		// transaction, where it failed: nothing ran; once more, the long way.
	}
	err = s.runTx(ctx, id, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.SendBatch(ctx, copyBatch(b)).Close()
	})
	if err == nil {
		s.rememberBatched(conn.Conn(), b)
	} else {
		s.forgetBatched(conn.Conn(), b)
	}
	return readErr(id, err)
}

// copyBatch copies b's queries: pgx keeps a query's statement description in it when
// sending, and a description from an attempt that failed would spoil the next.
func copyBatch(b *pgx.Batch) *pgx.Batch {
	c := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries))}
	for _, q := range b.QueuedQueries {
		c.QueuedQueries = append(c.QueuedQueries, &pgx.QueuedQuery{SQL: q.SQL, Arguments: q.Arguments, Fn: q.Fn})
	}
	return c
}

// endFailed ends a transaction a failure left open on conn, so that the connection goes back
// to the pool idle instead of being destroyed.
func endFailed(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

func readErr(id *authn.Identity, err error) error {
	if err != nil {
		return fmt.Errorf("tenantdb: read as tenant %s: %w", id.TenantID, err)
	}
	return nil
}

// pipelined sends b inside BEGIN, the tenant's settings and COMMIT, as one pipeline.
func (s *Shards) pipelined(ctx context.Context, id *authn.Identity, conn *pgxpool.Conn, b *pgx.Batch) error {
	// The settings as values of set_config, so that one prepared statement serves every
	// tenant: search_path takes the quoted schema (a list of identifiers), role the role's
	// name itself. Both are local to the transaction, as InTx's SET LOCAL.
	all := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+3)}
	all.Queue("BEGIN READ ONLY")
	if s.stmtTimeout > 0 {
		all.Queue(`SELECT set_config('search_path', $1, true), set_config('role', $2, true), set_config('statement_timeout', $3, true)`,
			pgx.Identifier{id.Schema}.Sanitize(), id.Schema, strconv.FormatInt(s.stmtTimeout.Milliseconds(), 10))
	} else {
		all.Queue(`SELECT set_config('search_path', $1, true), set_config('role', $2, true)`,
			pgx.Identifier{id.Schema}.Sanitize(), id.Schema)
	}
	all.QueuedQueries = append(all.QueuedQueries, copyBatch(b).QueuedQueries...)
	all.Queue("COMMIT")
	err := conn.SendBatch(ctx, all).Close()
	endFailed(ctx, conn) // a failure skips the rest, COMMIT too
	return err
}

// batchedBefore: every statement of b ran on conn in a tenant's transaction before.
func (s *Shards) batchedBefore(conn *pgx.Conn, b *pgx.Batch) bool {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	cs := s.conns[conn]
	if cs == nil {
		return false
	}
	for _, q := range b.QueuedQueries {
		if _, ok := cs.batched[q.SQL]; !ok {
			return false
		}
	}
	return true
}

// forgetBatched: after an error pgx drops every statement of the batch from its cache, so
// the next batch of them must prepare them inside a transaction again.
func (s *Shards) forgetBatched(conn *pgx.Conn, b *pgx.Batch) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if cs := s.conns[conn]; cs != nil {
		for _, q := range b.QueuedQueries {
			delete(cs.batched, q.SQL)
		}
	}
}

func (s *Shards) rememberBatched(conn *pgx.Conn, b *pgx.Batch) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	cs := s.connState(conn)
	if cs.batched == nil || len(cs.batched)+len(b.QueuedQueries) > maxBatched {
		cs.batched = map[string]struct{}{}
	}
	for _, q := range b.QueuedQueries {
		cs.batched[q.SQL] = struct{}{}
	}
}

// ReadInt returns the one integer that query, a constant statement of the caller's (no
// parameters: it travels in the simple protocol, as written), reads as the tenant in ctx, in a
// read-only transaction of its own. BEGIN, the tenant's settings, query and COMMIT go to
// Postgres as one message, so it costs one round trip where InReadTx costs three: for reads
// as small and frequent as a cache's check of the tenant's data version. A query without a
// row, or whose first column is NULL or not an integer, is an error.
func (s *Shards) ReadInt(ctx context.Context, query string) (int64, error) {
	id, conn, release, err := s.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	pc := conn.Conn().PgConn()
	results, err := pc.Exec(ctx, s.begin(id, pgx.TxOptions{AccessMode: pgx.ReadOnly})+"; "+query+"; COMMIT").ReadAll()
	if err != nil {
		endFailed(ctx, conn) // an error skips the rest of the message, COMMIT too
		return 0, readErr(id, err)
	}
	// The query's result is the one before COMMIT's.
	if len(results) < 2 {
		return 0, readErr(id, fmt.Errorf("%d results", len(results)))
	}
	r := results[len(results)-2]
	if len(r.Rows) == 0 || len(r.Rows[0]) == 0 || r.Rows[0][0] == nil {
		return 0, readErr(id, pgx.ErrNoRows)
	}
	n, err := strconv.ParseInt(string(r.Rows[0][0]), 10, 64)
	if err != nil {
		return 0, readErr(id, err)
	}
	return n, nil
}

// acquire takes one of the tenant's transaction slots, waiting at most tenantWait.
//
// The cap n is work-conserving: a tenant may have n transactions in flight while it is the
// only tenant of this process with transactions in flight or waiting, but while another one
// has, it starts a new one only below its fair share, half the cap (at least 1). A tenant
// that floods therefore keeps the database busy when no one else needs it, and another
// tenant's transaction never waits behind more than a share of it: on a two-core database
// with the default pool of 4, one heavy transaction instead of two.
func (s *Shards) acquire(ctx context.Context, tenantID string, pool *pgxpool.Pool) (func(), error) {
	n := s.tenantConc
	if n < 0 {
		return func() {}, nil
	}
	if n == 0 {
		n = max(1, int(pool.Config().MaxConns)/2)
	}
	share := max(1, n/2)
	s.semMu.Lock()
	t := s.sems[tenantID]
	if t == nil {
		t = &tenantSem{}
		s.sems[tenantID] = t
	}
	t.users++
	// leave ends the call's part in the bookkeeping; the caller holds semMu.
	leave := func(held bool) {
		if held {
			t.inFlight--
		}
		if t.users--; t.users == 0 {
			delete(s.sems, tenantID)
		}
		if s.semFree != nil {
			close(s.semFree) // waiters look again
			s.semFree = nil
		}
	}
	release := func() {
		s.semMu.Lock()
		leave(true)
		s.semMu.Unlock()
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Other tenants with transactions in flight or waiting: every entry of sems but t.
		if t.inFlight < share || (t.inFlight < n && len(s.sems) == 1) {
			t.inFlight++
			s.semMu.Unlock()
			return release, nil
		}
		if s.semFree == nil {
			s.semFree = make(chan struct{})
		}
		free := s.semFree
		s.semMu.Unlock()
		if timer == nil {
			timer = time.NewTimer(s.tenantWait)
		}
		select {
		case <-free:
			s.semMu.Lock()
		case <-timer.C:
			s.semMu.Lock()
			leave(false)
			s.semMu.Unlock()
			return nil, rpcerr.ResourceExhausted(time.Second, "too many concurrent requests for this organization; retry shortly")
		case <-ctx.Done():
			s.semMu.Lock()
			leave(false)
			s.semMu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// readOnlyAsPrecondition turns Postgres' read_only_sql_transaction (25006) into
// FailedPrecondition, the answer for a write to a read-only tenant: a tenant being moved to
// another shard refuses writes with it during the final catch-up, and clients retry it.
func readOnlyAsPrecondition(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "25006" {
		return rpcerr.FailedPrecondition("the organization is read-only for a moment (%s); retry shortly", pe.Message).WithCause(err)
	}
	return err
}

// beginSQL is the BEGIN statement for opts, as pgx would write it for the options tenantdb
// uses (access mode and isolation level).
func beginSQL(opts pgx.TxOptions) string {
	b := "BEGIN"
	if opts.IsoLevel != "" {
		b += " ISOLATION LEVEL " + string(opts.IsoLevel)
	}
	if opts.AccessMode != "" {
		b += " " + string(opts.AccessMode)
	}
	if opts.DeferrableMode != "" {
		b += " " + string(opts.DeferrableMode)
	}
	return b
}

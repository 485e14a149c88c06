// Package provision creates, finishes, rolls back, migrates and purges tenant schemas, the
// sequence of docs/ARCHITECTURE.md "Provisioning": the tenant row (state provisioning) exists first; then
// the schema and role on its shard, every tenant-plane service's Provision, the first owner and
// its membership, and finally state active. Every step is idempotent, so a reconciler can run
// the sequence again for a tenant a crashed process left half-way, or undo it.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Step names, as passed to Config.AfterStep. A service's step is "provision:<name>".
const (
	StepSchema   = "schema"
	StepOwner    = "owner"
	StepImport   = "import"
	StepActivate = "activate"
)

// StepService is the step name of one tenant-plane service's Provision call.
func StepService(name string) string { return "provision:" + name }

// StepImportPart is the step after one service's part of an archive has been restored (its
// transaction committed), inside the import step.
func StepImportPart(service string) string { return "import:" + service }

// ErrCrash, returned by Config.AfterStep, stops provisioning on the spot as if the process had
// died there: nothing is rolled back, and the reconciler has to finish or undo the tenant.
var ErrCrash = errors.New("provision: simulated crash")

// Service is a tenant-plane service that implements ProvisioningService.
type Service struct {
	Name   string
	Client tenancyv1connect.ProvisioningServiceClient
}

// Config wires a Provisioner.
type Config struct {
	Store    *store.Store
	Shards   *tenantdb.Shards
	Services []Service
	Notify   notify.Publisher
	Log      *slog.Logger
	Meter    metric.Meter
	// MaxAttempts is how many times a tenant is tried before the reconciler rolls it back.
	MaxAttempts int
	// StuckAfter is how long a provisioning tenant may go without progress before the
	// reconciler takes it over.
	StuckAfter time.Duration
	// AfterStep, for tests only, runs after every step; an error fails the step.
	AfterStep func(tenantID, step string) error
}

// Provisioner runs provisioning sequences.
type Provisioner struct {
	cfg Config
	// inflight holds the tenants this process is working on, which its own reconciler leaves
	// alone.
	inflight sync.Map

	runs     metric.Int64Counter
	duration metric.Float64Histogram
}

// Timeouts: one sequence may take a while on a loaded shard; one call to a service should not.
const (
	sequenceTimeout = 2 * time.Minute
	callTimeout     = 30 * time.Second
	purgeLease      = time.Minute
	batch           = 20
)

// New returns a Provisioner.
func New(cfg Config) *Provisioner {
	if cfg.Notify == nil {
		cfg.Notify = notify.Nop{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Meter == nil {
		cfg.Meter = noop.NewMeterProvider().Meter("tenancy")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	p := &Provisioner{cfg: cfg}
	// Instrument errors only happen for invalid names; ours are constants.
	p.runs, _ = cfg.Meter.Int64Counter("tenancy.provisioning.runs",
		metric.WithDescription("Provisioning sequences by trigger and result."))
	p.duration, _ = cfg.Meter.Float64Histogram("tenancy.provisioning.duration",
		metric.WithDescription("Time to provision a tenant."), metric.WithUnit("s"))
	return p
}

// stepError names the step that failed. permanent errors are not worth retrying.
type stepError struct {
	step      string
	permanent bool
	err       error
}

func (e *stepError) Error() string { return fmt.Sprintf("provisioning step %s: %v", e.step, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// OwnerHash gives the owner's password hash when it is still being computed: sign-up starts
// hashing (argon2id, tens of milliseconds) before provisioning and lets the two overlap.
type OwnerHash func(context.Context) (string, error)

// Create provisions a freshly inserted tenant. If a step fails it rolls the tenant back at once
// (the caller gets the error and may try the slug again); if the rollback fails too, the
// reconciler finishes it later. The sequence ignores the caller's cancellation: a client that
// hangs up must not leave a half-made tenant behind.
//
// ownerHash, when not nil, is waited for at the owner step, where the hash is stored with the
// owner. The tenant row has no hash before then, so a process that dies earlier leaves a
// tenant the reconciler cannot give an owner: it rolls it back (slug free again) instead of
// finishing it.
func (p *Provisioner) Create(ctx context.Context, t store.Tenant, ownerHash OwnerHash) (store.Tenant, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sequenceTimeout)
	defer cancel()
	p.inflight.Store(t.ID, true)
	defer p.inflight.Delete(t.ID)

	start := time.Now()
	// The caller inserted t just now: that is this sequence's claim.
	out, err := p.forward(ctx, t, ownerHash, start, nil)
	switch {
	case err == nil:
		p.record(ctx, "create", "ok", start)
		return out, nil
	case errors.Is(err, ErrCrash):
		return store.Tenant{}, err
	}
	p.record(ctx, "create", "rolled_back", start)
	p.cfg.Log.WarnContext(ctx, "provisioning failed, rolling back", "tenant_id", t.ID, "slug", t.Slug, "err", err)
	if rerr := p.Rollback(ctx, t, err.Error()); rerr != nil {
		p.cfg.Log.ErrorContext(ctx, "rollback failed; the reconciler will retry", "tenant_id", t.ID, "err", rerr)
	}
	return store.Tenant{}, err
}

func (p *Provisioner) record(ctx context.Context, trigger, result string, start time.Time) {
	attrs := metric.WithAttributes(attribute.String("trigger", trigger), attribute.String("result", result))
	p.runs.Add(ctx, 1, attrs)
	if result == "ok" {
		p.duration.Record(ctx, time.Since(start).Seconds(), attrs)
	}
}

// Import provisions a freshly inserted tenant as Create does, and runs fill (restoring an
// archive's data) after the owner step, before the tenant is made active. If a step or fill
// fails the tenant is rolled back at once. The tenant must have been inserted with
// store.ReasonImport, so a reconciler that finds it half-way rolls it back instead of
// finishing it without its data.
func (p *Provisioner) Import(ctx context.Context, t store.Tenant, ownerHash OwnerHash, fill func(context.Context, store.Tenant) error) (store.Tenant, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
	defer cancel()
	p.inflight.Store(t.ID, true)
	defer p.inflight.Delete(t.ID)
	start := time.Now()
	// A large archive may take longer than StuckAfter: the claim is renewed meanwhile so that
	// no reconciler elsewhere takes the tenant over.
	if p.cfg.StuckAfter > 0 {
		hb, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			tick := time.NewTicker(p.cfg.StuckAfter / 4)
			defer tick.Stop()
			for {
				select {
				case <-hb.Done():
					return
				case <-tick.C:
					_, _ = p.cfg.Store.TouchProvisioning(hb, t.ID)
				}
			}
		}()
	}
	out, err := p.forward(ctx, t, ownerHash, start, fill)
	if err == nil {
		p.record(ctx, "import", "ok", start)
		return out, nil
	}
	if errors.Is(err, ErrCrash) {
		return store.Tenant{}, err
	}
	p.record(ctx, "import", "rolled_back", start)
	p.cfg.Log.WarnContext(ctx, "import failed, rolling back", "tenant_id", t.ID, "slug", t.Slug, "err", err)
	if rerr := p.Rollback(ctx, t, err.Error()); rerr != nil {
		p.cfg.Log.ErrorContext(ctx, "rollback failed; the reconciler will retry", "tenant_id", t.ID, "err", rerr)
	}
	return store.Tenant{}, err
}

// Checkpoint runs Config.AfterStep for a step inside another (an import's parts): tests stop
// there as a crash would.
func (p *Provisioner) Checkpoint(tenantID, step string) error {
	if p.cfg.AfterStep == nil {
		return nil
	}
	return p.cfg.AfterStep(tenantID, step)
}

// ErrImportRunning: the slug is held by an import that is still making progress.
var ErrImportRunning = errors.New("provision: an import into this slug is still running")

// CleanUpInterruptedImport rolls back t, an import left in provisioning by a process that
// stopped (killed, crashed) before activating it, so that a rerun of the import can take its
// slug at once instead of waiting for the reconciler. It takes t over as the reconciler would:
// only once t has made no progress for StuckAfter (a live import renews its claim every
// StuckAfter/4), else it returns ErrImportRunning and leaves t alone.
func (p *Provisioner) CleanUpInterruptedImport(ctx context.Context, t store.Tenant) error {
	if t.Status != store.StatusProvisioning || t.StatusReason != store.ReasonImport {
		return nil
	}
	if _, busy := p.inflight.Load(t.ID); busy {
		return ErrImportRunning
	}
	claimed, err := p.cfg.Store.ClaimStuckTenant(ctx, t.ID, p.cfg.StuckAfter)
	if err != nil {
		return err
	}
	if !claimed {
		// Rolled back meanwhile (by the reconciler, or a rollback that was already running),
		// or still alive.
		cur, err := p.cfg.Store.GetTenant(ctx, t.ID)
		if err != nil {
			return err
		}
		if cur.Status == store.StatusProvisioning {
			return ErrImportRunning
		}
		return nil
	}
	p.inflight.Store(t.ID, true)
	defer p.inflight.Delete(t.ID)
	p.cfg.Log.WarnContext(ctx, "rolling back an interrupted import before its rerun", "tenant_id", t.ID, "slug", t.Slug)
	p.record(ctx, "import", "rolled_back", time.Now())
	return p.Rollback(ctx, t, "import interrupted; rolled back by its rerun")
}

// forward runs every step for t. ownerHash may be nil (see Create). claimed is when this
// sequence's claim on t was last renewed, zero if unknown. fill, when set, runs after the
// owner step (Import).
func (p *Provisioner) forward(ctx context.Context, t store.Tenant, ownerHash OwnerHash, claimed time.Time, fill func(context.Context, store.Tenant) error) (store.Tenant, error) {
	// Before a step the tenant's claim is renewed (holding other reconcilers off) and checked
	// (still provisioning forward), unless it is fresh: no reconciler takes a tenant touched
	// less than StuckAfter ago, so a sign-up whose steps take milliseconds spares a commit per
	// step. The owner and activate steps check in their own statements on the control
	// database instead.
	// The services' steps run at once (provisionServices): the first of them renews the claim
	// for all.
	var claimMu sync.Mutex
	renew := func(step string) error {
		claimMu.Lock()
		defer claimMu.Unlock()
		if claimed.IsZero() || p.cfg.StuckAfter <= 0 || time.Since(claimed) >= p.cfg.StuckAfter/4 {
			if err := p.touch(ctx, p.cfg.Store.TouchProvisioning, t.ID, step); err != nil {
				return err
			}
			claimed = time.Now()
		}
		return nil
	}
	run := func(step string, touch bool, fn func() error) error {
		if touch {
			if err := renew(step); err != nil {
				return err
			}
		}
		if err := fn(); err != nil {
			var se *stepError
			if errors.As(err, &se) {
				return err
			}
			return &stepError{step: step, err: err}
		}
		if p.cfg.AfterStep != nil {
			if err := p.cfg.AfterStep(t.ID, step); err != nil {
				return &stepError{step: step, err: err}
			}
		}
		return nil
	}

	if err := run(StepSchema, true, func() error {
		if err := p.ensureShard(ctx, t.Shard); err != nil {
			return err
		}
		return p.cfg.Shards.CreateTenant(ctx, t.Shard, t.Schema)
	}); err != nil {
		return store.Tenant{}, err
	}
	if err := p.provisionServices(ctx, t, run); err != nil {
		return store.Tenant{}, err
	}
	if err := run(StepOwner, false, func() error { return p.ensureOwner(ctx, t, ownerHash) }); err != nil {
		return store.Tenant{}, err
	}
	if fill != nil {
		if err := run(StepImport, true, func() error { return fill(ctx, t) }); err != nil {
			return store.Tenant{}, err
		}
	}
	var out store.Tenant
	if err := run(StepActivate, false, func() error {
		// Activate itself only changes a tenant still provisioning forward.
		a, ok, err := p.cfg.Store.Activate(ctx, t.ID)
		if err != nil {
			return err
		}
		if !ok {
			return &stepError{step: StepActivate, permanent: true, err: errors.New("tenant is no longer provisioning")}
		}
		out = a
		return nil
	}); err != nil {
		return store.Tenant{}, err
	}
	return out, nil
}

func (p *Provisioner) ensureOwner(ctx context.Context, t store.Tenant, ownerHash OwnerHash) error {
	hash, pending := t.AdminPasswordHash, false
	if hash == "" && ownerHash != nil {
		h, err := ownerHash(ctx)
		if err != nil {
			return &stepError{step: StepOwner, err: fmt.Errorf("owner password hash: %w", err)}
		}
		hash, pending = h, true
	}
	if t.AdminEmail == "" || hash == "" {
		return &stepError{step: StepOwner, permanent: true, err: errors.New("no pending owner recorded")}
	}
	return p.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		// The step's claim on the tenant. A hash computed during this sequence is kept with the
		// tenant until it is active, so a reconciler can finish it if this process dies
		// between here and activation.
		touch := tx.TouchProvisioning
		if pending {
			touch = func(ctx context.Context, id string) (bool, error) { return tx.RecordOwnerHash(ctx, id, hash) }
		}
		if err := p.touch(ctx, touch, t.ID, StepOwner); err != nil {
			return err
		}
		// The owner is an account of this tenant only; a re-run finds the one the first run made.
		u, err := tx.EnsureUser(ctx, store.User{ID: store.NewID(), TenantID: t.ID, Email: t.AdminEmail, PasswordHash: hash})
		if err != nil {
			return err
		}
		return tx.EnsureMembership(ctx, t.ID, u.ID, "owner")
	})
}

// touch renews the claim on a provisioning tenant with touchFn (Store.TouchProvisioning or
// the like); a tenant no longer provisioning forward (rolled back or taken over meanwhile) is a
// permanent failure of step.
func (p *Provisioner) touch(ctx context.Context, touchFn func(context.Context, string) (bool, error), id, step string) error {
	ok, err := touchFn(ctx, id)
	if err != nil {
		return &stepError{step: step, err: err}
	}
	if !ok {
		return &stepError{step: step, permanent: true, err: errors.New("tenant is no longer provisioning")}
	}
	return nil
}

// provisionServices calls every service's Provision at once: they are independent (each its
// own tables, its own version table) and each is an HTTP hop and some DDL, so a sign-up waits
// for the slowest rather than for their sum (tenantdb.Migrate locks only one schema and
// service, so their migrations run side by side too). The first failure is returned once all have ended, so none outlives the
// sequence.
func (p *Provisioner) provisionServices(ctx context.Context, t store.Tenant, run func(string, bool, func() error) error) error {
	svcs := p.cfg.Services
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(StepService(svc.Name), true, func() error { return p.provisionOne(ctx, svc, t) })
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) provisionOne(ctx context.Context, svc Service, t store.Tenant) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := svc.Client.Provision(cctx, connect.NewRequest(&tenancyv1.ProvisionRequest{
		TenantId: t.ID, Schema: t.Schema, Shard: t.Shard,
	}))
	if err != nil {
		return fmt.Errorf("%s: %w", svc.Name, err)
	}
	return nil
}

func (p *Provisioner) deprovisionAll(ctx context.Context, t store.Tenant) {
	for _, svc := range p.cfg.Services {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err := svc.Client.Deprovision(cctx, connect.NewRequest(&tenancyv1.DeprovisionRequest{
			TenantId: t.ID, Schema: t.Schema, Shard: t.Shard,
		}))
		cancel()
		// Dropping the schema removes the service's tables anyway; Deprovision is the
		// service's chance to clean up anything it keeps elsewhere.
		if err != nil {
			p.cfg.Log.WarnContext(ctx, "deprovision failed", "tenant_id", t.ID, "service", svc.Name, "err", err)
		}
	}
}

// ensureShard makes a shard another process registered (tenantctl shards add) usable here.
func (p *Provisioner) ensureShard(ctx context.Context, name string) error {
	if _, err := p.cfg.Shards.Pool(name); err == nil {
		return nil
	}
	sh, err := p.cfg.Store.GetShard(ctx, name)
	if err != nil {
		return err
	}
	return p.cfg.Shards.Add(ctx, sh.Name, sh.DSN)
}

// Rollback undoes a provisioning tenant: every service's Deprovision, the schema and role
// dropped, memberships and tokens removed, status failed with reason, slug free again.
// Idempotent; a tenant that is already failed is left as it is.
func (p *Provisioner) Rollback(ctx context.Context, t store.Tenant, reason string) error {
	ok, err := p.cfg.Store.StartRollback(ctx, t.ID)
	if err != nil {
		return err
	}
	if !ok {
		cur, err := p.cfg.Store.GetTenant(ctx, t.ID)
		if err != nil {
			return err
		}
		if cur.Status == store.StatusFailed {
			return nil
		}
		return fmt.Errorf("provision: cannot roll back tenant %s in state %s", t.ID, cur.Status)
	}
	p.deprovisionAll(ctx, t)
	if err := p.ensureShard(ctx, t.Shard); err != nil {
		return err
	}
	if err := p.cfg.Shards.DropTenant(ctx, t.Shard, t.Schema); err != nil {
		return err
	}
	details, _ := json.Marshal(map[string]string{"reason": reason})
	return p.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.FinishRollback(ctx, t.ID, "provisioning failed"); err != nil {
			return err
		}
		return tx.Audit(ctx, store.Event{Actor: "system", Action: "tenant.rollback", TenantID: t.ID,
			Target: "tenant:" + t.Slug, Details: details})
	})
}

// Reconcile takes over tenants stuck in provisioning: it runs their sequence again, and rolls
// back those that were being rolled back, failed permanently or ran out of attempts. It
// returns how many tenants it handled.
func (p *Provisioner) Reconcile(ctx context.Context) (int, error) {
	stuck, err := p.cfg.Store.ClaimStuck(ctx, p.cfg.StuckAfter, batch)
	if err != nil {
		return 0, err
	}
	for _, t := range stuck {
		if _, busy := p.inflight.Load(t.ID); busy {
			continue
		}
		p.reconcileOne(ctx, t)
	}
	return len(stuck), nil
}

func (p *Provisioner) reconcileOne(ctx context.Context, t store.Tenant) {
	p.inflight.Store(t.ID, true)
	defer p.inflight.Delete(t.ID)
	log := p.cfg.Log.With("tenant_id", t.ID, "slug", t.Slug, "attempt", t.ProvisionAttempts)
	start := time.Now()
	reason := "rollback interrupted"
	if !t.RollingBack && t.StatusReason == store.ReasonImport {
		// An import's data cannot be finished from here: the archive went with the process.
		reason, t.RollingBack = "import interrupted", true
	}
	if !t.RollingBack {
		// Claims of a batch age while earlier tenants are worked on: renew before every step.
		_, err := p.forward(ctx, t, nil, time.Time{}, nil)
		if err == nil {
			p.record(ctx, "reconcile", "ok", start)
			log.InfoContext(ctx, "reconciler finished provisioning")
			return
		}
		var se *stepError
		permanent := errors.As(err, &se) && se.permanent
		if !permanent && t.ProvisionAttempts < p.cfg.MaxAttempts {
			p.record(ctx, "reconcile", "retry", start)
			log.WarnContext(ctx, "reconciler could not finish provisioning; will retry", "err", err)
			return
		}
		reason = err.Error()
	}
	p.record(ctx, "reconcile", "rolled_back", start)
	log.WarnContext(ctx, "reconciler rolling back", "reason", reason)
	if err := p.Rollback(ctx, t, reason); err != nil {
		log.ErrorContext(ctx, "rollback failed; will retry", "err", err)
	}
}

// Purge drops deleting tenants whose grace period is over. It returns how many it handled.
func (p *Provisioner) Purge(ctx context.Context) (int, error) {
	due, err := p.cfg.Store.ClaimPurgeable(ctx, purgeLease, batch)
	if err != nil {
		return 0, err
	}
	for _, t := range due {
		if _, err := p.PurgeTenant(ctx, t); err != nil {
			p.cfg.Log.ErrorContext(ctx, "purge failed; will retry", "tenant_id", t.ID, "err", err)
		}
	}
	return len(due), nil
}

// PurgeTenant drops a deleting tenant's schema and role (after every service's Deprovision)
// and records it as deleted.
func (p *Provisioner) PurgeTenant(ctx context.Context, t store.Tenant) (store.Tenant, error) {
	p.deprovisionAll(ctx, t)
	if err := p.ensureShard(ctx, t.Shard); err != nil {
		return store.Tenant{}, err
	}
	if err := p.cfg.Shards.DropTenant(ctx, t.Shard, t.Schema); err != nil {
		return store.Tenant{}, err
	}
	var out store.Tenant
	err := p.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if out, err = tx.FinishPurge(ctx, t.ID); err != nil {
			return err
		}
		return tx.Audit(ctx, store.Event{Actor: "system", Action: "tenant.purge", TenantID: t.ID, Target: "tenant:" + t.Slug})
	})
	if err != nil {
		// Another process's purge loop may have claimed and finished the same tenant while this
		// one worked (DeleteTenant with now races the loop): the purge is done, not failed.
		if done, gerr := p.cfg.Store.GetTenant(ctx, t.ID); gerr == nil && done.Status == store.StatusDeleted {
			return done, nil
		}
		return store.Tenant{}, err
	}
	p.cfg.Notify.TenantChanged(ctx, notify.Change{TenantID: out.ID, Slug: out.Slug, Status: string(out.Status)})
	return out, nil
}

// Migrate brings one tenant to the latest version of every service, trying each service even
// when an earlier one fails.
func (p *Provisioner) Migrate(ctx context.Context, t store.Tenant) error {
	var errs []error
	for _, svc := range p.cfg.Services {
		if err := p.provisionOne(ctx, svc, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ProvisionOn creates the tenant's role and schema on shard, which need not be its own, and
// brings it to every service's latest version: the empty target of a move.
func (p *Provisioner) ProvisionOn(ctx context.Context, t store.Tenant, shard string) error {
	if err := p.ensureShard(ctx, shard); err != nil {
		return err
	}
	if err := p.cfg.Shards.CreateTenant(ctx, shard, t.Schema); err != nil {
		return err
	}
	t.Shard = shard
	return p.Migrate(ctx, t)
}

// EnsureShard makes a shard registered by another process usable here.
func (p *Provisioner) EnsureShard(ctx context.Context, name string) error {
	return p.ensureShard(ctx, name)
}

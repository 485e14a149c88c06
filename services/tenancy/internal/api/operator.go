package api

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// OperatorService runs the fleet.
type OperatorService struct{ *Deps }

// NewOperatorService returns the service.
func NewOperatorService(d *Deps) *OperatorService { return &OperatorService{d} }

const (
	maxReasonLen          = 500
	defaultMigrateWorkers = 4
	maxMigrateWorkers     = 32
)

func (s *OperatorService) CreateTenant(ctx context.Context, req *connect.Request[tenancyv1.CreateTenantRequest]) (*connect.Response[tenancyv1.CreateTenantResponse], error) {
	m := req.Msg
	in := newTenant{
		slug:        m.GetSlug(),
		displayName: strings.TrimSpace(m.GetDisplayName()),
		email:       validate.NormalizeEmail(m.GetAdminEmail()),
		password:    m.GetAdminPassword(),
		shard:       m.GetShard(),
		action:      "tenant.create",
		fields:      tenantFields{displayName: "display_name"},
	}
	if in.displayName == "" {
		in.displayName = in.slug
	}
	var v rpcerr.Violations
	in.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	t, err := s.createTenant(ctx, in)
	if err != nil {
		return nil, err
	}
	if in.password == "" {
		// The owner chooses their password from an emailed link; the operator never knows it.
		err := s.Store.Tx(ctx, func(tx *store.Store) error {
			u, err := tx.UserByEmail(ctx, t.ID, in.email)
			if err != nil {
				return err
			}
			return s.queueReset(ctx, tx, t, u, OwnerSetupTTL, true)
		})
		if err != nil {
			return nil, err
		}
		s.mailQueued()
	}
	return connect.NewResponse(&tenancyv1.CreateTenantResponse{Tenant: tenantProto(t)}), nil
}

func (s *OperatorService) ListTenants(ctx context.Context, req *connect.Request[tenancyv1.ListTenantsRequest]) (*connect.Response[tenancyv1.ListTenantsResponse], error) {
	var v rpcerr.Violations
	var statuses []store.Status
	for i, ps := range req.Msg.GetStatuses() {
		st, ok := statusFromProto(ps)
		if !ok {
			v.Addf(fmt.Sprintf("statuses[%d]", i), "unknown status %d", ps)
			continue
		}
		statuses = append(statuses, st)
	}
	if len(req.Msg.GetStatuses()) == 0 {
		statuses = []store.Status{store.StatusProvisioning, store.StatusActive, store.StatusSuspended,
			store.StatusDeleting, store.StatusFailed}
	}
	size := pageSize(req.Msg.GetPageSize(), &v)
	page := decodePage(req.Msg.GetPageToken(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	ts, err := s.Store.ListTenants(ctx, statuses, page.cursor(), size+1)
	if err != nil {
		return nil, err
	}
	total, err := s.Store.CountTenants(ctx, statuses)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListTenantsResponse{TotalSize: total}
	if len(ts) > size {
		ts = ts[:size]
		last := ts[len(ts)-1]
		out.NextPageToken = encodePage(pageToken{At: last.CreatedAt, ID: last.ID})
	}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, tenantProto(t))
	}
	return connect.NewResponse(out), nil
}

// lookup finds the tenant a request names by id or slug.
func (s *OperatorService) lookup(ctx context.Context, st *store.Store, ref string, lock bool) (store.Tenant, error) {
	if ref == "" {
		return store.Tenant{}, rpcerr.InvalidField("tenant", "required")
	}
	t, err := st.LookupTenant(ctx, ref)
	if err != nil || !lock {
		return t, err
	}
	return st.LockTenant(ctx, t.ID)
}

func (s *OperatorService) LookupTenant(ctx context.Context, req *connect.Request[tenancyv1.LookupTenantRequest]) (*connect.Response[tenancyv1.LookupTenantResponse], error) {
	t, err := s.lookup(ctx, s.Store, req.Msg.GetTenant(), false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.LookupTenantResponse{Tenant: tenantProto(t)}), nil
}

// transition moves a tenant between states in one audited transaction and announces the
// change. apply returns the new tenant, or changed=false to leave it as it is.
func (s *OperatorService) transition(ctx context.Context, ref, action string,
	apply func(tx *store.Store, t store.Tenant) (out store.Tenant, changed bool, details any, err error)) (store.Tenant, error) {
	var out store.Tenant
	var changed bool
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		t, err := s.lookup(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		var details any
		out, changed, details, err = apply(tx, t)
		if err != nil || !changed {
			return err
		}
		return audit(ctx, tx, action, t.ID, "tenant:"+t.Slug, details)
	})
	if err != nil {
		return store.Tenant{}, err
	}
	if changed {
		s.Notify.TenantChanged(ctx, notify.Change{TenantID: out.ID, Slug: out.Slug, Status: string(out.Status)})
	}
	return out, nil
}

func (s *OperatorService) SuspendTenant(ctx context.Context, req *connect.Request[tenancyv1.SuspendTenantRequest]) (*connect.Response[tenancyv1.SuspendTenantResponse], error) {
	reason := strings.TrimSpace(req.Msg.GetReason())
	if len(reason) > maxReasonLen {
		return nil, rpcerr.InvalidField("reason", "must be at most 500 characters")
	}
	t, err := s.transition(ctx, req.Msg.GetTenant(), "tenant.suspend", func(tx *store.Store, t store.Tenant) (store.Tenant, bool, any, error) {
		switch t.Status {
		case store.StatusSuspended:
			return t, false, nil, nil
		case store.StatusActive:
			out, err := tx.SetStatus(ctx, t.ID, store.StatusSuspended, reason, nil)
			return out, true, map[string]string{"reason": reason}, err
		}
		return t, false, nil, rpcerr.FailedPrecondition("tenant is %s; only active tenants can be suspended", t.Status)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.SuspendTenantResponse{Tenant: tenantProto(t)}), nil
}

func (s *OperatorService) ResumeTenant(ctx context.Context, req *connect.Request[tenancyv1.ResumeTenantRequest]) (*connect.Response[tenancyv1.ResumeTenantResponse], error) {
	t, err := s.transition(ctx, req.Msg.GetTenant(), "tenant.resume", func(tx *store.Store, t store.Tenant) (store.Tenant, bool, any, error) {
		switch t.Status {
		case store.StatusActive:
			return t, false, nil, nil
		case store.StatusSuspended:
			out, err := tx.SetStatus(ctx, t.ID, store.StatusActive, "", nil)
			return out, true, map[string]string{"previous_reason": t.StatusReason}, err
		}
		return t, false, nil, rpcerr.FailedPrecondition("tenant is %s; only suspended tenants can be resumed", t.Status)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ResumeTenantResponse{Tenant: tenantProto(t)}), nil
}

func (s *OperatorService) DeleteTenant(ctx context.Context, req *connect.Request[tenancyv1.DeleteTenantRequest]) (*connect.Response[tenancyv1.DeleteTenantResponse], error) {
	now := req.Msg.GetNow()
	t, err := s.transition(ctx, req.Msg.GetTenant(), "tenant.delete", func(tx *store.Store, t store.Tenant) (store.Tenant, bool, any, error) {
		switch t.Status {
		case store.StatusDeleted, store.StatusFailed:
			// Nothing left to drop; a failed tenant's slug may already belong to someone else.
			return t, false, nil, nil
		case store.StatusDeleting:
			if !now {
				return t, false, nil, nil
			}
		case store.StatusProvisioning:
			return t, false, nil, rpcerr.FailedPrecondition("tenant is still provisioning; try again when it is active or failed")
		}
		purge := time.Now().Add(s.DeleteGrace)
		if now {
			purge = time.Now()
		}
		out, err := tx.SetStatus(ctx, t.ID, store.StatusDeleting, "deleted by "+caller(ctx).Actor(), &purge)
		return out, true, map[string]any{"now": now, "purge_time": purge.UTC(), "previous_status": t.Status}, err
	})
	if err != nil {
		return nil, err
	}
	if now && t.Status == store.StatusDeleting {
		if t, err = s.Provisioner.PurgeTenant(ctx, t); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&tenancyv1.DeleteTenantResponse{Tenant: tenantProto(t)}), nil
}

func (s *OperatorService) MigrateTenants(ctx context.Context, req *connect.Request[tenancyv1.MigrateTenantsRequest], stream *connect.ServerStream[tenancyv1.MigrateTenantsResponse]) error {
	workers := int(req.Msg.GetConcurrency())
	if workers < 0 || workers > maxMigrateWorkers {
		return rpcerr.InvalidField("concurrency", "must be 0 (default 4) to 32")
	}
	if workers == 0 {
		workers = defaultMigrateWorkers
	}
	var targets []store.Tenant
	if refs := req.Msg.GetTenants(); len(refs) > 0 {
		var v rpcerr.Violations
		seen := map[string]bool{}
		for i, ref := range refs {
			field := fmt.Sprintf("tenants[%d]", i)
			t, err := s.Store.LookupTenant(ctx, ref)
			switch {
			case rpcerr.KindOf(err) == rpcerr.KindNotFound:
				v.Add(field, "unknown tenant")
			case err != nil:
				return err
			case t.Status != store.StatusActive && t.Status != store.StatusSuspended:
				v.Addf(field, "tenant is %s; only active and suspended tenants are migrated", t.Status)
			case !seen[t.ID]:
				seen[t.ID] = true
				targets = append(targets, t)
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
	} else {
		var err error
		if targets, err = s.Store.TenantsWithStatus(ctx, store.StatusActive, store.StatusSuspended); err != nil {
			return err
		}
	}
	if err := s.Store.Tx(ctx, func(tx *store.Store) error {
		return audit(ctx, tx, "tenants.migrate", "", "", map[string]int{"total": len(targets), "concurrency": workers})
	}); err != nil {
		return err
	}

	type result struct {
		t   store.Tenant
		err error
	}
	results := make(chan result)
	jobs := make(chan store.Tenant)
	var wg sync.WaitGroup
	for range min(workers, max(len(targets), 1)) {
		wg.Go(func() {
			for t := range jobs {
				results <- result{t: t, err: s.Provisioner.Migrate(ctx, t)}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, t := range targets {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	// Only this goroutine sends on the stream; it keeps draining results after a send fails
	// so the workers can finish.
	total := int32(len(targets))
	var done int32
	var sendErr error
	for r := range results {
		done++
		if sendErr != nil {
			continue
		}
		msg := &tenancyv1.MigrateTenantsResponse{Tenant: tenantProto(r.t), Ok: r.err == nil, Done: done, Total: total}
		if r.err != nil {
			msg.Error = r.err.Error()
			s.Log.WarnContext(ctx, "tenant migration failed", "tenant_id", r.t.ID, "err", r.err)
		}
		sendErr = stream.Send(msg)
	}
	if sendErr != nil {
		return sendErr
	}
	return ctx.Err()
}

func (s *OperatorService) ListShards(ctx context.Context, _ *connect.Request[tenancyv1.ListShardsRequest]) (*connect.Response[tenancyv1.ListShardsResponse], error) {
	shards, err := s.Store.ListShards(ctx)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListShardsResponse{}
	for _, sh := range shards {
		out.Shards = append(out.Shards, shardProto(sh))
	}
	return connect.NewResponse(out), nil
}

func shardProto(sh store.Shard) *tenancyv1.Shard {
	return &tenancyv1.Shard{
		Name: sh.Name, Dsn: RedactDSN(sh.DSN), TenantCount: int32(sh.TenantCount),
		AcceptsTenants: sh.AcceptsTenants, CreateTime: ts(sh.CreatedAt),
	}
}

var shardNameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

func (s *OperatorService) AddShard(ctx context.Context, req *connect.Request[tenancyv1.AddShardRequest]) (*connect.Response[tenancyv1.AddShardResponse], error) {
	name, dsn := req.Msg.GetName(), strings.TrimSpace(req.Msg.GetDsn())
	var v rpcerr.Violations
	if !shardNameRE.MatchString(name) {
		v.Add("name", "must be 1 to 32 of a-z, 0-9 and -")
	}
	if dsn == "" {
		v.Add("dsn", "required")
	} else if _, err := pgconn.ParseConfig(dsn); err != nil {
		v.Add("dsn", "is not a valid Postgres connection string")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetShard(ctx, name); err == nil {
		e := rpcerr.AlreadyExists("a shard with this name already exists")
		e.Violations = []rpcerr.Violation{{Field: "name", Description: "is already taken"}}
		return nil, e
	}
	// A shard nobody can reach would fail every sign-up placed on it: check before adding.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.Connect(cctx, dsn)
	if err == nil {
		err = conn.Ping(cctx)
		_ = conn.Close(context.WithoutCancel(ctx))
	}
	cancel()
	if err != nil {
		return nil, rpcerr.InvalidField("dsn", "cannot connect to the database").WithCause(err)
	}
	var sh store.Shard
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if sh, err = tx.InsertShard(ctx, name, dsn); err != nil {
			return err
		}
		if err := audit(ctx, tx, "shard.add", "", "shard:"+name, map[string]string{"dsn": RedactDSN(dsn)}); err != nil {
			return err
		}
		// Registered last, inside the transaction: a failure here rolls the row back.
		return s.Shards.Add(ctx, name, dsn)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.AddShardResponse{Shard: shardProto(sh)}), nil
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN removes the password from a Postgres URL or key=value connection string.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparseable)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "redacted")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}redacted")
}

func (s *OperatorService) ListAuditEvents(ctx context.Context, req *connect.Request[tenancyv1.ListAuditEventsRequest]) (*connect.Response[tenancyv1.ListAuditEventsResponse], error) {
	var v rpcerr.Violations
	size := pageSize(req.Msg.GetPageSize(), &v)
	page := decodePage(req.Msg.GetPageToken(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var tenantID string
	if ref := req.Msg.GetTenant(); ref != "" {
		t, err := s.Store.LookupTenant(ctx, ref)
		if err != nil {
			return nil, err
		}
		tenantID = t.ID
	}
	var before int64
	if page != nil {
		before = page.Seq
	}
	events, err := s.Store.ListAudit(ctx, tenantID, before, size+1)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListAuditEventsResponse{}
	if len(events) > size {
		events = events[:size]
		out.NextPageToken = encodePage(pageToken{Seq: events[len(events)-1].ID})
	}
	for _, e := range events {
		out.Events = append(out.Events, &tenancyv1.AuditEvent{
			Id: strconv.FormatInt(e.ID, 10), Time: ts(e.At), Actor: e.Actor, Action: e.Action,
			TenantId: e.TenantID, Target: e.Target, RequestId: e.RequestID, DetailsJson: string(e.Details),
		})
	}
	return connect.NewResponse(out), nil
}

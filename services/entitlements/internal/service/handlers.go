package service

import (
	"atrium.dev/platform/tenantarchive"
	"context"
	"regexp"
	"strconv"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/entitlements/internal/plans"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var tenantIDRE = regexp.MustCompile(`^[a-z0-9]{1,40}$`)

func checkTenantID(field, id string) error {
	if !tenantIDRE.MatchString(id) {
		return rpcerr.InvalidField(field, "must be 1 to 40 of a-z and 0-9")
	}
	return nil
}

// caller is the verified identity of the request (guard's interceptors put it there).
func caller(ctx context.Context) *authn.Identity {
	if id, ok := authn.FromContext(ctx); ok {
		return id
	}
	return &authn.Identity{}
}

// tenantOf is the tenant a member-level request acts on: always the caller's own, so one
// tenant's admin can never name another's.
func tenantOf(ctx context.Context) (string, error) {
	id := caller(ctx)
	if id.TenantID == "" {
		return "", rpcerr.PermissionDenied("no tenant")
	}
	return id.TenantID, nil
}

// writable refuses changes for a suspended (read-only) tenant.
func writable(ctx context.Context) error {
	if caller(ctx).TenantReadOnly {
		return rpcerr.FailedPrecondition("the organization is suspended (read-only)")
	}
	return nil
}

func configOf(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

// Plugins implements PluginService.
type Plugins struct{ e *Engine }

var _ entitlementsv1connect.PluginServiceHandler = (*Plugins)(nil)

// NewPlugins serves the marketplace.
func NewPlugins(e *Engine) *Plugins { return &Plugins{e: e} }

func (h *Plugins) ListPlugins(ctx context.Context, _ *connect.Request[entv1.ListPluginsRequest]) (*connect.Response[entv1.ListPluginsResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	v, err := h.e.View(ctx, tid)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.ListPluginsResponse{Plugins: v.tenantPlugins(), Plan: v.plan.ID}), nil
}

func (h *Plugins) GetPlugin(ctx context.Context, req *connect.Request[entv1.GetPluginRequest]) (*connect.Response[entv1.GetPluginResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	pl, err := h.e.lookupPlugin("plugin", req.Msg.GetPlugin())
	if err != nil {
		return nil, err
	}
	v, err := h.e.View(ctx, tid)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.GetPluginResponse{Plugin: v.tenantPlugin(pl)}), nil
}

func (h *Plugins) InstallPlugin(ctx context.Context, req *connect.Request[entv1.InstallPluginRequest]) (*connect.Response[entv1.InstallPluginResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := writable(ctx); err != nil {
		return nil, err
	}
	res, err := h.e.Install(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlugin(), configOf(req.Msg.GetConfig()))
	if err != nil {
		return nil, err
	}
	pl, _ := h.e.reg.Get(req.Msg.GetPlugin())
	return connect.NewResponse(&entv1.InstallPluginResponse{Plugin: res.view.tenantPlugin(pl)}), nil
}

func (h *Plugins) UninstallPlugin(ctx context.Context, req *connect.Request[entv1.UninstallPluginRequest]) (*connect.Response[entv1.UninstallPluginResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := writable(ctx); err != nil {
		return nil, err
	}
	res, err := h.e.Uninstall(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlugin())
	if err != nil {
		return nil, err
	}
	pl, _ := h.e.reg.Get(req.Msg.GetPlugin())
	return connect.NewResponse(&entv1.UninstallPluginResponse{Plugin: res.view.tenantPlugin(pl)}), nil
}

func (h *Plugins) UpdatePluginConfig(ctx context.Context, req *connect.Request[entv1.UpdatePluginConfigRequest]) (*connect.Response[entv1.UpdatePluginConfigResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := writable(ctx); err != nil {
		return nil, err
	}
	res, err := h.e.UpdateConfig(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlugin(), configOf(req.Msg.GetConfig()))
	if err != nil {
		return nil, err
	}
	pl, _ := h.e.reg.Get(req.Msg.GetPlugin())
	return connect.NewResponse(&entv1.UpdatePluginConfigResponse{Plugin: res.view.tenantPlugin(pl)}), nil
}

func (h *Plugins) GetEntitlements(ctx context.Context, _ *connect.Request[entv1.GetEntitlementsRequest]) (*connect.Response[entv1.GetEntitlementsResponse], error) {
	tid, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	ent, err := h.e.entitlements(ctx, tid)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.GetEntitlementsResponse{Entitlements: ent}), nil
}

// entitlements is the plan, limits with usage, trial end and grants of a tenant.
func (e *Engine) entitlements(ctx context.Context, tenantID string) (*entv1.Entitlements, error) {
	v, err := e.View(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	usage, err := e.st.Usages(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ent := &entv1.Entitlements{TenantId: tenantID, Plan: v.plan.ID, Version: v.st.Tenant.Version}
	if s := v.snapshot(); s.GetTrialEndsAt() != nil {
		ent.TrialEndsAt = s.GetTrialEndsAt()
	}
	for _, name := range plans.LimitNames {
		lu := &entv1.LimitUsage{Name: name, Limit: v.limits[name]}
		_, lu.Overridden = v.st.Overrides[name]
		if u, ok := usage[name]; ok {
			lu.Used, lu.UsedKnown, lu.UsedTime = plans.CurrentUse(name, u.Used, u.ReportedAt, e.now()), true, timestamppb.New(u.ReportedAt)
		}
		ent.Limits = append(ent.Limits, lu)
	}
	for _, id := range e.reg.IDs() {
		g := v.st.Grants[id]
		if g == nil {
			continue
		}
		pg := &entv1.Grant{TenantId: tenantID, Plugin: id, Reason: g.Reason, Actor: g.Actor, CreateTime: timestamppb.New(g.CreatedAt)}
		if g.ExpiresAt != nil {
			pg.ExpireTime = timestamppb.New(*g.ExpiresAt)
		}
		ent.Grants = append(ent.Grants, pg)
	}
	return ent, nil
}

// TenantResolver turns an operator's "id or slug" into a tenant id (tenancy's directory).
type TenantResolver func(ctx context.Context, tenant string) (string, error)

// DirectoryResolver resolves through tenancy's DirectoryService.
func DirectoryResolver(dir tenancyv1connect.DirectoryServiceClient) TenantResolver {
	return func(ctx context.Context, tenant string) (string, error) {
		res, err := dir.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: tenant}))
		if err != nil {
			return "", err
		}
		return res.Msg.GetTenant().GetId(), nil
	}
}

// Operator implements EntitlementsOperatorService.
type Operator struct {
	e       *Engine
	resolve TenantResolver
}

var _ entitlementsv1connect.EntitlementsOperatorServiceHandler = (*Operator)(nil)

// NewOperator serves the operator API; resolve finds tenants by id or slug.
func NewOperator(e *Engine, resolve TenantResolver) *Operator {
	return &Operator{e: e, resolve: resolve}
}

func (h *Operator) tenant(ctx context.Context, tenant string) (string, error) {
	if tenant == "" {
		return "", rpcerr.InvalidField("tenant", "must name a tenant (id or slug)")
	}
	if h.resolve == nil {
		return tenant, checkTenantID("tenant", tenant)
	}
	id, err := h.resolve(ctx, tenant)
	if err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			return "", rpcerr.NotFound("tenant %q not found", tenant)
		}
		return "", err
	}
	return id, nil
}

func optTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func (h *Operator) GrantPlugin(ctx context.Context, req *connect.Request[entv1.GrantPluginRequest]) (*connect.Response[entv1.GrantPluginResponse], error) {
	tid, err := h.tenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	res, err := h.e.Grant(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlugin(), optTime(req.Msg.GetExpireTime()), req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	g := res.view.st.Grants[req.Msg.GetPlugin()]
	pg := &entv1.Grant{TenantId: tid, Plugin: g.Plugin, Reason: g.Reason, Actor: g.Actor, CreateTime: timestamppb.New(g.CreatedAt)}
	if g.ExpiresAt != nil {
		pg.ExpireTime = timestamppb.New(*g.ExpiresAt)
	}
	return connect.NewResponse(&entv1.GrantPluginResponse{Grant: pg, Snapshot: res.view.snapshot()}), nil
}

func (h *Operator) RevokeGrant(ctx context.Context, req *connect.Request[entv1.RevokeGrantRequest]) (*connect.Response[entv1.RevokeGrantResponse], error) {
	tid, err := h.tenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	res, err := h.e.RevokeGrant(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlugin(), req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.RevokeGrantResponse{Snapshot: res.view.snapshot(), UninstalledPlugins: res.uninstalled}), nil
}

func (h *Operator) SetPlan(ctx context.Context, req *connect.Request[entv1.EntitlementsOperatorServiceSetPlanRequest]) (*connect.Response[entv1.EntitlementsOperatorServiceSetPlanResponse], error) {
	tid, err := h.tenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	res, err := h.e.SetPlan(ctx, tid, caller(ctx).Actor(), req.Msg.GetPlan(), optTime(req.Msg.GetTrialEndsAt()), req.Msg.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.EntitlementsOperatorServiceSetPlanResponse{Snapshot: res.view.snapshot(), UninstalledPlugins: res.uninstalled}), nil
}

func (h *Operator) SetLimitOverride(ctx context.Context, req *connect.Request[entv1.SetLimitOverrideRequest]) (*connect.Response[entv1.SetLimitOverrideResponse], error) {
	tid, err := h.tenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.e.SetLimitOverride(ctx, tid, caller(ctx).Actor(), m.GetLimit(), m.GetValue(), m.GetClear(), m.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.SetLimitOverrideResponse{Snapshot: res.view.snapshot()}), nil
}

func (h *Operator) ListTenantEntitlements(ctx context.Context, req *connect.Request[entv1.ListTenantEntitlementsRequest]) (*connect.Response[entv1.ListTenantEntitlementsResponse], error) {
	tid, err := h.tenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	ent, err := h.e.entitlements(ctx, tid)
	if err != nil {
		return nil, err
	}
	v, err := h.e.View(ctx, tid)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.ListTenantEntitlementsResponse{Entitlements: ent, Plugins: v.tenantPlugins(), Snapshot: v.snapshot()}), nil
}

func (h *Operator) ListPlans(context.Context, *connect.Request[entv1.ListPlansRequest]) (*connect.Response[entv1.ListPlansResponse], error) {
	res := &entv1.ListPlansResponse{}
	for _, p := range plans.All() {
		res.Plans = append(res.Plans, planProto(p))
	}
	for _, pl := range h.e.reg.All() {
		res.Plugins = append(res.Plugins, pluginProto(pl))
	}
	return connect.NewResponse(res), nil
}

func (h *Operator) ListEntitlementsAudit(ctx context.Context, req *connect.Request[entv1.ListEntitlementsAuditRequest]) (*connect.Response[entv1.ListEntitlementsAuditResponse], error) {
	var tid string
	if t := req.Msg.GetTenant(); t != "" {
		var err error
		if tid, err = h.tenant(ctx, t); err != nil {
			return nil, err
		}
	}
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0 || size > 500:
		return nil, rpcerr.InvalidField("page_size", "must be 0 to 500")
	case size == 0:
		size = 50
	}
	var before int64
	if tok := req.Msg.GetPageToken(); tok != "" {
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || n <= 0 {
			return nil, rpcerr.InvalidField("page_token", "is not a token this API issued")
		}
		before = n
	}
	rows, err := h.e.st.ListAudit(ctx, tid, before, size+1)
	if err != nil {
		return nil, err
	}
	res := &entv1.ListEntitlementsAuditResponse{}
	if len(rows) > size {
		rows = rows[:size]
		res.NextPageToken = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	for _, r := range rows {
		ae := &entv1.AuditEntry{Id: r.ID, TenantId: r.TenantID, Actor: r.Actor, Action: r.Action, Reason: r.Reason, CreateTime: timestamppb.New(r.CreatedAt)}
		ae.Before = jsonStruct(r.Before)
		ae.After = jsonStruct(r.After)
		res.Entries = append(res.Entries, ae)
	}
	return connect.NewResponse(res), nil
}

func jsonStruct(raw []byte) *structpb.Struct {
	if len(raw) == 0 {
		return nil
	}
	s := &structpb.Struct{}
	if err := s.UnmarshalJSON(raw); err != nil {
		return nil
	}
	return s
}

// Internal implements EntitlementsInternalService.
type Internal struct{ e *Engine }

var _ entitlementsv1connect.EntitlementsInternalServiceHandler = (*Internal)(nil)

// NewInternal serves snapshots, billing's plan changes and limit checks.
func NewInternal(e *Engine) *Internal { return &Internal{e: e} }

func (h *Internal) GetSnapshot(ctx context.Context, req *connect.Request[entv1.GetSnapshotRequest]) (*connect.Response[entv1.GetSnapshotResponse], error) {
	if err := checkTenantID("tenant_id", req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	v, err := h.e.View(ctx, req.Msg.GetTenantId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.GetSnapshotResponse{Snapshot: v.snapshot()}), nil
}

func (h *Internal) SetPlan(ctx context.Context, req *connect.Request[entv1.SetPlanRequest]) (*connect.Response[entv1.SetPlanResponse], error) {
	m := req.Msg
	if err := checkTenantID("tenant_id", m.GetTenantId()); err != nil {
		return nil, err
	}
	actor := caller(ctx).Actor()
	if m.GetSource() != "" {
		actor = m.GetSource() + " (" + actor + ")"
	}
	res, err := h.e.SetPlan(ctx, m.GetTenantId(), actor, m.GetPlan(), nil, m.GetReason())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&entv1.SetPlanResponse{Snapshot: res.view.snapshot(), UninstalledPlugins: res.uninstalled}), nil
}

func (h *Internal) CheckLimit(ctx context.Context, req *connect.Request[entv1.CheckLimitRequest]) (*connect.Response[entv1.CheckLimitResponse], error) {
	m := req.Msg
	if err := checkTenantID("tenant_id", m.GetTenantId()); err != nil {
		return nil, err
	}
	res, err := h.e.CheckLimit(ctx, m.GetTenantId(), m.GetLimit(), m.GetCurrent(), m.GetIncrement())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// Provisioning implements atrium.tenancy.v1.ProvisioningService: a new tenant gets its plan.
type Provisioning struct{ e *Engine }

var _ tenancyv1connect.ProvisioningServiceHandler = (*Provisioning)(nil)

// NewProvisioning gives new tenants their starting plan.
func NewProvisioning(e *Engine) *Provisioning { return &Provisioning{e: e} }

func (h *Provisioning) Provision(ctx context.Context, req *connect.Request[tenancyv1.ProvisionRequest]) (*connect.Response[tenancyv1.ProvisionResponse], error) {
	if err := checkTenantID("tenant_id", req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	if err := h.e.Provision(ctx, req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ProvisionResponse{Version: 1}), nil
}

func (h *Provisioning) Deprovision(ctx context.Context, req *connect.Request[tenancyv1.DeprovisionRequest]) (*connect.Response[tenancyv1.DeprovisionResponse], error) {
	if err := checkTenantID("tenant_id", req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	if err := h.e.Deprovision(ctx, req.Msg.GetTenantId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.DeprovisionResponse{}), nil
}

// TenantData implements atrium.tenancy.v1.TenantDataService: entitlements' part of a tenant
// archive (plan, installs with their configs, grants, limit overrides).
type TenantData struct{ e *Engine }

var _ tenancyv1connect.TenantDataServiceHandler = (*TenantData)(nil)

// NewTenantData serves e's tenants.
func NewTenantData(e *Engine) *TenantData { return &TenantData{e: e} }

func (h *TenantData) ExportTenantData(ctx context.Context, req *connect.Request[tenancyv1.ExportTenantDataRequest], stream *connect.ServerStream[tenancyv1.ExportTenantDataResponse]) error {
	if err := checkTenantID("tenant_id", req.Msg.GetTenantId()); err != nil {
		return err
	}
	emit, flush := tenantarchive.ExportStream(stream)
	if err := h.e.st.ExportData(ctx, req.Msg.GetTenantId(), emit); err != nil {
		return err
	}
	return flush()
}

func (h *TenantData) ImportTenantData(ctx context.Context, stream *connect.ClientStream[tenancyv1.ImportTenantDataRequest]) (*connect.Response[tenancyv1.ImportTenantDataResponse], error) {
	first, next, err := tenantarchive.ImportStream(stream)
	if err != nil {
		return nil, err
	}
	if err := checkTenantID("tenant_id", first.GetTenantId()); err != nil {
		return nil, err
	}
	n, version, err := h.e.st.ImportData(ctx, first.GetTenantId(), next)
	if err != nil {
		return nil, err
	}
	h.e.pub.Changed(ctx, first.GetTenantId(), version)
	return connect.NewResponse(&tenancyv1.ImportTenantDataResponse{Records: n}), nil
}

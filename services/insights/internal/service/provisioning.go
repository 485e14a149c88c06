package service

import (
	"context"
	"regexp"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/store"
	"connectrpc.com/connect"
)

// Provisioning implements atrium.tenancy.v1.ProvisioningService for the insights tables.
type Provisioning struct {
	store *store.Store
}

var _ tenancyv1connect.ProvisioningServiceHandler = (*Provisioning)(nil)

// NewProvisioning provisions st's tenants.
func NewProvisioning(st *store.Store) *Provisioning { return &Provisioning{store: st} }

var tenantIDRE = regexp.MustCompile(`^[a-z0-9]{1,40}$`)

// target checks that the request names a tenant consistently: the schema must be the tenant's.
func target(tenantID, schema, shard string) error {
	var vs rpcerr.Violations
	if !tenantIDRE.MatchString(tenantID) {
		vs.Add("tenant_id", "must be 1 to 40 of a-z and 0-9")
	} else if schema != tenantdb.SchemaFor(tenantID) {
		vs.Add("schema", "must be the tenant's schema "+tenantdb.SchemaFor(tenantID))
	}
	if shard == "" {
		vs.Add("shard", "must not be empty")
	}
	return vs.Err()
}

func (p *Provisioning) Provision(ctx context.Context, req *connect.Request[tenancyv1.ProvisionRequest]) (*connect.Response[tenancyv1.ProvisionResponse], error) {
	m := req.Msg
	if err := target(m.GetTenantId(), m.GetSchema(), m.GetShard()); err != nil {
		return nil, err
	}
	v, err := p.store.Provision(ctx, m.GetShard(), m.GetSchema())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ProvisionResponse{Version: v}), nil
}

func (p *Provisioning) Deprovision(ctx context.Context, req *connect.Request[tenancyv1.DeprovisionRequest]) (*connect.Response[tenancyv1.DeprovisionResponse], error) {
	m := req.Msg
	if err := target(m.GetTenantId(), m.GetSchema(), m.GetShard()); err != nil {
		return nil, err
	}
	if err := p.store.Deprovision(ctx, m.GetShard(), m.GetSchema()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.DeprovisionResponse{}), nil
}

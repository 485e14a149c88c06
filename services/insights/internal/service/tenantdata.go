package service

import (
	"context"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/tenantarchive"
	"atrium.dev/services/insights/internal/store"
	"connectrpc.com/connect"
)

// TenantData implements atrium.tenancy.v1.TenantDataService: insights' part of a tenant
// archive, its rollups.
type TenantData struct {
	store *store.Store
}

var _ tenancyv1connect.TenantDataServiceHandler = (*TenantData)(nil)

// NewTenantData serves st's tenants.
func NewTenantData(st *store.Store) *TenantData { return &TenantData{store: st} }

func (d *TenantData) ExportTenantData(ctx context.Context, req *connect.Request[tenancyv1.ExportTenantDataRequest], stream *connect.ServerStream[tenancyv1.ExportTenantDataResponse]) error {
	m := req.Msg
	if err := target(m.GetTenantId(), m.GetSchema(), m.GetShard()); err != nil {
		return err
	}
	emit, flush := tenantarchive.ExportStream(stream)
	if err := d.store.ExportData(tenantarchive.AsTenant(ctx, m.GetTenantId(), m.GetSchema(), m.GetShard()), emit); err != nil {
		return err
	}
	return flush()
}

func (d *TenantData) ImportTenantData(ctx context.Context, stream *connect.ClientStream[tenancyv1.ImportTenantDataRequest]) (*connect.Response[tenancyv1.ImportTenantDataResponse], error) {
	first, next, err := tenantarchive.ImportStream(stream)
	if err != nil {
		return nil, err
	}
	if err := target(first.GetTenantId(), first.GetSchema(), first.GetShard()); err != nil {
		return nil, err
	}
	n, err := d.store.ImportData(tenantarchive.AsTenant(ctx, first.GetTenantId(), first.GetSchema(), first.GetShard()), next, first.GetUserIds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ImportTenantDataResponse{Records: n}), nil
}

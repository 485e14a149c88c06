package service

import (
	"context"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/tenantarchive"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
)

// TenantData implements atrium.tenancy.v1.TenantDataService: the catalog's part of a tenant
// archive (entities with their search rows and relations, Locations, custom kinds, the
// refresh setting, sealed credentials, the audit log).
type TenantData struct {
	store   *store.Store
	secrets *Secrets
}

var _ tenancyv1connect.TenantDataServiceHandler = (*TenantData)(nil)

// NewTenantData serves st's tenants; secrets reseals credentials for an imported tenant.
func NewTenantData(st *store.Store, secrets *Secrets) *TenantData {
	return &TenantData{store: st, secrets: secrets}
}

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
	opts := store.ImportOptions{UserIDs: first.GetUserIds()}
	if src := first.GetSourceSchema(); d.secrets != nil && tenantdb.ValidSchema(src) {
		opts.Reseal = func(host string, sealed []byte) ([]byte, error) {
			token, err := d.secrets.Open(src, host, sealed)
			if err != nil {
				return nil, err
			}
			return d.secrets.Seal(first.GetSchema(), host, token)
		}
	}
	n, notes, err := d.store.ImportData(tenantarchive.AsTenant(ctx, first.GetTenantId(), first.GetSchema(), first.GetShard()), next, opts)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ImportTenantDataResponse{Records: n, Notes: notes}), nil
}

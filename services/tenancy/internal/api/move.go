package api

import (
	"context"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/move"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
)

// Audit is the audit helper the move package records its steps with.
func Audit(ctx context.Context, tx *store.Store, action, tenantID, target string, details any) error {
	return audit(ctx, tx, action, tenantID, target, details)
}

const maxGrace = 30 * 24 * time.Hour

func (s *OperatorService) MoveTenant(ctx context.Context, req *connect.Request[tenancyv1.MoveTenantRequest], stream *connect.ServerStream[tenancyv1.MoveTenantResponse]) error {
	if s.Mover == nil {
		return rpcerr.Unavailable("moves are not configured")
	}
	grace := time.Duration(req.Msg.GetGraceSeconds()) * time.Second
	if grace < 0 || grace > maxGrace {
		return rpcerr.InvalidField("grace_seconds", "must be 0 (default) to 30 days")
	}
	t, err := s.Store.LookupTenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return notFoundAs(err, "tenant", "unknown tenant")
	}
	// Progress is best effort: a client that went away does not stop the move, which is
	// safer finished than abandoned half-way (a later call would resume it anyway).
	var sendErr error
	progress := func(m store.Move, msg string) {
		if sendErr == nil {
			sendErr = stream.Send(&tenancyv1.MoveTenantResponse{Move: moveProto(m), Message: msg})
		}
	}
	m, err := s.Mover.Run(context.WithoutCancel(ctx), move.Request{Tenant: t, To: req.Msg.GetToShard(), Grace: grace}, progress)
	if err != nil {
		return err
	}
	progress(m, "done")
	return sendErr
}

func (s *OperatorService) ListTenantMoves(ctx context.Context, req *connect.Request[tenancyv1.ListTenantMovesRequest]) (*connect.Response[tenancyv1.ListTenantMovesResponse], error) {
	var tenantID string
	if ref := req.Msg.GetTenant(); ref != "" {
		t, err := s.Store.LookupTenant(ctx, ref)
		if err != nil {
			return nil, notFoundAs(err, "tenant", "unknown tenant")
		}
		tenantID = t.ID
	}
	moves, err := s.Store.ListMoves(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListTenantMovesResponse{}
	for _, m := range moves {
		out.Moves = append(out.Moves, moveProto(m))
	}
	return connect.NewResponse(out), nil
}

func moveProto(m store.Move) *tenancyv1.TenantMove {
	p := &tenancyv1.TenantMove{
		Id: m.ID, TenantId: m.TenantID, FromShard: m.FromShard, ToShard: m.ToShard, Step: m.Step,
		RowsTotal: m.RowsTotal, RowsCopied: m.RowsCopied, PauseMillis: m.PauseMS, Error: m.Error,
		CreateTime: ts(m.CreatedAt), UpdateTime: ts(m.UpdatedAt),
	}
	if m.DropAfter != nil {
		p.DropTime = ts(*m.DropAfter)
	}
	return p
}

package service

import (
	"context"
	"time"

	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/insights/internal/pipeline"
	"connectrpc.com/connect"
)

// Operator implements InsightsOperatorService.
type Operator struct {
	pipe *pipeline.Pipeline
	// resolve turns a slug or id into a tenant id (tenancy's directory); nil: ids only.
	resolve func(ctx context.Context, tenant string) (string, error)
}

var _ insightsv1connect.InsightsOperatorServiceHandler = (*Operator)(nil)

// NewOperator returns the operator service.
func NewOperator(p *pipeline.Pipeline, resolve func(ctx context.Context, tenant string) (string, error)) *Operator {
	return &Operator{pipe: p, resolve: resolve}
}

func (o *Operator) GetLag(ctx context.Context, _ *connect.Request[insightsv1.GetLagRequest]) (*connect.Response[insightsv1.GetLagResponse], error) {
	l, err := o.pipe.ReadLag(ctx)
	if err != nil {
		return nil, rpcerr.Unavailable("cannot read the stream").WithCause(err)
	}
	return connect.NewResponse(&insightsv1.GetLagResponse{
		Stream: l.Stream, Group: l.Group, Length: l.Length, Lag: l.Lag, Pending: l.Pending,
		TrimmedUnread: l.TrimmedUnread, Consumers: l.Consumers, OldestPendingMs: l.OldestPendingAge.Milliseconds(),
	}), nil
}

func (o *Operator) Replay(ctx context.Context, req *connect.Request[insightsv1.ReplayRequest]) (*connect.Response[insightsv1.ReplayResponse], error) {
	t := req.Msg.GetTenant()
	if t == "" {
		return nil, rpcerr.InvalidField("tenant", "is required")
	}
	from := time.Time{}
	if req.Msg.GetFromTime() != nil {
		from = req.Msg.GetFromTime().AsTime()
	}
	id := t
	if o.resolve != nil {
		var err error
		if id, err = o.resolve(ctx, t); err != nil {
			return nil, err
		}
	}
	read, inserted, err := o.pipe.Replay(ctx, id, from)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&insightsv1.ReplayResponse{Read: read, Inserted: inserted}), nil
}

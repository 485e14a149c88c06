package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"

	billingv1 "atrium.dev/gen/atrium/billing/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// Operator is BillingOperatorService.
type Operator struct{ *Deps }

// NewOperator returns the service.
func NewOperator(d *Deps) *Operator { return &Operator{d} }

func (o *Operator) resolve(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", rpcerr.InvalidField("tenant", "required")
	}
	if o.Engine.Tenancy == nil {
		return ref, nil
	}
	id, err := o.Engine.Tenancy.Resolve(ctx, ref)
	if err != nil {
		if k := rpcerr.KindOf(err); k == rpcerr.KindNotFound || connect.CodeOf(err) == connect.CodeNotFound {
			return "", rpcerr.NotFound("tenant %q not found", ref)
		}
		return "", rpcerr.Unavailable("cannot resolve tenant").WithCause(err)
	}
	return id, nil
}

// GetTenantBilling is `tenantctl billing show`.
func (o *Operator) GetTenantBilling(ctx context.Context, req *connect.Request[billingv1.GetTenantBillingRequest]) (*connect.Response[billingv1.GetTenantBillingResponse], error) {
	id, err := o.resolve(ctx, req.Msg.GetTenant())
	if err != nil {
		return nil, err
	}
	b, err := o.billing(ctx, id, true)
	if err != nil {
		return nil, err
	}
	sub, err := o.Engine.Store.Subscription(ctx, id)
	if err != nil {
		return nil, err
	}
	cus, err := o.Engine.Store.Customer(ctx, id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&billingv1.GetTenantBillingResponse{TenantId: id, Billing: b,
		StripeCustomerId: cus, StripeSubscriptionId: sub.StripeSubscriptionID}), nil
}

// SyncBilling is `tenantctl billing sync`: the reconciler, now, for one tenant or all.
func (o *Operator) SyncBilling(ctx context.Context, req *connect.Request[billingv1.SyncBillingRequest]) (*connect.Response[billingv1.SyncBillingResponse], error) {
	actor := "operator"
	if id, err := tenantOrCaller(ctx); err == nil {
		actor = id
	}
	out := &billingv1.SyncBillingResponse{}
	if !req.Msg.GetAll() {
		id, err := o.resolve(ctx, req.Msg.GetTenant())
		if err != nil {
			return nil, err
		}
		cus, err := o.Engine.Store.Customer(ctx, id)
		if err != nil {
			return nil, err
		}
		out.Results = append(out.Results, o.syncOne(ctx, id, cus, actor))
		return connect.NewResponse(out), nil
	}
	if req.Msg.GetTenant() != "" {
		return nil, rpcerr.InvalidField("tenant", "give a tenant or all, not both")
	}
	after := ""
	for {
		page, err := o.Engine.Store.Customers(ctx, after, 200)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			out.Results = append(out.Results, o.syncOne(ctx, p[0], p[1], actor))
		}
		if len(page) < 200 {
			break
		}
		after = page[len(page)-1][0]
	}
	return connect.NewResponse(out), nil
}

func (o *Operator) syncOne(ctx context.Context, tenantID, customer, actor string) *billingv1.SyncResult {
	r := &billingv1.SyncResult{TenantId: tenantID}
	repairs, err := o.Engine.Sync(ctx, tenantID, customer, actor)
	if err == nil {
		err = o.Engine.Deliver(ctx, tenantID)
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Repairs, r.Changed = repairs, len(repairs) > 0
	return r
}

// ListWebhookEvents is `tenantctl billing events`: the ledger.
func (o *Operator) ListWebhookEvents(ctx context.Context, req *connect.Request[billingv1.ListWebhookEventsRequest]) (*connect.Response[billingv1.ListWebhookEventsResponse], error) {
	tenantID := ""
	if ref := req.Msg.GetTenant(); ref != "" {
		id, err := o.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		tenantID = id
	}
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0:
		return nil, rpcerr.InvalidField("page_size", "must not be negative")
	case size == 0:
		size = 50
	case size > 500:
		size = 500
	}
	var before int64
	if tok := req.Msg.GetPageToken(); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			before, err = strconv.ParseInt(string(raw), 10, 64)
		}
		if err != nil || before <= 0 {
			return nil, rpcerr.InvalidField("page_token", "is not a page token from a previous response")
		}
	}
	evs, err := o.Engine.Store.ListEvents(ctx, tenantID, before, size+1)
	if err != nil {
		return nil, err
	}
	out := &billingv1.ListWebhookEventsResponse{}
	if len(evs) > size {
		evs = evs[:size]
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(evs[len(evs)-1].Seq, 10)))
	}
	for _, e := range evs {
		out.Events = append(out.Events, eventProto(e))
	}
	return connect.NewResponse(out), nil
}

func eventProto(e store.Event) *billingv1.WebhookEvent {
	return &billingv1.WebhookEvent{Id: e.ID, Type: e.Type, TenantId: e.TenantID, CreateTime: timestamppb.New(e.CreatedAt),
		ReceiveTime: timestamppb.New(e.ReceivedAt), Outcome: e.Outcome, Error: e.Error}
}

// Internal is BillingInternalService.
type Internal struct{ *Deps }

// NewInternal returns the service.
func NewInternal(d *Deps) *Internal { return &Internal{d} }

// CheckSeat decides whether one more member fits the paid seats.
func (i *Internal) CheckSeat(ctx context.Context, req *connect.Request[billingv1.CheckSeatRequest]) (*connect.Response[billingv1.CheckSeatResponse], error) {
	tid := req.Msg.GetTenantId()
	if tid == "" {
		return nil, rpcerr.InvalidField("tenant_id", "required")
	}
	sub, err := i.Engine.Store.Subscription(ctx, tid)
	if err != nil {
		return nil, err
	}
	out := &billingv1.CheckSeatResponse{SeatsPaid: sub.SeatsPaid, Allowed: true}
	// Without a paid subscription the free plan's seat limit (entitlements) decides.
	if !sub.Live() || req.Msg.GetMembersAfter() <= sub.SeatsPaid {
		return connect.NewResponse(out), nil
	}
	p, _ := i.Engine.Plans.Get(sub.Plan)
	if p.SeatPolicy == plans.SeatsRefuse {
		out.Allowed = false
		out.Reason = "all " + strconv.FormatInt(sub.SeatsPaid, 10) + " paid seats are taken (limit \"seats\"): add seats on the Billing page"
		return connect.NewResponse(out), nil
	}
	out.SeatAdded = true
	if err := i.Engine.Store.MarkSeatsDirty(ctx, tid, i.Engine.Now()); err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// MembersChanged schedules a debounced seat sync.
func (i *Internal) MembersChanged(ctx context.Context, req *connect.Request[billingv1.MembersChangedRequest]) (*connect.Response[billingv1.MembersChangedResponse], error) {
	tid := req.Msg.GetTenantId()
	if tid == "" {
		return nil, rpcerr.InvalidField("tenant_id", "required")
	}
	if err := i.Engine.Store.MarkSeatsDirty(ctx, tid, i.Engine.Now()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&billingv1.MembersChangedResponse{}), nil
}

func tenantOrCaller(ctx context.Context) (string, error) {
	id, ok := authn.FromContext(ctx)
	if !ok {
		return "", authn.ErrNoIdentity
	}
	return id.Actor(), nil
}

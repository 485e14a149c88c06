package api

import (
	"context"
	"strconv"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/store"
	"connectrpc.com/connect"
)

// Bounds of the audit filters.
const (
	maxActorLen  = 200
	maxActionLen = 100
)

func (s *TenantService) ListTenantAuditEvents(ctx context.Context, req *connect.Request[tenancyv1.ListTenantAuditEventsRequest]) (*connect.Response[tenancyv1.ListTenantAuditEventsResponse], error) {
	m := req.Msg
	var v rpcerr.Violations
	size := pageSize(m.GetPageSize(), &v)
	page := decodePage(m.GetPageToken(), &v)
	f := store.AuditFilter{Actor: strings.TrimSpace(m.GetActor()), Action: strings.TrimSpace(m.GetAction())}
	switch {
	case len(f.Actor) > maxActorLen:
		v.Addf("actor", "must be at most %d characters", maxActorLen)
	case strings.ContainsRune(f.Actor, 0):
		v.Add("actor", "holds a NUL byte")
	}
	switch {
	case len(f.Action) > maxActionLen:
		v.Addf("action", "must be at most %d characters", maxActionLen)
	case strings.ContainsRune(f.Action, 0):
		v.Add("action", "holds a NUL byte")
	case strings.HasSuffix(f.Action, "*"):
		f.Action, f.ActionPrefix = strings.TrimSuffix(f.Action, "*"), true
	case strings.HasSuffix(f.Action, "."):
		f.ActionPrefix = true
	}
	if t := m.GetStartTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			v.Add("start_time", "is not a valid time")
		} else {
			f.From = t.AsTime()
		}
	}
	if t := m.GetEndTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			v.Add("end_time", "is not a valid time")
		} else {
			f.To = t.AsTime()
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		v.Add("end_time", "must be after start_time")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := member(ctx, s.Store, true); err != nil {
		return nil, err
	}
	var before int64
	if page != nil {
		before = page.Seq
	}
	// The caller's own tenant, from the verified identity: no request field names a tenant.
	events, err := s.Store.ListTenantAudit(ctx, caller(ctx).TenantID, f, before, size+1)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListTenantAuditEventsResponse{}
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

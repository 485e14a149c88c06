package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Locations implements atrium.catalog.v1.LocationService.
type Locations struct {
	src *Sources
}

var _ catalogv1connect.LocationServiceHandler = (*Locations)(nil)

// NewLocations serves src over Connect.
func NewLocations(src *Sources) *Locations { return &Locations{src: src} }

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// LocationProto converts a stored location.
func (s *Sources) LocationProto(l store.Location) *catalogv1.Location {
	out := &catalogv1.Location{
		Id: l.ID, Type: l.Type, Target: l.Target, EntityRef: l.EntityRef,
		RefreshedAt: rfc3339(l.RefreshedAt), Revision: strings.SplitN(l.Revision, "\n", 2)[0], LastError: l.LastError,
		Failures: int32(l.Failures), EntityCount: int32(l.EntityCount), CreatedAt: rfc3339(l.CreatedAt),
		CheckedAt: rfc3339(s.CheckedAt(l.ID)),
	}
	for _, p := range l.Problems {
		ip := &catalogv1.ImportProblem{File: p.File, Field: p.Field, Message: p.Message, EntityRef: p.EntityRef}
		if p.Document != nil {
			ip.Document, ip.HasDocument = int32(*p.Document), true
		}
		out.Problems = append(out.Problems, ip)
	}
	return out
}

func typeOr(t string) string {
	if t == "" {
		return "url"
	}
	return t
}

func (h *Locations) CreateLocation(ctx context.Context, req *connect.Request[catalogv1.CreateLocationRequest]) (*connect.Response[catalogv1.CreateLocationResponse], error) {
	m := req.Msg
	typ := typeOr(m.GetType())
	if m.GetDryRun() {
		r, exists, err := h.src.DryRun(ctx, typ, m.GetTarget())
		if err != nil {
			return nil, err
		}
		out := &catalogv1.CreateLocationResponse{Exists: exists, Location: &catalogv1.Location{Id: typ + ":" + m.GetTarget(), Type: typ, Target: m.GetTarget(), EntityRef: LocationEntityRef(typ, m.GetTarget())}}
		for _, d := range r.Kept {
			st, err := toStruct(entity.Normalize(d.Entity), filter.Projection{})
			if err != nil {
				return nil, err
			}
			out.Entities = append(out.Entities, st)
		}
		for _, v := range r.Problems {
			out.Problems = append(out.Problems, ProblemOf(v))
		}
		return connect.NewResponse(out), nil
	}
	loc, _, err := h.src.Create(ctx, typ, m.GetTarget())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.CreateLocationResponse{Location: h.src.LocationProto(loc)}
	out.Problems = out.Location.Problems
	return connect.NewResponse(out), nil
}

func (h *Locations) ListLocations(ctx context.Context, req *connect.Request[catalogv1.ListLocationsRequest]) (*connect.Response[catalogv1.ListLocationsResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0 || size > query.MaxPageSize:
		return nil, rpcerr.InvalidField("page_size", fmt.Sprintf("must be between 0 and %d", query.MaxPageSize))
	case size == 0:
		size = query.DefaultPageSize
	}
	after := req.Msg.GetPageToken()
	locs, total, err := h.src.store.ListLocations(ctx, store.LocationQuery{Target: req.Msg.GetTarget(), After: after, Limit: size + 1})
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListLocationsResponse{TotalItems: total}
	if len(locs) > size {
		locs = locs[:size]
		out.NextPageToken = locs[size-1].ID
	}
	for _, l := range locs {
		out.Locations = append(out.Locations, h.src.LocationProto(l))
	}
	return connect.NewResponse(out), nil
}

func (h *Locations) GetLocation(ctx context.Context, req *connect.Request[catalogv1.GetLocationRequest]) (*connect.Response[catalogv1.GetLocationResponse], error) {
	l, err := h.src.store.GetLocation(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	refs, err := h.src.store.LocationEntities(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetLocationResponse{Location: h.src.LocationProto(l), EntityRefs: refs}), nil
}

func (h *Locations) UpdateLocation(ctx context.Context, req *connect.Request[catalogv1.UpdateLocationRequest]) (*connect.Response[catalogv1.UpdateLocationResponse], error) {
	l, err := h.src.Update(ctx, req.Msg.GetId(), typeOr(req.Msg.GetType()), req.Msg.GetTarget())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdateLocationResponse{Location: h.src.LocationProto(l)}), nil
}

func (h *Locations) DeleteLocation(ctx context.Context, req *connect.Request[catalogv1.DeleteLocationRequest]) (*connect.Response[catalogv1.DeleteLocationResponse], error) {
	orphaned, err := h.src.Delete(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteLocationResponse{Orphaned: orphaned}), nil
}

func (h *Locations) RefreshLocation(ctx context.Context, req *connect.Request[catalogv1.RefreshLocationRequest]) (*connect.Response[catalogv1.RefreshLocationResponse], error) {
	// An explicit refresh reads the source even when its revision is the one imported (the
	// tenant's custom kinds may have changed); the worker and webhooks skip unchanged ones.
	res, err := h.src.Refresh(ctx, req.Msg.GetId(), true)
	if res == nil {
		return nil, err
	}
	out := &catalogv1.RefreshLocationResponse{Location: h.src.LocationProto(res.Location), NotModified: res.NotModified, Orphaned: res.Outcome.Orphaned}
	for _, r := range res.Outcome.Results {
		switch r.Action {
		case store.Created:
			out.Created++
		case store.Updated:
			out.Updated++
		case store.Unchanged:
			out.Unchanged++
		}
	}
	// A failed fetch is the location's state (last_error), not a failed call.
	return connect.NewResponse(out), nil
}

func (h *Locations) GetWebhookSecret(ctx context.Context, req *connect.Request[catalogv1.GetWebhookSecretRequest]) (*connect.Response[catalogv1.GetWebhookSecretResponse], error) {
	l, err := h.src.store.GetLocation(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	id, _ := authn.FromContext(ctx)
	secret, err := h.src.secrets.WebhookSecret(id.TenantID, l.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetWebhookSecretResponse{Secret: secret, Path: "/webhooks/git/" + id.TenantSlug + "/" + l.ID}), nil
}

// checkHost validates a credential's host: a host name or host:port, lowercased.
func checkHost(h string) (string, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" || len(h) > 255 || strings.ContainsAny(h, "/@ ?#") {
		return "", rpcerr.InvalidField("host", "expected a host name, optionally with :port")
	}
	return h, nil
}

func (h *Locations) SetCredential(ctx context.Context, req *connect.Request[catalogv1.SetCredentialRequest]) (*connect.Response[catalogv1.SetCredentialResponse], error) {
	host, err := checkHost(req.Msg.GetHost())
	if err != nil {
		return nil, err
	}
	tok := req.Msg.GetToken()
	if tok == "" || len(tok) > 4096 {
		return nil, rpcerr.InvalidField("token", "must be 1 to 4096 characters")
	}
	id, _ := authn.FromContext(ctx)
	sealed, err := h.src.secrets.Seal(id.Schema, host, tok)
	if err != nil {
		return nil, err
	}
	if err := h.src.store.PutCredential(ctx, host, sealed); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.SetCredentialResponse{}), nil
}

func (h *Locations) ListCredentials(ctx context.Context, _ *connect.Request[catalogv1.ListCredentialsRequest]) (*connect.Response[catalogv1.ListCredentialsResponse], error) {
	creds, err := h.src.store.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListCredentialsResponse{}
	for _, c := range creds {
		out.Credentials = append(out.Credentials, &catalogv1.Credential{Host: c.Host, CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt)})
	}
	return connect.NewResponse(out), nil
}

func (h *Locations) DeleteCredential(ctx context.Context, req *connect.Request[catalogv1.DeleteCredentialRequest]) (*connect.Response[catalogv1.DeleteCredentialResponse], error) {
	host, err := checkHost(req.Msg.GetHost())
	if err != nil {
		return nil, err
	}
	if err := h.src.store.DeleteCredential(ctx, host); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteCredentialResponse{}), nil
}

// maxSchemaBytes bounds a custom kind's JSON Schema.
const maxSchemaBytes = 64 << 10

func (h *Locations) SetCustomKind(ctx context.Context, req *connect.Request[catalogv1.SetCustomKindRequest]) (*connect.Response[catalogv1.SetCustomKindResponse], error) {
	k := req.Msg.GetKind()
	var vs rpcerr.Violations
	if !entity.IsValidKind(k.GetKind()) {
		vs.Add("kind.kind", "expected a kind: a letter, then letters and digits, at most 63 characters")
	} else if entity.KnownKind(k.GetKind()) || strings.EqualFold(k.GetKind(), "location") {
		vs.Add("kind.kind", "is one of Backstage's kinds")
	}
	if len(k.GetApiVersions()) > 10 {
		vs.Add("kind.api_versions", "at most 10")
	}
	var schema []byte
	if js := k.GetJsonSchema(); js != "" {
		if len(js) > maxSchemaBytes {
			vs.Add("kind.json_schema", fmt.Sprintf("at most %d bytes", maxSchemaBytes))
		} else if _, err := entity.CompileSchema(k.GetKind(), []byte(js)); err != nil {
			vs.Add("kind.json_schema", err.Error())
		} else {
			schema = []byte(js)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	if err := h.src.store.PutCustomKind(ctx, store.CustomKind{Kind: k.GetKind(), APIVersions: k.GetApiVersions(), Schema: schema}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.SetCustomKindResponse{}), nil
}

func (h *Locations) ListCustomKinds(ctx context.Context, _ *connect.Request[catalogv1.ListCustomKindsRequest]) (*connect.Response[catalogv1.ListCustomKindsResponse], error) {
	kinds, err := h.src.store.CustomKinds(ctx)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListCustomKindsResponse{}
	for _, k := range kinds {
		out.Kinds = append(out.Kinds, &catalogv1.CustomKind{Kind: k.Kind, ApiVersions: k.APIVersions, JsonSchema: string(k.Schema)})
	}
	return connect.NewResponse(out), nil
}

func (h *Locations) DeleteCustomKind(ctx context.Context, req *connect.Request[catalogv1.DeleteCustomKindRequest]) (*connect.Response[catalogv1.DeleteCustomKindResponse], error) {
	if err := h.src.store.DeleteCustomKind(ctx, req.Msg.GetKind()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteCustomKindResponse{}), nil
}

func (h *Locations) SetRefreshInterval(ctx context.Context, req *connect.Request[catalogv1.SetRefreshIntervalRequest]) (*connect.Response[catalogv1.SetRefreshIntervalResponse], error) {
	s := req.Msg.GetSeconds()
	if s != 0 && (s < 60 || s > 86400) {
		return nil, rpcerr.InvalidField("seconds", "must be 0 or between 60 and 86400")
	}
	if err := h.src.store.SetRefreshInterval(ctx, time.Duration(s)*time.Second); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.SetRefreshIntervalResponse{}), nil
}

// entityStruct is toStruct for REST callers.
func entityStruct(e entity.Entity) (*structpb.Struct, error) { return toStruct(e, filter.Projection{}) }

// Package service implements the catalog's Connect services: CatalogService over the store,
// and ProvisioningService, which tenancy calls to create and drop a tenant's catalog tables.
package service

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/bundle"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Limits of the read methods.
const (
	MaxRefs        = 1000
	MaxFacets      = 20
	MaxDepth       = 5
	MaxGraphNodes  = 1000
	maxRelationLen = 63
)

// Catalog implements atrium.catalog.v1.CatalogService.
type Catalog struct {
	store       *store.Store
	entityLimit int
	// limitFor, when set, gives the tenant's catalog_entities limit from its plan (-1:
	// unlimited); entityLimit then only applies while it cannot answer.
	limitFor func(ctx context.Context, tenantID string) (int64, error)
	bundle   bundle.Limits
	// written counts entities written per tenant schema since the catalog last refreshed
	// the planner's statistics (see noteWrites).
	mu      sync.Mutex
	written map[string]int
}

// AnalyzeAfter is how many written entities make the catalog refresh a tenant's planner
// statistics itself: a bulk load otherwise leaves filters planned for empty tables until
// autovacuum (if it runs at all) catches up.
const AnalyzeAfter = 5000

func countChanged(res []store.Result) int {
	n := 0
	for _, r := range res {
		if r.Action == store.Created || r.Action == store.Updated {
			n++
		}
	}
	return n
}

// noteWrites counts written entities and runs ANALYZE when a tenant passed AnalyzeAfter.
func (c *Catalog) noteWrites(ctx context.Context, n int) {
	id, ok := authn.FromContext(ctx)
	if n == 0 || !ok || id == nil {
		return
	}
	c.mu.Lock()
	if c.written == nil {
		c.written = map[string]int{}
	}
	c.written[id.Schema] += n
	due := c.written[id.Schema] >= AnalyzeAfter
	if due {
		c.written[id.Schema] = 0
	}
	c.mu.Unlock()
	if due {
		c.store.Analyze(ctx)
	}
}

var _ catalogv1connect.CatalogServiceHandler = (*Catalog)(nil)

// WithPlanLimits makes the tenant's plan (entitlements' catalog_entities) the entity limit.
func (c *Catalog) WithPlanLimits(limitFor func(ctx context.Context, tenantID string) (int64, error)) *Catalog {
	c.limitFor = limitFor
	return c
}

// limit is the entity limit for the calling tenant (0: none).
func (c *Catalog) limit(ctx context.Context) int {
	id, ok := authn.FromContext(ctx)
	if c.limitFor == nil || !ok || id.TenantID == "" {
		return c.entityLimit
	}
	v, err := c.limitFor(ctx, id.TenantID)
	switch {
	case err != nil:
		// Entitlements unreachable and nothing cached: the platform-wide cap still holds.
		return c.entityLimit
	case v < 0:
		return 0
	}
	return int(v)
}

// NewCatalog serves st; entityLimit caps each tenant's entities (0: no limit).
func NewCatalog(st *store.Store, entityLimit int) *Catalog {
	return &Catalog{store: st, entityLimit: entityLimit, bundle: bundle.DefaultLimits}
}

func (c *Catalog) ApplyEntities(ctx context.Context, req *connect.Request[catalogv1.ApplyEntitiesRequest]) (*connect.Response[catalogv1.ApplyEntitiesResponse], error) {
	docs, err := ingest.Documents(req.Msg.GetEntities(), req.Msg.GetYamlDocuments())
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, rpcerr.InvalidField("documents", "no entities given")
	}
	pol, err := c.Policy(ctx, true)
	if err != nil {
		return nil, err
	}
	results, err := c.apply(ctx, docs, pol, req.Msg.GetDryRun())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ApplyEntitiesResponse{Results: results, DryRun: req.Msg.GetDryRun()}), nil
}

// Policy returns Backstage's ingestion policy with the tenant's custom kinds. readBack
// accepts relations and status at the root (ApplyEntities takes back what it returned).
func (c *Catalog) Policy(ctx context.Context, readBack bool) (*entity.Policy, error) {
	kinds, err := c.store.CustomKinds(ctx)
	if err != nil {
		return nil, err
	}
	pol := &entity.Policy{AllowReadBack: readBack, Custom: make(map[string]entity.CustomKind, len(kinds))}
	for _, k := range kinds {
		ck := entity.CustomKind{Kind: k.Kind, APIVersions: k.APIVersions}
		if len(k.Schema) > 0 {
			if ck.Schema, err = entity.CompileSchema(k.Kind, k.Schema); err != nil {
				// Stored schemas compiled when they were set; one that no longer does
				// (a library change) accepts the kind unchecked rather than blocking writes.
				ck.Schema = nil
			}
		}
		pol.Custom[strings.ToLower(k.Kind)] = ck
	}
	return pol, nil
}

func (c *Catalog) apply(ctx context.Context, docs []ingest.Doc, pol *entity.Policy, dryRun bool) ([]*catalogv1.ApplyResult, error) {
	drafts, err := ingest.Prepare(docs, pol)
	if err != nil {
		return nil, err
	}
	res, err := c.store.Apply(ctx, drafts, store.ApplyOptions{DryRun: dryRun, EntityLimit: c.limit(ctx)})
	if err != nil {
		return nil, err
	}
	if !dryRun {
		c.noteWrites(ctx, countChanged(res))
	}
	out := make([]*catalogv1.ApplyResult, len(res))
	for i, r := range res {
		out[i] = &catalogv1.ApplyResult{
			DocumentIndex: int32(docs[i].Index),
			EntityRef:     r.Ref,
			Uid:           r.UID,
			Etag:          r.Etag,
			Action:        actionOf(r.Action),
		}
	}
	return out, nil
}

func actionOf(a store.Action) catalogv1.ApplyAction {
	switch a {
	case store.Created:
		return catalogv1.ApplyAction_APPLY_ACTION_CREATED
	case store.Updated:
		return catalogv1.ApplyAction_APPLY_ACTION_UPDATED
	case store.Unchanged:
		return catalogv1.ApplyAction_APPLY_ACTION_UNCHANGED
	}
	return catalogv1.ApplyAction_APPLY_ACTION_UNSPECIFIED
}

func (c *Catalog) ImportBundle(ctx context.Context, req *connect.Request[catalogv1.ImportBundleRequest]) (*connect.Response[catalogv1.ImportBundleResponse], error) {
	if len(req.Msg.GetFiles()) == 0 {
		return nil, rpcerr.InvalidField("files", "no files given")
	}
	strict := req.Msg.GetStrict()
	res, err := bundle.ResolveWith(ctx, req.Msg.GetFiles(), req.Msg.GetRoots(), c.bundle, bundle.Options{Lenient: !strict})
	if err != nil {
		return nil, err
	}
	pol, err := c.Policy(ctx, false)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ImportBundleResponse{FilesRead: res.FilesRead, DryRun: req.Msg.GetDryRun()}
	for _, s := range res.Skipped {
		out.Skipped = append(out.Skipped, &catalogv1.SkippedTarget{Location: s.Location, Target: s.Target, Reason: s.Reason})
	}
	if strict {
		if len(res.Docs) > 0 {
			out.Results, err = c.apply(ctx, res.Docs, pol, req.Msg.GetDryRun())
			if err != nil {
				return nil, err
			}
		}
		return connect.NewResponse(out), nil
	}
	// As Backstage processes a repository: each bad entity is reported with its file,
	// document and field, and the others are imported.
	drafts, kept, problems := ingest.PrepareEach(res.Docs, pol)
	for _, v := range append(res.Problems, problems...) {
		out.Problems = append(out.Problems, ProblemOf(v))
	}
	if len(drafts) > 0 {
		applied, err := c.store.Apply(ctx, drafts, store.ApplyOptions{DryRun: req.Msg.GetDryRun(), EntityLimit: c.limit(ctx)})
		if err != nil {
			return nil, err
		}
		for i, r := range applied {
			out.Results = append(out.Results, &catalogv1.ApplyResult{
				DocumentIndex: int32(kept[i].Index), EntityRef: r.Ref, Uid: r.UID, Etag: r.Etag, Action: actionOf(r.Action),
			})
		}
	}
	return connect.NewResponse(out), nil
}

// fieldRE splits a violation path files["a/b.yaml"].documents[2].spec.owner into its parts.
var fieldRE = regexp.MustCompile(`^files\["((?:[^"\\]|\\.)*)"\](?:\.documents\[(\d+)\](?:\.(.*))?)?$`)

// ProblemOf names a violation of a bundle or Location by file, document and field.
func ProblemOf(v rpcerr.Violation) *catalogv1.ImportProblem {
	p := &catalogv1.ImportProblem{Field: v.Field, Message: v.Description}
	if m := fieldRE.FindStringSubmatch(v.Field); m != nil {
		file, err := strconv.Unquote(`"` + m[1] + `"`)
		if err != nil {
			file = m[1]
		}
		p.File, p.Field = file, m[3]
		if m[2] != "" {
			n, _ := strconv.Atoi(m[2])
			p.Document = int32(n)
			p.HasDocument = true
		}
	}
	return p
}

// parseRef reads a full ref: kind required, namespace defaulting to "default".
func parseRef(field, s string) (string, error) {
	r, err := entity.ParseRef(s, "", entity.DefaultNamespace)
	if err != nil {
		return "", rpcerr.InvalidField(field, err.Error())
	}
	return r.String(), nil
}

func toStruct(e entity.Entity, p filter.Projection) (*structpb.Struct, error) {
	s, err := structpb.NewStruct(p.Apply(map[string]any(e)))
	if err != nil {
		return nil, fmt.Errorf("service: entity to struct: %w", err)
	}
	return s, nil
}

func (c *Catalog) GetEntityByRef(ctx context.Context, req *connect.Request[catalogv1.GetEntityByRefRequest]) (*connect.Response[catalogv1.GetEntityByRefResponse], error) {
	ref, err := parseRef("ref", req.Msg.GetRef())
	if err != nil {
		return nil, err
	}
	if binaryCodec(req.Header()) {
		found, err := c.store.GetEncodedByRefs(ctx, []string{ref}, nil, pbEncoder(filter.Projection{}))
		if err != nil {
			return nil, err
		}
		if found[0] == nil {
			return nil, rpcerr.NotFound("no entity %s", ref)
		}
		return connect.NewResponse(withRaw(&catalogv1.GetEntityByRefResponse{}, 1, 0, found)), nil
	}
	e, err := c.store.GetByRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	s, err := toStruct(e, filter.Projection{})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetEntityByRefResponse{Entity: s}), nil
}

func (c *Catalog) GetEntityByUid(ctx context.Context, req *connect.Request[catalogv1.GetEntityByUidRequest]) (*connect.Response[catalogv1.GetEntityByUidResponse], error) {
	if req.Msg.GetUid() == "" {
		return nil, rpcerr.InvalidField("uid", "must not be empty")
	}
	e, err := c.store.GetByUID(ctx, req.Msg.GetUid())
	if err != nil {
		return nil, err
	}
	s, err := toStruct(e, filter.Projection{})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetEntityByUidResponse{Entity: s}), nil
}

func (c *Catalog) GetEntitiesByRefs(ctx context.Context, req *connect.Request[catalogv1.GetEntitiesByRefsRequest]) (*connect.Response[catalogv1.GetEntitiesByRefsResponse], error) {
	if len(req.Msg.GetRefs()) > MaxRefs {
		return nil, rpcerr.InvalidField("refs", fmt.Sprintf("at most %d refs", MaxRefs))
	}
	var vs rpcerr.Violations
	refs := make([]string, len(req.Msg.GetRefs()))
	for i, r := range req.Msg.GetRefs() {
		ref, err := entity.ParseRef(r, "", entity.DefaultNamespace)
		if err != nil {
			vs.Add(fmt.Sprintf("refs[%d]", i), err.Error())
			continue
		}
		refs[i] = ref.String()
	}
	proj, err := query.Fields(req.Msg.GetFields())
	if err != nil {
		return nil, err
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	if binaryCodec(req.Header()) {
		found, err := c.store.GetEncodedByRefs(ctx, refs, nil, pbEncoder(proj))
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(withRaw(&catalogv1.GetEntitiesByRefsResponse{}, 1, 1, found)), nil
	}
	entities, err := c.store.GetByRefs(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.GetEntitiesByRefsResponse{Items: make([]*catalogv1.EntityItem, len(entities))}
	for i, e := range entities {
		item := &catalogv1.EntityItem{}
		if e != nil {
			if item.Entity, err = toStruct(e, proj); err != nil {
				return nil, err
			}
		}
		out.Items[i] = item
	}
	return connect.NewResponse(out), nil
}

func (c *Catalog) DeleteEntity(ctx context.Context, req *connect.Request[catalogv1.DeleteEntityRequest]) (*connect.Response[catalogv1.DeleteEntityResponse], error) {
	if req.Msg.GetUid() == "" {
		return nil, rpcerr.InvalidField("uid", "must not be empty")
	}
	if err := c.store.Delete(ctx, req.Msg.GetUid()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteEntityResponse{}), nil
}

func (c *Catalog) ListEntities(ctx context.Context, req *connect.Request[catalogv1.ListEntitiesRequest]) (*connect.Response[catalogv1.ListEntitiesResponse], error) {
	m := req.Msg
	size := int(m.GetPageSize())
	switch {
	case size < 0 || size > query.MaxPageSize:
		return nil, rpcerr.InvalidField("page_size", fmt.Sprintf("must be between 0 and %d", query.MaxPageSize))
	case size == 0:
		size = query.DefaultPageSize
	}
	spec := query.Spec{Filter: m.GetFilter(), FullText: m.GetFullTextTerm()}
	for i, o := range m.GetOrder() {
		switch o.GetOrder() {
		case catalogv1.SortOrder_SORT_ORDER_UNSPECIFIED, catalogv1.SortOrder_SORT_ORDER_ASC, catalogv1.SortOrder_SORT_ORDER_DESC:
		default:
			return nil, rpcerr.InvalidField(fmt.Sprintf("order[%d].order", i), "unknown sort order")
		}
		spec.Order = append(spec.Order, query.Order{Field: o.GetField(), Desc: o.GetOrder() == catalogv1.SortOrder_SORT_ORDER_DESC})
	}
	proj, err := query.Fields(m.GetFields())
	if err != nil {
		return nil, err
	}
	binary := binaryCodec(req.Header()) // then the entities are written through EncodePage only
	page, spec, err := query.List(ctx, c.store, query.Request{Spec: spec, Token: m.GetPageToken(), TokenField: "page_token", Limit: size, SkipTotal: m.GetSkipTotal(), Encoded: binary})
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListEntitiesResponse{TotalItems: page.Total}
	if page.Total < 0 {
		out.TotalItems = 0
	}
	out.NextPageToken, out.PrevPageToken = query.Tokens(spec, page)
	if binary {
		raw, err := store.EncodePage(page, pbEncoder(proj))
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(withRaw(out, 1, 0, raw)), nil
	}
	for _, e := range page.Entities {
		s, err := toStruct(e, proj)
		if err != nil {
			return nil, err
		}
		out.Entities = append(out.Entities, s)
	}
	return connect.NewResponse(out), nil
}

// Facets validates facet names.
func Facets(names []string, field string) ([]string, error) {
	if len(names) == 0 {
		return nil, rpcerr.InvalidField(field, "name at least one facet")
	}
	if len(names) > MaxFacets {
		return nil, rpcerr.InvalidField(field, fmt.Sprintf("at most %d facets", MaxFacets))
	}
	var vs rpcerr.Violations
	for i, f := range names {
		if _, err := filter.NormalizeKey(f); err != nil {
			vs.Add(fmt.Sprintf("%s[%d]", field, i), err.Description)
		}
	}
	return names, vs.Err()
}

func (c *Catalog) GetEntityFacets(ctx context.Context, req *connect.Request[catalogv1.GetEntityFacetsRequest]) (*connect.Response[catalogv1.GetEntityFacetsResponse], error) {
	names, err := Facets(req.Msg.GetFacets(), "facets")
	if err != nil {
		return nil, err
	}
	compiled, err := query.Spec{Filter: req.Msg.GetFilter()}.Compile()
	if err != nil {
		return nil, err
	}
	facets, err := c.store.FacetsMatching(ctx, names, compiled.Filter, req.Msg.GetFullTextTerm())
	if err != nil {
		return nil, err
	}
	out := &catalogv1.GetEntityFacetsResponse{}
	for _, name := range names {
		f := &catalogv1.Facet{Facet: name}
		for _, v := range facets[name] {
			f.Values = append(f.Values, &catalogv1.FacetValue{Value: v.Value, Count: v.Count})
		}
		out.Facets = append(out.Facets, f)
	}
	return connect.NewResponse(out), nil
}

var relationTypeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

func (c *Catalog) GetEntityRelations(ctx context.Context, req *connect.Request[catalogv1.GetEntityRelationsRequest]) (*connect.Response[catalogv1.GetEntityRelationsResponse], error) {
	m := req.Msg
	var vs rpcerr.Violations
	ref, err := entity.ParseRef(m.GetRef(), "", entity.DefaultNamespace)
	if err != nil {
		vs.Add("ref", err.Error())
	}
	depth := int(m.GetDepth())
	switch {
	case depth == 0:
		depth = 1
	case depth < 1 || depth > MaxDepth:
		vs.Add("depth", fmt.Sprintf("must be between 1 and %d", MaxDepth))
	}
	dir := store.Outgoing
	switch m.GetDirection() {
	case catalogv1.RelationDirection_RELATION_DIRECTION_UNSPECIFIED, catalogv1.RelationDirection_RELATION_DIRECTION_OUTGOING:
	case catalogv1.RelationDirection_RELATION_DIRECTION_INCOMING:
		dir = store.Incoming
	case catalogv1.RelationDirection_RELATION_DIRECTION_BOTH:
		dir = store.Both
	default:
		vs.Add("direction", "unknown direction")
	}
	if len(m.GetRelationTypes()) > 32 {
		vs.Add("relation_types", "at most 32 types")
	}
	for i, t := range m.GetRelationTypes() {
		if len(t) > maxRelationLen || !relationTypeRE.MatchString(t) {
			vs.Add(fmt.Sprintf("relation_types[%d]", i), "not a relation type")
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	g, err := c.store.Walk(ctx, ref.String(), m.GetRelationTypes(), dir, depth, MaxGraphNodes)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.GetEntityRelationsResponse{Truncated: g.Truncated}
	for _, e := range g.Edges {
		out.Edges = append(out.Edges, &catalogv1.RelationEdge{SourceRef: e.Source, Type: e.Type, TargetRef: e.Target})
	}
	for _, e := range g.Entities {
		s, err := toStruct(e, filter.Projection{})
		if err != nil {
			return nil, err
		}
		out.Entities = append(out.Entities, s)
	}
	return connect.NewResponse(out), nil
}

package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/catalogtest"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
)

// server is a catalog app on an in-memory HTTP/2 cleartext server, with a key to sign the
// internal tokens the gateway would send.
type server struct {
	env    *catalogtest.Env
	url    string
	client *http.Client
	signer *authn.InternalSigner
	badKey *authn.InternalSigner
}

func newServer(t testing.TB, mutate ...func(*app.Config)) *server {
	t.Helper()
	env := catalogtest.New(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	cfg := app.Config{Shards: map[string]string{catalogtest.Shard: env.DSN}, InternalKey: key}
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &server{env: env, url: srv.URL, client: &http.Client{Transport: tr}, signer: authn.NewInternalSigner(key), badKey: authn.NewInternalSigner(other)}
}

// as signs every call with an internal token for id (nil: no token).
type as struct {
	signer *authn.InternalSigner
	id     *authn.Identity
}

func (a as) header(h http.Header) {
	if a.id == nil {
		return
	}
	tok, err := a.signer.Sign(*a.id)
	if err != nil {
		panic(err)
	}
	h.Set(authn.InternalTokenHeader, tok)
}

func (a as) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		a.header(req.Header())
		return next(ctx, req)
	}
}
func (a as) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (a as) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func (s *server) catalog(id *authn.Identity) catalogv1connect.CatalogServiceClient {
	return catalogv1connect.NewCatalogServiceClient(s.client, s.url, connect.WithInterceptors(as{s.signer, id}))
}

func (s *server) provisioning(id *authn.Identity) tenancyv1connect.ProvisioningServiceClient {
	return tenancyv1connect.NewProvisioningServiceClient(s.client, s.url, connect.WithInterceptors(as{s.signer, id}))
}

func code(err error) connect.Code { return connect.CodeOf(err) }

func wantViolation(t *testing.T, err error, field, contains string) {
	t.Helper()
	if code(err) != connect.CodeInvalidArgument {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	for _, v := range rpcerr.FieldViolations(err) {
		if v.Field == field && strings.Contains(v.Description, contains) {
			return
		}
	}
	t.Fatalf("violations %v, want %s containing %q", rpcerr.FieldViolations(err), field, contains)
}

func applyFixture(t *testing.T, c catalogv1connect.CatalogServiceClient) *catalogv1.ApplyEntitiesResponse {
	t.Helper()
	res, err := c.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture}}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg
}

func names(es []*structpb.Struct) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.GetFields()["metadata"].GetStructValue().GetFields()["name"].GetStringValue())
	}
	return out
}

func total(t *testing.T, c catalogv1connect.CatalogServiceClient) int64 {
	t.Helper()
	res, err := c.ListEntities(context.Background(), connect.NewRequest(&catalogv1.ListEntitiesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetTotalItems()
}

func TestConnectCatalog(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	ctx := context.Background()

	dry, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture}, DryRun: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !dry.Msg.GetDryRun() || len(dry.Msg.GetResults()) != 12 || total(t, c) != 0 {
		t.Fatalf("dry run: %d results, %d stored", len(dry.Msg.GetResults()), total(t, c))
	}
	res := applyFixture(t, c)
	r7 := res.GetResults()[7]
	if r7.GetDocumentIndex() != 7 || r7.GetEntityRef() != "component:default/payment-gateway" || r7.GetAction() != catalogv1.ApplyAction_APPLY_ACTION_CREATED || r7.GetUid() == "" {
		t.Fatalf("result 7 = %v", r7)
	}
	again := applyFixture(t, c)
	for _, r := range again.GetResults() {
		if r.GetAction() != catalogv1.ApplyAction_APPLY_ACTION_UNCHANGED {
			t.Fatalf("re-apply: %v", r)
		}
	}

	// Structured entities come first in the numbering.
	st, _ := structpb.NewStruct(map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "ledger", "description": "changed"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}})
	mixed, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{Entities: []*structpb.Struct{st}, YamlDocuments: []string{"apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: ops}\nspec: {owner: org}\n"}}))
	if err != nil {
		t.Fatal(err)
	}
	if m := mixed.Msg.GetResults(); m[0].GetAction() != catalogv1.ApplyAction_APPLY_ACTION_UPDATED || m[1].GetDocumentIndex() != 1 || m[1].GetEntityRef() != "domain:default/ops" {
		t.Fatalf("mixed = %v", m)
	}

	got, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "Component:Payment-Gateway"}))
	if err != nil {
		t.Fatal(err)
	}
	meta := got.Msg.GetEntity().GetFields()["metadata"].GetStructValue().GetFields()
	if meta["uid"].GetStringValue() != r7.GetUid() || meta["etag"].GetStringValue() != r7.GetEtag() || meta["generation"].GetNumberValue() != 1 {
		t.Fatalf("server fields = %v", meta)
	}
	if len(got.Msg.GetEntity().GetFields()["relations"].GetListValue().GetValues()) != 4 {
		t.Fatalf("relations = %v", got.Msg.GetEntity().GetFields()["relations"])
	}
	if _, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "payment-gateway"})); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("ref without kind: %v", err)
	}
	if _, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "component:nope"})); code(err) != connect.CodeNotFound {
		t.Fatalf("missing ref: %v", err)
	}
	byUID, err := c.GetEntityByUid(ctx, connect.NewRequest(&catalogv1.GetEntityByUidRequest{Uid: r7.GetUid()}))
	if err != nil || names([]*structpb.Struct{byUID.Msg.GetEntity()})[0] != "payment-gateway" {
		t.Fatalf("by uid: %v", err)
	}

	refs, err := c.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{
		Refs: []string{"component:ledger", "component:default/missing", "API:default/PAYMENTS-API"}, Fields: []string{"kind,metadata.name"}}))
	if err != nil {
		t.Fatal(err)
	}
	items := refs.Msg.GetItems()
	if len(items) != 3 || items[1].GetEntity() != nil || items[2].GetEntity().GetFields()["kind"].GetStringValue() != "API" || len(items[2].GetEntity().GetFields()) != 2 {
		t.Fatalf("by refs = %v", items)
	}
	_, err = c.GetEntitiesByRefs(ctx, connect.NewRequest(&catalogv1.GetEntitiesByRefsRequest{Refs: []string{"component:ok", "no-kind"}}))
	wantViolation(t, err, "refs[1]", "kind")

	list, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{
		Filter: []string{"kind=component,spec.type=service", "kind=api"}, PageSize: 2,
		Order: []*catalogv1.OrderField{{Field: "metadata.name", Order: catalogv1.SortOrder_SORT_ORDER_DESC}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(list.Msg.GetEntities()); !slices.Equal(got, []string{"payments-api", "payment-gateway"}) || list.Msg.GetTotalItems() != 3 || list.Msg.GetNextPageToken() == "" {
		t.Fatalf("page 1 = %v total %d", got, list.Msg.GetTotalItems())
	}
	page2, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageSize: 2, PageToken: list.Msg.GetNextPageToken()}))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(page2.Msg.GetEntities()); !slices.Equal(got, []string{"ledger"}) || page2.Msg.GetNextPageToken() != "" || page2.Msg.GetPrevPageToken() == "" {
		t.Fatalf("page 2 = %v", got)
	}
	_, err = c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageSize: 2, PageToken: list.Msg.GetNextPageToken(), Filter: []string{"kind=user"}}))
	wantViolation(t, err, "page_token", "different query")
	_, err = c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{PageSize: 501}))
	wantViolation(t, err, "page_size", "500")
	_, err = c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{Filter: []string{"=x"}}))
	wantViolation(t, err, "filter[0]", "")
	ft, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{FullTextTerm: "gate", Fields: []string{"metadata.name"}, SkipTotal: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ft.Msg.GetEntities()); !slices.Equal(got, []string{"payment-gateway"}) || len(ft.Msg.GetEntities()[0].GetFields()) != 1 {
		t.Fatalf("full text = %v", ft.Msg.GetEntities())
	}

	facets, err := c.GetEntityFacets(ctx, connect.NewRequest(&catalogv1.GetEntityFacetsRequest{Facets: []string{"spec.lifecycle", "kind"}, Filter: []string{"kind=component"}}))
	if err != nil {
		t.Fatal(err)
	}
	f0 := facets.Msg.GetFacets()[0]
	// ledger's lifecycle became production with the structured update above.
	if f0.GetFacet() != "spec.lifecycle" || len(f0.GetValues()) != 1 || f0.GetValues()[0].GetValue() != "production" || f0.GetValues()[0].GetCount() != 3 {
		t.Fatalf("facets = %v", facets.Msg)
	}
	_, err = c.GetEntityFacets(ctx, connect.NewRequest(&catalogv1.GetEntityFacetsRequest{}))
	wantViolation(t, err, "facets", "at least one")

	rel, err := c.GetEntityRelations(ctx, connect.NewRequest(&catalogv1.GetEntityRelationsRequest{
		Ref: "user:alice", RelationTypes: []string{"memberOf", "childOf"}, Depth: 2}))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(rel.Msg.GetEntities()); !slices.Equal(got, []string{"alice", "team-a", "org"}) || len(rel.Msg.GetEdges()) != 2 {
		t.Fatalf("relations = %v, edges %v", got, rel.Msg.GetEdges())
	}
	_, err = c.GetEntityRelations(ctx, connect.NewRequest(&catalogv1.GetEntityRelationsRequest{Ref: "user:alice", Depth: 6}))
	wantViolation(t, err, "depth", "between 1 and 5")

	// Deleting needs the admin role.
	if _, err := c.DeleteEntity(ctx, connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: r7.GetUid()})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("member delete: %v", err)
	}
	admin := s.catalog(&tn.Admin)
	if _, err := admin.DeleteEntity(ctx, connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: r7.GetUid()})); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteEntity(ctx, connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: r7.GetUid()})); code(err) != connect.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}

	// A suspended tenant reads but does not write.
	ro := tn.Identity
	ro.TenantReadOnly = true
	if _, err := s.catalog(&ro).ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture}})); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("read-only apply: %v", err)
	}
	if total(t, s.catalog(&ro)) != 12 {
		t.Fatal("read-only tenant cannot list")
	}
}

func TestApplyAllOrNothing(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	ctx := context.Background()
	bad := strings.Replace(catalogtest.Fixture, "name: ledger", "name: not a valid name", 1)
	_, err := c.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{bad}}))
	wantViolation(t, err, "documents[9].metadata.name", "")
	if n := total(t, c); n != 0 {
		t.Fatalf("a failed batch stored %d entities", n)
	}
	cases := []struct {
		name, field, text string
		req               *catalogv1.ApplyEntitiesRequest
	}{
		{"malformed", "documents[12]", "line", &catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture + "---\nkind: [\n"}}},
		{"too big", "documents", "4 MiB", &catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture, "# " + strings.Repeat("x", 5<<20)}}},
		{"too many", "documents", "at most 1000", &catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{strings.Repeat("---\napiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: d}\nspec: {owner: o}\n", 1001)}}},
		{"duplicate", "documents[12].metadata.name", "documents[9]", &catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: LEDGER}\nspec: {type: service, lifecycle: production, owner: team-a}\n"}}},
		{"invalid ref", "documents[12].spec.owner", "", &catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: service, lifecycle: production, owner: 'group:'}\n"}}},
		{"empty", "documents", "no entities", &catalogv1.ApplyEntitiesRequest{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ApplyEntities(ctx, connect.NewRequest(tc.req))
			wantViolation(t, err, tc.field, tc.text)
			if n := total(t, c); n != 0 {
				t.Fatalf("stored %d entities", n)
			}
		})
	}
}

func TestEntityLimitConfig(t *testing.T) {
	s := newServer(t, func(c *app.Config) { c.EntityLimit = 11 })
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	_, err := c.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{catalogtest.Fixture}}))
	if code(err) != connect.CodeResourceExhausted {
		t.Fatalf("over the limit: %v", err)
	}
	if total(t, c) != 0 {
		t.Fatal("stored entities over the limit")
	}
}

func TestImportBundle(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	c := s.catalog(&tn.Identity)
	ctx := context.Background()
	files := map[string]string{
		"catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./org.yaml, ./svc/catalog-info.yaml, https://github.com/x/y/blob/main/catalog-info.yaml]\n",
		"org.yaml":          "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n",
		"svc/catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: pets}\nspec: {type: openapi, lifecycle: production, owner: team-a, definition: {$text: ./openapi.yaml}}\n" +
			"---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: back}\nspec: {target: ../catalog-info.yaml}\n",
		"svc/openapi.yaml": "openapi: 3.0.0\ninfo: {title: Pets}\n",
	}
	res, err := c.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files}))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Msg
	if len(m.GetResults()) != 4 || !slices.Equal(m.GetFilesRead(), []string{"catalog-info.yaml", "org.yaml", "svc/catalog-info.yaml", "svc/openapi.yaml"}) {
		t.Fatalf("import = %v", m)
	}
	var reasons []string
	for _, sk := range m.GetSkipped() {
		reasons = append(reasons, sk.GetTarget()+": "+sk.GetReason())
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "cycle") || !strings.HasPrefix(reasons[1], "https://github.com") {
		t.Fatalf("skipped = %v", reasons)
	}
	api, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "api:pets"}))
	if err != nil {
		t.Fatal(err)
	}
	f := api.Msg.GetEntity().GetFields()
	if f["spec"].GetStructValue().GetFields()["definition"].GetStringValue() != files["svc/openapi.yaml"] {
		t.Fatalf("definition = %v", f["spec"])
	}
	ann := f["metadata"].GetStructValue().GetFields()["annotations"].GetStructValue().GetFields()
	if ann["backstage.io/managed-by-location"].GetStringValue() != "file:svc/catalog-info.yaml" || ann["backstage.io/managed-by-origin-location"].GetStringValue() != "file:catalog-info.yaml" {
		t.Fatalf("annotations = %v", ann)
	}
	// Re-importing changes nothing.
	res, err = c.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Msg.GetResults() {
		if r.GetAction() != catalogv1.ApplyAction_APPLY_ACTION_UNCHANGED {
			t.Fatalf("re-import: %v", r)
		}
	}
	files["org.yaml"] = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: escape}\nspec: {target: ../../etc/passwd}\n"
	_, err = c.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files, DryRun: true, Strict: true}))
	wantViolation(t, err, `files["org.yaml"].documents[0].spec.target`, "leaves the bundle root")

	// Without strict, as Backstage: the bad entity is reported with file, document and
	// field; the others are imported.
	files["org.yaml"] = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n---\n" +
		"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: Bad Name}\nspec: {type: team, children: []}\n---\n" +
		"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-z}\nspec: {type: team, children: []}\nrelations: []\n---\n" +
		"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-y}\nspec: {type: team, children: []}\n"
	res, err = c.ImportBundle(ctx, connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files}))
	if err != nil {
		t.Fatal(err)
	}
	var probs []string
	for _, p := range res.Msg.GetProblems() {
		probs = append(probs, fmt.Sprintf("%s#%d.%s", p.GetFile(), p.GetDocument(), p.GetField()))
	}
	if !slices.Equal(probs, []string{"org.yaml#1.metadata.name", "org.yaml#2.relations"}) {
		t.Fatalf("problems = %v", res.Msg.GetProblems())
	}
	if _, err := c.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "group:team-y"})); err != nil {
		t.Fatalf("team-y not imported beside the bad ones: %v", err)
	}
}

func TestCrossTenant(t *testing.T) {
	s := newServer(t)
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	res := applyFixture(t, s.catalog(&acme.Identity))
	uid := res.GetResults()[0].GetUid()
	g := s.catalog(&globex.Identity)
	ctx := context.Background()
	if n := total(t, g); n != 0 {
		t.Fatalf("globex sees %d entities", n)
	}
	if _, err := g.GetEntityByUid(ctx, connect.NewRequest(&catalogv1.GetEntityByUidRequest{Uid: uid})); code(err) != connect.CodeNotFound {
		t.Fatalf("globex reads acme's uid: %v", err)
	}
	if _, err := g.GetEntityByRef(ctx, connect.NewRequest(&catalogv1.GetEntityByRefRequest{Ref: "group:org"})); code(err) != connect.CodeNotFound {
		t.Fatalf("globex reads acme's ref: %v", err)
	}
	ga := globex.Admin
	if _, err := s.catalog(&ga).DeleteEntity(ctx, connect.NewRequest(&catalogv1.DeleteEntityRequest{Uid: uid})); code(err) != connect.CodeNotFound {
		t.Fatalf("globex deletes acme's entity: %v", err)
	}
	// Globex may create the same refs; they are its own.
	other := applyFixture(t, g)
	if other.GetResults()[0].GetAction() != catalogv1.ApplyAction_APPLY_ACTION_CREATED || other.GetResults()[0].GetUid() == uid {
		t.Fatalf("globex apply = %v", other.GetResults()[0])
	}
	var gid *authn.Identity
	if _, err := s.catalog(gid).ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
	bad := catalogv1connect.NewCatalogServiceClient(s.client, s.url, connect.WithInterceptors(as{s.badKey, &acme.Identity}))
	if _, err := bad.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("token signed by another key: %v", err)
	}
}

func TestProvisioning(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	id := "fresh" + strings.ToLower(rand.Text()[:8])
	schema := tenantdb.SchemaFor(id)
	if err := s.env.Shards.CreateTenant(ctx, catalogtest.Shard, schema); err != nil {
		t.Fatal(err)
	}
	tenancy := &authn.Identity{Service: "tenancy"}
	p := s.provisioning(tenancy)
	req := &tenancyv1.ProvisionRequest{TenantId: id, Schema: schema, Shard: catalogtest.Shard}
	for i := 0; i < 2; i++ { // idempotent
		res, err := p.Provision(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetVersion() != 5 {
			t.Fatalf("version = %d", res.Msg.GetVersion())
		}
	}
	member := &authn.Identity{TenantID: id, Schema: schema, Shard: catalogtest.Shard, UserID: "u", Role: authn.RoleOwner}
	if _, err := s.provisioning(member).Provision(ctx, connect.NewRequest(req)); code(err) != connect.CodePermissionDenied {
		t.Fatalf("a user provisioned: %v", err)
	}
	c := s.catalog(member)
	applyFixture(t, c)
	_, err := p.Provision(ctx, connect.NewRequest(&tenancyv1.ProvisionRequest{TenantId: id, Schema: "t_other", Shard: catalogtest.Shard}))
	wantViolation(t, err, "schema", "")
	if _, err := p.Provision(ctx, connect.NewRequest(&tenancyv1.ProvisionRequest{TenantId: "nosuch", Schema: "t_nosuch", Shard: catalogtest.Shard})); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("missing schema: %v", err)
	}
	dreq := &tenancyv1.DeprovisionRequest{TenantId: id, Schema: schema, Shard: catalogtest.Shard}
	for i := 0; i < 2; i++ {
		if _, err := p.Deprovision(ctx, connect.NewRequest(dreq)); err != nil {
			t.Fatal(err)
		}
	}
	var tables int
	pool, _ := s.env.Shards.Pool(catalogtest.Shard)
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tables left after deprovision: %d (%v)", tables, err)
	}
	if _, err := c.ListEntities(ctx, connect.NewRequest(&catalogv1.ListEntitiesRequest{})); err == nil {
		t.Fatal("listing a deprovisioned catalog succeeded")
	}
	// Provisioning again brings the tables back, empty.
	if _, err := p.Provision(ctx, connect.NewRequest(req)); err != nil {
		t.Fatal(err)
	}
	if total(t, c) != 0 {
		t.Fatal("reprovisioned catalog is not empty")
	}
	if _, err := p.Deprovision(ctx, connect.NewRequest(&tenancyv1.DeprovisionRequest{TenantId: "gone", Schema: "t_gone", Shard: catalogtest.Shard})); err != nil {
		t.Fatalf("deprovisioning a missing schema: %v", err)
	}
}

func TestHealth(t *testing.T) {
	s := newServer(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		res, err := s.client.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d", p, res.StatusCode)
		}
	}
	_, err := app.New(context.Background(), app.Config{})
	if err == nil || !errors.Is(err, err) {
		t.Fatal("empty config accepted")
	}
}

// TestExampleCatalog imports examples/catalog as devstack does for the demo tenant.
func TestExampleCatalog(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "demo")
	c := s.catalog(&tn.Identity)
	root := filepath.Join("..", "..", "..", "examples", "catalog")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.ImportBundle(context.Background(), connect.NewRequest(&catalogv1.ImportBundleRequest{Files: files}))
	if err != nil {
		t.Fatalf("%v %v", err, rpcerr.FieldViolations(err))
	}
	if n := len(res.Msg.GetResults()); n != 55 {
		t.Fatalf("imported %d entities, want 55", n)
	}
	if sk := res.Msg.GetSkipped(); len(sk) != 1 || !strings.HasPrefix(sk[0].GetTarget(), "https://github.com/") {
		t.Fatalf("skipped = %v", sk)
	}
	rel, err := c.GetEntityRelations(context.Background(), connect.NewRequest(&catalogv1.GetEntityRelationsRequest{
		Ref: "api:shipments-api", Direction: catalogv1.RelationDirection_RELATION_DIRECTION_BOTH}))
	if err != nil {
		t.Fatal(err)
	}
	var edges []string
	for _, e := range rel.Msg.GetEdges() {
		edges = append(edges, e.GetType()+" "+e.GetTargetRef())
	}
	for _, want := range []string{"apiProvidedBy component:default/booking-service", "apiConsumedBy component:default/tracking-web", "consumesApi api:default/shipments-api"} {
		if !slices.Contains(edges, want) {
			t.Errorf("shipments-api edges %v lack %q", edges, want)
		}
	}
}

package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/services/catalog/app"
	"atrium.dev/services/catalog/internal/lane"
	"connectrpc.com/connect"
	"github.com/klauspost/compress/zstd"
)

// rest calls the Backstage REST API as id (nil: without a token) and decodes the JSON body.
func (s *server) rest(t *testing.T, id *authn.Identity, method, path string, body any) (int, http.Header, any) {
	t.Helper()
	return s.restAccepting(t, id, method, path, body, "")
}

// restAccepting is rest asking for the answer in the codings of accept (Accept-Encoding; ""
// leaves it to Go's transport, which asks for gzip and inflates it out of sight); the body is
// decoded whatever coding came back, and the header keeps its Content-Encoding.
func (s *server) restAccepting(t *testing.T, id *authn.Identity, method, path string, body any, accept string) (int, http.Header, any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	as{s.signer, id}.header(req.Header)
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(uncompressed(t, res))
	var v any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("content type %q", ct)
		}
	}
	return res.StatusCode, res.Header, v
}

func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func itemNames(v any) []string {
	var out []string
	for _, it := range v.([]any) {
		if it == nil {
			out = append(out, "<null>")
			continue
		}
		out = append(out, field(it, "metadata", "name").(string))
	}
	return out
}

// wantError checks Backstage's error body.
func wantError(t *testing.T, status int, v any, wantStatus int, name, method, path, message string) {
	t.Helper()
	if status != wantStatus || field(v, "error", "name") != name || field(v, "response", "statusCode") != float64(wantStatus) ||
		field(v, "request", "method") != method || field(v, "request", "url") != path ||
		!strings.Contains(field(v, "error", "message").(string), message) {
		t.Fatalf("got %d %v, want %d %s %q", status, v, wantStatus, name, message)
	}
}

func TestREST(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	id := &tn.Identity
	applied := applyFixture(t, s.catalog(id))
	ledgerUID := applied.GetResults()[9].GetUid()

	// GET /entities: an array, filtered, projected.
	st, _, v := s.rest(t, id, "GET", "/api/catalog/entities?filter=kind=component,spec.type=service&filter=kind=api&fields=metadata.name,kind&order=desc:metadata.name", nil)
	if st != 200 || !slices.Equal(itemNames(v), []string{"payments-api", "payment-gateway", "ledger"}) {
		t.Fatalf("GET /entities = %d %v", st, v)
	}
	if first := v.([]any)[0].(map[string]any); len(first) != 2 || first["kind"] != "API" {
		t.Fatalf("projection = %v", first)
	}
	// With a limit: one page and a Link header to the next.
	st, h, v := s.rest(t, id, "GET", "/api/catalog/entities?filter=kind=group&limit=2&order=asc:metadata.name", nil)
	if st != 200 || !slices.Equal(itemNames(v), []string{"org", "team-a"}) || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Fatalf("limited = %d %v link %q", st, v, h.Get("Link"))
	}
	next := strings.TrimSuffix(strings.TrimPrefix(strings.Split(h.Get("Link"), ";")[0], "<"), ">")
	st, h, v = s.rest(t, id, "GET", next, nil)
	if st != 200 || !slices.Equal(itemNames(v), []string{"team-b"}) || h.Get("Link") != "" {
		t.Fatalf("next link %s = %d %v", next, st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities?offset=10&limit=5", nil)
	if st != 200 || len(v.([]any)) != 2 {
		t.Fatalf("offset = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities?filter==x", nil)
	wantError(t, st, v, 400, "InputError", "GET", "/api/catalog/entities?filter==x", "filter[0]")
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities?order=sideways:name", nil)
	wantError(t, st, v, 400, "InputError", "GET", "/api/catalog/entities?order=sideways:name", "order[0]")

	// by-name, by-uid.
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-name/Component/default/Ledger", nil)
	if st != 200 || field(v, "metadata", "uid") != ledgerUID || field(v, "relations") == nil || field(v, "metadata", "etag") == "" {
		t.Fatalf("by-name = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-name/component/default/nope", nil)
	wantError(t, st, v, 404, "NotFoundError", "GET", "/api/catalog/entities/by-name/component/default/nope", "No entity named 'nope' found, with kind 'component' in namespace 'default'")
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-uid/"+ledgerUID, nil)
	if st != 200 || field(v, "metadata", "name") != "ledger" {
		t.Fatalf("by-uid = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-uid/not-a-uid", nil)
	wantError(t, st, v, 404, "NotFoundError", "GET", "/api/catalog/entities/by-uid/not-a-uid", "No entity with uid not-a-uid")

	// by-query, GET: items, totalItems, pageInfo; the cursor carries the query.
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-query?filter=kind=component&filter=kind=api&limit=3&orderField=metadata.name,asc&fields=metadata.name", nil)
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"checkout-web", "ledger", "payment-gateway"}) || field(v, "totalItems") != float64(4) {
		t.Fatalf("by-query = %d %v", st, v)
	}
	cursor, _ := field(v, "pageInfo", "nextCursor").(string)
	if cursor == "" || field(v, "pageInfo", "prevCursor") != nil {
		t.Fatalf("pageInfo = %v", field(v, "pageInfo"))
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-query?limit=3&cursor="+url.QueryEscape(cursor), nil)
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"payments-api"}) || field(v, "pageInfo", "nextCursor") != nil || field(v, "pageInfo", "prevCursor") == nil {
		t.Fatalf("by-query page 2 = %d %v", st, v)
	}
	prev := field(v, "pageInfo", "prevCursor").(string)
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-query?limit=3&cursor="+url.QueryEscape(prev), nil)
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"checkout-web", "ledger", "payment-gateway"}) {
		t.Fatalf("by-query back = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-query?fullTextFilterTerm=gate&fullTextFilterFields=metadata.name", nil)
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"payment-gateway"}) {
		t.Fatalf("by-query full text = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entities/by-query?cursor=bogus", nil)
	wantError(t, st, v, 400, "InputError", "GET", "/api/catalog/entities/by-query?cursor=bogus", "cursor")

	// by-query, POST with a predicate.
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entities/by-query", map[string]any{
		"query":   map[string]any{"$any": []any{map[string]any{"kind": "domain"}, map[string]any{"metadata.tags": map[string]any{"$in": []any{"go", "react"}}}}},
		"orderBy": []any{map[string]any{"field": "metadata.name", "order": "desc"}},
		"limit":   10,
	})
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"ledger", "commerce", "checkout-web"}) || field(v, "totalItems") != float64(3) {
		t.Fatalf("POST by-query = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entities/by-query", map[string]any{"query": map[string]any{"$bogus": 1}})
	wantError(t, st, v, 400, "InputError", "POST", "/api/catalog/entities/by-query", "unknown operator")

	// by-refs: items in order, null where nothing matches, filter and fields applied.
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entities/by-refs?filter=kind=component", map[string]any{
		"entityRefs": []any{"component:default/ledger", "component:default/missing", "group:default/org", "not a ref", "Component:Default/Payment-Gateway", "component:payment-gateway"},
		"fields":     []any{"metadata.name"},
	})
	// A short ref is not completed with the default namespace: Backstage returns null.
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"ledger", "<null>", "<null>", "<null>", "payment-gateway", "<null>"}) {
		t.Fatalf("by-refs = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entities/by-refs", map[string]any{})
	wantError(t, st, v, 400, "InputError", "POST", "/api/catalog/entities/by-refs", "entityRefs")

	// entity-facets.
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entity-facets?facet=kind&facet=spec.lifecycle&filter=kind=component", nil)
	want := map[string]any{"facets": map[string]any{
		"kind":           []any{map[string]any{"value": "Component", "count": float64(3)}},
		"spec.lifecycle": []any{map[string]any{"value": "production", "count": float64(2)}, map[string]any{"value": "experimental", "count": float64(1)}},
	}}
	if st != 200 || !jsonEqual(v, want) {
		t.Fatalf("facets = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "GET", "/api/catalog/entity-facets", nil)
	wantError(t, st, v, 400, "InputError", "GET", "/api/catalog/entity-facets", "facet")

	// Auth: no token, a member deleting, unknown routes.
	st, _, v = s.rest(t, nil, "GET", "/api/catalog/entities", nil)
	wantError(t, st, v, 401, "AuthenticationError", "GET", "/api/catalog/entities", "internal token")
	st, _, v = s.rest(t, id, "DELETE", "/api/catalog/entities/by-uid/"+ledgerUID, nil)
	wantError(t, st, v, 403, "NotAllowedError", "DELETE", "/api/catalog/entities/by-uid/"+ledgerUID, "admin")
	st, _, v = s.rest(t, id, "GET", "/api/catalog/nowhere", nil)
	wantError(t, st, v, 404, "NotFoundError", "GET", "/api/catalog/nowhere", "Not found")
	st, _, v = s.rest(t, &tn.Admin, "DELETE", "/api/catalog/entities/by-uid/"+ledgerUID, nil)
	if st != 204 || v != nil {
		t.Fatalf("admin delete = %d %v", st, v)
	}
	st, _, v = s.rest(t, &tn.Admin, "DELETE", "/api/catalog/entities/by-uid/"+ledgerUID, nil)
	wantError(t, st, v, 404, "NotFoundError", "DELETE", "/api/catalog/entities/by-uid/"+ledgerUID, ledgerUID)
}

func TestRESTCrossTenant(t *testing.T) {
	s := newServer(t)
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	uid := applyFixture(t, s.catalog(&acme.Identity)).GetResults()[0].GetUid()
	gid := &globex.Identity
	st, _, v := s.rest(t, gid, "GET", "/api/catalog/entities", nil)
	if st != 200 || len(v.([]any)) != 0 {
		t.Fatalf("globex lists %d %v", st, v)
	}
	if st, _, _ := s.rest(t, gid, "GET", "/api/catalog/entities/by-uid/"+uid, nil); st != 404 {
		t.Fatalf("globex by-uid = %d", st)
	}
	if st, _, _ := s.rest(t, gid, "GET", "/api/catalog/entities/by-name/group/default/org", nil); st != 404 {
		t.Fatalf("globex by-name = %d", st)
	}
	st, _, v = s.rest(t, gid, "GET", "/api/catalog/entities/by-query", nil)
	if st != 200 || field(v, "totalItems") != float64(0) {
		t.Fatalf("globex by-query = %d %v", st, v)
	}
	if st, _, _ := s.rest(t, &globex.Admin, "DELETE", "/api/catalog/entities/by-uid/"+uid, nil); st != 404 {
		t.Fatalf("globex delete = %d", st)
	}
	if st, _, _ := s.rest(t, &acme.Identity, "GET", "/api/catalog/entities/by-uid/"+uid, nil); st != 200 {
		t.Fatalf("acme lost its entity: %d", st)
	}
}

// TestRESTBackstageParity checks the by-query, by-refs and facet semantics that Backstage's
// catalog-backend has and Atrium's Connect API deliberately does not.
func TestRESTBackstageParity(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	id := &tn.Identity
	applyFixture(t, s.catalog(id))
	q := "/api/catalog/entities/by-query"
	tests := []struct {
		name      string
		method    string
		path      string
		body      any
		want      []string
		wantTotal any // float64, or nil when omitted
	}{
		// spec.memberOf exists on the two users only: the others are left out of the page
		// and of the total, as Backstage's join on the sort key does.
		{"order field some lack", "GET", q + "?orderField=spec.memberOf,desc&fields=metadata.name", nil, []string{"bob", "alice"}, float64(2)},
		{"order field, POST", "POST", q, map[string]any{"orderBy": []any{map[string]any{"field": "spec.system", "order": "asc"}}}, []string{"payment-gateway", "payments-db"}, float64(2)},
		{"full text without fields matches the order field", "GET", q + "?fullTextFilterTerm=team-b&orderField=spec.owner,asc", nil, []string{"checkout-web"}, float64(1)},
		{"full text without fields or order matches the uid", "GET", q + "?fullTextFilterTerm=gateway", nil, nil, float64(0)},
		{"full text fields, comma separated", "GET", q + "?fullTextFilterTerm=PAY&fullTextFilterFields=metadata.name,metadata.title&orderField=metadata.name,asc", nil, []string{"payment-gateway", "payments", "payments-api", "payments-db"}, float64(4)},
		{"full text over relations", "GET", q + "?fullTextFilterTerm=team-b&fullTextFilterFields=relations.ownedBy", nil, []string{"checkout-web"}, float64(1)},
		{"full text, POST", "POST", q, map[string]any{"fullTextFilter": map[string]any{"term": "bookkeeping", "fields": []any{"metadata.description"}}}, []string{"ledger"}, float64(1)},
		{"totalItems=exclude", "GET", q + "?filter=kind=group&totalItems=exclude&orderField=metadata.name,asc", nil, []string{"org", "team-a", "team-b"}, nil},
		{"totalItems exclude, POST", "POST", q, map[string]any{"query": map[string]any{"kind": "user"}, "totalItems": "exclude", "orderBy": []any{map[string]any{"field": "metadata.name"}}}, []string{"alice", "bob"}, nil},
		{"$contains on an array", "POST", q, map[string]any{"query": map[string]any{"metadata.tags": map[string]any{"$contains": "java"}}, "orderBy": []any{map[string]any{"field": "metadata.name"}}}, []string{"ledger", "payment-gateway"}, float64(2)},
		{"$contains on relations", "POST", q, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "ownedBy", "targetRef": "group:default/team-b"}}}}, []string{"checkout-web"}, float64(1)},
		{"$contains a reverse relation", "POST", q, map[string]any{"query": map[string]any{"relations": map[string]any{"$contains": map[string]any{"type": "hasMember", "targetRef": "user:default/alice"}}}}, []string{"team-a"}, float64(1)},
		{"$contains is not equality on a scalar", "POST", q, map[string]any{"query": map[string]any{"spec.type": map[string]any{"$contains": "service"}}}, nil, float64(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, v := s.rest(t, id, tc.method, tc.path, tc.body)
			if st != 200 {
				t.Fatalf("%d %v", st, v)
			}
			got := itemNames(field(v, "items"))
			if !slices.Equal(got, tc.want) || field(v, "totalItems") != tc.wantTotal {
				t.Fatalf("got %v total %v, want %v total %v", got, field(v, "totalItems"), tc.want, tc.wantTotal)
			}
			if _, has := v.(map[string]any)["totalItems"]; has != (tc.wantTotal != nil) {
				t.Fatalf("totalItems present = %v", has)
			}
		})
	}

	// by-refs with a predicate query: non-matching refs are null.
	st, _, v := s.rest(t, id, "POST", "/api/catalog/entities/by-refs", map[string]any{
		"entityRefs": []any{"component:default/ledger", "api:default/payments-api", "component:default/checkout-web"},
		"query":      map[string]any{"spec.lifecycle": "production"},
	})
	if st != 200 || !slices.Equal(itemNames(field(v, "items")), []string{"<null>", "payments-api", "checkout-web"}) {
		t.Fatalf("by-refs query = %d %v", st, v)
	}

	// POST /entity-facets with a predicate.
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entity-facets", map[string]any{
		"facets": []any{"spec.type"},
		"query":  map[string]any{"kind": map[string]any{"$in": []any{"component", "api"}}, "spec.lifecycle": "production"},
	})
	want := map[string]any{"facets": map[string]any{"spec.type": []any{
		map[string]any{"value": "openapi", "count": float64(1)},
		map[string]any{"value": "service", "count": float64(1)},
		map[string]any{"value": "website", "count": float64(1)},
	}}}
	if st != 200 || !jsonEqual(v, want) {
		t.Fatalf("POST facets = %d %v", st, v)
	}
	st, _, v = s.rest(t, id, "POST", "/api/catalog/entity-facets", map[string]any{"query": map[string]any{"kind": "api"}})
	wantError(t, st, v, 400, "InputError", "POST", "/api/catalog/entity-facets", "facet")
	st, _, v = s.rest(t, id, "GET", q+"?totalItems=some", nil)
	wantError(t, st, v, 400, "InputError", "GET", q+"?totalItems=some", "totalItems")
	st, _, v = s.rest(t, id, "POST", q, map[string]any{"query": map[string]any{"metadata.tags": map[string]any{"$contains": []any{1}}}})
	wantError(t, st, v, 400, "InputError", "POST", q, "$contains")
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestRESTCompression: Backstage's catalog compresses its answers; so does Atrium's, with
// zstd or gzip, past 1 KiB, when the client accepts it.
func TestRESTCompression(t *testing.T) {
	s := newServer(t)
	tn := s.env.Tenant(t, "acme")
	applyFixture(t, s.catalog(&tn.Identity))
	tests := []struct{ accept, path, want string }{
		{"gzip, deflate", "/api/catalog/entities", "gzip"},
		{"zstd, gzip", "/api/catalog/entities", "zstd"},
		{"gzip;q=0", "/api/catalog/entities", ""},
		{"", "/api/catalog/entities", ""},
		{"gzip", "/api/catalog/entities/by-name/group/default/org", ""}, // under 1 KiB
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", s.url+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		as{s.signer, &tn.Identity}.header(req.Header)
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := res.Header.Get("Content-Encoding"); got != tc.want || res.StatusCode != 200 {
			t.Fatalf("%q %s: encoding %q status %d", tc.accept, tc.path, got, res.StatusCode)
		}
		var body []byte
		switch tc.want {
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		case "zstd":
			zr, _ := zstd.NewReader(bytes.NewReader(raw))
			body, _ = io.ReadAll(zr)
			zr.Close()
		default:
			body = raw
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%q: body does not decode: %v", tc.accept, err)
		}
	}
}

// uncompressed reads res's body through the decoder its Content-Encoding names.
func uncompressed(t *testing.T, res *http.Response) io.Reader {
	t.Helper()
	switch res.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	return res.Body
}

// A repeated by-refs is answered with the bytes kept from its second call, compressed as each
// client asked: the same entities under every coding and on every repeat, a write's change in
// the next answer, and another tenant's same refs its own entities.
func TestRESTByRefsRepeated(t *testing.T) {
	s := newServer(t)
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	c := s.catalog(&acme.Identity)
	applyFixture(t, c)
	refs := []string{"group:default/org", "group:default/team-a", "user:default/alice", "domain:default/commerce",
		"system:default/payments", "component:default/payment-gateway", "component:default/none"}
	byRefs := func(id *authn.Identity, accept string) (string, []any) {
		t.Helper()
		code, h, v := s.restAccepting(t, id, "POST", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": refs}, accept)
		items, _ := field(v, "items").([]any)
		if code != 200 {
			t.Fatalf("%q: status %d, %v", accept, code, v)
		}
		if len(items) != len(refs) {
			t.Fatalf("%q: %d items for %d refs", accept, len(items), len(refs))
		}
		return h.Get("Content-Encoding"), items
	}
	description := func(items []any, i int) any { return field(items[i], "metadata", "description") }
	var first []any
	for _, tc := range []struct{ accept, coding string }{
		// Each coding three times: written as it is built, built and kept, sent as kept.
		{"gzip", "gzip"}, {"gzip", "gzip"}, {"gzip", "gzip"},
		{"zstd, gzip", "zstd"}, {"zstd", "zstd"}, {"zstd", "zstd"},
		{"", ""}, {"", ""}, {"", ""},
	} {
		coding, items := byRefs(&acme.Identity, tc.accept)
		if coding != tc.coding {
			t.Fatalf("Accept-Encoding %q answered with %q, want %q", tc.accept, coding, tc.coding)
		}
		if first == nil {
			first = items
		} else if !reflect.DeepEqual(items, first) {
			t.Fatalf("Accept-Encoding %q: the answer differs from the first", tc.accept)
		}
	}
	if first[6] != nil || description(first, 3) != "Selling things" {
		t.Fatalf("unexpected answer: %v", first)
	}
	if _, items := byRefs(&globex.Identity, "gzip"); !reflect.DeepEqual(items, make([]any, len(refs))) {
		t.Fatalf("globex, with none of these entities, got %v", items)
	}
	if _, err := c.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{
		"apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: commerce, description: Selling more}\nspec: {owner: org}\n",
	}})); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"gzip", "zstd", "", "gzip", "gzip"} {
		if _, items := byRefs(&acme.Identity, accept); description(items, 3) != "Selling more" {
			t.Fatalf("Accept-Encoding %q after the write: %v", accept, description(items, 3))
		}
	}
}

// A cached page asked for again the same way is answered with the body kept from its second
// call: each way of asking (coding, limit 0 or not, totals or not, fields) its own answer, a
// write's change in the next one, another tenant's same page its own.
func TestRESTPageRepeated(t *testing.T) {
	s := newServer(t)
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	c := s.catalog(&acme.Identity)
	applyFixture(t, c)
	id := &acme.Identity
	get := func(path, accept string) map[string]any {
		t.Helper()
		code, _, v := s.restAccepting(t, id, "GET", path, nil, accept)
		m, ok := v.(map[string]any)
		if code != 200 || !ok {
			t.Fatalf("%s: status %d, %v", path, code, v)
		}
		return m
	}
	const page = "/api/catalog/entities/by-query?limit=20&orderField=metadata.name,asc"
	ways := []struct{ path, accept string }{
		{page, "gzip"}, {page, "zstd"}, {page, ""},
		{page + "&totalItems=exclude", "gzip"},
		{page + "&fields=metadata.name", "gzip"},
		{"/api/catalog/entities/by-query?limit=1&orderField=metadata.name,asc", "gzip"},
		{"/api/catalog/entities/by-query?limit=0&orderField=metadata.name,asc", "gzip"},
	}
	// Every way three times, in turns: written as built, built and kept, sent as kept.
	first := map[int]map[string]any{}
	for round := range 3 {
		for i, w := range ways {
			v := get(w.path, w.accept)
			if round == 0 {
				first[i] = v
			} else if !reflect.DeepEqual(v, first[i]) {
				t.Fatalf("%s (%q), call %d: %v, want %v", w.path, w.accept, round+1, v, first[i])
			}
		}
	}
	if len(first[0]["items"].([]any)) != 12 || first[0]["totalItems"] != float64(12) || first[3]["totalItems"] != nil {
		t.Fatalf("the page: %d items, total %v; without totals: %v", len(first[0]["items"].([]any)), first[0]["totalItems"], first[3]["totalItems"])
	}
	if len(first[5]["items"].([]any)) != 1 || len(first[6]["items"].([]any)) != 0 || first[6]["totalItems"] != float64(12) {
		t.Fatalf("limit 1: %v; limit 0: %v", first[5], first[6])
	}
	if m := first[4]["items"].([]any)[0].(map[string]any); len(m) != 1 || m["metadata"] == nil {
		t.Fatalf("fields=metadata.name: %v", m)
	}
	// globex, with no entities, asks acme's kept page the same way: its own empty page.
	id = &globex.Identity
	for range 3 {
		if v := get(page, "gzip"); len(v["items"].([]any)) != 0 || v["totalItems"] != float64(0) {
			t.Fatalf("globex's page: %v", v)
		}
	}
	id = &acme.Identity
	if _, err := c.ApplyEntities(context.Background(), connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{
		"apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata: {name: commerce, description: Selling more}\nspec: {owner: org}\n",
	}})); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		items := get(page, "gzip")["items"].([]any)
		for _, it := range items {
			if field(it, "metadata", "name") == "commerce" && field(it, "metadata", "description") != "Selling more" {
				t.Fatalf("after the write: %v", it)
			}
		}
	}
}

// The REST API's heavy reads take their tenant's heavy lane as the Connect API's do: while
// acme's lane is held, acme's large pages, whole-catalog streams, costly filters, multi-facet
// counts and large ref lookups are refused with Backstage's 429 after the wait; acme's small
// reads and globex's heavy ones go on.
func TestRESTHeavyLane(t *testing.T) {
	lanes := lane.New(lane.Config{PerTenant: 1, Wait: 50 * time.Millisecond})
	s := newServer(t, func(c *app.Config) { c.Lanes = lanes })
	acme, globex := s.env.Tenant(t, "acme"), s.env.Tenant(t, "globex")
	applyFixture(t, s.catalog(&acme.Identity))
	manyRefs := map[string]any{"entityRefs": make([]string, lane.HeavyRefs+1)}
	for i := range manyRefs["entityRefs"].([]string) {
		manyRefs["entityRefs"].([]string)[i] = fmt.Sprintf("component:default/c%d", i)
	}
	heavy := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/catalog/entities?limit=500", nil},
		{"GET", "/api/catalog/entities", nil},
		{"GET", "/api/catalog/entities/by-query?limit=101", nil},
		{"GET", "/api/catalog/entities/by-query?filter=spec.type,spec.owner,spec.lifecycle", nil},
		{"POST", "/api/catalog/entities/by-query", map[string]any{"limit": 200}},
		{"GET", "/api/catalog/entity-facets?facet=kind&facet=spec.type", nil},
		{"POST", "/api/catalog/entities/by-refs", manyRefs},
	}
	light := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/catalog/entities?limit=10", nil},
		{"GET", "/api/catalog/entities/by-query?limit=20&filter=kind=group", nil},
		{"GET", "/api/catalog/entity-facets?facet=kind", nil},
		{"POST", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{"group:default/org"}}},
	}
	release, err := lanes.Acquire(context.Background(), acme.Identity.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range heavy {
		st, _, v := s.rest(t, &acme.Identity, c.method, c.path, c.body)
		if st != http.StatusTooManyRequests || field(v, "error", "name") != "TooManyRequestsError" {
			t.Errorf("%s %s with acme's lane held = %d %v, want 429 TooManyRequestsError", c.method, c.path, st, v)
		}
		if st, _, v := s.rest(t, &globex.Identity, c.method, c.path, c.body); st != http.StatusOK {
			t.Errorf("globex's %s %s while acme's lane is held = %d %v", c.method, c.path, st, v)
		}
	}
	for _, c := range light {
		if st, _, v := s.rest(t, &acme.Identity, c.method, c.path, c.body); st != http.StatusOK {
			t.Errorf("acme's light %s %s while its lane is held = %d %v", c.method, c.path, st, v)
		}
	}
	release()
	for _, c := range heavy {
		if st, _, v := s.rest(t, &acme.Identity, c.method, c.path, c.body); st != http.StatusOK {
			t.Errorf("%s %s after the lane is free = %d %v", c.method, c.path, st, v)
		}
	}
}

// The REST API takes the request id as Connect calls do: from its header beside the internal
// token (so the gateway can reuse one token per identity), else the one an older token
// carries; an invalid header is ignored. The audit row of a delete shows which was used.
func TestRESTRequestID(t *testing.T) {
	s := newServer(t)
	acme := s.env.Tenant(t, "acme")
	for _, tc := range []struct {
		name, inToken, header, want string
	}{
		{"header, reused token", "", "req-header-0001", "req-header-0001"},
		{"header beside a token's own", "req-token-0002", "req-header-0002", "req-header-0002"},
		{"token's own, no header", "req-token-0003", "", "req-token-0003"},
		{"invalid header", "req-token-0004", "bad id!", "req-token-0004"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := applyFixture(t, s.catalog(&acme.Identity))
			var uid, ref string
			for _, r := range res.GetResults() {
				if r.GetEntityRef() == "component:default/ledger" {
					uid, ref = r.GetUid(), r.GetEntityRef()
				}
			}
			id := acme.Admin // deletes need the admin role
			id.RequestID = tc.inToken
			tok, err := s.signer.Sign(id)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("DELETE", s.url+"/api/catalog/entities/by-uid/"+uid, nil)
			req.Header.Set(authn.InternalTokenHeader, tok)
			if tc.header != "" {
				req.Header.Set(authn.RequestIDHeader, tc.header)
			}
			r, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusNoContent {
				t.Fatalf("delete: %s %s", r.Status, body)
			}
			audit, err := s.env.Store.Audit(acme.Ctx(), ref)
			if err != nil || len(audit) == 0 {
				t.Fatalf("audit %v %v", audit, err)
			}
			if last := audit[len(audit)-1]; last.Action != "delete" || last.RequestID != tc.want {
				t.Fatalf("audit row %+v, want a delete with request id %q", last, tc.want)
			}
		})
	}
}

// Package rest serves Backstage's catalog REST API (the read endpoints and entity deletion)
// under /api/catalog/, with Backstage's JSON shapes, status codes and error bodies, so
// Backstage's catalog client and scripts written against it work unchanged. It authenticates
// like the Connect handlers: only the internal token the gateway signs is believed, and each
// route is held to the access rule of the Connect method doing the same work.
package rest

import (
	"atrium.dev/services/catalog/internal/nulbyte"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/platform/access"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/guard"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/filter"
	"atrium.dev/services/catalog/internal/lane"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/service"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
)

// Prefix is where the API is mounted.
const Prefix = "/api/catalog/"

// Limits of the REST API.
const (
	maxBodyBytes = 1 << 20
	// defaultQueryLimit is Backstage's default page size of /entities/by-query.
	defaultQueryLimit = 20
	// streamChunk is the page size used to stream unpaginated GET /entities.
	streamChunk = 500
)

// Handler serves the REST API.
type Handler struct {
	store    *store.Store
	src      *service.Sources
	lanes    *lane.Lanes
	verifier *authn.InternalVerifier
	log      *slog.Logger
}

// New returns the handler; log receives masked internal errors. src serves the Locations
// API and everything that reads a source (validate-entity, analyze-location, refresh).
// Heavy reads take their tenant's place in lanes, the same lanes as the Connect API's (nil:
// none).
func New(st *store.Store, src *service.Sources, lanes *lane.Lanes, verifier *authn.InternalVerifier, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{store: st, src: src, lanes: lanes, verifier: verifier, log: log}
}

// enterLane puts a heavy request in its tenant's heavy lane; the caller defers the returned
// func, so the place is held until the response is written.
func (h *Handler) enterLane(ctx context.Context, heavy bool) (func(), error) {
	id, ok := authn.FromContext(ctx)
	if !heavy || h.lanes == nil || !ok || !id.HasTenant() {
		return func() {}, nil
	}
	return h.lanes.Acquire(ctx, id.TenantID)
}

// list builds and runs req, in its tenant's heavy lane when it is heavy by its page size or
// its filter's cost; the caller defers leave (also set on error).
func (h *Handler) list(ctx context.Context, req query.Request) (page store.Page, spec query.Spec, leave func(), err error) {
	leave = func() {}
	q, spec, err := query.Build(req)
	if err != nil {
		return store.Page{Total: -1}, spec, leave, err
	}
	if leave, err = h.enterLane(ctx, lane.HeavyList(q.Limit, store.Subqueries(q.Filter))); err != nil {
		return store.Page{Total: -1}, spec, func() {}, err
	}
	page, err = query.Run(ctx, h.store, q, req.TokenField)
	return page, spec, leave, err
}

// route is one endpoint: the Connect method whose access rule applies, and the handler.
type route struct {
	procedure string
	serve     func(h *Handler, w http.ResponseWriter, r *http.Request, params []string) error
}

func proc(method string) string { return "/" + catalogv1connect.CatalogServiceName + "/" + method }

// match finds the route for a method and the path segments after the prefix.
func match(method string, segs []string) (route, []string, bool) {
	n := len(segs)
	switch {
	case n == 1 && segs[0] == "entities" && method == http.MethodGet:
		return route{proc("ListEntities"), (*Handler).entities}, nil, true
	case n == 2 && segs[0] == "entities" && segs[1] == "by-query" && (method == http.MethodGet || method == http.MethodPost):
		return route{proc("ListEntities"), (*Handler).byQuery}, nil, true
	case n == 2 && segs[0] == "entities" && segs[1] == "by-refs" && method == http.MethodPost:
		return route{proc("GetEntitiesByRefs"), (*Handler).byRefs}, nil, true
	case n == 3 && segs[0] == "entities" && segs[1] == "by-uid" && method == http.MethodGet:
		return route{proc("GetEntityByUid"), (*Handler).byUID}, segs[2:], true
	case n == 3 && segs[0] == "entities" && segs[1] == "by-uid" && method == http.MethodDelete:
		return route{proc("DeleteEntity"), (*Handler).deleteByUID}, segs[2:], true
	case n == 5 && segs[0] == "entities" && segs[1] == "by-name" && method == http.MethodGet:
		return route{proc("GetEntityByRef"), (*Handler).byName}, segs[2:], true
	case n == 1 && segs[0] == "entity-facets" && method == http.MethodGet:
		return route{proc("GetEntityFacets"), (*Handler).facets}, nil, true
	case n == 1 && segs[0] == "entity-facets" && method == http.MethodPost:
		return route{proc("GetEntityFacets"), (*Handler).facetsByPredicate}, nil, true
	case n == 6 && segs[0] == "entities" && segs[1] == "by-name" && segs[5] == "ancestry" && method == http.MethodGet:
		return route{proc("GetEntityByRef"), (*Handler).ancestry}, segs[2:5], true
	case n == 1 && segs[0] == "validate-entity" && method == http.MethodPost:
		return route{proc("GetEntityByRef"), (*Handler).validateEntity}, nil, true
	case n == 1 && segs[0] == "refresh" && method == http.MethodPost:
		return route{procL("RefreshLocation"), (*Handler).refresh}, nil, true
	case n == 1 && segs[0] == "analyze-location" && method == http.MethodPost:
		return route{procL("ListLocations"), (*Handler).analyzeLocation}, nil, true
	}
	return matchLocations(method, segs)
}

func procL(method string) string { return "/" + catalogv1connect.LocationServiceName + "/" + method }

func matchLocations(method string, segs []string) (route, []string, bool) {
	n := len(segs)
	if n == 0 || segs[0] != "locations" {
		return route{}, nil, false
	}
	switch {
	case n == 1 && method == http.MethodGet:
		return route{procL("ListLocations"), (*Handler).listLocations}, nil, true
	case n == 1 && method == http.MethodPost:
		return route{procL("CreateLocation"), (*Handler).createLocation}, nil, true
	case n == 2 && segs[1] == "by-query" && method == http.MethodPost:
		return route{procL("ListLocations"), (*Handler).queryLocations}, nil, true
	case n == 3 && segs[1] == "by-ref" && method == http.MethodGet:
		return route{procL("ListLocations"), (*Handler).locationByRef}, segs[2:], true
	case n == 5 && segs[1] == "by-entity" && method == http.MethodGet:
		return route{procL("GetLocation"), (*Handler).locationByEntity}, segs[2:], true
	case n == 2 && method == http.MethodGet:
		return route{procL("GetLocation"), (*Handler).getLocation}, segs[1:], true
	case n == 2 && method == http.MethodPut:
		return route{procL("UpdateLocation"), (*Handler).updateLocation}, segs[1:], true
	case n == 2 && method == http.MethodDelete:
		return route{procL("DeleteLocation"), (*Handler).deleteLocation}, segs[1:], true
	}
	return route{}, nil, false
}

// ServeHTTP authenticates, authorizes and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := newCompressWriter(w, r)
	defer cw.Close()
	w = cw
	ctx := r.Context()
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), strings.TrimSuffix(Prefix, "/"))
	if !ok {
		h.fail(ctx, w, r, notFound("Not found"))
		return
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(rest, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			h.fail(ctx, w, r, rpcerr.InvalidField("path", "malformed escape"))
			return
		}
		if nulbyte.In(u) {
			h.fail(ctx, w, r, rpcerr.InvalidField("path", nulbyte.Description))
			return
		}
		segs = append(segs, u)
	}
	// Postgres cannot hold U+0000: refused here rather than failing in a query.
	for name, values := range r.URL.Query() {
		for _, v := range values {
			if nulbyte.In(name) || nulbyte.In(v) {
				h.fail(ctx, w, r, rpcerr.InvalidField(name, nulbyte.Description))
				return
			}
		}
	}
	rt, params, ok := match(r.Method, segs)
	if !ok {
		h.fail(ctx, w, r, notFound(fmt.Sprintf("Not found: %s %s", r.Method, r.URL.Path)))
		return
	}
	id, err := h.authenticate(r)
	if err != nil {
		h.fail(ctx, w, r, err)
		return
	}
	if id.RequestID != "" {
		ctx = telemetry.WithRequestID(ctx, id.RequestID)
	}
	ctx = authn.WithIdentity(ctx, id)
	rule, ok := access.ForProcedure(rt.procedure)
	if !ok {
		h.fail(ctx, w, r, rpcerr.PermissionDenied("method has no access policy"))
		return
	}
	if err := access.Check(rule, id); err != nil {
		h.fail(ctx, w, r, err)
		return
	}
	r = r.WithContext(ctx)
	if err := rt.serve(h, w, r, params); err != nil {
		h.fail(ctx, w, r, err)
	}
}

// authenticate reads the identity as guard.AuthInterceptor does: the request id comes from
// its own header, so the gateway can send one token per identity for a while (a token per
// request cost a signature in the gateway and a check here on every call).
func (h *Handler) authenticate(r *http.Request) (*authn.Identity, error) {
	return guard.Authenticate(h.verifier, r.Header)
}

// notFoundError carries Backstage's NotFoundError message.
type notFoundError struct{ msg string }

func (e notFoundError) Error() string { return e.msg }

func notFound(msg string) error { return notFoundError{msg} }

// errorBody is Backstage's serialized error response.
type errorBody struct {
	Error struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
	Request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Response struct {
		StatusCode int `json:"statusCode"`
	} `json:"response"`
}

// statuses maps Connect codes to Backstage's error names and HTTP statuses.
var statuses = map[connect.Code]struct {
	status int
	name   string
}{
	connect.CodeInvalidArgument:    {http.StatusBadRequest, "InputError"},
	connect.CodeNotFound:           {http.StatusNotFound, "NotFoundError"},
	connect.CodeAlreadyExists:      {http.StatusConflict, "ConflictError"},
	connect.CodePermissionDenied:   {http.StatusForbidden, "NotAllowedError"},
	connect.CodeUnauthenticated:    {http.StatusUnauthorized, "AuthenticationError"},
	connect.CodeFailedPrecondition: {http.StatusForbidden, "NotAllowedError"},
	connect.CodeResourceExhausted:  {http.StatusTooManyRequests, "TooManyRequestsError"},
	connect.CodeUnavailable:        {http.StatusServiceUnavailable, "ServiceUnavailableError"},
	connect.CodeCanceled:           {499, "Error"},
	connect.CodeDeadlineExceeded:   {http.StatusGatewayTimeout, "Error"},
}

func (h *Handler) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	var body errorBody
	var nf notFoundError
	var pi plainInput
	if errors.As(err, &nf) {
		body.Error.Name, body.Error.Message, body.Response.StatusCode = "NotFoundError", nf.msg, http.StatusNotFound
	} else if errors.As(err, &pi) {
		body.Error.Name, body.Error.Message, body.Response.StatusCode = "InputError", pi.msg, http.StatusBadRequest
	} else {
		ce := rpcerr.ToConnect(ctx, h.log, err) // masks and logs internal errors
		st, ok := statuses[ce.Code()]
		if !ok {
			st.status, st.name = http.StatusInternalServerError, "Error"
		}
		msg := ce.Message()
		if vs := rpcerr.FieldViolations(ce); len(vs) > 0 {
			parts := make([]string, len(vs))
			for i, v := range vs {
				parts[i] = v.Field + ": " + v.Description
			}
			msg = strings.Join(parts, "; ")
		}
		body.Error.Name, body.Error.Message, body.Response.StatusCode = st.name, msg, st.status
	}
	body.Request.Method, body.Request.URL = r.Method, r.URL.RequestURI()
	writeJSON(w, body.Response.StatusCode, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := jsonBody(v)
	if err != nil {
		http.Error(w, `{"error":{"name":"Error","message":"cannot encode response"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

// jsonBody is the body writeJSON writes for v.
func jsonBody(v any) ([]byte, error) {
	buf, err := appendJSON(make([]byte, 0, 4<<10), v)
	if err != nil {
		return nil, err
	}
	return append(buf, '\n'), nil
}

// params reads repeated query parameters, dropping empty ones.
func params(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func intParam(q url.Values, name string) (int, bool, error) {
	s := q.Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false, rpcerr.InvalidField(name, "must be a non-negative integer")
	}
	return n, true, nil
}

func clampLimit(n int) int {
	if n > query.MaxPageSize {
		return query.MaxPageSize
	}
	return n
}

func project(entities []entity.Entity, p filter.Projection) []any {
	out := make([]any, len(entities))
	for i, e := range entities {
		out[i] = p.Apply(map[string]any(e))
	}
	return out
}

// GET /entities: an array of entities. Without a limit it streams every match, page by page;
// with one it returns one page and a Link header to the next, as Backstage does.
func (h *Handler) entities(w http.ResponseWriter, r *http.Request, _ []string) error {
	q := r.URL.Query()
	proj, err := query.Fields(params(q, "fields"))
	if err != nil {
		return err
	}
	order, err := filter.ParseOrder(params(q, "order"))
	if err != nil {
		var fe *filter.Error
		if errors.As(err, &fe) {
			return rpcerr.InvalidField(fe.Field, fe.Description)
		}
		return err
	}
	spec := query.Spec{Filter: params(q, "filter")}
	for _, o := range order {
		spec.Order = append(spec.Order, query.Order{Field: o.Field, Desc: o.Desc})
	}
	limit, limited, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	offset, _, err := intParam(q, "offset")
	if err != nil {
		return err
	}
	req := query.Request{Spec: spec, Token: q.Get("after"), TokenField: "after", Offset: offset, SkipTotal: true}
	if limited {
		req.Limit = clampLimit(limit)
		if req.Limit == 0 {
			writeJSON(w, http.StatusOK, []any{})
			return nil
		}
		page, spec, leave, err := h.list(r.Context(), req)
		defer leave()
		if err != nil {
			return err
		}
		if next, _ := query.Tokens(spec, page); next != "" {
			u := *r.URL
			vals := u.Query()
			vals.Del("offset")
			vals.Set("after", next)
			u.RawQuery = vals.Encode()
			w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI()))
		}
		writeJSON(w, http.StatusOK, project(page.Entities, proj))
		return nil
	}
	return h.stream(w, r, req, proj)
}

// stream writes every matching entity as one JSON array, reading pages of streamChunk.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, req query.Request, proj filter.Projection) error {
	req.Limit = streamChunk
	page, spec, leave, err := h.list(r.Context(), req) // the whole catalog: heavy
	defer leave()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "[")
	first := true
	var buf []byte
	for {
		for _, e := range page.Entities {
			buf = buf[:0]
			if !first {
				buf = append(buf, ',')
			}
			first = false
			if buf, err = appendJSON(buf, proj.Apply(map[string]any(e))); err != nil {
				return nil // the status is already sent
			}
			if _, err := w.Write(append(buf, '\n')); err != nil {
				return nil // the client went away
			}
		}
		if page.Next == nil {
			break
		}
		next, _ := query.Tokens(spec, page)
		page, _, err = query.List(r.Context(), h.store, query.Request{Token: next, TokenField: "after", Limit: streamChunk, SkipTotal: true})
		if err != nil {
			// Too late for an error status: end the array short and log.
			h.log.ErrorContext(r.Context(), "stream entities", "err", err)
			break
		}
	}
	_, _ = io.WriteString(w, "]")
	return nil
}

// queryBody is the JSON body of POST /entities/by-query.
type queryBody struct {
	Query          json.RawMessage `json:"query"`
	Filter         []string        `json:"filter"`
	Cursor         string          `json:"cursor"`
	Limit          *int            `json:"limit"`
	Offset         *int            `json:"offset"`
	Fields         []string        `json:"fields"`
	OrderBy        []orderField    `json:"orderBy"`
	OrderFields    []orderField    `json:"orderFields"`
	FullTextFilter *struct {
		Term   string   `json:"term"`
		Fields []string `json:"fields"`
	} `json:"fullTextFilter"`
	// TotalItems is "include" (default) or "exclude" (no count is made).
	TotalItems string `json:"totalItems"`
}

// skipTotal reads Backstage's totalItems parameter.
func skipTotal(v string) (bool, error) {
	switch v {
	case "", "include":
		return false, nil
	case "exclude":
		return true, nil
	}
	return false, rpcerr.InvalidField("totalItems", "must be include or exclude")
}

// textFields reads fullTextFilterFields: comma-separated, possibly repeated.
func textFields(values []string) []string {
	var out []string
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

type orderField struct {
	Field string `json:"field"`
	Order string `json:"order"`
}

// GET|POST /entities/by-query: Backstage's paginated query.
func (h *Handler) byQuery(w http.ResponseWriter, r *http.Request, _ []string) error {
	var (
		spec    = query.Spec{Backstage: true}
		fields  []string
		cursor  string
		limit   = defaultQueryLimit
		offset  int
		noTotal bool
		err     error
	)
	if r.Method == http.MethodPost {
		var body queryBody
		if err := readBody(r, &body); err != nil {
			return err
		}
		if len(body.Query) > 0 && string(body.Query) != "null" {
			spec.Predicate = body.Query
		}
		spec.Filter = body.Filter
		if body.FullTextFilter != nil {
			spec.FullText = strings.TrimSpace(body.FullTextFilter.Term)
			spec.TextFields = textFields(body.FullTextFilter.Fields)
		}
		if noTotal, err = skipTotal(body.TotalItems); err != nil {
			return err
		}
		orders := append(body.OrderBy, body.OrderFields...)
		for i, o := range orders {
			desc, err := direction(fmt.Sprintf("orderBy[%d].order", i), o.Order)
			if err != nil {
				return err
			}
			spec.Order = append(spec.Order, query.Order{Field: o.Field, Desc: desc})
		}
		fields, cursor = body.Fields, body.Cursor
		if body.Limit != nil {
			if *body.Limit < 0 {
				return rpcerr.InvalidField("limit", "must be a non-negative integer")
			}
			limit = *body.Limit
		}
		if body.Offset != nil {
			if *body.Offset < 0 {
				return rpcerr.InvalidField("offset", "must be a non-negative integer")
			}
			offset = *body.Offset
		}
	} else {
		q := r.URL.Query()
		spec.Filter = params(q, "filter")
		spec.FullText = strings.TrimSpace(q.Get("fullTextFilterTerm"))
		spec.TextFields = textFields(q["fullTextFilterFields"])
		if noTotal, err = skipTotal(q.Get("totalItems")); err != nil {
			return err
		}
		for i, of := range params(q, "orderField") {
			field, dirText, _ := strings.Cut(of, ",")
			desc, err := direction(fmt.Sprintf("orderField[%d]", i), dirText)
			if err != nil {
				return err
			}
			spec.Order = append(spec.Order, query.Order{Field: strings.TrimSpace(field), Desc: desc})
		}
		fields, cursor = params(q, "fields"), q.Get("cursor")
		n, set, err := intParam(q, "limit")
		if err != nil {
			return err
		}
		if set {
			limit = n
		}
		if offset, _, err = intParam(q, "offset"); err != nil {
			return err
		}
	}
	proj, err := query.Fields(fields)
	if err != nil {
		return err
	}
	if cursor != "" {
		// The cursor carries the query; like Backstage, what else is given is ignored.
		spec = query.Spec{}
	}
	// Encoded: the items are written through EncodePage only.
	req := query.Request{Spec: spec, Token: cursor, TokenField: "cursor", Limit: clampLimit(max(limit, 1)), Offset: offset, SkipTotal: noTotal, Encoded: true}
	page, spec, leave, err := h.list(r.Context(), req)
	defer leave()
	if err != nil {
		return err
	}
	enc := jsonEncoder(proj)
	next, prev := query.Tokens(spec, page)
	// A cached page asked for again the same way (a portal's first page, on every visit) is
	// answered with the whole body kept, compressed as this client asked.
	cw, _ := w.(*compressWriter)
	var keep func([]byte)
	if cw != nil && cw.coding != "" {
		var answer []byte
		key := answerKey("by-query", cw.coding, enc.Name, []string{next, prev}, nil, fmt.Sprint(limit > 0, noTotal))
		if answer, keep = store.AnswerPage(page, key); answer != nil {
			cw.writeEncoded(http.StatusOK, answer)
			return nil
		}
	}
	items := []any{}
	if limit > 0 {
		if items, err = encoded(store.EncodePage(page, enc)); err != nil {
			return err
		}
	}
	info := map[string]string{}
	if next != "" && limit > 0 {
		info["nextCursor"] = next
	}
	if prev != "" {
		info["prevCursor"] = prev
	}
	out := map[string]any{"items": items, "pageInfo": info}
	if !noTotal {
		out["totalItems"] = page.Total
	}
	if keep == nil {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	whole, err := cw.writeWhole(http.StatusOK, out)
	if err != nil {
		return err
	}
	if compressed(whole) { // small answers are not worth keeping
		keep(whole)
	}
	return nil
}

func direction(field, s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, rpcerr.InvalidField(field, "order must be asc or desc")
}

func readBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return rpcerr.InvalidField("body", "cannot read the request body")
	}
	if len(body) > maxBodyBytes {
		return rpcerr.InvalidField("body", fmt.Sprintf("at most %d bytes", maxBodyBytes))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return rpcerr.InvalidField("body", "is not valid JSON for this endpoint: "+err.Error())
	}
	// JSON can only carry a NUL escaped; look for one only then.
	if bytes.Contains(body, []byte(`\u0000`)) {
		var decoded any
		if json.Unmarshal(body, &decoded) == nil {
			if p := nulbyte.Value(decoded, "body"); p != "" {
				return rpcerr.InvalidField(p, nulbyte.Description)
			}
		}
	}
	return nil
}

// POST /entities/by-refs: {entityRefs, fields} -> {items}, null where no entity matches.
func (h *Handler) byRefs(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		EntityRefs []string        `json:"entityRefs"`
		Fields     []string        `json:"fields"`
		Query      json.RawMessage `json:"query"`
	}
	if err := readBody(r, &body); err != nil {
		return err
	}
	if body.EntityRefs == nil {
		return rpcerr.InvalidField("entityRefs", "is required")
	}
	if len(body.EntityRefs) > service.MaxRefs {
		return rpcerr.InvalidField("entityRefs", fmt.Sprintf("at most %d refs", service.MaxRefs))
	}
	proj, err := query.Fields(append(params(r.URL.Query(), "fields"), body.Fields...))
	if err != nil {
		return err
	}
	spec := query.Spec{Filter: params(r.URL.Query(), "filter")}
	if len(body.Query) > 0 && string(body.Query) != "null" {
		spec.Predicate = body.Query
	}
	c, err := spec.Compile()
	if err != nil {
		return err
	}
	leave, err := h.enterLane(r.Context(), len(body.EntityRefs) > lane.HeavyRefs)
	if err != nil {
		return err
	}
	defer leave()
	refs := make([]string, len(body.EntityRefs))
	for i, s := range body.EntityRefs {
		// Backstage looks refs up exactly as given, lowercased: a short ref
		// ("component:artist-lookup") is not completed with the default namespace and, like
		// a ref that does not parse, matches nothing.
		refs[i] = strings.ToLower(s)
	}
	enc := jsonEncoder(proj)
	cw, ok := w.(*compressWriter)
	if !ok {
		items, err := encoded(h.store.GetEncodedByRefs(r.Context(), refs, c.Filter, enc))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	}
	// A call repeated under one data version (an entity page's relations, a script's batch)
	// is answered with the whole body kept, compressed as this client asked, without its
	// assembly and compression.
	answer, bs, keep, err := h.store.AnswerByRefs(r.Context(), refs, c.Filter, enc, answerKey("by-refs", cw.coding, enc.Name, refs, spec.Filter, string(spec.Predicate)))
	if err != nil {
		return err
	}
	if answer != nil {
		cw.writeEncoded(http.StatusOK, answer)
		return nil
	}
	items, _ := encoded(bs, nil)
	if keep == nil {
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	}
	whole, err := cw.writeWhole(http.StatusOK, map[string]any{"items": items})
	if err != nil {
		return err
	}
	keep(whole)
	return nil
}

// answerKey names a REST call (by-refs, a page) for the store's whole answers: every part
// written with its length, so that no two calls share a key.
func answerKey(call, coding, encoder string, refs, filters []string, predicate string) string {
	var b strings.Builder
	n := len(call) + len(coding) + len(encoder) + len(predicate) + 40
	for _, r := range refs {
		n += len(r) + 4
	}
	b.Grow(n)
	part := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	part(call)
	part(coding)
	part(encoder)
	part(predicate)
	b.WriteString(strconv.Itoa(len(filters)))
	for _, f := range filters {
		part(f)
	}
	for _, r := range refs {
		part(r)
	}
	return b.String()
}

// jsonEncoder encodes entities under the projection p as appendJSON does; the read cache
// keeps what it writes per entity (by-refs, by-name) and per cached page.
func jsonEncoder(p filter.Projection) store.Encoder {
	enc := store.Encoder{
		Name: "json\x00" + strings.Join(p.Fields(), "\x00"),
		Encode: func(e entity.Entity) ([]byte, error) {
			return appendJSON(nil, p.Apply(map[string]any(e)))
		},
	}
	if p.IsZero() {
		enc.Raw = func(r store.Raw) ([]byte, error) {
			return appendRawEntity(make([]byte, 0, rawEntitySize(r)), r)
		}
	}
	return enc
}

// encoded turns encoded entities into items for appendJSON, null where one is nil.
func encoded(bs [][]byte, err error) ([]any, error) {
	if err != nil {
		return nil, err
	}
	items := make([]any, len(bs))
	for i, b := range bs {
		if b != nil {
			items[i] = rawJSON(b)
		}
	}
	return items, nil
}

func (h *Handler) byUID(w http.ResponseWriter, r *http.Request, p []string) error {
	e, err := h.store.GetByUID(r.Context(), p[0])
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return notFound("No entity with uid " + p[0])
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (h *Handler) deleteByUID(w http.ResponseWriter, r *http.Request, p []string) error {
	err := h.store.Delete(r.Context(), p[0])
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return notFound("No entity with uid " + p[0])
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) byName(w http.ResponseWriter, r *http.Request, p []string) error {
	kind, namespace, name := p[0], p[1], p[2]
	msg := fmt.Sprintf("No entity named '%s' found, with kind '%s' in namespace '%s'", name, kind, namespace)
	if kind == "" || namespace == "" || name == "" {
		return notFound(msg)
	}
	found, err := h.store.GetEncodedByRefs(r.Context(), []string{entity.Ref{Kind: kind, Namespace: namespace, Name: name}.String()}, nil, jsonEncoder(filter.Projection{}))
	if err != nil {
		return err
	}
	if found[0] == nil {
		return notFound(msg)
	}
	writeJSON(w, http.StatusOK, rawJSON(found[0]))
	return nil
}

// POST /entity-facets: {facets, query} (Backstage's request-body twin of the GET form).
func (h *Handler) facetsByPredicate(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		Facets []string        `json:"facets"`
		Query  json.RawMessage `json:"query"`
		Filter []string        `json:"filter"`
	}
	if err := readBody(r, &body); err != nil {
		return err
	}
	spec := query.Spec{Filter: body.Filter}
	if len(body.Query) > 0 && string(body.Query) != "null" {
		spec.Predicate = body.Query
	}
	return h.writeFacets(w, r, body.Facets, spec)
}

// GET /entity-facets?facet=kind&facet=spec.type&filter=...
func (h *Handler) facets(w http.ResponseWriter, r *http.Request, _ []string) error {
	q := r.URL.Query()
	return h.writeFacets(w, r, params(q, "facet"), query.Spec{Filter: params(q, "filter")})
}

func (h *Handler) writeFacets(w http.ResponseWriter, r *http.Request, facetNames []string, spec query.Spec) error {
	names, err := service.Facets(facetNames, "facet")
	if err != nil {
		return err
	}
	leave, err := h.enterLane(r.Context(), len(names) > 1) // as GetEntityFacets on Connect
	if err != nil {
		return err
	}
	defer leave()
	c, err := spec.Compile()
	if err != nil {
		return err
	}
	facets, err := h.store.Facets(r.Context(), names, c.Filter)
	if err != nil {
		return err
	}
	out := make(map[string][]map[string]any, len(names))
	for _, n := range names {
		list := make([]map[string]any, 0, len(facets[n]))
		for _, v := range facets[n] {
			list = append(list, map[string]any{"value": v.Value, "count": v.Count})
		}
		out[n] = list
	}
	writeJSON(w, http.StatusOK, map[string]any{"facets": out})
	return nil
}

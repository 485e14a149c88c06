package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/bundle"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/query"
	"atrium.dev/services/catalog/internal/service"
	"atrium.dev/services/catalog/internal/source"
	"atrium.dev/services/catalog/internal/store"
)

// locationJSON is Backstage's Location: id, type, target and the ref of its Location entity.
func locationJSON(l store.Location) map[string]any {
	return map[string]any{"id": l.ID, "type": l.Type, "target": l.Target, "entityRef": l.EntityRef}
}

// locationInput is Backstage's LocationInput body.
type locationInput struct {
	Type   *string `json:"type"`
	Target *string `json:"target"`
}

func (in locationInput) check() (string, string, error) {
	var vs rpcerr.Violations
	if in.Type == nil {
		vs.Add("type", "is required")
	}
	if in.Target == nil {
		vs.Add("target", "is required")
	}
	if err := vs.Err(); err != nil {
		return "", "", err
	}
	return *in.Type, *in.Target, nil
}

// POST /locations[?dryRun=true]: 201 {location, entities, exists?}.
func (h *Handler) createLocation(w http.ResponseWriter, r *http.Request, _ []string) error {
	var in locationInput
	if err := readBody(r, &in); err != nil {
		return err
	}
	typ, target, err := in.check()
	if err != nil {
		return err
	}
	if dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun")); dry || r.URL.Query().Get("dryRun") == "yes" {
		res, exists, err := h.src.DryRun(r.Context(), typ, target)
		if err != nil {
			return err
		}
		// Backstage's dry run fails as a whole on the first bad entity.
		if len(res.Problems) > 0 {
			msgs := make([]string, len(res.Problems))
			for i, p := range res.Problems {
				msgs[i] = p.Field + ": " + p.Description
			}
			return inputError(strings.Join(msgs, ", "))
		}
		if len(res.Kept) != len(res.Docs) {
			seen := map[string]bool{}
			for _, d := range res.Docs {
				ref := entity.Normalize(d.Entity).Ref().String()
				if seen[ref] {
					return inputError("Duplicate nested entity: " + ref)
				}
				seen[ref] = true
			}
		}
		entities := make([]any, 0, len(res.Kept))
		for _, d := range res.Kept {
			entities = append(entities, map[string]any(entity.Normalize(d.Entity)))
		}
		writeJSON(w, http.StatusCreated, map[string]any{
			"exists":   exists,
			"location": map[string]any{"id": typ + ":" + target, "type": typ, "target": target, "entityRef": service.LocationEntityRef(typ, target)},
			"entities": entities,
		})
		return nil
	}
	loc, _, err := h.src.Create(r.Context(), typ, target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"location": locationJSON(loc), "entities": []any{}})
	return nil
}

// inputError is a 400 InputError with exactly Backstage's message.
type plainInput struct{ msg string }

func (e plainInput) Error() string { return e.msg }

func inputError(msg string) error { return plainInput{msg} }

// GET /locations: [{data: Location}].
func (h *Handler) listLocations(w http.ResponseWriter, r *http.Request, _ []string) error {
	locs, _, err := h.store.ListLocations(r.Context(), store.LocationQuery{})
	if err != nil {
		return err
	}
	out := make([]any, len(locs))
	for i, l := range locs {
		out[i] = map[string]any{"data": locationJSON(l)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /locations/by-query {cursor, limit, query}: {items, totalItems, pageInfo}. The query
// matches fields of the location (type, target, entityRef, id) by value, {$in} or
// {$hasPrefix} on target, combined with $all.
func (h *Handler) queryLocations(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		Cursor string          `json:"cursor"`
		Limit  *int            `json:"limit"`
		Query  json.RawMessage `json:"query"`
	}
	if err := readBody(r, &body); err != nil {
		return err
	}
	limit := defaultQueryLimit
	if body.Limit != nil {
		if *body.Limit < 0 {
			return rpcerr.InvalidField("limit", "must be a non-negative integer")
		}
		limit = clampLimit(*body.Limit)
	}
	q := store.LocationQuery{Limit: limit + 1}
	if body.Cursor != "" {
		var c locCursor
		if err := decodeCursor(body.Cursor, &c); err != nil {
			return rpcerr.InvalidField("cursor", "is not a valid cursor")
		}
		q = c.Query
		q.After, q.Limit = c.After, limit+1
	} else if len(body.Query) > 0 && string(body.Query) != "null" {
		if err := locationPredicate(body.Query, &q); err != nil {
			return err
		}
	}
	locs, total, err := h.store.ListLocations(r.Context(), q)
	if err != nil {
		return err
	}
	info := map[string]any{}
	if len(locs) > limit {
		locs = locs[:limit]
		if limit > 0 {
			c := locCursor{Query: q, After: locs[limit-1].ID}
			c.Query.After, c.Query.Limit = "", 0
			info["nextCursor"] = encodeCursor(c)
		}
	}
	items := make([]any, len(locs))
	for i, l := range locs {
		items[i] = locationJSON(l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "totalItems": total, "pageInfo": info})
	return nil
}

type locCursor struct {
	Query store.LocationQuery `json:"q"`
	After string              `json:"a"`
}

func locationPredicate(raw json.RawMessage, q *store.LocationQuery) error {
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return rpcerr.InvalidField("query", "expected an object")
	}
	if all, ok := v["$all"].([]any); ok && len(v) == 1 {
		for i, it := range all {
			b, _ := json.Marshal(it)
			if err := locationPredicate(b, q); err != nil {
				return rpcerr.InvalidField(fmt.Sprintf("query.$all[%d]", i), err.Error())
			}
		}
		return nil
	}
	for k, val := range v {
		s, isString := val.(string)
		prefix := ""
		if obj, ok := val.(map[string]any); ok && len(obj) == 1 {
			if p, ok := obj["$hasPrefix"].(string); ok && k == "target" {
				prefix = p
			}
		}
		if !isString && prefix == "" {
			return rpcerr.InvalidField("query."+k, "expected a string (or {$hasPrefix} on target)")
		}
		switch k {
		case "type":
			q.Type = s
		case "target":
			q.Target, q.TargetPrefix = s, prefix
		case "entityRef":
			q.EntityRef = strings.ToLower(s)
		default:
			return rpcerr.InvalidField("query."+k, "locations can be queried by type, target and entityRef")
		}
	}
	return nil
}

func encodeCursor(v any) string {
	return query.Token{Spec: query.Spec{Predicate: mustJSON(v)}, Pos: store.Position{UID: "00000000-0000-0000-0000-000000000000"}}.Encode()
}

func decodeCursor(s string, v any) error {
	t, err := query.DecodeToken("cursor", s)
	if err != nil {
		return err
	}
	return json.Unmarshal(t.Spec.Predicate, v)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (h *Handler) getLocation(w http.ResponseWriter, r *http.Request, p []string) error {
	l, err := h.store.GetLocation(r.Context(), p[0])
	if err != nil {
		return asNotFound(err)
	}
	writeJSON(w, http.StatusOK, locationJSON(l))
	return nil
}

// asNotFound keeps NotFound messages as Backstage writes them.
func asNotFound(err error) error {
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		var re *rpcerr.Error
		if errors.As(err, &re) {
			return notFound(re.Error())
		}
	}
	return err
}

// GET /locations/by-ref/{type:target}
func (h *Handler) locationByRef(w http.ResponseWriter, r *http.Request, p []string) error {
	typ, target, ok := strings.Cut(p[0], ":")
	if !ok {
		return rpcerr.InvalidField("ref", "expected <type>:<target>")
	}
	locs, _, err := h.store.ListLocations(r.Context(), store.LocationQuery{Type: typ, Target: target, Limit: 1})
	if err != nil {
		return err
	}
	if len(locs) == 0 {
		return notFound("Found no location with ref " + p[0])
	}
	writeJSON(w, http.StatusOK, locationJSON(locs[0]))
	return nil
}

// GET /locations/by-entity/{kind}/{namespace}/{name}
func (h *Handler) locationByEntity(w http.ResponseWriter, r *http.Request, p []string) error {
	ref := strings.ToLower(p[0] + ":" + p[1] + "/" + p[2])
	l, err := h.store.LocationOf(r.Context(), ref)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		// The Location entity of a registered location maps to it too.
		locs, _, lerr := h.store.ListLocations(r.Context(), store.LocationQuery{EntityRef: ref, Limit: 1})
		if lerr == nil && len(locs) == 1 {
			writeJSON(w, http.StatusOK, locationJSON(locs[0]))
			return nil
		}
		return notFound("found no location for " + ref)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, locationJSON(l))
	return nil
}

// PUT /locations/{id}: 200 with the updated Location.
func (h *Handler) updateLocation(w http.ResponseWriter, r *http.Request, p []string) error {
	var in locationInput
	if err := readBody(r, &in); err != nil {
		return err
	}
	typ, target, err := in.check()
	if err != nil {
		return err
	}
	l, err := h.src.Update(r.Context(), p[0], typ, target)
	if err != nil {
		return asNotFound(err)
	}
	writeJSON(w, http.StatusOK, locationJSON(l))
	return nil
}

func (h *Handler) deleteLocation(w http.ResponseWriter, r *http.Request, p []string) error {
	if _, err := h.src.Delete(r.Context(), p[0]); err != nil {
		return asNotFound(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /refresh {entityRef}: refreshes the location the entity came from.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		EntityRef string `json:"entityRef"`
	}
	if err := readBody(r, &body); err != nil {
		return err
	}
	if body.EntityRef == "" {
		return rpcerr.InvalidField("entityRef", "is required")
	}
	ref := strings.ToLower(body.EntityRef)
	l, err := h.store.LocationOf(r.Context(), ref)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		locs, _, lerr := h.store.ListLocations(r.Context(), store.LocationQuery{EntityRef: ref, Limit: 1})
		if lerr != nil {
			return lerr
		}
		if len(locs) == 0 {
			if _, gerr := h.store.GetByRef(r.Context(), ref); gerr != nil {
				return notFound("Entity " + body.EntityRef + " not found")
			}
			w.WriteHeader(http.StatusOK) // applied directly: nothing to re-read
			return nil
		}
		l, err = locs[0], nil
	}
	if err != nil {
		return err
	}
	if _, err := h.src.Refresh(r.Context(), l.ID, true); err != nil && rpcerr.KindOf(err) != 0 {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// GET /entities/by-name/{kind}/{namespace}/{name}/ancestry
func (h *Handler) ancestry(w http.ResponseWriter, r *http.Request, p []string) error {
	ref := strings.ToLower(p[0] + ":" + p[1] + "/" + p[2])
	e, err := h.store.GetByRef(r.Context(), ref)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return notFound("No such entity " + ref)
	}
	if err != nil {
		return err
	}
	items := []any{}
	parents := []string{}
	var parent map[string]any
	if l, err := h.store.LocationOf(r.Context(), ref); err == nil && !strings.EqualFold(l.EntityRef, ref) {
		if pe, err := h.store.GetByRef(r.Context(), strings.ToLower(l.EntityRef)); err == nil {
			parents = []string{strings.ToLower(l.EntityRef)}
			parent = map[string]any(pe)
		}
	}
	items = append(items, map[string]any{"entity": map[string]any(e), "parentEntityRefs": parents})
	if parent != nil {
		items = append(items, map[string]any{"entity": parent, "parentEntityRefs": []string{}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rootEntityRef": ref, "items": items})
	return nil
}

// POST /validate-entity {entity, location}: 200 empty when valid, else 400 {errors: [...]}.
func (h *Handler) validateEntity(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		Entity   json.RawMessage `json:"entity"`
		Location *string         `json:"location"`
	}
	errs := func(list ...map[string]any) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": list})
	}
	if err := readBody(r, &body); err != nil {
		errs(map[string]any{"name": "InputError", "message": err.Error()})
		return nil
	}
	if body.Location == nil || len(body.Entity) == 0 {
		errs(map[string]any{"name": "InputError", "message": "Malformed request body: entity and location are required"})
		return nil
	}
	typ, target, ok := strings.Cut(*body.Location, ":")
	if !ok || typ == "" || target == "" {
		errs(map[string]any{"name": "TypeError", "message": fmt.Sprintf("Unable to parse location ref '%s', expected '<type>:<target>', e.g. 'url:https://host/path'", *body.Location)})
		return nil
	}
	if typ != "url" {
		errs(map[string]any{"name": "TypeError", "message": fmt.Sprintf("Invalid location ref %s, only 'url:<target>' is supported, e.g. url:https://host/path", *body.Location)})
		return nil
	}
	e, err := entity.FromJSON(body.Entity)
	if err != nil {
		errs(map[string]any{"name": "TypeError", "message": strings.TrimPrefix(err.Error(), "entity: ")})
		return nil
	}
	if meta, ok := e["metadata"].(map[string]any); ok {
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil && meta["annotations"] == nil {
			ann = map[string]any{}
			meta["annotations"] = ann
		}
		if ann != nil {
			for _, k := range []string{bundle.AnnotationLocation, bundle.AnnotationOriginLocation} {
				if _, set := ann[k]; !set {
					ann[k] = *body.Location
				}
			}
		}
	}
	pol, err := h.src.Policy(r.Context())
	if err != nil {
		return err
	}
	_, _, vs := ingest.PrepareEach([]ingest.Doc{{Path: "entity", Entity: e}}, pol)
	if len(vs) > 0 {
		list := make([]map[string]any, len(vs))
		for i, v := range vs {
			list[i] = map[string]any{"name": "InputError", "message": strings.TrimPrefix(v.Field+": ", "entity.") + v.Description}
		}
		errs(list...)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// POST /analyze-location {location: {type, target}, catalogFilename?}:
// {existingEntityFiles, generateEntities}.
func (h *Handler) analyzeLocation(w http.ResponseWriter, r *http.Request, _ []string) error {
	var body struct {
		Location        *locationInput `json:"location"`
		CatalogFilename string         `json:"catalogFilename"`
	}
	if err := readBody(r, &body); err != nil {
		return err
	}
	if body.Location == nil {
		return rpcerr.InvalidField("location", "is required")
	}
	typ, target, err := body.Location.check()
	if err != nil {
		return err
	}
	t, err := service.CheckInput(typ, target)
	if err != nil {
		return inputError("The given location.target is not a URL")
	}
	if body.CatalogFilename != "" && t.Git && t.Ref != "" && path.Base(t.Path) == source.RootName {
		if strings.ContainsAny(body.CatalogFilename, "/\\*?[") {
			return rpcerr.InvalidField("catalogFilename", "must be a file name")
		}
		t.Path = path.Join(path.Dir(t.Path), body.CatalogFilename)
		target = t.FileURL(t.Ref, t.Path)
	}
	existing := []any{}
	generate := []any{}
	res, _, err := h.src.DryRun(r.Context(), typ, target)
	switch {
	case err == nil:
		registered := map[string]bool{}
		locs, _, lerr := h.store.ListLocations(r.Context(), store.LocationQuery{})
		if lerr != nil {
			return lerr
		}
		for _, l := range locs {
			registered[l.Type+":"+l.Target] = true
		}
		for _, d := range res.Kept {
			if d.Path == "location" {
				continue
			}
			e := entity.Normalize(d.Entity)
			loc := strings.TrimPrefix(e.Annotations()[bundle.AnnotationLocation], "url:")
			existing = append(existing, map[string]any{
				"entity":       map[string]any(e),
				"isRegistered": registered["url:"+loc] || registered[typ+":"+body.Location.targetOr()],
				"location":     map[string]any{"type": "url", "target": loc},
			})
		}
	case rpcerr.KindOf(err) == rpcerr.KindInvalid && strings.Contains(err.Error(), "no file"):
		// Nothing to import: suggest a component, as Backstage's analyzer does.
		name := path.Base(strings.TrimSuffix(t.Repo, ".git"))
		if !entity.IsValidName(name) {
			name = "component"
		}
		generate = append(generate, map[string]any{
			"entity": map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
				"metadata": map[string]any{"name": name, "namespace": "default"},
				"spec":     map[string]any{"type": "other", "lifecycle": "unknown"}},
			"fields": []any{map[string]any{"field": "spec.owner", "state": "needsUserInput", "value": nil,
				"description": "Entity owner is recommended; e.g. group:default/my-team"}},
		})
	default:
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"existingEntityFiles": existing, "generateEntities": generate})
	return nil
}

func (in locationInput) targetOr() string {
	if in.Target == nil {
		return ""
	}
	return *in.Target
}

package entity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"
)

// DefaultNamespace is the namespace of an entity that names none.
const DefaultNamespace = "default"

// Annotations the catalog itself sets, as Backstage names them.
const (
	AnnotationManagedByLocation       = "backstage.io/managed-by-location"
	AnnotationManagedByOriginLocation = "backstage.io/managed-by-origin-location"
)

// Entity is a Backstage entity: a JSON object with apiVersion, kind, metadata, spec and, when
// read back, relations. Values are JSON values only (see the package doc).
type Entity map[string]any

// FromJSON decodes one JSON object.
func FromJSON(data []byte) (Entity, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("entity: invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("entity: invalid JSON: data after the object")
	}
	return FromValue(v)
}

// FromStruct converts a google.protobuf.Struct.
func FromStruct(s *structpb.Struct) (Entity, error) {
	if s == nil {
		return nil, errors.New("entity: expected an object, got nothing")
	}
	return FromValue(s.AsMap())
}

// FromValue deep-copies a decoded value (from yamldoc, encoding/json or structpb) into an
// Entity. The root must be an object; numbers become float64; anything that is not a JSON
// value (NaN, infinities, channels, non-string map keys, ...) is an error naming its path.
func FromValue(v any) (Entity, error) {
	if v == nil {
		return nil, errors.New("entity: expected an object at the root, got null")
	}
	m, ok := v.(map[string]any)
	if !ok {
		if e, isEntity := v.(Entity); isEntity {
			m = e
		} else {
			return nil, fmt.Errorf("entity: expected an object at the root, got %s", typeName(v))
		}
	}
	out, err := normalizeValue(m, "")
	if err != nil {
		return nil, err
	}
	return Entity(out.(map[string]any)), nil
}

func normalizeValue(v any, path string) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, string:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("entity: %s: %v is not a JSON number", displayPath(path), x)
		}
		return x, nil
	case float32:
		return normalizeValue(float64(x), path)
	case int:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("entity: %s: %s is not a representable number", displayPath(path), x)
		}
		return f, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			nv, err := normalizeValue(item, appendKey(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case Entity:
		return normalizeValue(map[string]any(x), path)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			nv, err := normalizeValue(item, appendIndex(path, i))
			if err != nil {
				return nil, err
			}
			out[i] = nv
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("entity: %s: %T is not a JSON value", displayPath(path), v)
	}
}

func displayPath(p string) string {
	if p == "" {
		return "root"
	}
	return p
}

// Clone returns a deep copy.
func (e Entity) Clone() Entity {
	if e == nil {
		return nil
	}
	return Entity(cloneValue(map[string]any(e)).(map[string]any))
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = cloneValue(item)
		}
		return out
	case Entity:
		return cloneValue(map[string]any(x))
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = cloneValue(item)
		}
		return out
	default:
		return v
	}
}

// ToStruct converts the entity to a google.protobuf.Struct.
func (e Entity) ToStruct() (*structpb.Struct, error) {
	return structpb.NewStruct(map[string]any(e))
}

// Normalize returns a deep copy prepared for validation and storage, as Backstage's ingestion
// does: the server-owned fields metadata.uid, metadata.etag and metadata.generation and the
// derived root fields relations and status are dropped, and an absent or empty
// metadata.namespace becomes "default". Fields of the wrong type are left for Validate.
func Normalize(e Entity) Entity {
	out := e.Clone()
	if out == nil {
		out = Entity{}
	}
	delete(out, "relations")
	delete(out, "status")
	meta, ok := out["metadata"].(map[string]any)
	if !ok {
		return out
	}
	delete(meta, "uid")
	delete(meta, "etag")
	delete(meta, "generation")
	if ns, present := meta["namespace"]; !present || ns == nil || ns == "" {
		meta["namespace"] = DefaultNamespace
	}
	return out
}

// APIVersion is the apiVersion, or "".
func (e Entity) APIVersion() string { s, _ := e["apiVersion"].(string); return s }

// Kind is the kind as written, or "".
func (e Entity) Kind() string { s, _ := e["kind"].(string); return s }

// Metadata is the metadata object, or nil.
func (e Entity) Metadata() map[string]any { m, _ := e["metadata"].(map[string]any); return m }

// Spec is the spec object, or nil.
func (e Entity) Spec() map[string]any { m, _ := e["spec"].(map[string]any); return m }

func (e Entity) metaString(key string) string {
	s, _ := e.Metadata()[key].(string)
	return s
}

// Name is metadata.name, or "".
func (e Entity) Name() string { return e.metaString("name") }

// Namespace is metadata.namespace, "default" when absent or empty.
func (e Entity) Namespace() string {
	if ns := e.metaString("namespace"); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// Title is metadata.title, or "".
func (e Entity) Title() string { return e.metaString("title") }

// Description is metadata.description, or "".
func (e Entity) Description() string { return e.metaString("description") }

// UID is metadata.uid, or "".
func (e Entity) UID() string { return e.metaString("uid") }

// Etag is metadata.etag as stored on the entity, or "". (The function [Etag] computes one.)
func (e Entity) EtagField() string { return e.metaString("etag") }

// Generation is metadata.generation, or 0.
func (e Entity) Generation() int64 {
	f, _ := e.Metadata()["generation"].(float64)
	return int64(f)
}

// Tags is metadata.tags, skipping items that are not strings.
func (e Entity) Tags() []string { return stringList(e.Metadata()["tags"]) }

// Labels is metadata.labels, skipping values that are not strings.
func (e Entity) Labels() map[string]string { return stringMap(e.Metadata()["labels"]) }

// Annotations is metadata.annotations, skipping values that are not strings.
func (e Entity) Annotations() map[string]string { return stringMap(e.Metadata()["annotations"]) }

// Ref is the entity's own reference: kind, namespace (defaulted) and name as written.
func (e Entity) Ref() Ref {
	return Ref{Kind: e.Kind(), Namespace: e.Namespace(), Name: e.Name()}
}

// SetServerFields sets what the store owns: metadata.uid, metadata.etag, metadata.generation
// and the relations array (omitted when relations is nil). It creates metadata if missing.
func (e Entity) SetServerFields(uid, etag string, generation int64, relations []Relation) {
	meta, ok := e["metadata"].(map[string]any)
	if !ok {
		meta = map[string]any{}
		e["metadata"] = meta
	}
	meta["uid"] = uid
	meta["etag"] = etag
	meta["generation"] = float64(generation)
	if relations == nil {
		delete(e, "relations")
		return
	}
	list := make([]any, len(relations))
	for i, r := range relations {
		list[i] = r.toValue()
	}
	e["relations"] = list
}

// Lookup returns the value at a dotted path of object keys ("spec.owner",
// "metadata.annotations.backstage.io/techdocs-ref"). Keys may themselves hold dots: at each
// level the longest key matching a prefix of the remaining path wins, so annotation keys such
// as "backstage.io/x" resolve. It does not descend into arrays.
func Lookup(v map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	cur := v
	rest := path
	for {
		if val, ok := cur[rest]; ok {
			return val, true
		}
		key, next, found := longestKeyPrefix(cur, rest)
		if !found {
			return nil, false
		}
		child, ok := cur[key].(map[string]any)
		if !ok {
			return nil, false
		}
		cur, rest = child, next
	}
}

// longestKeyPrefix finds the longest key k of m such that path starts with k + ".".
func longestKeyPrefix(m map[string]any, path string) (key, rest string, ok bool) {
	best := -1
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		if _, exists := m[path[:i]]; exists {
			best = i
			break
		}
	}
	if best < 0 {
		return "", "", false
	}
	return path[:best], path[best+1:], true
}

func stringList(v any) []string {
	items, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, item := range m {
		if s, ok := item.(string); ok {
			out[k] = s
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return "number"
	case []any, []string:
		return "array"
	case map[string]any, Entity:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// appendKey extends a violation path with an object key: ".key" for plain identifiers, else
// `["key"]`.
func appendKey(path, key string) string {
	if isIdent(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + quote(key) + "]"
}

func appendIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

func quote(s string) string { return strconv.Quote(s) }

package filter

import (
	"fmt"
	"reflect"
	"strings"
)

// Projection picks dotted paths out of entities. The zero Projection keeps whole entities.
type Projection struct{ fields []string }

// ParseFields reads Backstage "fields" parameters: each may hold several comma-separated
// paths ("kind,metadata.name"); blanks are ignored. Paths are case-sensitive object paths and
// may not index arrays ("relations[0]"), as in Backstage.
func ParseFields(params []string) (Projection, error) {
	var fields []string
	for i, param := range params {
		name := fmt.Sprintf("fields[%d]", i)
		for _, f := range strings.Split(param, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if strings.Contains(f, "[") {
				return Projection{}, errorf(name, "%q is not valid; array fields are not supported", f)
			}
			if len(f) > MaxKeyLength {
				return Projection{}, errorf(name, "%q is longer than %d characters", truncate(f), MaxKeyLength)
			}
			if why := checkPath(f); why != "" {
				return Projection{}, errorf(name, "%q %s", f, why)
			}
			if !containsString(fields, f) {
				fields = append(fields, f)
			}
			if len(fields) > MaxFields {
				return Projection{}, errorf(name, "more than %d fields", MaxFields)
			}
		}
	}
	return Projection{fields: fields}, nil
}

// IsZero reports whether the projection keeps whole entities.
func (p Projection) IsZero() bool { return len(p.fields) == 0 }

// Fields lists the projected paths in the order given.
func (p Projection) Fields() []string { return append([]string(nil), p.fields...) }

// Apply returns a new object holding only the projected paths of e that exist, nested as in
// e; values are shared with e, not copied. A path segment may contain dots when e has such a
// key: "metadata.annotations.backstage.io/techdocs-ref" finds the annotation. The zero
// Projection returns e itself.
func (p Projection) Apply(e map[string]any) map[string]any {
	if p.IsZero() {
		return e
	}
	out := map[string]any{}
	created := map[uintptr]bool{}
	for _, f := range p.fields {
		keys, v, ok := resolve(e, f)
		if !ok {
			continue
		}
		set(out, keys, v, created)
	}
	return out
}

// resolve walks path through nested objects, preferring at each level the longest key of the
// object that the remaining path starts with, and returns the keys taken.
func resolve(m map[string]any, path string) ([]string, any, bool) {
	var keys []string
	cur, rest := m, path
	for {
		if v, ok := cur[rest]; ok {
			return append(keys, rest), v, true
		}
		cut := -1
		for i := len(rest) - 1; i > 0; i-- {
			if rest[i] != '.' {
				continue
			}
			if _, ok := cur[rest[:i]]; ok {
				cut = i
				break
			}
		}
		if cut < 0 {
			return nil, nil, false
		}
		child, ok := cur[rest[:cut]].(map[string]any)
		if !ok {
			return nil, nil, false
		}
		keys = append(keys, rest[:cut])
		cur, rest = child, rest[cut+1:]
	}
}

// set stores v at keys in out, creating objects on the way (recorded in created). It never
// writes into an object copied from the entity: when an earlier, shallower path already copied
// the whole value, the deeper path adds nothing. A shallower path after a deeper one replaces
// the partial object.
func set(out map[string]any, keys []string, v any, created map[uintptr]bool) {
	cur := out
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok || !created[mapID(next)] {
			if _, exists := cur[k]; exists {
				return
			}
			next = map[string]any{}
			created[mapID(next)] = true
			cur[k] = next
		}
		cur = next
	}
	cur[keys[len(keys)-1]] = v
}

func mapID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

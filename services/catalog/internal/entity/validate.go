package entity

import (
	"atrium.dev/services/catalog/internal/nulbyte"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

// Violation is one problem with an entity: the field path (see the package doc) and what is
// wrong with it.
type Violation struct {
	Field       string
	Description string
}

func (v Violation) String() string { return v.Field + ": " + v.Description }

// Validate checks a normalized entity and returns every violation, in a stable order (root,
// metadata, kind spec, references, case collisions; keys sorted within each); nil means
// valid. The reference violations are those of [DeriveEdges]: after Validate, ignore
// DeriveEdges' second result or they are reported twice. Call it after [Normalize]; it
// allows relations and status at the root, which Normalize drops.
func Validate(e Entity) []Violation {
	c := &checker{}
	// Postgres cannot store U+0000 in text or jsonb: one NUL anywhere refuses the entity.
	if p := nulbyte.Value(map[string]any(e), ""); p != "" {
		c.add(p, nulbyte.Description)
		return c.vs
	}
	c.root(e)
	c.metadata(e)
	c.kind(e)
	_, refViolations := DeriveEdges(e)
	c.vs = append(c.vs, refViolations...)
	c.caseCollisions(e)
	return c.vs
}

var rootFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "spec": true,
	// Read-back fields: a round-tripped entity carries them; Normalize drops them.
	"relations": true, "status": true,
}

// The formats of Backstage's KubernetesValidatorFunctions and CommonValidatorFunctions.
var (
	objectNameRE  = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dnsLabelRE    = regexp.MustCompile(`^[a-z0-9]+(-+[a-z0-9]+)*$`)
	kindRE        = regexp.MustCompile(`^[a-zA-Z][a-z0-9A-Z]*$`)
	versionRE     = regexp.MustCompile(`^[a-z0-9A-Z]+$`)
	tagRE         = regexp.MustCompile(`^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$`)
	urlSchemeRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*$`)
	specialScheme = map[string]bool{"http": true, "https": true, "ws": true, "wss": true, "ftp": true}
)

const (
	expectName      = "expected sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total"
	expectNamespace = "expected sequences of [a-z0-9] separated by [-], at most 63 characters in total"
	expectTag       = "expected sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total"
	expectKey       = "expected an optional DNS subdomain prefix and a slash, then sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters"
)

// Bounds of the strings every listing returns and the full-text document is built from
// (name, title, description, tags): a 1 MB description passed Postgres' tsvector limit and
// failed as an internal error. Long text belongs in spec or a $text placeholder.
const (
	MaxTitleBytes       = 1 << 10
	MaxDescriptionBytes = 64 << 10
)

// IsValidName reports whether s is a valid metadata.name (Backstage isValidObjectName).
func IsValidName(s string) bool {
	return len(s) >= 1 && len(s) <= 63 && objectNameRE.MatchString(s)
}

// IsValidNamespace reports whether s is a valid metadata.namespace (a DNS label).
func IsValidNamespace(s string) bool { return isDNSLabel(s) }

// IsValidKind reports whether s is a well-formed kind.
func IsValidKind(s string) bool { return len(s) >= 1 && len(s) <= 63 && kindRE.MatchString(s) }

// IsValidTag reports whether s is a valid metadata.tags item.
func IsValidTag(s string) bool { return len(s) >= 1 && len(s) <= 63 && tagRE.MatchString(s) }

func isDNSLabel(s string) bool { return len(s) >= 1 && len(s) <= 63 && dnsLabelRE.MatchString(s) }

func isDNSSubdomain(s string) bool {
	if len(s) < 1 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// prefixAndOrSuffix is Backstage's isValidPrefixAndOrSuffix with "/" as the separator.
func prefixAndOrSuffix(s string, prefix, suffix func(string) bool) bool {
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 1:
		return suffix(parts[0])
	case 2:
		return prefix(parts[0]) && suffix(parts[1])
	default:
		return false
	}
}

func isValidAPIVersion(s string) bool {
	return prefixAndOrSuffix(s, isDNSSubdomain, func(v string) bool {
		return len(v) >= 1 && len(v) <= 63 && versionRE.MatchString(v)
	})
}

// IsValidLabelKey reports whether s is a valid label or annotation key.
func IsValidLabelKey(s string) bool { return prefixAndOrSuffix(s, isDNSSubdomain, IsValidName) }

// IsValidLabelValue reports whether s is a valid label value: empty or a valid name.
func IsValidLabelValue(s string) bool { return s == "" || IsValidName(s) }

// IsValidURL approximates the WHATWG URL parser that Backstage uses (new URL(value)): an
// absolute URL with a scheme; http, https, ws, wss and ftp URLs need a host.
func IsValidURL(s string) bool {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	u, err := url.Parse(s)
	if err != nil || !urlSchemeRE.MatchString(u.Scheme) {
		return false
	}
	if specialScheme[strings.ToLower(u.Scheme)] && u.Host == "" {
		return false
	}
	return true
}

// checker collects violations.
type checker struct{ vs []Violation }

func (c *checker) add(field, description string) {
	c.vs = append(c.vs, Violation{Field: field, Description: description})
}

func (c *checker) addf(field, format string, args ...any) {
	c.add(field, fmt.Sprintf(format, args...))
}

// str returns obj[key] as a string; present reports whether the key exists, and a wrong type
// is recorded as a violation (ok false).
func (c *checker) str(obj map[string]any, base, key string, required bool) (s string, ok bool) {
	path := appendKey(base, key)
	v, present := obj[key]
	if !present {
		if required {
			c.add(path, "is required")
		}
		return "", false
	}
	s, isString := v.(string)
	if !isString {
		c.addf(path, "must be a string, got %s", typeName(v))
		return "", false
	}
	return s, true
}

func (c *checker) requiredString(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		if s, ok := c.str(obj, base, key, true); ok && s == "" {
			c.add(appendKey(base, key), "must not be empty")
		}
	}
}

func (c *checker) optionalString(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		if s, ok := c.str(obj, base, key, false); ok && s == "" {
			c.add(appendKey(base, key), "must not be empty")
		}
	}
}

// plainString allows the empty string.
func (c *checker) plainString(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		c.str(obj, base, key, false)
	}
}

func (c *checker) optionalObject(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		if v, ok := obj[key]; ok {
			if _, isObject := v.(map[string]any); !isObject {
				c.addf(appendKey(base, key), "must be an object, got %s", typeName(v))
			}
		}
	}
}

func (c *checker) stringList(obj map[string]any, base, key string, required bool) {
	path := appendKey(base, key)
	v, present := obj[key]
	if !present {
		if required {
			c.add(path, "is required (an empty array is allowed)")
		}
		return
	}
	list, isList := v.([]any)
	if !isList {
		c.addf(path, "must be an array of strings, got %s", typeName(v))
		return
	}
	for i, item := range list {
		if s, isString := item.(string); !isString {
			c.addf(appendIndex(path, i), "must be a string, got %s", typeName(item))
		} else if s == "" {
			c.add(appendIndex(path, i), "must not be empty")
		}
	}
}

func (c *checker) requiredStringList(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		c.stringList(obj, base, key, true)
	}
}

func (c *checker) optionalStringList(obj map[string]any, base string, keys ...string) {
	for _, key := range keys {
		c.stringList(obj, base, key, false)
	}
}

func isStringList(v any, nonEmpty bool) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, item := range list {
		s, isString := item.(string)
		if !isString || (nonEmpty && s == "") {
			return false
		}
	}
	return true
}

func (c *checker) root(e Entity) {
	for _, key := range sortedKeys(e) {
		if !rootFields[key] {
			c.add(appendKey("", key), "is not allowed at the root; expected only apiVersion, kind, metadata and spec")
		}
	}
	if s, ok := c.str(e, "", "apiVersion", true); ok && !isValidAPIVersion(s) {
		c.addf("apiVersion", "%q is not valid; expected an optional DNS subdomain and a slash, then 1-63 characters of [a-zA-Z0-9], e.g. backstage.io/v1alpha1", s)
	}
	if s, ok := c.str(e, "", "kind", true); ok && !IsValidKind(s) {
		c.addf("kind", "%q is not valid; expected a letter followed by letters and digits, at most 63 characters in total", s)
	}
	if v, ok := e["metadata"]; !ok {
		c.add("metadata", "is required")
	} else if _, isObject := v.(map[string]any); !isObject {
		c.addf("metadata", "must be an object, got %s", typeName(v))
	}
	if v, ok := e["spec"]; ok {
		if _, isObject := v.(map[string]any); !isObject {
			c.addf("spec", "must be an object, got %s", typeName(v))
		}
	}
}

func (c *checker) metadata(e Entity) {
	meta, ok := e["metadata"].(map[string]any)
	if !ok {
		return
	}
	if s, ok := c.str(meta, "metadata", "name", true); ok && !IsValidName(s) {
		c.addf("metadata.name", "%q is not valid; %s", s, expectName)
	}
	if s, ok := c.str(meta, "metadata", "namespace", false); ok && !IsValidNamespace(s) {
		c.addf("metadata.namespace", "%q is not valid; %s", s, expectNamespace)
	}
	c.optionalString(meta, "metadata", "title", "uid", "etag")
	c.plainString(meta, "metadata", "description")
	for key, max := range map[string]int{"title": MaxTitleBytes, "description": MaxDescriptionBytes} {
		if s, ok := meta[key].(string); ok && len(s) > max {
			c.addf("metadata."+key, "is %d bytes; at most %d", len(s), max)
		}
	}
	if v, ok := meta["generation"]; ok {
		if f, isNumber := v.(float64); !isNumber || f < 1 || f != math.Trunc(f) {
			c.add("metadata.generation", "must be a positive integer")
		}
	}
	c.keyValues(meta, "labels", func(path, value string) {
		if !IsValidLabelValue(value) {
			c.addf(path, "%q is not valid; expected an empty string or sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total", value)
		}
	})
	c.keyValues(meta, "annotations", nil)
	c.tags(meta)
	c.links(meta)
}

// keyValues checks labels or annotations: keys in label-key format, string values, and each
// value against check when given.
func (c *checker) keyValues(meta map[string]any, field string, check func(path, value string)) {
	base := "metadata." + field
	v, ok := meta[field]
	if !ok {
		return
	}
	m, isObject := v.(map[string]any)
	if !isObject {
		c.addf(base, "must be an object, got %s", typeName(v))
		return
	}
	for _, key := range sortedKeys(m) {
		path := appendKey(base, key)
		if !IsValidLabelKey(key) {
			c.addf(path, "key %q is not valid; %s", key, expectKey)
		}
		s, isString := m[key].(string)
		if !isString {
			c.addf(path, "must be a string, got %s", typeName(m[key]))
			continue
		}
		if check != nil {
			check(path, s)
		}
	}
}

func (c *checker) tags(meta map[string]any) {
	v, ok := meta["tags"]
	if !ok {
		return
	}
	list, isList := v.([]any)
	if !isList {
		c.addf("metadata.tags", "must be an array of strings, got %s", typeName(v))
		return
	}
	for i, item := range list {
		path := appendIndex("metadata.tags", i)
		s, isString := item.(string)
		if !isString {
			c.addf(path, "must be a string, got %s", typeName(item))
		} else if !IsValidTag(s) {
			c.addf(path, "%q is not valid; %s", s, expectTag)
		}
	}
}

func (c *checker) links(meta map[string]any) {
	v, ok := meta["links"]
	if !ok {
		return
	}
	list, isList := v.([]any)
	if !isList {
		c.addf("metadata.links", "must be an array of objects, got %s", typeName(v))
		return
	}
	for i, item := range list {
		path := appendIndex("metadata.links", i)
		link, isObject := item.(map[string]any)
		if !isObject {
			c.addf(path, "must be an object, got %s", typeName(item))
			continue
		}
		if s, ok := c.str(link, path, "url", true); ok && !IsValidURL(s) {
			c.addf(path+".url", "%q is not valid; expected an absolute URL", s)
		}
		if s, ok := c.str(link, path, "title", false); ok && strings.TrimSpace(s) == "" {
			c.add(path+".title", "must not be empty")
		}
		if s, ok := c.str(link, path, "icon", false); ok && !IsValidName(s) {
			c.addf(path+".icon", "%q is not valid; %s", s, expectName)
		}
		c.optionalString(link, path, "type")
	}
}

// caseCollisions reports keys that differ only in case, which Backstage rejects because its
// search index lowercases keys. The walk mirrors Backstage's buildEntitySearch: leaves by
// dotted path, plus "path.item" for each string item of an array.
func (c *checker) caseCollisions(e Entity) {
	seen := map[string]string{} // lowercased dotted key -> first dotted key
	reported := map[string]bool{}
	syntheticSeen := map[string]bool{}
	record := func(key, vpath string) {
		lower := strings.ToLower(key)
		first, ok := seen[lower]
		if !ok {
			seen[lower] = key
			return
		}
		if first != key && !reported[lower] {
			reported[lower] = true
			c.addf(vpath, "differs only in case from %q; keys must be unique ignoring case", first)
		}
	}
	var visit func(key, vpath string, v any)
	visit = func(key, vpath string, v any) {
		if searchSkipped[key] {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				childKey := k
				if key != "" {
					childKey = key + "." + k
				}
				visit(childKey, appendKey(vpath, k), x[k])
			}
		case []any:
			for i, item := range x {
				visit(key, appendIndex(vpath, i), item)
				if s, ok := item.(string); ok {
					synthetic := key + "." + s
					if lower := strings.ToLower(synthetic); !syntheticSeen[lower] {
						syntheticSeen[lower] = true
						record(synthetic, appendIndex(vpath, i))
					}
				}
			}
		default:
			record(key, vpath)
		}
	}
	// Backstage always indexes these three, so a "metadata.Name" collides with them.
	for _, special := range []string{"metadata.name", "metadata.namespace", "metadata.uid"} {
		record(special, special)
	}
	visit("", "", map[string]any(e))
}

// searchSkipped are the paths Backstage's search indexing leaves out of its generic walk.
var searchSkipped = map[string]bool{
	"attachments": true, "relations": true, "status": true,
	"metadata.name": true, "metadata.namespace": true, "metadata.uid": true, "metadata.etag": true,
}

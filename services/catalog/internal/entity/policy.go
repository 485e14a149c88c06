package entity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// CustomKind is a kind a tenant declares beyond Backstage's own, with the apiVersions it
// accepts (empty: any well-formed one) and an optional JSON Schema for the whole entity.
type CustomKind struct {
	Kind        string
	APIVersions []string
	Schema      *jsonschema.Schema
}

// CompileSchema compiles a custom kind's JSON Schema (draft 2020-12 unless $schema says
// otherwise). Remote $refs are not loaded: a schema must be self-contained.
func CompileSchema(kind string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	url := "urn:atrium:kind:" + strings.ToLower(kind)
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// noLoader refuses remote schemas: compiling one must not make the service fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("remote schema %s is not loaded; inline it", url)
}

// Policy is what Backstage's default processors and policies accept, plus a tenant's custom
// kinds: only apiVersion, kind, metadata and spec at the root, and only kinds a processor
// knows (Backstage's own, or the tenant's).
type Policy struct {
	// Custom is keyed by lowercased kind.
	Custom map[string]CustomKind
	// AllowReadBack accepts relations and status at the root and drops them (ApplyEntities
	// takes back entities read from the catalog).
	AllowReadBack bool
}

var inputRootFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true}

// Check returns the policy's violations for an entity as written (before Normalize).
func (p *Policy) Check(e Entity) []Violation {
	var vs []Violation
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if inputRootFields[k] || (p != nil && p.AllowReadBack && (k == "relations" || k == "status")) {
			continue
		}
		vs = append(vs, Violation{Field: k, Description: fmt.Sprintf("unknown root field %q: an entity has only apiVersion, kind, metadata and spec (relations and status are the catalog's to set)", k)})
	}
	kind, ok := e["kind"].(string)
	if !ok || !IsValidKind(kind) {
		return vs // the envelope check reports it
	}
	if _, known := knownKindFold(kind); known {
		return vs
	}
	var ck CustomKind
	found := false
	if p != nil {
		ck, found = p.Custom[strings.ToLower(kind)]
	}
	if !found {
		return append(vs, Violation{Field: "kind", Description: fmt.Sprintf("No processor recognized the entity %s as valid, possibly caused by a foreign kind or apiVersion", refForMessage(e))})
	}
	if ck.Kind != kind {
		vs = append(vs, Violation{Field: "kind", Description: fmt.Sprintf("%q must be spelled %q", kind, ck.Kind)})
	}
	if av, _ := e["apiVersion"].(string); len(ck.APIVersions) > 0 && !contains(ck.APIVersions, av) {
		vs = append(vs, Violation{Field: "apiVersion", Description: fmt.Sprintf("%q is not supported for kind %s; expected %s", av, ck.Kind, strings.Join(ck.APIVersions, " or "))})
	}
	if ck.Schema != nil {
		vs = append(vs, schemaViolations(ck.Schema, e)...)
	}
	return vs
}

func refForMessage(e Entity) string {
	kind, _ := e["kind"].(string)
	ns := e.Namespace()
	return strings.ToLower(kind) + ":" + ns + "/" + e.Name()
}

// schemaViolations validates the entity against a schema and names each failure by its
// dotted path.
func schemaViolations(s *jsonschema.Schema, e Entity) []Violation {
	// Round-trip through JSON: the validator wants its own number type.
	raw, err := json.Marshal(map[string]any(e))
	if err != nil {
		return []Violation{{Field: "", Description: "not JSON"}}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []Violation{{Field: "", Description: "not JSON"}}
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []Violation{{Field: "", Description: err.Error()}}
	}
	var out []Violation
	var walk func(v *jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			field := strings.Join(v.InstanceLocation, ".")
			out = append(out, Violation{Field: field, Description: "does not match the kind's schema: " + v.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

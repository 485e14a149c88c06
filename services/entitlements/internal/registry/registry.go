// Package registry is the plugin registry: every plugin Atrium offers, defined here in code so
// it is versioned, reviewed and deployed with the service that enforces it. Each plugin's
// configuration is described by a JSON Schema (draft 2020-12), compiled once at start-up and
// used to validate every config an admin saves.
package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders the library's error kinds; English, like every other message of the API.
var printer = message.NewPrinter(language.English)

// Tier is free or premium.
type Tier int

const (
	TierFree Tier = iota + 1
	TierPremium
)

// Plugin is one registry entry.
type Plugin struct {
	ID          string
	Name        string
	Summary     string
	Description string
	Tier        Tier
	Category    string
	// RequiredPlan is the cheapest plan that includes the plugin (plans.go agrees; a test
	// checks). A premium plugin may also be granted alone as an add-on or a trial.
	RequiredPlan string
	Dependencies []string
	// ConfigSchema is JSON Schema text; "" means the plugin takes no configuration.
	ConfigSchema string
	// GatedServices are the RPC services whose methods declare this plugin in their access
	// option (shown to admins; the gateway reads the option itself).
	GatedServices []string
	// AlwaysOn plugins are installed for every tenant and cannot be uninstalled.
	AlwaysOn bool

	schema     *jsonschema.Schema
	schemaJSON map[string]any
}

// Schema returns the parsed config schema (nil when there is none), for clients that build
// forms from it.
func (p *Plugin) Schema() map[string]any { return p.schemaJSON }

// Registry is the immutable set of plugins.
type Registry struct {
	byID  map[string]*Plugin
	order []*Plugin
}

// Default is the registry the service ships. It panics if a schema does not compile: that is
// a programming error caught by the package's tests.
func Default() *Registry {
	r, err := New(defaultPlugins())
	if err != nil {
		panic(err)
	}
	return r
}

// New compiles the plugins' schemas and checks that dependencies name known plugins and form
// no cycle.
func New(plugins []Plugin) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Plugin, len(plugins))}
	for i := range plugins {
		p := plugins[i]
		if _, dup := r.byID[p.ID]; dup {
			return nil, fmt.Errorf("registry: plugin %q defined twice", p.ID)
		}
		if p.ConfigSchema != "" {
			if err := p.compile(); err != nil {
				return nil, err
			}
		}
		r.byID[p.ID] = &p
		r.order = append(r.order, &p)
	}
	for _, p := range r.order {
		for _, d := range p.Dependencies {
			if _, ok := r.byID[d]; !ok {
				return nil, fmt.Errorf("registry: plugin %q depends on unknown plugin %q", p.ID, d)
			}
		}
	}
	for _, p := range r.order {
		if _, err := r.Closure([]string{p.ID}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (p *Plugin) compile() error {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(p.ConfigSchema))
	if err != nil {
		return fmt.Errorf("registry: plugin %q schema: %w", p.ID, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "atrium:plugins/" + p.ID + "/config.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return fmt.Errorf("registry: plugin %q schema: %w", p.ID, err)
	}
	if p.schema, err = c.Compile(url); err != nil {
		return fmt.Errorf("registry: plugin %q schema: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(p.ConfigSchema), &p.schemaJSON); err != nil {
		return fmt.Errorf("registry: plugin %q schema: %w", p.ID, err)
	}
	return nil
}

// Get returns a plugin by id.
func (r *Registry) Get(id string) (*Plugin, bool) {
	p, ok := r.byID[id]
	return p, ok
}

// All returns every plugin in registry order.
func (r *Registry) All() []*Plugin { return r.order }

// IDs returns every plugin id, sorted.
func (r *Registry) IDs() []string {
	out := make([]string, 0, len(r.order))
	for _, p := range r.order {
		out = append(out, p.ID)
	}
	sort.Strings(out)
	return out
}

// Dependents returns the plugins among installed that depend directly on id.
func (r *Registry) Dependents(id string, installed []string) []string {
	var out []string
	for _, other := range installed {
		if p, ok := r.byID[other]; ok && slices.Contains(p.Dependencies, id) {
			out = append(out, other)
		}
	}
	sort.Strings(out)
	return out
}

// Closure returns ids with every transitive dependency, failing on a cycle.
func (r *Registry) Closure(ids []string) ([]string, error) {
	seen := map[string]int{} // 1 visiting, 2 done
	var out []string
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch seen[id] {
		case 1:
			return fmt.Errorf("registry: dependency cycle %s", strings.Join(append(path, id), " -> "))
		case 2:
			return nil
		}
		seen[id] = 1
		if p, ok := r.byID[id]; ok {
			for _, d := range p.Dependencies {
				if err := visit(d, append(path, id)); err != nil {
					return err
				}
			}
		}
		seen[id] = 2
		out = append(out, id)
		return nil
	}
	for _, id := range ids {
		if err := visit(id, nil); err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// ConfigError is one schema failure: where in the config, and what is wrong.
type ConfigError struct {
	// Pointer is the JSON pointer of the failing value within the config ("" for the root,
	// "/exclude_paths/0" for a nested one).
	Pointer string
	Message string
}

// ValidateConfig checks config (decoded JSON: map[string]any and friends) against the
// plugin's schema and returns one ConfigError per failing leaf, sorted by pointer. A plugin
// without a schema accepts only an empty config.
func (p *Plugin) ValidateConfig(config map[string]any) ([]ConfigError, error) {
	if p.schema == nil {
		if len(config) > 0 {
			return []ConfigError{{Pointer: "", Message: "plugin " + p.ID + " takes no configuration"}}, nil
		}
		return nil, nil
	}
	// The library wants JSON numbers as json.Number (not float64) to keep integers exact, so
	// the config takes one trip through its own decoder.
	raw, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("registry: encode config: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("registry: decode config: %w", err)
	}
	err = p.schema.Validate(inst)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, fmt.Errorf("registry: validate config: %w", err)
	}
	var out []ConfigError
	collectLeaves(ve, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out, nil
}

// collectLeaves keeps the innermost errors: "additionalProperties 'x' not allowed" at
// /exclude_paths/0 tells an admin more than "doesn't validate with schema" at the root.
func collectLeaves(ve *jsonschema.ValidationError, out *[]ConfigError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectLeaves(c, out)
		}
		return
	}
	loc := ve.InstanceLocation
	// A missing property is reported at its parent object; naming the property itself puts
	// the error on the form field an admin has to fill in.
	if req, ok := ve.ErrorKind.(*kind.Required); ok && len(req.Missing) == 1 {
		loc = append(slices.Clip(loc), req.Missing[0])
	}
	*out = append(*out, ConfigError{Pointer: pointer(loc), Message: leafMessage(ve)})
}

// pointer renders tokens as a JSON pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// leafMessage is the error's text without the library's "at '<location>':" preamble, which
// the field path already says.
func leafMessage(ve *jsonschema.ValidationError) string {
	return ve.ErrorKind.LocalizedString(printer)
}

// Defaults returns the config a plugin starts with: every top-level property's "default".
func (p *Plugin) Defaults() map[string]any {
	out := map[string]any{}
	props, _ := p.schemaJSON["properties"].(map[string]any)
	for name, raw := range props {
		if prop, ok := raw.(map[string]any); ok {
			if d, ok := prop["default"]; ok {
				out[name] = d
			}
		}
	}
	return out
}

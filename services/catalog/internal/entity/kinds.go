package entity

import "strings"

// The kinds validated strictly, spelled as Backstage spells them.
const (
	KindComponent = "Component"
	KindAPI       = "API"
	KindSystem    = "System"
	KindDomain    = "Domain"
	KindResource  = "Resource"
	KindGroup     = "Group"
	KindUser      = "User"
	KindLocation  = "Location"
	KindTemplate  = "Template"
)

const templateAPIVersion = "scaffolder.backstage.io/v1beta3"

var backstageAPIVersions = []string{"backstage.io/v1alpha1", "backstage.io/v1beta1"}

// kindSpec is what Backstage's JSON schema for one kind requires of its spec.
type kindSpec struct {
	apiVersions []string
	check       func(c *checker, spec map[string]any)
}

var kindSpecs = map[string]kindSpec{
	KindComponent: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "type", "lifecycle", "owner")
		c.optionalString(s, "spec", "system", "subcomponentOf")
		c.optionalStringList(s, "spec", "providesApis", "consumesApis", "dependsOn", "dependencyOf")
	}},
	KindAPI: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "type", "lifecycle", "owner", "definition")
		c.optionalString(s, "spec", "system")
	}},
	KindSystem: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "owner")
		c.optionalString(s, "spec", "domain", "type")
	}},
	KindDomain: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "owner")
		c.optionalString(s, "spec", "subdomainOf", "type")
	}},
	KindResource: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "type", "owner")
		c.optionalString(s, "spec", "system")
		c.optionalStringList(s, "spec", "dependsOn", "dependencyOf")
	}},
	KindGroup: {backstageAPIVersions, func(c *checker, s map[string]any) {
		c.requiredString(s, "spec", "type")
		c.requiredStringList(s, "spec", "children")
		c.optionalString(s, "spec", "parent")
		c.optionalStringList(s, "spec", "members")
		c.profile(s)
	}},
	KindUser: {backstageAPIVersions, func(c *checker, s map[string]any) {
		// Backstage's types call memberOf optional but its schema still requires it.
		c.requiredStringList(s, "spec", "memberOf")
		c.profile(s)
	}},
	KindLocation: {backstageAPIVersions, func(c *checker, s map[string]any) {
		// Backstage's schema requires none of these; a Location without targets is valid.
		c.optionalString(s, "spec", "type", "target")
		c.optionalStringList(s, "spec", "targets")
		if v, ok := s["presence"]; ok {
			if p, isString := v.(string); !isString || (p != "required" && p != "optional") {
				c.add("spec.presence", "must be one of required, optional")
			}
		}
	}},
	KindTemplate: {[]string{templateAPIVersion}, checkTemplate},
}

// KnownKind reports whether kind (exact spelling) is validated strictly.
func KnownKind(kind string) bool {
	_, ok := kindSpecs[kind]
	return ok
}

// knownKindFold returns the known kind equal to kind ignoring case.
func knownKindFold(kind string) (string, bool) {
	for k := range kindSpecs {
		if strings.EqualFold(k, kind) {
			return k, true
		}
	}
	return "", false
}

func (c *checker) kind(e Entity) {
	kind, ok := e["kind"].(string)
	if !ok {
		return
	}
	ks, known := kindSpecs[kind]
	if !known {
		if canonical, folded := knownKindFold(kind); folded {
			c.addf("kind", "%q must be spelled %q", kind, canonical)
		}
		return
	}
	if apiVersion, isString := e["apiVersion"].(string); isString && !contains(ks.apiVersions, apiVersion) {
		if isValidAPIVersion(apiVersion) { // else the envelope check has reported it
			c.addf("apiVersion", "%q is not supported for kind %s; expected %s", apiVersion, kind, strings.Join(ks.apiVersions, " or "))
		}
		return
	}
	v, present := e["spec"]
	if !present {
		c.add("spec", "is required for kind "+kind)
		return
	}
	spec, isObject := v.(map[string]any)
	if !isObject {
		return // the envelope check reported the type
	}
	ks.check(c, spec)
}

func (c *checker) profile(spec map[string]any) {
	v, ok := spec["profile"]
	if !ok {
		return
	}
	p, isObject := v.(map[string]any)
	if !isObject {
		c.add("spec.profile", "must be an object")
		return
	}
	c.optionalString(p, "spec.profile", "displayName", "email", "picture")
}

// checkTemplate follows Template.v1beta3.schema.json from @backstage/plugin-scaffolder-common.
func checkTemplate(c *checker, s map[string]any) {
	c.requiredString(s, "spec", "type")
	c.optionalString(s, "spec", "owner", "lifecycle")
	c.optionalObject(s, "spec", "secrets", "presentation", "EXPERIMENTAL_recovery")

	if v, ok := s["parameters"]; ok {
		switch p := v.(type) {
		case map[string]any:
			c.permissions(p, "spec.parameters")
		case []any:
			for i, item := range p {
				path := appendIndex("spec.parameters", i)
				if form, isObject := item.(map[string]any); isObject {
					c.permissions(form, path)
				} else {
					c.add(path, "must be an object")
				}
			}
		default:
			c.add("spec.parameters", "must be an object or an array of objects")
		}
	}

	steps, ok := s["steps"]
	switch list, isList := steps.([]any); {
	case !ok:
		c.add("spec.steps", "is required")
	case !isList:
		c.add("spec.steps", "must be an array")
	default:
		for i, item := range list {
			path := appendIndex("spec.steps", i)
			step, isObject := item.(map[string]any)
			if !isObject {
				c.add(path, "must be an object")
				continue
			}
			if action, present := step["action"]; !present {
				c.add(path+".action", "is required")
			} else if _, isString := action.(string); !isString {
				c.add(path+".action", "must be a string")
			}
			c.plainString(step, path, "id", "name")
			c.optionalObject(step, path, "input")
			c.condition(step, path)
			c.permissions(step, path)
		}
	}

	if v, ok := s["output"]; ok {
		out, isObject := v.(map[string]any)
		if !isObject {
			c.add("spec.output", "must be an object")
			return
		}
		for _, key := range sortedKeys(out) {
			path := appendKey("spec.output", key)
			switch key {
			case "links", "text":
				list, isList := out[key].([]any)
				if !isList {
					c.add(path, "must be an array")
					continue
				}
				for i, item := range list {
					ip := appendIndex(path, i)
					obj, isObject := item.(map[string]any)
					if !isObject {
						c.add(ip, "must be an object")
						continue
					}
					c.condition(obj, ip)
					if key == "links" {
						c.optionalString(obj, ip, "url", "entityRef", "title", "icon")
					} else {
						c.optionalString(obj, ip, "title", "icon")
						c.plainString(obj, ip, "content")
					}
				}
			default:
				if _, isString := out[key].(string); !isString {
					c.add(path, "must be a string")
				}
			}
		}
	}
}

// condition checks an "if" that may be a templated string or a boolean.
func (c *checker) condition(obj map[string]any, path string) {
	v, ok := obj["if"]
	if !ok {
		return
	}
	switch v.(type) {
	case string, bool:
	default:
		c.add(path+".if", "must be a string or a boolean")
	}
}

// permissions checks "backstage:permissions": an object whose tags are strings.
func (c *checker) permissions(obj map[string]any, path string) {
	v, ok := obj["backstage:permissions"]
	if !ok {
		return
	}
	path = appendKey(path, "backstage:permissions")
	p, isObject := v.(map[string]any)
	if !isObject {
		c.add(path, "must be an object")
		return
	}
	if tags, present := p["tags"]; present && !isStringList(tags, false) {
		c.add(path+".tags", "must be an array of strings")
	}
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

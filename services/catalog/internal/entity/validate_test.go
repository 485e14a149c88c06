package entity

import (
	"slices"
	"strings"
	"testing"
)

func mustJSON(t *testing.T, s string) Entity {
	t.Helper()
	e, err := FromJSON([]byte(s))
	if err != nil {
		t.Fatalf("FromJSON(%s): %v", s, err)
	}
	return e
}

// base returns a fresh valid entity of each kind.
func base(t *testing.T, kind string) Entity {
	t.Helper()
	docs := map[string]string{
		KindComponent: `{"apiVersion":"backstage.io/v1alpha1","kind":"Component",
			"metadata":{"name":"petstore","namespace":"default"},
			"spec":{"type":"service","lifecycle":"production","owner":"team-a"}}`,
		KindAPI: `{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"petstore-api"},
			"spec":{"type":"openapi","lifecycle":"production","owner":"team-a","definition":"openapi: 3.0.0"}}`,
		KindSystem:   `{"apiVersion":"backstage.io/v1alpha1","kind":"System","metadata":{"name":"shop"},"spec":{"owner":"team-a"}}`,
		KindDomain:   `{"apiVersion":"backstage.io/v1alpha1","kind":"Domain","metadata":{"name":"commerce"},"spec":{"owner":"team-a"}}`,
		KindResource: `{"apiVersion":"backstage.io/v1alpha1","kind":"Resource","metadata":{"name":"db"},"spec":{"type":"database","owner":"team-a"}}`,
		KindGroup:    `{"apiVersion":"backstage.io/v1alpha1","kind":"Group","metadata":{"name":"team-a"},"spec":{"type":"team","children":[]}}`,
		KindUser:     `{"apiVersion":"backstage.io/v1alpha1","kind":"User","metadata":{"name":"jdoe"},"spec":{"memberOf":["team-a"]}}`,
		KindLocation: `{"apiVersion":"backstage.io/v1alpha1","kind":"Location","metadata":{"name":"root"},"spec":{"targets":["./a.yaml"]}}`,
		KindTemplate: `{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"svc"},
			"spec":{"type":"service","steps":[{"id":"fetch","action":"fetch:template","input":{"url":"./skeleton"}}]}}`,
		"Widget": `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}`,
	}
	return Normalize(mustJSON(t, docs[kind]))
}

func meta(e Entity) map[string]any { return e["metadata"].(map[string]any) }
func spec(e Entity) map[string]any { return e["spec"].(map[string]any) }
func list(items ...any) []any      { return items }
func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name   string
		kind   string
		mutate func(e Entity)
		want   []string // violation fields, in order; nil means valid
	}{
		// Every kind's base entity is valid.
		{name: "component", kind: KindComponent},
		{name: "api", kind: KindAPI},
		{name: "system", kind: KindSystem},
		{name: "domain", kind: KindDomain},
		{name: "resource", kind: KindResource},
		{name: "group", kind: KindGroup},
		{name: "user", kind: KindUser},
		{name: "location", kind: KindLocation},
		{name: "template", kind: KindTemplate},
		{name: "other kind needs no spec", kind: "Widget"},

		// Envelope.
		{"apiVersion missing", KindComponent, func(e Entity) { delete(e, "apiVersion") }, []string{"apiVersion"}},
		{"apiVersion not a string", KindComponent, func(e Entity) { e["apiVersion"] = 5.0 }, []string{"apiVersion"}},
		{"apiVersion two slashes", "Widget", func(e Entity) { e["apiVersion"] = "a.io/v1/x" }, []string{"apiVersion"}},
		{"apiVersion bad prefix", "Widget", func(e Entity) { e["apiVersion"] = "Example.com/v1" }, []string{"apiVersion"}},
		{"apiVersion bad suffix", "Widget", func(e Entity) { e["apiVersion"] = "example.com/v1-beta" }, []string{"apiVersion"}},
		{"apiVersion bare version", "Widget", func(e Entity) { e["apiVersion"] = "v1" }, nil},
		{"apiVersion invalid for known kind reported once", KindComponent, func(e Entity) { e["apiVersion"] = "a/b/c" }, []string{"apiVersion"}},
		{"kind missing", KindComponent, func(e Entity) { delete(e, "kind") }, []string{"kind"}},
		{"kind starts with digit", "Widget", func(e Entity) { e["kind"] = "1Widget" }, []string{"kind"}},
		{"kind with dash", "Widget", func(e Entity) { e["kind"] = "My-Kind" }, []string{"kind"}},
		{"kind 64 chars", "Widget", func(e Entity) { e["kind"] = "K" + long }, []string{"kind"}},
		{"known kind in wrong case", KindComponent, func(e Entity) { e["kind"] = "component" }, []string{"kind"}},
		{"API spelled Api", KindAPI, func(e Entity) { e["kind"] = "Api" }, []string{"kind"}},
		{"component v1beta1", KindComponent, func(e Entity) { e["apiVersion"] = "backstage.io/v1beta1" }, nil},
		{"component unknown version", KindComponent, func(e Entity) { e["apiVersion"] = "backstage.io/v2" }, []string{"apiVersion"}},
		{"template old version", KindTemplate, func(e Entity) { e["apiVersion"] = "backstage.io/v1beta2" }, []string{"apiVersion"}},
		{"component under scaffolder version", KindComponent, func(e Entity) { e["apiVersion"] = "scaffolder.backstage.io/v1beta3" }, []string{"apiVersion"}},
		{"foreign root field", KindComponent, func(e Entity) { e["spec2"] = obj() }, []string{"spec2"}},
		{"foreign root field quoted", KindComponent, func(e Entity) { e["a b"] = 1.0 }, []string{`["a b"]`}},
		{"relations and status allowed", KindComponent, func(e Entity) { e["relations"] = list(); e["status"] = obj() }, nil},
		{"metadata missing", "Widget", func(e Entity) { delete(e, "metadata") }, []string{"metadata"}},
		{"metadata not an object", "Widget", func(e Entity) { e["metadata"] = "x" }, []string{"metadata"}},
		{"spec not an object", "Widget", func(e Entity) { e["spec"] = list() }, []string{"spec"}},
		{"spec null", "Widget", func(e Entity) { e["spec"] = nil }, []string{"spec"}},
		{"known kind spec not an object", KindComponent, func(e Entity) { e["spec"] = "x" }, []string{"spec"}},
		{"known kind without spec", KindComponent, func(e Entity) { delete(e, "spec") }, []string{"spec"}},
		{"location without spec", KindLocation, func(e Entity) { delete(e, "spec") }, []string{"spec"}},

		// metadata.name
		{"name missing", KindComponent, func(e Entity) { delete(meta(e), "name") }, []string{"metadata.name"}},
		{"name empty", KindComponent, func(e Entity) { meta(e)["name"] = "" }, []string{"metadata.name"}},
		{"name number", KindComponent, func(e Entity) { meta(e)["name"] = 5.0 }, []string{"metadata.name"}},
		{"name leading dash", KindComponent, func(e Entity) { meta(e)["name"] = "-abc" }, []string{"metadata.name"}},
		{"name trailing dot", KindComponent, func(e Entity) { meta(e)["name"] = "abc." }, []string{"metadata.name"}},
		{"name trailing underscore", KindComponent, func(e Entity) { meta(e)["name"] = "abc_" }, []string{"metadata.name"}},
		{"name space", KindComponent, func(e Entity) { meta(e)["name"] = "a b" }, []string{"metadata.name"}},
		{"name non-ascii", KindComponent, func(e Entity) { meta(e)["name"] = "café" }, []string{"metadata.name"}},
		{"name slash", KindComponent, func(e Entity) { meta(e)["name"] = "a/b" }, []string{"metadata.name"}},
		{"name mixed separators", KindComponent, func(e Entity) { meta(e)["name"] = "My_Service.v2-x" }, nil},
		{"name repeated separators", KindComponent, func(e Entity) { meta(e)["name"] = "a--b__c..d" }, nil},
		{"name single char", KindComponent, func(e Entity) { meta(e)["name"] = "a" }, nil},
		{"name 63 chars", KindComponent, func(e Entity) { meta(e)["name"] = long }, nil},
		{"name 64 chars", KindComponent, func(e Entity) { meta(e)["name"] = long + "a" }, []string{"metadata.name"}},

		// metadata.namespace
		{"namespace dashed", KindComponent, func(e Entity) { meta(e)["namespace"] = "my-ns-2" }, nil},
		{"namespace double dash", KindComponent, func(e Entity) { meta(e)["namespace"] = "a--b" }, nil},
		{"namespace upper case", KindComponent, func(e Entity) { meta(e)["namespace"] = "Default" }, []string{"metadata.namespace"}},
		{"namespace underscore", KindComponent, func(e Entity) { meta(e)["namespace"] = "a_b" }, []string{"metadata.namespace"}},
		{"namespace dot", KindComponent, func(e Entity) { meta(e)["namespace"] = "a.b" }, []string{"metadata.namespace"}},
		{"namespace trailing dash", KindComponent, func(e Entity) { meta(e)["namespace"] = "ab-" }, []string{"metadata.namespace"}},
		{"namespace 64 chars", KindComponent, func(e Entity) { meta(e)["namespace"] = long + "a" }, []string{"metadata.namespace"}},
		{"namespace number", KindComponent, func(e Entity) { meta(e)["namespace"] = 7.0 }, []string{"metadata.namespace"}},

		// title, description, server fields
		{"title empty", KindComponent, func(e Entity) { meta(e)["title"] = "" }, []string{"metadata.title"}},
		{"title number", KindComponent, func(e Entity) { meta(e)["title"] = 1.0 }, []string{"metadata.title"}},
		{"title fine", KindComponent, func(e Entity) { meta(e)["title"] = "Pet Store" }, nil},
		{"description empty is fine", KindComponent, func(e Entity) { meta(e)["description"] = "" }, nil},
		{"description list", KindComponent, func(e Entity) { meta(e)["description"] = list() }, []string{"metadata.description"}},
		{"uid empty", KindComponent, func(e Entity) { meta(e)["uid"] = "" }, []string{"metadata.uid"}},
		{"etag number", KindComponent, func(e Entity) { meta(e)["etag"] = 3.0 }, []string{"metadata.etag"}},
		{"generation zero", KindComponent, func(e Entity) { meta(e)["generation"] = 0.0 }, []string{"metadata.generation"}},
		{"generation fraction", KindComponent, func(e Entity) { meta(e)["generation"] = 1.5 }, []string{"metadata.generation"}},
		{"generation fine", KindComponent, func(e Entity) { meta(e)["generation"] = 3.0 }, nil},

		// labels
		{"labels fine", KindComponent, func(e Entity) {
			meta(e)["labels"] = obj("example.com/team", "a-b", "tier", "", "a.b.c/x_y", "V1.2")
		}, nil},
		{"labels not an object", KindComponent, func(e Entity) { meta(e)["labels"] = list() }, []string{"metadata.labels"}},
		{"label key two slashes", KindComponent, func(e Entity) { meta(e)["labels"] = obj("a/b/c", "x") }, []string{`metadata.labels["a/b/c"]`}},
		{"label key upper prefix", KindComponent, func(e Entity) { meta(e)["labels"] = obj("Example.com/x", "x") }, []string{`metadata.labels["Example.com/x"]`}},
		{"label key empty name", KindComponent, func(e Entity) { meta(e)["labels"] = obj("example.com/", "x") }, []string{`metadata.labels["example.com/"]`}},
		{"label key leading dash", KindComponent, func(e Entity) { meta(e)["labels"] = obj("-x", "x") }, []string{`metadata.labels["-x"]`}},
		{"label key prefix too long", KindComponent, func(e Entity) {
			meta(e)["labels"] = obj(strings.Repeat(long+".", 4)+"a/x", "x")
		}, []string{`metadata.labels["` + strings.Repeat(long+".", 4) + `a/x"]`}},
		{"label value space", KindComponent, func(e Entity) { meta(e)["labels"] = obj("x", "a b") }, []string{"metadata.labels.x"}},
		{"label value number", KindComponent, func(e Entity) { meta(e)["labels"] = obj("x", 1.0) }, []string{"metadata.labels.x"}},
		{"label value 64 chars", KindComponent, func(e Entity) { meta(e)["labels"] = obj("x", long+"a") }, []string{"metadata.labels.x"}},
		{"label key and value bad", KindComponent, func(e Entity) { meta(e)["labels"] = obj("a b", "c d") }, []string{`metadata.labels["a b"]`, `metadata.labels["a b"]`}},

		// annotations
		{"annotations fine", KindComponent, func(e Entity) {
			meta(e)["annotations"] = obj("backstage.io/techdocs-ref", "dir:.", "github.com/project-slug", "org/repo with spaces & more", "x", "")
		}, nil},
		{"annotations list", KindComponent, func(e Entity) { meta(e)["annotations"] = list("x") }, []string{"metadata.annotations"}},
		{"annotation value number", KindComponent, func(e Entity) { meta(e)["annotations"] = obj("a.io/x", 1.0) }, []string{`metadata.annotations["a.io/x"]`}},
		{"annotation value bool", KindComponent, func(e Entity) { meta(e)["annotations"] = obj("x", true) }, []string{"metadata.annotations.x"}},
		{"annotation key bad", KindComponent, func(e Entity) { meta(e)["annotations"] = obj("bad key", "v") }, []string{`metadata.annotations["bad key"]`}},

		// tags
		{"tags fine", KindComponent, func(e Entity) { meta(e)["tags"] = list("java", "c++", "c#", "a:b", "data-2", long) }, nil},
		{"tags string", KindComponent, func(e Entity) { meta(e)["tags"] = "java" }, []string{"metadata.tags"}},
		{"tag upper case", KindComponent, func(e Entity) { meta(e)["tags"] = list("ok", "Java") }, []string{"metadata.tags[1]"}},
		{"tag double dash", KindComponent, func(e Entity) { meta(e)["tags"] = list("a--b") }, []string{"metadata.tags[0]"}},
		{"tag underscore", KindComponent, func(e Entity) { meta(e)["tags"] = list("a_b") }, []string{"metadata.tags[0]"}},
		{"tag dot", KindComponent, func(e Entity) { meta(e)["tags"] = list("a.b") }, []string{"metadata.tags[0]"}},
		{"tag empty", KindComponent, func(e Entity) { meta(e)["tags"] = list("") }, []string{"metadata.tags[0]"}},
		{"tag 64 chars", KindComponent, func(e Entity) { meta(e)["tags"] = list(long + "a") }, []string{"metadata.tags[0]"}},
		{"tag number", KindComponent, func(e Entity) { meta(e)["tags"] = list(1.0) }, []string{"metadata.tags[0]"}},
		{"every bad tag reported", KindComponent, func(e Entity) { meta(e)["tags"] = list("A", "ok", "b_", "-c") }, []string{"metadata.tags[0]", "metadata.tags[2]", "metadata.tags[3]"}},

		// links
		{"links fine", KindComponent, func(e Entity) {
			meta(e)["links"] = list(
				obj("url", "https://admin.example.com/x?y=1#z", "title", "Admin", "icon", "dashboard", "type", "admin"),
				obj("url", "xyz://custom-protocol:4444/path"),
				obj("url", "mailto:team@example.com"),
				obj("url", "  http://foo  "),
			)
		}, nil},
		{"links object", KindComponent, func(e Entity) { meta(e)["links"] = obj() }, []string{"metadata.links"}},
		{"link not an object", KindComponent, func(e Entity) { meta(e)["links"] = list("https://x") }, []string{"metadata.links[0]"}},
		{"link without url", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("title", "x")) }, []string{"metadata.links[0].url"}},
		{"link relative url", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "abc")) }, []string{"metadata.links[0].url"}},
		{"link url without host", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "http://")) }, []string{"metadata.links[0].url"}},
		{"link url empty", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "")) }, []string{"metadata.links[0].url"}},
		{"link url number", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", 5.0)) }, []string{"metadata.links[0].url"}},
		{"link blank title", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "https://x", "title", "  ")) }, []string{"metadata.links[0].title"}},
		{"link bad icon", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "https://x", "icon", "an icon")) }, []string{"metadata.links[0].icon"}},
		{"link empty type", KindComponent, func(e Entity) { meta(e)["links"] = list(obj("url", "https://x", "type", "")) }, []string{"metadata.links[0].type"}},
		{"second link bad", KindComponent, func(e Entity) {
			meta(e)["links"] = list(obj("url", "https://x"), obj("url", "nope"))
		}, []string{"metadata.links[1].url"}},

		// Component
		{"component missing type", KindComponent, func(e Entity) { delete(spec(e), "type") }, []string{"spec.type"}},
		{"component missing lifecycle", KindComponent, func(e Entity) { delete(spec(e), "lifecycle") }, []string{"spec.lifecycle"}},
		{"component missing owner", KindComponent, func(e Entity) { delete(spec(e), "owner") }, []string{"spec.owner"}},
		{"component missing all three", KindComponent, func(e Entity) { e["spec"] = obj() }, []string{"spec.type", "spec.lifecycle", "spec.owner"}},
		{"component empty owner", KindComponent, func(e Entity) { spec(e)["owner"] = "" }, []string{"spec.owner"}},
		{"component owner number", KindComponent, func(e Entity) { spec(e)["owner"] = 5.0 }, []string{"spec.owner"}},
		{"component owner list", KindComponent, func(e Entity) { spec(e)["owner"] = list("a") }, []string{"spec.owner"}},
		{"component type null", KindComponent, func(e Entity) { spec(e)["type"] = nil }, []string{"spec.type"}},
		{"component system number", KindComponent, func(e Entity) { spec(e)["system"] = 1.0 }, []string{"spec.system"}},
		{"component subcomponentOf empty", KindComponent, func(e Entity) { spec(e)["subcomponentOf"] = "" }, []string{"spec.subcomponentOf"}},
		{"component providesApis string", KindComponent, func(e Entity) { spec(e)["providesApis"] = "x" }, []string{"spec.providesApis"}},
		{"component consumesApis empty item", KindComponent, func(e Entity) { spec(e)["consumesApis"] = list("a", "") }, []string{"spec.consumesApis[1]"}},
		{"component dependsOn number item", KindComponent, func(e Entity) { spec(e)["dependsOn"] = list(1.0) }, []string{"spec.dependsOn[0]"}},
		{"component dependsOn needs a kind", KindComponent, func(e Entity) { spec(e)["dependsOn"] = list("resource:db", "db") }, []string{"spec.dependsOn[1]"}},
		{"component dependencyOf needs a kind", KindComponent, func(e Entity) { spec(e)["dependencyOf"] = list("x") }, []string{"spec.dependencyOf[0]"}},
		{"component owner malformed ref", KindComponent, func(e Entity) { spec(e)["owner"] = "group:" }, []string{"spec.owner"}},
		{"component system malformed ref", KindComponent, func(e Entity) { spec(e)["system"] = "ns/" }, []string{"spec.system"}},
		{"component all refs fine", KindComponent, func(e Entity) {
			s := spec(e)
			s["system"], s["subcomponentOf"] = "shop", "other/parent"
			s["providesApis"], s["consumesApis"] = list("a", "api:ns/b"), list("c")
			s["dependsOn"], s["dependencyOf"] = list("resource:db", "component:other/x"), list("system:shop")
		}, nil},
		{"component unknown spec fields allowed", KindComponent, func(e Entity) { spec(e)["custom"] = obj("a", 1.0) }, nil},

		// API
		{"api missing definition", KindAPI, func(e Entity) { delete(spec(e), "definition") }, []string{"spec.definition"}},
		{"api empty definition", KindAPI, func(e Entity) { spec(e)["definition"] = "" }, []string{"spec.definition"}},
		{"api definition object", KindAPI, func(e Entity) { spec(e)["definition"] = obj() }, []string{"spec.definition"}},
		{"api missing type lifecycle owner", KindAPI, func(e Entity) {
			delete(spec(e), "type")
			delete(spec(e), "lifecycle")
			delete(spec(e), "owner")
		}, []string{"spec.type", "spec.lifecycle", "spec.owner"}},
		{"api system empty", KindAPI, func(e Entity) { spec(e)["system"] = "" }, []string{"spec.system"}},

		// System and Domain
		{"system missing owner", KindSystem, func(e Entity) { delete(spec(e), "owner") }, []string{"spec.owner"}},
		{"system domain number", KindSystem, func(e Entity) { spec(e)["domain"] = 1.0 }, []string{"spec.domain"}},
		{"system type empty", KindSystem, func(e Entity) { spec(e)["type"] = "" }, []string{"spec.type"}},
		{"domain missing owner", KindDomain, func(e Entity) { delete(spec(e), "owner") }, []string{"spec.owner"}},
		{"domain subdomainOf empty", KindDomain, func(e Entity) { spec(e)["subdomainOf"] = "" }, []string{"spec.subdomainOf"}},
		{"domain subdomainOf fine", KindDomain, func(e Entity) { spec(e)["subdomainOf"] = "root" }, nil},

		// Resource
		{"resource missing type", KindResource, func(e Entity) { delete(spec(e), "type") }, []string{"spec.type"}},
		{"resource missing owner", KindResource, func(e Entity) { delete(spec(e), "owner") }, []string{"spec.owner"}},
		{"resource dependsOn string", KindResource, func(e Entity) { spec(e)["dependsOn"] = "resource:x" }, []string{"spec.dependsOn"}},
		{"resource dependencyOf needs kind", KindResource, func(e Entity) { spec(e)["dependencyOf"] = list("x") }, []string{"spec.dependencyOf[0]"}},

		// Group
		{"group missing type", KindGroup, func(e Entity) { delete(spec(e), "type") }, []string{"spec.type"}},
		{"group missing children", KindGroup, func(e Entity) { delete(spec(e), "children") }, []string{"spec.children"}},
		{"group children null", KindGroup, func(e Entity) { spec(e)["children"] = nil }, []string{"spec.children"}},
		{"group children number item", KindGroup, func(e Entity) { spec(e)["children"] = list("a", 1.0) }, []string{"spec.children[1]"}},
		{"group parent empty", KindGroup, func(e Entity) { spec(e)["parent"] = "" }, []string{"spec.parent"}},
		{"group members string", KindGroup, func(e Entity) { spec(e)["members"] = "jdoe" }, []string{"spec.members"}},
		{"group profile fine", KindGroup, func(e Entity) {
			spec(e)["profile"] = obj("displayName", "Team A", "email", "a@example.com", "picture", "https://x/p.png")
		}, nil},
		{"group profile string", KindGroup, func(e Entity) { spec(e)["profile"] = "x" }, []string{"spec.profile"}},
		{"group profile empty email", KindGroup, func(e Entity) { spec(e)["profile"] = obj("email", "") }, []string{"spec.profile.email"}},

		// User
		{"user missing memberOf", KindUser, func(e Entity) { delete(spec(e), "memberOf") }, []string{"spec.memberOf"}},
		{"user memberOf empty list", KindUser, func(e Entity) { spec(e)["memberOf"] = list() }, nil},
		{"user memberOf null", KindUser, func(e Entity) { spec(e)["memberOf"] = nil }, []string{"spec.memberOf"}},
		{"user memberOf number", KindUser, func(e Entity) { spec(e)["memberOf"] = 7.0 }, []string{"spec.memberOf"}},
		{"user profile picture number", KindUser, func(e Entity) { spec(e)["profile"] = obj("picture", 1.0) }, []string{"spec.profile.picture"}},
		{"user empty spec", KindUser, func(e Entity) { e["spec"] = obj() }, []string{"spec.memberOf"}},

		// Location
		{"location empty spec", KindLocation, func(e Entity) { e["spec"] = obj() }, nil},
		{"location target and type", KindLocation, func(e Entity) { e["spec"] = obj("type", "url", "target", "./x.yaml") }, nil},
		{"location empty target", KindLocation, func(e Entity) { spec(e)["target"] = "" }, []string{"spec.target"}},
		{"location targets string", KindLocation, func(e Entity) { spec(e)["targets"] = "./a.yaml" }, []string{"spec.targets"}},
		{"location targets empty item", KindLocation, func(e Entity) { spec(e)["targets"] = list("") }, []string{"spec.targets[0]"}},
		{"location type empty", KindLocation, func(e Entity) { spec(e)["type"] = "" }, []string{"spec.type"}},
		{"location presence optional", KindLocation, func(e Entity) { spec(e)["presence"] = "optional" }, nil},
		{"location presence bad", KindLocation, func(e Entity) { spec(e)["presence"] = "maybe" }, []string{"spec.presence"}},

		// Template
		{"template missing type", KindTemplate, func(e Entity) { delete(spec(e), "type") }, []string{"spec.type"}},
		{"template missing steps", KindTemplate, func(e Entity) { delete(spec(e), "steps") }, []string{"spec.steps"}},
		{"template steps object", KindTemplate, func(e Entity) { spec(e)["steps"] = obj() }, []string{"spec.steps"}},
		{"template empty steps", KindTemplate, func(e Entity) { spec(e)["steps"] = list() }, nil},
		{"template step not object", KindTemplate, func(e Entity) { spec(e)["steps"] = list("x") }, []string{"spec.steps[0]"}},
		{"template step without action", KindTemplate, func(e Entity) { spec(e)["steps"] = list(obj("id", "a")) }, []string{"spec.steps[0].action"}},
		{"template step action number", KindTemplate, func(e Entity) { spec(e)["steps"] = list(obj("action", 1.0)) }, []string{"spec.steps[0].action"}},
		{"template step input string", KindTemplate, func(e Entity) { spec(e)["steps"] = list(obj("action", "a", "input", "x")) }, []string{"spec.steps[0].input"}},
		{"template step if bool and string", KindTemplate, func(e Entity) {
			spec(e)["steps"] = list(obj("action", "a", "if", true), obj("action", "b", "if", "${{ parameters.x }}"))
		}, nil},
		{"template step if number", KindTemplate, func(e Entity) { spec(e)["steps"] = list(obj("action", "a", "if", 1.0)) }, []string{"spec.steps[0].if"}},
		{"template step permissions tags", KindTemplate, func(e Entity) {
			spec(e)["steps"] = list(obj("action", "a", "backstage:permissions", obj("tags", list(1.0))))
		}, []string{`spec.steps[0]["backstage:permissions"].tags`}},
		{"template parameters object", KindTemplate, func(e Entity) { spec(e)["parameters"] = obj("required", list("name")) }, nil},
		{"template parameters array", KindTemplate, func(e Entity) { spec(e)["parameters"] = list(obj(), obj("title", "x")) }, nil},
		{"template parameters string", KindTemplate, func(e Entity) { spec(e)["parameters"] = "x" }, []string{"spec.parameters"}},
		{"template parameters array of strings", KindTemplate, func(e Entity) { spec(e)["parameters"] = list(obj(), "x") }, []string{"spec.parameters[1]"}},
		{"template owner empty", KindTemplate, func(e Entity) { spec(e)["owner"] = "" }, []string{"spec.owner"}},
		{"template owner fine", KindTemplate, func(e Entity) { spec(e)["owner"] = "user:jdoe"; spec(e)["lifecycle"] = "production" }, nil},
		{"template output fine", KindTemplate, func(e Entity) {
			spec(e)["output"] = obj("links", list(obj("url", "${{ steps.publish.output.remoteUrl }}", "title", "Repo")),
				"text", list(obj("title", "Note", "content", "")), "remoteUrl", "${{ steps.x }}")
		}, nil},
		{"template output string", KindTemplate, func(e Entity) { spec(e)["output"] = "x" }, []string{"spec.output"}},
		{"template output extra number", KindTemplate, func(e Entity) { spec(e)["output"] = obj("count", 1.0) }, []string{"spec.output.count"}},
		{"template output links string", KindTemplate, func(e Entity) { spec(e)["output"] = obj("links", "x") }, []string{"spec.output.links"}},
		{"template output link empty url", KindTemplate, func(e Entity) { spec(e)["output"] = obj("links", list(obj("url", ""))) }, []string{"spec.output.links[0].url"}},
		{"template output text content number", KindTemplate, func(e Entity) { spec(e)["output"] = obj("text", list(obj("content", 1.0))) }, []string{"spec.output.text[0].content"}},
		{"template secrets string", KindTemplate, func(e Entity) { spec(e)["secrets"] = "x" }, []string{"spec.secrets"}},

		// Keys that differ only in case collide in the search index.
		{"spec keys differ in case", "Widget", func(e Entity) { e["spec"] = obj("foo", 1.0, "Foo", 2.0) }, []string{"spec.foo"}},
		{"label keys differ in case", KindComponent, func(e Entity) { meta(e)["labels"] = obj("a", "x", "A", "y") }, []string{"metadata.labels.a"}},
		{"metadata Name collides with name", KindComponent, func(e Entity) { meta(e)["Name"] = "x" }, []string{"metadata.Name"}},
		{"tags differing in case do not collide", "Widget", func(e Entity) { e["spec"] = obj("list", list("Java", "java")) }, nil},
		{"nested keys differ in case", "Widget", func(e Entity) { e["spec"] = obj("a", list(obj("b", 1.0), obj("B", 2.0))) }, []string{"spec.a[1].B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base(t, tt.kind)
			if tt.mutate != nil {
				tt.mutate(e)
			}
			vs := Validate(e)
			var got []string
			for _, v := range vs {
				got = append(got, v.Field)
				if v.Description == "" {
					t.Errorf("violation at %s has no description", v.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations = %v, want fields %v", vs, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryViolation(t *testing.T) {
	e := mustJSON(t, `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","extra":1,
		"metadata":{"name":"-bad","namespace":"Bad","tags":["A"],"labels":{"k":"a b"},"links":[{}]},
		"spec":{"owner":"","dependsOn":["x"]}}`)
	want := []string{
		"extra", "metadata.name", "metadata.namespace", "metadata.labels.k", "metadata.tags[0]",
		"metadata.links[0].url", "spec.type", "spec.lifecycle", "spec.owner", "spec.dependsOn[0]",
	}
	var got []string
	for _, v := range Validate(e) {
		got = append(got, v.Field)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fields = %v\nwant %v", got, want)
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		mutate func(e Entity)
		field  string
		substr string
	}{
		{func(e Entity) { meta(e)["name"] = "a b" }, "metadata.name", `"a b" is not valid`},
		{func(e Entity) { delete(spec(e), "owner") }, "spec.owner", "is required"},
		{func(e Entity) { e["kind"] = "component" }, "kind", `must be spelled "Component"`},
		{func(e Entity) { spec(e)["dependsOn"] = list("db") }, "spec.dependsOn[0]", "has no kind"},
		{func(e Entity) { e["apiVersion"] = "backstage.io/v9" }, "apiVersion", "backstage.io/v1alpha1 or backstage.io/v1beta1"},
		{func(e Entity) { spec(e)["owner"] = 3.0 }, "spec.owner", "must be a string, got number"},
	}
	for _, tt := range tests {
		e := base(t, KindComponent)
		tt.mutate(e)
		vs := Validate(e)
		if len(vs) != 1 || vs[0].Field != tt.field || !strings.Contains(vs[0].Description, tt.substr) {
			t.Errorf("violations = %v, want one at %s containing %q", vs, tt.field, tt.substr)
		}
	}
}

func TestFormatPredicates(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"name", IsValidName, "a", true},
		{"name", IsValidName, "", false},
		{"name", IsValidName, "a.", false},
		{"namespace", IsValidNamespace, "default", true},
		{"namespace", IsValidNamespace, "-a", false},
		{"kind", IsValidKind, "Component", true},
		{"kind", IsValidKind, "", false},
		{"tag", IsValidTag, "c++", true},
		{"tag", IsValidTag, "-x", false},
		{"label key", IsValidLabelKey, "backstage.io/managed-by-location", true},
		{"label key", IsValidLabelKey, "a.-b/x", false},
		{"label key", IsValidLabelKey, "/x", false},
		{"label value", IsValidLabelValue, "", true},
		{"label value", IsValidLabelValue, "x y", false},
		{"url", IsValidURL, "https://foo:8080/sub/page?query=value&another=val", true},
		{"url", IsValidURL, "ftp://ftp.some.domain.com/path", true},
		{"url", IsValidURL, "file:///etc/hosts", true},
		{"url", IsValidURL, "   abc", false},
		{"url", IsValidURL, "https://exa mple.com", false},
		{"url", IsValidURL, "1http://x", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

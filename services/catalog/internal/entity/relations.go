package entity

import (
	"sort"
)

// Relation types, as Backstage names them.
const (
	RelationOwnedBy       = "ownedBy"
	RelationOwnerOf       = "ownerOf"
	RelationPartOf        = "partOf"
	RelationHasPart       = "hasPart"
	RelationProvidesAPI   = "providesApi"
	RelationAPIProvidedBy = "apiProvidedBy"
	RelationConsumesAPI   = "consumesApi"
	RelationAPIConsumedBy = "apiConsumedBy"
	RelationDependsOn     = "dependsOn"
	RelationDependencyOf  = "dependencyOf"
	RelationParentOf      = "parentOf"
	RelationChildOf       = "childOf"
	RelationMemberOf      = "memberOf"
	RelationHasMember     = "hasMember"
)

var inverses = map[string]string{
	RelationOwnedBy:       RelationOwnerOf,
	RelationOwnerOf:       RelationOwnedBy,
	RelationPartOf:        RelationHasPart,
	RelationHasPart:       RelationPartOf,
	RelationProvidesAPI:   RelationAPIProvidedBy,
	RelationAPIProvidedBy: RelationProvidesAPI,
	RelationConsumesAPI:   RelationAPIConsumedBy,
	RelationAPIConsumedBy: RelationConsumesAPI,
	RelationDependsOn:     RelationDependencyOf,
	RelationDependencyOf:  RelationDependsOn,
	RelationParentOf:      RelationChildOf,
	RelationChildOf:       RelationParentOf,
	RelationMemberOf:      RelationHasMember,
	RelationHasMember:     RelationMemberOf,
}

// InverseRelation returns the type of the opposite edge ("ownedBy" → "ownerOf"); ok is false
// for a type this package does not derive.
func InverseRelation(relationType string) (inverse string, ok bool) {
	inverse, ok = inverses[relationType]
	return inverse, ok
}

// RelationTypes lists every relation type this package derives, sorted.
func RelationTypes() []string {
	out := make([]string, 0, len(inverses))
	for t := range inverses {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Edge is one directed relation: Source has a relation of Type to Target.
type Edge struct {
	Source Ref
	Type   string
	Target Ref
}

// Relation is one item of an entity's "relations" array, in Backstage's shape. TargetRef is
// canonical and Target holds the same parts, lowercased.
type Relation struct {
	Type      string `json:"type"`
	TargetRef string `json:"targetRef"`
	Target    Ref    `json:"target"`
}

// Relation is the edge as an item of its source's relations array.
func (e Edge) Relation() Relation {
	return Relation{Type: e.Type, TargetRef: e.Target.String(), Target: e.Target.Lower()}
}

func (r Relation) toValue() map[string]any {
	return map[string]any{
		"type":      r.Type,
		"targetRef": r.TargetRef,
		"target": map[string]any{
			"kind":      r.Target.Kind,
			"namespace": r.Target.Namespace,
			"name":      r.Target.Name,
		},
	}
}

// RelationsOf builds the relations array of the entity self from a set of edges: the edges
// whose source is self, deduplicated and sorted by type then target.
func RelationsOf(self Ref, edges []Edge) []Relation {
	out := []Relation{}
	for _, e := range edges {
		if e.Source.Equal(self) {
			out = append(out, e.Relation())
		}
	}
	return SortRelations(out)
}

// SortRelations sorts by type then targetRef and drops duplicates, in place.
func SortRelations(rs []Relation) []Relation {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Type != rs[j].Type {
			return rs[i].Type < rs[j].Type
		}
		return rs[i].TargetRef < rs[j].TargetRef
	})
	out := rs[:0]
	for i, r := range rs {
		if i > 0 && r.Type == rs[i-1].Type && r.TargetRef == rs[i-1].TargetRef {
			continue
		}
		out = append(out, r)
	}
	return out
}

// relationRule is one spec field that BuiltinKindsEntityProcessor (or, for Template,
// ScaffolderEntitiesProcessor) turns into a pair of edges.
type relationRule struct {
	field       string
	defaultKind string // "" means the reference must name its kind
	outgoing    string
	incoming    string
}

var (
	ruleOwner        = relationRule{"owner", "Group", RelationOwnedBy, RelationOwnerOf}
	ruleSystem       = relationRule{"system", "System", RelationPartOf, RelationHasPart}
	ruleDependsOn    = relationRule{"dependsOn", "", RelationDependsOn, RelationDependencyOf}
	ruleDependencyOf = relationRule{"dependencyOf", "", RelationDependencyOf, RelationDependsOn}
)

var relationRules = map[string][]relationRule{
	KindComponent: {
		ruleOwner,
		{"subcomponentOf", "Component", RelationPartOf, RelationHasPart},
		{"providesApis", "API", RelationProvidesAPI, RelationAPIProvidedBy},
		{"consumesApis", "API", RelationConsumesAPI, RelationAPIConsumedBy},
		ruleDependsOn,
		ruleDependencyOf,
		ruleSystem,
	},
	KindAPI: {ruleOwner, ruleSystem},
	KindResource: {
		ruleOwner,
		ruleDependsOn,
		ruleDependencyOf,
		ruleSystem,
	},
	KindUser: {{"memberOf", "Group", RelationMemberOf, RelationHasMember}},
	KindGroup: {
		{"parent", "Group", RelationChildOf, RelationParentOf},
		{"children", "Group", RelationParentOf, RelationChildOf},
		{"members", "User", RelationHasMember, RelationMemberOf},
	},
	KindSystem:   {ruleOwner, {"domain", "Domain", RelationPartOf, RelationHasPart}},
	KindDomain:   {ruleOwner, {"subdomainOf", "Domain", RelationPartOf, RelationHasPart}},
	KindTemplate: {ruleOwner},
}

// DeriveEdges returns the edges Backstage derives from the entity's spec, both directions, in
// spec order and without duplicates. References default to the field's kind (none for
// dependsOn and dependencyOf) and to the entity's own namespace. Like Backstage, a field may
// hold a string or a list of strings; other types and empty strings are skipped (Validate
// reports them), and a non-empty reference that does not parse is returned as a violation.
// Kinds other than the known ones derive nothing.
func DeriveEdges(e Entity) ([]Edge, []Violation) {
	rules := relationRules[e.Kind()]
	if rules == nil {
		return nil, nil
	}
	if e.Kind() == KindTemplate && e.APIVersion() != templateAPIVersion {
		return nil, nil
	}
	spec := e.Spec()
	if spec == nil {
		return nil, nil
	}
	self := e.Ref()
	var edges []Edge
	var vs []Violation
	// Outgoing and incoming edges of one target are added or skipped together, so one key
	// per (rule's outgoing type, target) is enough.
	seen := map[[2]string]bool{}
	emit := func(rule relationRule, path, target string) {
		if target == "" {
			return
		}
		ref, err := ParseRef(target, rule.defaultKind, self.Namespace)
		if err != nil {
			vs = append(vs, Violation{Field: path, Description: err.Error()})
			return
		}
		key := [2]string{rule.outgoing, ref.String()}
		if seen[key] {
			return
		}
		seen[key] = true
		edges = append(edges, Edge{Source: self, Type: rule.outgoing, Target: ref}, Edge{Source: ref, Type: rule.incoming, Target: self})
	}

	for _, rule := range rules {
		path := appendKey("spec", rule.field)
		switch v := spec[rule.field].(type) {
		case string:
			emit(rule, path, v)
		case []any:
			for i, item := range v {
				if s, ok := item.(string); ok {
					emit(rule, appendIndex(path, i), s)
				}
			}
		}
	}
	return edges, vs
}

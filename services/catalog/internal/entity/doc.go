// Package entity is the Backstage entity model as Atrium stores and serves it: the entity as a
// JSON object, its validation, entity references, the relations derived from its spec, and the
// hashes that drive etag and generation. It does no I/O.
//
// # The entity
//
// An [Entity] is a map[string]any holding JSON values only: nil, bool, float64, string, []any
// and map[string]any. Build one with [FromJSON], [FromStruct] or [FromValue] (the last takes
// what yamldoc decodes); each deep-copies, turns every number into float64 (Backstage is
// JavaScript: numbers are doubles) and rejects what JSON cannot hold. Typed accessors
// ([Entity.Kind], [Entity.Name], [Entity.Namespace], [Entity.Tags], ...) never panic on a
// malformed entity; they return zero values.
//
// # Writing an entity
//
// The write path of a store is:
//
//	e, err := entity.FromStruct(s)   // or FromValue(doc.Value), FromJSON(b)
//	e = entity.Normalize(e)          // strip uid/etag/generation/relations/status, default namespace
//	vs := entity.Validate(e)         // every violation, not only the first
//	edges, _ := entity.DeriveEdges(e) // relations both ways; its violations are in vs already
//	etag, specHash := entity.Etag(e), entity.SpecHash(e)
//	ref := e.Ref().String()          // "component:default/petstore", the unique key
//
// Validate follows Backstage's catalog-model: FieldFormatEntityPolicy and
// NoForeignRootFieldsEntityPolicy for the envelope, EntityMeta.schema.json for metadata types,
// the kind JSON schemas for Component, API, System, Domain, Resource, Group, User and Location
// (backstage.io/v1alpha1 and v1beta1) and Template (scaffolder.backstage.io/v1beta3), and the
// reference parsing of BuiltinKindsEntityProcessor (a dependsOn entry without a kind is an
// error there, so it is a violation here). Other kinds get envelope validation only. A kind
// that differs from a known kind only in case ("component") is rejected: refs compare
// case-insensitively, so it would collide with the known kind while skipping its rules.
//
// # Violations
//
// A [Violation] is a field path and a description. Paths are dotted; a map key that is not a
// plain identifier is quoted in brackets and list items are indexed:
//
//	metadata.name
//	metadata.labels["example.com/team"]
//	metadata.tags[2]
//	spec.dependsOn[0]
//
// A caller prefixes its own context, e.g. "documents[3]." + v.Field.
//
// # References and relations
//
// [ParseRef] reads "[kind:][namespace/]name" with defaults; [Ref.String] is the canonical,
// lowercased "kind:namespace/name" that keys every entity and relation. [DeriveEdges] returns
// every edge Backstage's processors emit for an entity, both directions: a Component owned by
// team-a yields component→ownedBy→group:default/team-a and group:default/team-a→ownerOf→
// component. A store keeps all edges keyed by the entity that produced them (replacing them
// when it changes) and builds an entity's "relations" array from the edges whose source is
// that entity, with [Edge.Relation] and [SortRelations]. Targets need not exist.
//
// # Hashes
//
// [Etag] hashes the canonical JSON of the entity without metadata.uid, metadata.etag,
// metadata.generation, relations and status: equal content, equal etag, so an unchanged
// re-apply can write nothing. [SpecHash] hashes spec alone; generation increments when it
// changes.
package entity

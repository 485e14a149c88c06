package store

import (
	"regexp"
	"testing"

	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/validate"
)

func TestNewID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9][a-z0-9]{19}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !shape.MatchString(id) || !IsID(id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		// Ids and slugs never collide, so "id or slug" lookups are unambiguous.
		if validate.Slug(id) == "" {
			t.Fatalf("id %q is a valid slug", id)
		}
		if !tenantdb.ValidSchema(tenantdb.SchemaFor(id)) {
			t.Fatalf("schema of %q is not a valid tenant schema", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	if IsID("acme") || IsID("") {
		t.Fatal("slug or empty taken for an id")
	}
}

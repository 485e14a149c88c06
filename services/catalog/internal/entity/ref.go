package entity

import (
	"fmt"
	"strings"
)

// Ref names an entity: kind, namespace and name. Parts keep the case they were written in;
// [Ref.String] gives the canonical lowercased form used as a key, and refs compare
// case-insensitively.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// RefError is a reference that does not parse.
type RefError struct {
	Ref    string
	Reason string
}

func (e *RefError) Error() string {
	if e.Ref == "" {
		return "entity reference must not be empty"
	}
	return fmt.Sprintf("entity reference %q %s", e.Ref, e.Reason)
}

// ParseRef parses "[kind:][namespace/]name" as Backstage's parseEntityRef does. A missing kind
// takes defaultKind and is an error when that is empty too; a missing namespace takes
// defaultNamespace, or "default" when that is empty. A colon after the first slash belongs to
// the name ("ns/a:b" is namespace ns, name "a:b"); an explicitly empty part ("component:x",
// ":x", "a/") is an error.
func ParseRef(s, defaultKind, defaultNamespace string) (Ref, error) {
	if s == "" {
		return Ref{}, &RefError{}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Ref{}, &RefError{Ref: s, Reason: "holds a NUL byte"}
	}
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	if slash != -1 && slash < colon {
		colon = -1
	}
	var r Ref
	hasKind, hasNamespace := colon != -1, slash != -1
	if hasKind {
		r.Kind = s[:colon]
	}
	if hasNamespace {
		r.Namespace = s[colon+1 : slash]
	}
	r.Name = s[max(colon+1, slash+1):]
	if (hasKind && r.Kind == "") || (hasNamespace && r.Namespace == "") || r.Name == "" {
		return Ref{}, &RefError{Ref: s, Reason: "is not on the form [<kind>:][<namespace>/]<name>"}
	}
	if !hasKind {
		if defaultKind == "" {
			return Ref{}, &RefError{Ref: s, Reason: `has no kind (e.g. it does not start with "component:" or similar)`}
		}
		r.Kind = defaultKind
	}
	if !hasNamespace {
		r.Namespace = defaultNamespace
		if r.Namespace == "" {
			r.Namespace = DefaultNamespace
		}
	}
	return r, nil
}

// String is the canonical reference "kind:namespace/name", lowercased.
func (r Ref) String() string {
	return strings.ToLower(r.Kind) + ":" + strings.ToLower(r.Namespace) + "/" + strings.ToLower(r.Name)
}

// Lower returns the ref with every part lowercased.
func (r Ref) Lower() Ref {
	return Ref{Kind: strings.ToLower(r.Kind), Namespace: strings.ToLower(r.Namespace), Name: strings.ToLower(r.Name)}
}

// Equal compares two refs case-insensitively.
func (r Ref) Equal(o Ref) bool { return r.Lower() == o.Lower() }

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r == Ref{} }

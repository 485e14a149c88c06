package entity

import "testing"

func TestParseRef(t *testing.T) {
	tests := []struct {
		in, defKind, defNS string
		want               Ref
		wantErr            bool
	}{
		{"component:default/petstore", "", "", Ref{"component", "default", "petstore"}, false},
		{"Component:Default/PetStore", "", "", Ref{"Component", "Default", "PetStore"}, false},
		{"team-a", "Group", "ns1", Ref{"Group", "ns1", "team-a"}, false},
		{"team-a", "Group", "", Ref{"Group", "default", "team-a"}, false},
		{"other/team-a", "Group", "ns1", Ref{"Group", "other", "team-a"}, false},
		{"user:jdoe", "Group", "ns1", Ref{"user", "ns1", "jdoe"}, false},
		{"user:other/jdoe", "Group", "ns1", Ref{"user", "other", "jdoe"}, false},
		{"a:b:c", "", "", Ref{"a", "default", "b:c"}, false},
		{"ns/a:b", "K", "", Ref{"K", "ns", "a:b"}, false},
		{"ns/a/b", "K", "", Ref{"K", "ns", "a/b"}, false},
		{"k:ns/a/b", "", "", Ref{"k", "ns", "a/b"}, false},
		{"db", "", "ns1", Ref{}, true},
		{"ns/db", "", "", Ref{}, true},
		{"", "Group", "", Ref{}, true},
		{":x", "Group", "", Ref{}, true},
		{"x:", "Group", "", Ref{}, true},
		{"/x", "Group", "", Ref{}, true},
		{"x/", "Group", "", Ref{}, true},
		{"k:/x", "", "", Ref{}, true},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in, tt.defKind, tt.defNS)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRef(%q, %q, %q) = %+v, %v; want %+v, err %v", tt.in, tt.defKind, tt.defNS, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRefString(t *testing.T) {
	r := Ref{"Component", "Default", "PetStore"}
	if got := r.String(); got != "component:default/petstore" {
		t.Errorf("String = %q", got)
	}
	if !r.Equal(Ref{"component", "default", "petstore"}) {
		t.Error("refs differing in case must be equal")
	}
	if r.Equal(Ref{"component", "default", "petstore2"}) || r.Equal(Ref{"api", "default", "petstore"}) || r.Equal(Ref{"component", "x", "petstore"}) {
		t.Error("different refs compared equal")
	}
	if r.Lower() != (Ref{"component", "default", "petstore"}) {
		t.Errorf("Lower = %+v", r.Lower())
	}
	if !(Ref{}).IsZero() || r.IsZero() {
		t.Error("IsZero wrong")
	}
	// Parse then String is the canonical key whatever the input case.
	a, _ := ParseRef("Group:Default/Team-A", "", "")
	b, _ := ParseRef("team-a", "group", "DEFAULT")
	if a.String() != b.String() {
		t.Errorf("%s != %s", a, b)
	}
}

func TestRefErrorMessages(t *testing.T) {
	_, err := ParseRef("", "", "")
	if err == nil || err.Error() != "entity reference must not be empty" {
		t.Errorf("empty: %v", err)
	}
	_, err = ParseRef("db", "", "")
	if err == nil || err.Error() != `entity reference "db" has no kind (e.g. it does not start with "component:" or similar)` {
		t.Errorf("no kind: %v", err)
	}
}

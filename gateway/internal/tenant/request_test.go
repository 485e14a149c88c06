package tenant

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFromRequest(t *testing.T) {
	base := []string{"atrium.example.com"}
	tests := []struct {
		host, header string
		want         string
		bad          bool
	}{
		{"acme.localhost", "", "acme", false},
		{"acme.localhost:8080", "", "acme", false},
		{"ACME.LocalHost.", "", "acme", false},
		{"acme.atrium.example.com", "", "acme", false},
		{"acme.atrium.example.com:443", "", "acme", false},
		{"localhost:8080", "", "", false},
		{"127.0.0.1:8080", "", "", false},
		{"a.b.localhost", "", "", false},      // two labels name no tenant
		{"-x.localhost", "", "", false},       // not a DNS label
		{"acme.other.example", "", "", false}, // not a base domain
		{"evil-atrium.example.com", "", "", false},
		{"localhost", "acme", "acme", false},
		{"localhost", " Acme ", "acme", false},
		{"acme.localhost", "acme", "acme", false},
		{"acme.localhost", "globex", "", true},
		{"localhost", "acme corp", "", true},
		{"localhost", "acme;drop", "", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/x", nil)
		r.Host = tt.host
		if tt.header != "" {
			r.Header.Set(Header, tt.header)
		}
		got, err := FromRequest(r, base)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("host %q header %q = %q, %v; want %q, bad %v", tt.host, tt.header, got, err, tt.want, tt.bad)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	tests := []struct {
		payload string
		keys    []string
		all     bool
	}{
		{`{"tenant_id":"t1","slug":"acme","status":"suspended"}`, []string{"t1", "acme"}, false},
		{`{"slug":"acme"}`, []string{"acme"}, false},
		{`acme`, []string{"acme"}, false},
		{`{}`, nil, true},
		{`{not json`, nil, true},
		{``, nil, true},
		{`*`, nil, true},
	}
	for _, tt := range tests {
		keys, all := changedKeys(tt.payload)
		if all != tt.all || strings.Join(keys, ",") != strings.Join(tt.keys, ",") {
			t.Errorf("changedKeys(%q) = %v, %v", tt.payload, keys, all)
		}
	}
}

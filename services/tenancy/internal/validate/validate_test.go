package validate

import (
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" valid, else a substring of the description
	}{
		{"acme", ""},
		{"a1-b2", ""},
		{"abc", ""},
		{strings.Repeat("a", 40), ""},
		{"", "required"},
		{"ab", "3 to 40"},
		{strings.Repeat("a", 41), "3 to 40"},
		{"Acme", "lowercase"},
		{"ac_me", "a-z, 0-9"},
		{"acmé", "a-z, 0-9"},
		{"ac me", "a-z, 0-9"},
		{"1acme", "start with a letter"},
		{"-acme", "start with a letter"},
		{"acme-", "end with -"},
		{"xn--acme", "--"},
		{"www", "reserved"},
		{"admin", "reserved"},
		{"localhost", "reserved"},
	}
	for _, tt := range tests {
		got := Slug(tt.in)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEmail(t *testing.T) {
	valid := []string{"a@example.com", "first.last+tag@sub.example.co.uk"}
	invalid := []string{"", "plain", "a@b", "a@", "@example.com", "A <a@example.com>", "a@example.com.", "a@exa..mple.com",
		"a b@example.com", "a@[127.0.0.1]", strings.Repeat("a", 250) + "@example.com"}
	for _, s := range valid {
		if got := Email(s); got != "" {
			t.Errorf("Email(%q) = %q, want valid", s, got)
		}
	}
	for _, s := range invalid {
		if got := Email(s); got == "" {
			t.Errorf("Email(%q) valid, want invalid", s)
		}
	}
	if got := NormalizeEmail("  Alice@Example.COM "); got != "alice@example.com" {
		t.Errorf("NormalizeEmail = %q", got)
	}
}

func TestPassword(t *testing.T) {
	tests := []struct {
		pw, slug, email string
		want            string
	}{
		{"correct horse battery", "acme", "alice@example.com", ""},
		{"Tr0ub4dor&3", "acme", "alice@example.com", ""},
		{"", "acme", "alice@example.com", "required"},
		{"Sh0rt!", "acme", "alice@example.com", "at least 10"},
		{strings.Repeat("aB1", 50), "acme", "alice@example.com", "at most 128"},
		{"abcdefghijkl", "acme", "alice@example.com", "two of"},
		{"12345678901", "acme", "alice@example.com", "two of"},
		{"Password123", "acme", "alice@example.com", "too common"},
		{"qwertyuiop", "acme", "alice@example.com", "two of"},
		{"1q2w3e4r5t", "acme", "alice@example.com", "too common"},
		{"my-acme-secret-1", "acme", "alice@example.com", "slug"},
		{"MY-ACME-SECRET-1", "acme", "alice@example.com", "slug"},
		{"alice-is-great-1", "acme", "alice@example.com", "email"},
		{"ab-is-great-123", "acme", "ab@example.com", ""}, // local part too short to matter
	}
	for _, tt := range tests {
		got := Password(tt.pw, tt.slug, tt.email)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("Password(%q, %q, %q) = %q, want %q", tt.pw, tt.slug, tt.email, got, tt.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Acme Corp", ""},
		{"Ünïcödé 株式会社", ""},
		{strings.Repeat("é", 100), ""},
		{"", "required"},
		{strings.Repeat("é", 101), "at most 100"},
		{"bad\x00name", "control"},
		{"tab\there", "control"},
		{"\xff\xfe", "UTF-8"},
	}
	for _, tt := range tests {
		got := DisplayName(tt.in)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("DisplayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package tenant

import (
	"net"
	"net/http"
	"strings"

	"atrium.dev/platform/rpcerr"
)

// Header names the tenant by slug when the host does not (API clients, tenantctl, tests).
const Header = "Atrium-Tenant"

// FromRequest returns the tenant slug a request names by its host ("acme.localhost[:port]",
// or "acme.<base domain>") or by the Atrium-Tenant header; "" when it names none. Naming two
// different tenants is InvalidArgument.
func FromRequest(r *http.Request, baseDomains []string) (string, error) {
	fromHost := FromHost(r.Host, baseDomains)
	fromHeader := strings.ToLower(strings.TrimSpace(r.Header.Get(Header)))
	if fromHeader != "" && !ValidSlug(fromHeader) {
		return "", rpcerr.InvalidField(Header, "not a tenant slug")
	}
	switch {
	case fromHeader == "":
		return fromHost, nil
	case fromHost == "" || fromHost == fromHeader:
		return fromHeader, nil
	}
	return "", rpcerr.InvalidField(Header, "names another tenant than the host")
}

// FromHost returns the tenant label of host, or "". Only one label in front of "localhost" or
// a base domain names a tenant; "a.b.localhost" names none.
func FromHost(host string, baseDomains []string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, base := range append([]string{"localhost"}, baseDomains...) {
		base = strings.Trim(strings.ToLower(base), ".")
		if base == "" {
			continue
		}
		label, ok := strings.CutSuffix(host, "."+base)
		if ok && ValidSlug(label) {
			return label
		}
	}
	return ""
}

// ValidSlug reports whether s can be a tenant slug (a DNS label). Tenancy's rule is stricter
// (length, reserved words); this only keeps garbage out of caches and lookups.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

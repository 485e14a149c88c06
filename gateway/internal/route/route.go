// Package route is the gateway's table of procedures, built from the generated descriptors and
// the access option every method declares. INTERNAL methods are left out: the gateway never
// forwards them, and answers for them exactly as for a path that does not exist.
package route

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"atrium.dev/platform/access"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The generated packages register their descriptors; every API the gateway serves must be
	// imported here.
	_ "atrium.dev/gen/atrium/billing/v1"
	_ "atrium.dev/gen/atrium/catalog/v1"
	_ "atrium.dev/gen/atrium/entitlements/v1"
	_ "atrium.dev/gen/atrium/insights/v1"
	_ "atrium.dev/gen/atrium/tenancy/v1"
)

// PackagePrefix selects the services the gateway routes.
const PackagePrefix = "atrium."

// Route is one routable method.
type Route struct {
	Rule    access.Rule
	Service string // "atrium.tenancy.v1.TenantService"
	// Upstream is the base URL serving the service; nil when no upstream is configured.
	Upstream *url.URL
}

// Table maps procedure paths to routes. It is read-only after New.
type Table struct {
	routes map[string]*Route
}

// AtriumServices returns every service of an atrium.* package linked into the binary, sorted by
// name.
func AtriumServices() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), PackagePrefix) {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			out = append(out, fd.Services().Get(i))
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// New builds the table of services. upstreams maps a service's full name to its base URL.
// It fails when a method has no access option (nothing unguarded is ever routed), when an
// upstream names a service that is unknown or has only INTERNAL methods, or when a URL is bad.
func New(services []protoreflect.ServiceDescriptor, upstreams map[string]string) (*Table, error) {
	t := &Table{routes: make(map[string]*Route)}
	routable := make(map[string]bool)
	for _, sd := range services {
		rules, err := access.ServiceRules(sd)
		if err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
		name := string(sd.FullName())
		var base *url.URL
		if raw, ok := upstreams[name]; ok {
			if base, err = parseUpstream(raw); err != nil {
				return nil, fmt.Errorf("route: upstream of %s: %w", name, err)
			}
		}
		for _, r := range rules {
			if r.Level == access.Internal {
				continue
			}
			routable[name] = true
			t.routes[r.Procedure] = &Route{Rule: r, Service: name, Upstream: base}
		}
	}
	for name := range upstreams {
		if !routable[name] {
			return nil, fmt.Errorf("route: upstream given for %q, which is not a routable service", name)
		}
	}
	return t, nil
}

// Lookup returns the route of a request path ("/pkg.Service/Method").
func (t *Table) Lookup(path string) (*Route, bool) {
	r, ok := t.routes[path]
	return r, ok
}

// Len is the number of routable procedures.
func (t *Table) Len() int { return len(t.routes) }

// parseUpstream accepts an absolute http(s) URL without query or fragment.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want http(s)://host[:port][/base]", raw)
	}
	return u, nil
}

// ParseUpstream is parseUpstream for the gateway's other upstreams (REST prefixes).
func ParseUpstream(raw string) (*url.URL, error) { return parseUpstream(raw) }

package app

import (
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
)

// StandardUpstreams returns the Upstreams and RESTUpstreams of a stack whose tenancy and
// catalog listen at the given base URLs (gatewayd and devstack both use it). An empty URL
// leaves that service out.
func StandardUpstreams(tenancyURL, catalogURL string) (rpc, rest map[string]string) {
	rpc, rest = map[string]string{}, map[string]string{}
	if tenancyURL != "" {
		for _, s := range []string{
			tenancyv1connect.TenantServiceName,
			tenancyv1connect.AuthServiceName,
			tenancyv1connect.MemberServiceName,
			tenancyv1connect.OperatorServiceName,
		} {
			rpc[s] = tenancyURL
		}
	}
	if catalogURL != "" {
		rpc[catalogv1connect.CatalogServiceName] = catalogURL
		rpc[catalogv1connect.LocationServiceName] = catalogURL
		rest["/api/catalog/"] = catalogURL
	}
	return rpc, rest
}

// InsightsUpstreams adds the insights services at url to rpc (a no-op for an empty url). It
// is separate from StandardUpstreams so services added in parallel do not change its
// signature under each other.
func InsightsUpstreams(rpc map[string]string, url string) {
	if url == "" {
		return
	}
	rpc[insightsv1connect.InsightsServiceName] = url
	rpc[insightsv1connect.InsightsOperatorServiceName] = url
}

// EntitlementsUpstreams routes the entitlements service's public APIs (the marketplace and
// the operator's) to url; empty: none.
func EntitlementsUpstreams(url string) map[string]string {
	if url == "" {
		return map[string]string{}
	}
	return map[string]string{
		entitlementsv1connect.PluginServiceName:               url,
		entitlementsv1connect.EntitlementsOperatorServiceName: url,
	}
}

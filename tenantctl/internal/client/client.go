// Package client builds the Connect clients tenantctl talks to the gateway with.
package client

import (
	"context"
	"net/http"
	"strings"
	"time"

	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/protocodec"
	"connectrpc.com/connect"
)

// TenantHeader names the tenant of a request (the gateway also reads it from the host).
const TenantHeader = "Atrium-Tenant"

// Target is where and as whom to call.
type Target struct {
	URL   string
	Token string
	// Tenant is a slug sent as the Atrium-Tenant header; empty for operator calls.
	Tenant string
	// HTTPClient overrides the default client (tests).
	HTTPClient *http.Client
}

// Operator returns a client of the fleet API.
func Operator(t Target) tenancyv1connect.OperatorServiceClient {
	return tenancyv1connect.NewOperatorServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

// Catalog returns a client of the tenant's catalog.
func Catalog(t Target) catalogv1connect.CatalogServiceClient {
	return catalogv1connect.NewCatalogServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

// InsightsOperator returns a client of the usage pipeline's operator API.
func InsightsOperator(t Target) insightsv1connect.InsightsOperatorServiceClient {
	return insightsv1connect.NewInsightsOperatorServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

// Members returns a client of the tenant's members and API tokens.
func Members(t Target) tenancyv1connect.MemberServiceClient {
	return tenancyv1connect.NewMemberServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

func (t Target) baseURL() string { return strings.TrimRight(t.URL, "/") }

func (t Target) httpClient() *http.Client {
	if t.HTTPClient != nil {
		return t.HTTPClient
	}
	return defaultClient
}

// defaultClient has no overall timeout: MigrateTenants streams for as long as the fleet takes.
// Dial and header timeouts still catch a gateway that is not there.
var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 5 * time.Minute,
	MaxIdleConnsPerHost:   16,
	ForceAttemptHTTP2:     true,
}}

func (t Target) options() []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(headers{token: t.Token, tenant: t.Tenant}), protocodec.ClientOption()}
}

// headers attaches the credential and tenant to every call, unary or streaming.
type headers struct{ token, tenant string }

func (h headers) set(hdr http.Header) {
	if h.token != "" {
		hdr.Set("Authorization", "Bearer "+h.token)
	}
	if h.tenant != "" {
		hdr.Set(TenantHeader, h.tenant)
	}
	hdr.Set("User-Agent", "tenantctl")
}

func (h headers) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		h.set(req.Header())
		return next(ctx, req)
	}
}

func (h headers) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		h.set(conn.RequestHeader())
		return conn
	}
}

func (h headers) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Locations returns a client of the tenant's catalog Locations.
func Locations(t Target) catalogv1connect.LocationServiceClient {
	return catalogv1connect.NewLocationServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

// Tenant returns a client of the tenant's own settings (and its admins' export).
func Tenant(t Target) tenancyv1connect.TenantServiceClient {
	return tenancyv1connect.NewTenantServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

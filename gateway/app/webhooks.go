package app

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"atrium.dev/gateway/internal/proxy"
	"atrium.dev/gen/atrium/billing/v1/billingv1connect"
)

// StripeWebhookPath is where Stripe delivers billing's events.
const StripeWebhookPath = "/webhooks/stripe"

// DefaultWebhookBodyLimit caps a webhook delivery: Stripe's events are a few KiB.
const DefaultWebhookBodyLimit = 256 << 10

// BillingUpstreams adds billing's routes to a stack's upstreams: its two public services and
// the Stripe webhook (gatewayd and devstack both use it). An empty URL adds nothing.
func BillingUpstreams(rpc, webhooks map[string]string, billingURL string) {
	if billingURL == "" {
		return
	}
	rpc[billingv1connect.BillingServiceName] = billingURL
	rpc[billingv1connect.BillingOperatorServiceName] = billingURL
	webhooks[StripeWebhookPath] = billingURL
}

// webhookHandler forwards POST deliveries of third parties (Stripe) to the service that
// verifies them. There is no user and no tenant here: the gateway sends no internal token
// and strips every identity header, so the upstream trusts only the delivery's own signature.
// The body is capped before it is forwarded, so an oversized delivery never reaches it.
func (a *App) webhookHandler(base *url.URL) http.Handler {
	limit := a.cfg.WebhookBodyLimit
	if limit <= 0 {
		limit = DefaultWebhookBodyLimit
	}
	transport := a.cfg.HTTPClient.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.URL.Path = pr.In.URL.Path
			pr.Out.URL.RawPath = ""
			pr.SetXForwarded()
			proxy.StripIdentity(pr.Out.Header)
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "body larger than "+strconv.FormatInt(limit, 10)+" bytes", http.StatusRequestEntityTooLarge)
				return
			}
			a.log.WarnContext(r.Context(), "webhook upstream failed", "path", r.URL.Path, "err", err)
			// 502 asks Stripe to retry later.
			http.Error(w, "upstream unavailable", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			http.Error(w, "body larger than "+strconv.FormatInt(limit, 10)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		rp.ServeHTTP(w, r)
	})
}

package client

import "atrium.dev/gen/atrium/billing/v1/billingv1connect"

// Billing returns a client of billing's operator API.
func Billing(t Target) billingv1connect.BillingOperatorServiceClient {
	return billingv1connect.NewBillingOperatorServiceClient(t.httpClient(), t.baseURL(), t.options()...)
}

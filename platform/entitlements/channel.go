package entitlements

// Channel is the pub/sub channel, under the configured Redis prefix, on which the
// entitlements service announces every change of a tenant's entitlements.
const Channel = "atrium:entitlements-changed"

// Change is the message published on Channel, as JSON. Version 0 means the tenant's
// entitlements were deleted (the tenant is gone): caches drop it.
type Change struct {
	TenantID string `json:"tenant_id"`
	Version  int64  `json:"version"`
}

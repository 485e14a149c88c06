// Package api implements tenancy's Connect services: TenantService, AuthService,
// MemberService, OperatorService and DirectoryService. Handlers validate input (field names
// are the proto field names), check the caller against the database (the identity's tenant
// scopes every query), and write each change together with its audit entry.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/telemetry"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/move"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/provision"
	"atrium.dev/services/tenancy/internal/store"
)

// Deps are what every service needs.
type Deps struct {
	Store       *store.Store
	Shards      *tenantdb.Shards
	Provisioner *provision.Provisioner
	Mover       *move.Mover
	Tokens      *authn.UserTokenSigner
	Notify      notify.Publisher
	// DeleteGrace is how long a deleted tenant waits before its schema is dropped.
	DeleteGrace time.Duration
	// PortalURL is the web app's base URL in links sent by mail; "{slug}" is replaced by the
	// tenant's slug ("http://{slug}.localhost:8080").
	PortalURL string
	// Mail is woken after a commit that queued mail; nil: the sender's poll finds it.
	Mail interface{ Wake() }
	// Seats, when set, decides whether a tenant with current seats (members plus pending
	// invitations) may take one more (issue 7: entitlements' CheckLimit "seats"). Its error
	// is the caller's answer (ResourceExhausted or FailedPrecondition).
	Seats func(ctx context.Context, tenantID string, current int64) error
	// PaidSeats, when set, decides whether a tenant with a paid subscription has a seat for
	// membersAfter (members plus pending invitations, the new one included): billing's
	// CheckSeat, which adds a seat or refuses naming the limit as the plan says. Its error is
	// the caller's answer.
	PaidSeats func(ctx context.Context, tenantID string, membersAfter int64) error
	// SeatsUsed, when set, records a tenant's seats in use (members plus pending invitations)
	// for GetEntitlements to show. It is called after each commit that changes them and must
	// not block (the app sends it in the background); nil: seats are recorded only by Seats'
	// checks.
	SeatsUsed func(ctx context.Context, tenantID string, used int64)
	// Data are the tenant-plane services whose data tenant archives carry, in archive order.
	Data []DataService
	// Throttle, when set, bounds login attempts (see throttle.go); nil: none.
	Throttle *Throttle
	Log      *slog.Logger
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are passed
	}
	return b
}

// caller returns the request's verified identity; the guard interceptors ran before any
// handler, so an identity is always there, but an empty one is safe to use as well.
func caller(ctx context.Context) *authn.Identity {
	if id, ok := authn.FromContext(ctx); ok {
		return id
	}
	return &authn.Identity{}
}

func requestID(ctx context.Context) string {
	if id := caller(ctx); id.RequestID != "" {
		return id.RequestID
	}
	return telemetry.RequestID(ctx)
}

// audit appends an event for the caller inside tx.
func audit(ctx context.Context, tx *store.Store, action, tenantID, target string, details any) error {
	var raw json.RawMessage
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return err
		}
		raw = b
	}
	return tx.Audit(ctx, store.Event{
		Actor: caller(ctx).Actor(), Action: action, TenantID: tenantID, Target: target,
		RequestID: requestID(ctx), Details: raw,
	})
}

// member loads the caller's membership in the identity's tenant. The gateway vouches for the
// token, but the membership may have changed since the token was issued, so roles are always
// taken from the database.
func member(ctx context.Context, st *store.Store, wantAdmin bool) (store.Member, error) {
	id := caller(ctx)
	if id.TenantID == "" || id.UserID == "" {
		return store.Member{}, rpcerr.Unauthenticated("a user of an organization is required")
	}
	m, err := st.Membership(ctx, id.TenantID, id.UserID)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return store.Member{}, rpcerr.PermissionDenied("not a member of this organization")
	}
	if err != nil {
		return store.Member{}, err
	}
	if wantAdmin && !authn.Role(m.Role).IsAdmin() {
		return store.Member{}, rpcerr.PermissionDenied("this needs the admin or owner role")
	}
	return m, nil
}

// tenantOf loads the identity's tenant.
func tenantOf(ctx context.Context, st *store.Store) (store.Tenant, error) {
	id := caller(ctx)
	if id.TenantID == "" {
		return store.Tenant{}, rpcerr.FailedPrecondition("no organization for this request: use <slug>.<host> or the Atrium-Tenant header")
	}
	return st.GetTenant(ctx, id.TenantID)
}

// notFoundAs turns a NotFound into a violation of field: the caller named something that does
// not exist.
func notFoundAs(err error, field, description string) error {
	if rpcerr.KindOf(err) == rpcerr.KindNotFound {
		return rpcerr.InvalidField(field, description)
	}
	return err
}

package api

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/password"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// One-time token kinds, and how long their links work.
const (
	KindInvitation    = "inv"
	KindPasswordReset = "pwr"
	InvitationTTL     = 7 * 24 * time.Hour
	PasswordResetTTL  = time.Hour
	// OwnerSetupTTL is the life of the "set your password" link an operator-created tenant's
	// owner gets.
	OwnerSetupTTL = 7 * 24 * time.Hour
	// maxResetsPerHour bounds the reset mail one account can be sent.
	maxResetsPerHour = 5
)

func invitationProto(i store.Invitation) *tenancyv1.Invitation {
	return &tenancyv1.Invitation{
		Id: i.ID, Email: i.Email, Role: roleToProto[i.Role], InvitedBy: i.InvitedBy,
		CreateTime: ts(i.CreatedAt), ExpireTime: ts(i.ExpiresAt), SendTime: ts(i.SentAt),
	}
}

// link is the portal page path of a tenant with the token, inside the fragment (the portal
// routes on "#/path?query"): browsers never send a fragment to a server, so the token stays
// out of access logs and Referer headers.
func (d *Deps) link(slug, path, token string) string {
	base := strings.ReplaceAll(d.PortalURL, "{slug}", slug)
	return strings.TrimSuffix(base, "/") + "/#" + path + "?token=" + url.QueryEscape(token)
}

// checkSeats is the one place a new seat (a member or a pending invitation) is checked:
// against the plan's "seats" limit (entitlements' CheckLimit("seats", current, 1), through
// Deps.Seats), then against the seats paid for (billing's CheckSeat, through Deps.PaidSeats).
// Pending invitations count, since accepting one is not checked again. Without either every
// seat is allowed.
func (d *Deps) checkSeats(ctx context.Context, tx *store.Store, tenantID string) error {
	if d.Seats == nil && d.PaidSeats == nil {
		return nil
	}
	members, err := tx.CountMembers(ctx, tenantID)
	if err != nil {
		return err
	}
	pending, err := tx.CountPendingInvitations(ctx, tenantID)
	if err != nil {
		return err
	}
	if d.Seats != nil {
		if err := d.Seats(ctx, tenantID, members+pending); err != nil {
			return err
		}
	}
	if d.PaidSeats != nil {
		return d.PaidSeats(ctx, tenantID, members+pending+1)
	}
	return nil
}

// afterCommit runs once a transaction that queued mail or changed a membership committed.
func (d *Deps) mailQueued() {
	if d.Mail != nil {
		d.Mail.Wake()
	}
}

func (d *Deps) membershipChanged(ctx context.Context, tenantID, userID string) {
	d.Notify.MembershipChanged(ctx, notify.MembershipChange{TenantID: tenantID, UserID: userID})
}

// seatsChanged records the tenant's seats in use (Deps.SeatsUsed) after a commit that may have
// changed them: a member joined or left, an invitation was made or revoked, the org was made.
// Best effort: a count that fails is logged, and the next change records it again.
func (d *Deps) seatsChanged(ctx context.Context, tenantID string) {
	if d.SeatsUsed == nil {
		return
	}
	members, err := d.Store.CountMembers(ctx, tenantID)
	if err == nil {
		var pending int64
		if pending, err = d.Store.CountPendingInvitations(ctx, tenantID); err == nil {
			d.SeatsUsed(ctx, tenantID, members+pending)
			return
		}
	}
	d.Log.WarnContext(ctx, "seats in use not recorded", "tenant_id", tenantID, "err", err)
}

func (s *MemberService) InviteMember(ctx context.Context, req *connect.Request[tenancyv1.InviteMemberRequest]) (*connect.Response[tenancyv1.InviteMemberResponse], error) {
	email := validate.NormalizeEmail(req.Msg.GetEmail())
	var v rpcerr.Violations
	if d := validate.Email(email); d != "" {
		v.Add("email", d)
	}
	role, ok := roleFromProto(req.Msg.GetRole())
	if !ok {
		v.Add("role", "must be owner, admin or member")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tenantID := caller(ctx).TenantID
	secret, hash := authn.NewOpaqueToken(KindInvitation)
	var out store.Invitation
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		me, err := member(ctx, tx, true)
		if err != nil {
			return err
		}
		if role == "owner" && me.Role != "owner" {
			return rpcerr.PermissionDenied("only an owner can invite an owner")
		}
		t, err := tx.GetTenant(ctx, tenantID)
		if err != nil {
			return err
		}
		if u, err := tx.UserByEmail(ctx, tenantID, email); err == nil {
			if _, err := tx.Membership(ctx, tenantID, u.ID); err == nil {
				return rpcerr.InvalidField("email", "is already a member of this organization")
			}
		}
		if err := s.checkSeats(ctx, tx, tenantID); err != nil {
			return err
		}
		out, err = tx.InsertInvitation(ctx, store.Invitation{
			ID: store.NewID(), TenantID: tenantID, Email: email, Role: role, TokenHash: hash,
			InvitedBy: me.User.ID, ExpiresAt: time.Now().Add(InvitationTTL),
		})
		if err != nil {
			return err
		}
		if err := tx.EnqueueMail(ctx, s.invitationMail(t, me, out, secret)); err != nil {
			return err
		}
		return audit(ctx, tx, "invitation.create", tenantID, "invitation:"+out.ID, map[string]string{
			"email": email, "role": role,
		})
	})
	if err != nil {
		return nil, err
	}
	s.mailQueued()
	s.seatsChanged(ctx, tenantID)
	return connect.NewResponse(&tenancyv1.InviteMemberResponse{Invitation: invitationProto(out)}), nil
}

func (d *Deps) invitationMail(t store.Tenant, by store.Member, inv store.Invitation, secret string) store.Mail {
	who := by.User.DisplayName
	if who == "" {
		who = by.User.Email
	}
	return store.Mail{
		TenantID: t.ID, Kind: "invitation", Recipient: inv.Email,
		Subject: fmt.Sprintf("You are invited to %s on Atrium", oneLine(t.DisplayName)),
		Body: fmt.Sprintf("%s invited you to join %s on Atrium as %s.\n\nAccept the invitation and choose your password:\n%s\n\n"+
			"The link works once and expires on %s. If you did not expect this, ignore this message.\n",
			oneLine(who), oneLine(t.DisplayName), inv.Role, d.link(t.Slug, "/accept-invitation", secret),
			inv.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST")),
	}
}

// oneLine keeps user-chosen names from adding lines (or headers) to a message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (s *MemberService) ListInvitations(ctx context.Context, req *connect.Request[tenancyv1.ListInvitationsRequest]) (*connect.Response[tenancyv1.ListInvitationsResponse], error) {
	var v rpcerr.Violations
	size := pageSize(req.Msg.GetPageSize(), &v)
	page := decodePage(req.Msg.GetPageToken(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := member(ctx, s.Store, true); err != nil {
		return nil, err
	}
	is, err := s.Store.ListInvitations(ctx, caller(ctx).TenantID, page.cursor(), size+1)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListInvitationsResponse{}
	if len(is) > size {
		is = is[:size]
		last := is[len(is)-1]
		out.NextPageToken = encodePage(pageToken{At: last.CreatedAt, ID: last.ID})
	}
	for _, i := range is {
		out.Invitations = append(out.Invitations, invitationProto(i))
	}
	return connect.NewResponse(out), nil
}

func (s *MemberService) ResendInvitation(ctx context.Context, req *connect.Request[tenancyv1.ResendInvitationRequest]) (*connect.Response[tenancyv1.ResendInvitationResponse], error) {
	id := req.Msg.GetId()
	if d := validID(id); d != "" {
		return nil, rpcerr.InvalidField("id", d)
	}
	tenantID := caller(ctx).TenantID
	secret, hash := authn.NewOpaqueToken(KindInvitation)
	var out store.Invitation
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		me, err := member(ctx, tx, true)
		if err != nil {
			return err
		}
		// Scoped by the caller's tenant: another tenant's invitation id is simply not found.
		inv, err := tx.LockPendingInvitation(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if inv.Role == "owner" && me.Role != "owner" {
			return rpcerr.PermissionDenied("only an owner can resend an owner invitation")
		}
		t, err := tx.GetTenant(ctx, tenantID)
		if err != nil {
			return err
		}
		if out, err = tx.RenewInvitation(ctx, inv.ID, hash, time.Now().Add(InvitationTTL)); err != nil {
			return err
		}
		if err := tx.EnqueueMail(ctx, s.invitationMail(t, me, out, secret)); err != nil {
			return err
		}
		return audit(ctx, tx, "invitation.resend", tenantID, "invitation:"+inv.ID, map[string]any{
			"email": inv.Email, "send_count": out.SendCount,
		})
	})
	if err != nil {
		return nil, err
	}
	s.mailQueued()
	return connect.NewResponse(&tenancyv1.ResendInvitationResponse{Invitation: invitationProto(out)}), nil
}

func (s *MemberService) RevokeInvitation(ctx context.Context, req *connect.Request[tenancyv1.RevokeInvitationRequest]) (*connect.Response[tenancyv1.RevokeInvitationResponse], error) {
	id := req.Msg.GetId()
	if d := validID(id); d != "" {
		return nil, rpcerr.InvalidField("id", d)
	}
	tenantID := caller(ctx).TenantID
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := member(ctx, tx, true); err != nil {
			return err
		}
		inv, err := tx.LockPendingInvitation(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := tx.RevokeInvitation(ctx, inv.ID); err != nil {
			return err
		}
		return audit(ctx, tx, "invitation.revoke", tenantID, "invitation:"+inv.ID, map[string]string{"email": inv.Email})
	})
	if err != nil {
		return nil, err
	}
	s.seatsChanged(ctx, tenantID)
	return connect.NewResponse(&tenancyv1.RevokeInvitationResponse{}), nil
}

func (s *MemberService) TransferOwnership(ctx context.Context, req *connect.Request[tenancyv1.TransferOwnershipRequest]) (*connect.Response[tenancyv1.TransferOwnershipResponse], error) {
	userID := req.Msg.GetUserId()
	if d := validID(userID); d != "" {
		return nil, rpcerr.InvalidField("user_id", d)
	}
	id := caller(ctx)
	if userID == id.UserID {
		return nil, rpcerr.InvalidField("user_id", "is you; name the member who becomes owner")
	}
	var newOwner, prev store.Member
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := tx.LockOwners(ctx, id.TenantID); err != nil {
			return err
		}
		me, err := member(ctx, tx, true)
		if err != nil {
			return err
		}
		if me.Role != "owner" {
			return rpcerr.PermissionDenied("only an owner can transfer ownership")
		}
		target, err := tx.LockMembership(ctx, id.TenantID, userID)
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return rpcerr.InvalidField("user_id", "is not a member of this organization")
		}
		if err != nil {
			return err
		}
		// The new owner first, so the tenant never has no owner, even inside the transaction.
		if target.Role != "owner" {
			if err := tx.SetRole(ctx, id.TenantID, userID, "owner"); err != nil {
				return err
			}
		}
		if err := tx.SetRole(ctx, id.TenantID, id.UserID, "admin"); err != nil {
			return err
		}
		if newOwner, err = tx.Membership(ctx, id.TenantID, userID); err != nil {
			return err
		}
		if prev, err = tx.Membership(ctx, id.TenantID, id.UserID); err != nil {
			return err
		}
		return audit(ctx, tx, "member.transfer_ownership", id.TenantID, "user:"+userID, map[string]any{
			"from": id.UserID, "to": userID, "before": map[string]string{"role": target.Role},
		})
	})
	if err != nil {
		return nil, err
	}
	s.membershipChanged(ctx, id.TenantID, userID)
	s.membershipChanged(ctx, id.TenantID, id.UserID)
	return connect.NewResponse(&tenancyv1.TransferOwnershipResponse{NewOwner: memberProto(newOwner), PreviousOwner: memberProto(prev)}), nil
}

// validID checks an id from a request: ids are short and plain, so anything else (NUL bytes,
// megabytes) is refused before it reaches the database.
func validID(id string) string {
	switch {
	case id == "":
		return "required"
	case len(id) > 64:
		return "is not a valid id"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "is not a valid id"
		}
	}
	return ""
}

// badInvitation is the one answer for every unusable invitation link (unknown, another
// tenant's, expired, used, revoked), so a link reveals nothing about the others.
func badInvitation() error {
	return rpcerr.InvalidField("token", "this invitation link is invalid, expired or already used")
}

func badReset() error {
	return rpcerr.InvalidField("token", "this reset link is invalid, expired or already used")
}

func (s *AuthService) AcceptInvitation(ctx context.Context, req *connect.Request[tenancyv1.AcceptInvitationRequest]) (*connect.Response[tenancyv1.AcceptInvitationResponse], error) {
	m := req.Msg
	secret, pw, name := m.GetToken(), m.GetPassword(), strings.TrimSpace(m.GetDisplayName())
	if secret == "" {
		return nil, rpcerr.InvalidField("token", "required")
	}
	if authn.OpaqueKind(secret) != KindInvitation || len(secret) > 100 {
		return nil, badInvitation()
	}
	t, err := tenantOf(ctx, s.Store)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !usable(t)) {
		return nil, rpcerr.FailedPrecondition("organization is not available")
	}
	if err != nil {
		return nil, err
	}
	hash := authn.HashOpaqueToken(secret)
	// A first look without a lock: the password check needs the email, and hashing (tens of
	// milliseconds) must not hold the row. The transaction checks everything again.
	inv, err := s.Store.LockInvitationByToken(ctx, hash)
	if err != nil || !invitationUsable(inv, t.ID) {
		if err != nil && rpcerr.KindOf(err) != rpcerr.KindNotFound {
			return nil, err
		}
		return nil, badInvitation()
	}
	var v rpcerr.Violations
	if d := validate.Password(pw, t.Slug, inv.Email); d != "" {
		v.Add("password", d)
	}
	if name != "" {
		if d := validate.DisplayName(name); d != "" {
			v.Add("display_name", d)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	pwHash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	var u store.User
	var tok tokens
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		inv, err := tx.LockInvitationByToken(ctx, hash)
		if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !invitationUsable(inv, t.ID)) {
			return badInvitation()
		}
		if err != nil {
			return err
		}
		u, err = tx.UserByEmail(ctx, t.ID, inv.Email)
		switch {
		case err == nil:
			// An account without a membership (its member was removed) is the invitee's again:
			// holding the link proves the address, so the new password replaces the old.
			if _, err := tx.Membership(ctx, t.ID, u.ID); err == nil {
				return rpcerr.FailedPrecondition("you are already a member of this organization; log in instead")
			}
			if err := tx.SetUserProfile(ctx, t.ID, u.ID, name, pwHash); err != nil {
				return err
			}
			if err := tx.SetPassword(ctx, t.ID, u.ID, pwHash); err != nil {
				return err
			}
			u.DisplayName = name
		case rpcerr.KindOf(err) == rpcerr.KindNotFound:
			if u, err = tx.InsertUser(ctx, store.User{ID: store.NewID(), TenantID: t.ID, Email: inv.Email, DisplayName: name, PasswordHash: pwHash}); err != nil {
				return err
			}
		default:
			return err
		}
		if err := tx.AddMembership(ctx, t.ID, u.ID, inv.Role); err != nil {
			return err
		}
		if err := tx.AcceptInvitation(ctx, inv.ID); err != nil {
			return err
		}
		if err := tx.Audit(ctx, store.Event{
			Actor: "user:" + u.ID, Action: "invitation.accept", TenantID: t.ID, Target: "invitation:" + inv.ID,
			RequestID: requestID(ctx), Details: mustJSON(map[string]string{"email": inv.Email, "role": inv.Role}),
		}); err != nil {
			return err
		}
		tok, err = issueTokens(ctx, tx, s.Tokens, u.ID, t.ID, authn.Role(inv.Role), "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.membershipChanged(ctx, t.ID, u.ID)
	s.seatsChanged(ctx, t.ID)
	m2, err := s.Store.Membership(ctx, t.ID, u.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.AcceptInvitationResponse{
		AccessToken: tok.access, RefreshToken: tok.refresh, AccessTokenExpireTime: ts(tok.accessExpiry),
		User: userProto(u), Role: roleToProto[m2.Role],
	}), nil
}

// invitationUsable: pending, unexpired, and of the request's tenant.
func invitationUsable(inv store.Invitation, tenantID string) bool {
	return inv.TenantID == tenantID && inv.AcceptedAt == nil && inv.RevokedAt == nil && time.Now().Before(inv.ExpiresAt)
}

func (s *AuthService) RequestPasswordReset(ctx context.Context, req *connect.Request[tenancyv1.RequestPasswordResetRequest]) (*connect.Response[tenancyv1.RequestPasswordResetResponse], error) {
	email := validate.NormalizeEmail(req.Msg.GetEmail())
	if d := validate.Email(email); d != "" {
		return nil, rpcerr.InvalidField("email", d)
	}
	t, err := tenantOf(ctx, s.Store)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !usable(t)) {
		return nil, rpcerr.FailedPrecondition("organization is not available")
	}
	if err != nil {
		return nil, err
	}
	ok := connect.NewResponse(&tenancyv1.RequestPasswordResetResponse{})
	queued := false
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		u, err := tx.UserByEmail(ctx, t.ID, email)
		if rpcerr.KindOf(err) == rpcerr.KindNotFound {
			return nil // the same answer as for a real account
		}
		if err != nil {
			return err
		}
		if _, err := tx.Membership(ctx, t.ID, u.ID); err != nil {
			if rpcerr.KindOf(err) == rpcerr.KindNotFound {
				return nil
			}
			return err
		}
		n, err := tx.CountRecentPasswordResets(ctx, t.ID, u.ID, time.Now().Add(-time.Hour))
		if err != nil || n >= maxResetsPerHour {
			return err // over the bound: silently no more mail
		}
		queued = true
		return s.queueReset(ctx, tx, t, u, PasswordResetTTL, false)
	})
	if err != nil {
		return nil, err
	}
	if queued {
		s.mailQueued()
	}
	return ok, nil
}

// queueReset stores a reset token for u and queues its mail; setup words it as the first
// password of an operator-created tenant's owner.
func (d *Deps) queueReset(ctx context.Context, tx *store.Store, t store.Tenant, u store.User, ttl time.Duration, setup bool) error {
	secret, hash := authn.NewOpaqueToken(KindPasswordReset)
	expires := time.Now().Add(ttl)
	if err := tx.InsertPasswordReset(ctx, t.ID, u.ID, hash, expires); err != nil {
		return err
	}
	link := d.link(t.Slug, "/reset-password", secret)
	m := store.Mail{TenantID: t.ID, Kind: "password_reset", Recipient: u.Email,
		Subject: fmt.Sprintf("Reset your Atrium password for %s", oneLine(t.DisplayName)),
		Body: fmt.Sprintf("Someone asked to reset the password of %s in %s.\n\nChoose a new password:\n%s\n\n"+
			"The link works once and expires on %s. If it was not you, ignore this message: your password stays as it is.\n",
			u.Email, oneLine(t.DisplayName), link, expires.UTC().Format("2 Jan 2006 15:04 MST"))}
	if setup {
		m.Kind = "owner_setup"
		m.Subject = fmt.Sprintf("Your Atrium organization %s is ready", oneLine(t.DisplayName))
		m.Body = fmt.Sprintf("An operator created %s on Atrium with you as its owner.\n\nChoose your password:\n%s\n\n"+
			"The link works once and expires on %s.\n", oneLine(t.DisplayName), link, expires.UTC().Format("2 Jan 2006 15:04 MST"))
	}
	if err := tx.EnqueueMail(ctx, m); err != nil {
		return err
	}
	return tx.Audit(ctx, store.Event{
		Actor: caller(ctx).Actor(), Action: "password_reset.request", TenantID: t.ID, Target: "user:" + u.ID,
		RequestID: requestID(ctx), Details: mustJSON(map[string]any{"setup": setup}),
	})
}

func (s *AuthService) ResetPassword(ctx context.Context, req *connect.Request[tenancyv1.ResetPasswordRequest]) (*connect.Response[tenancyv1.ResetPasswordResponse], error) {
	secret, pw := req.Msg.GetToken(), req.Msg.GetNewPassword()
	if secret == "" {
		return nil, rpcerr.InvalidField("token", "required")
	}
	if authn.OpaqueKind(secret) != KindPasswordReset || len(secret) > 100 {
		return nil, badReset()
	}
	t, err := tenantOf(ctx, s.Store)
	if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !usable(t)) {
		return nil, rpcerr.FailedPrecondition("organization is not available")
	}
	if err != nil {
		return nil, err
	}
	hash := authn.HashOpaqueToken(secret)
	r, err := s.Store.LockPasswordReset(ctx, hash)
	if err != nil || !resetUsable(r, t.ID) {
		if err != nil && rpcerr.KindOf(err) != rpcerr.KindNotFound {
			return nil, err
		}
		return nil, badReset()
	}
	u, err := s.Store.GetUser(ctx, t.ID, r.UserID)
	if err != nil {
		return nil, err
	}
	if d := validate.Password(pw, t.Slug, u.Email); d != "" {
		return nil, rpcerr.InvalidField("new_password", d)
	}
	pwHash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		r, err := tx.LockPasswordReset(ctx, hash)
		if rpcerr.KindOf(err) == rpcerr.KindNotFound || (err == nil && !resetUsable(r, t.ID)) {
			return badReset()
		}
		if err != nil {
			return err
		}
		if err := tx.SetPassword(ctx, t.ID, r.UserID, pwHash); err != nil {
			return err
		}
		if err := tx.UsePasswordResets(ctx, t.ID, r.UserID); err != nil {
			return err
		}
		return tx.Audit(ctx, store.Event{
			Actor: "user:" + r.UserID, Action: "password_reset.complete", TenantID: t.ID, Target: "user:" + r.UserID,
			RequestID: requestID(ctx),
		})
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.ResetPasswordResponse{}), nil
}

func resetUsable(r store.PasswordReset, tenantID string) bool {
	return r.TenantID == tenantID && r.UsedAt == nil && time.Now().Before(r.ExpiresAt)
}

package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func auditActions(t *testing.T, c clients, req *tenancyv1.ListTenantAuditEventsRequest) ([]string, string) {
	t.Helper()
	res, err := c.Tenants.ListTenantAuditEvents(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range res.Msg.GetEvents() {
		out = append(out, e.GetAction())
	}
	return out, res.Msg.GetNextPageToken()
}

// TestTenantAuditLog: an admin lists the organization's own events, newest first, filtered
// and paged; never another organization's; members may not; bad filters name their field.
func TestTenantAuditLog(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	start := time.Now()
	adminID := s.addMember(acme, "ada@example.com", tenancyv1.Role_ROLE_ADMIN)
	memberID := s.addMember(acme, "max@example.com", tenancyv1.Role_ROLE_MEMBER)
	s.addMember(globex, "gus@example.com", tenancyv1.Role_ROLE_MEMBER)
	if _, err := o(s, acme).Tenants.UpdateTenant(ctx, connect.NewRequest(&tenancyv1.UpdateTenantRequest{DisplayName: "Acme Corp"})); err != nil {
		t.Fatal(err)
	}
	admin := s.asUser(acme.tenant, adminID, authn.RoleAdmin)

	all, next := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{})
	want := []string{"tenant.update", "invitation.accept", "invitation.create", "invitation.accept", "invitation.create", "tenant.signup"}
	if strings.Join(all, " ") != strings.Join(want, " ") || next != "" {
		t.Fatalf("acme's events = %v (next %q), want %v", all, next, want)
	}
	// Globex's own: its sign-up and one member, nothing of acme's.
	g, _ := auditActions(t, o(s, globex), &tenancyv1.ListTenantAuditEventsRequest{})
	if strings.Join(g, " ") != "invitation.accept invitation.create tenant.signup" {
		t.Fatalf("globex's events = %v", g)
	}
	res, err := o(s, globex).Tenants.ListTenantAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListTenantAuditEventsRequest{PageSize: 500}))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Msg.GetEvents() {
		if e.GetTenantId() != globex.tenant.GetId() || strings.Contains(e.GetDetailsJson(), "acme") {
			t.Fatalf("globex sees %v", e)
		}
	}

	// Filters: action (exact, prefix), actor, time.
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{Action: "invitation.create"}); len(got) != 2 {
		t.Fatalf("action filter: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{Action: "tenant."}); strings.Join(got, " ") != "tenant.update tenant.signup" {
		t.Fatalf("action prefix: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{Action: "tenant*"}); len(got) != 2 {
		t.Fatalf("action prefix with *: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{Action: "%"}); len(got) != 0 {
		t.Fatalf("a LIKE wildcard is taken literally: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{Actor: "user:" + acme.user.GetId()}); strings.Join(got, " ") != "tenant.update invitation.create invitation.create" { // sign-up has no user yet
		t.Fatalf("actor filter: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{StartTime: timestamppb.New(start)}); len(got) != 5 {
		t.Fatalf("since start: %v", got)
	}
	if got, _ := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{EndTime: timestamppb.New(start)}); strings.Join(got, " ") != "tenant.signup" {
		t.Fatalf("before start: %v", got)
	}
	// Pages of 2 give every event once, in order.
	var paged []string
	token := ""
	for range 10 {
		got, next := auditActions(t, admin, &tenancyv1.ListTenantAuditEventsRequest{PageSize: 2, PageToken: token})
		paged = append(paged, got...)
		if token = next; token == "" {
			break
		}
	}
	if strings.Join(paged, " ") != strings.Join(want, " ") {
		t.Fatalf("paged = %v", paged)
	}

	_, err = s.asUser(acme.tenant, memberID, authn.RoleMember).Tenants.ListTenantAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListTenantAuditEventsRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	// An admin's identity for globex with acme's admin's user id: not a member there.
	_, err = s.asUser(globex.tenant, adminID, authn.RoleAdmin).Tenants.ListTenantAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListTenantAuditEventsRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)

	for name, tc := range map[string]struct {
		req   *tenancyv1.ListTenantAuditEventsRequest
		field string
	}{
		"negative page size": {&tenancyv1.ListTenantAuditEventsRequest{PageSize: -1}, "page_size"},
		"bad page token":     {&tenancyv1.ListTenantAuditEventsRequest{PageToken: "%%%"}, "page_token"},
		"long actor":         {&tenancyv1.ListTenantAuditEventsRequest{Actor: strings.Repeat("a", 201)}, "actor"},
		"NUL in actor":       {&tenancyv1.ListTenantAuditEventsRequest{Actor: "user:\x00"}, "actor"},
		"long action":        {&tenancyv1.ListTenantAuditEventsRequest{Action: strings.Repeat("a", 101)}, "action"},
		"bad start":          {&tenancyv1.ListTenantAuditEventsRequest{StartTime: &timestamppb.Timestamp{Seconds: -1 << 62}}, "start_time"},
		"end before start":   {&tenancyv1.ListTenantAuditEventsRequest{StartTime: timestamppb.Now(), EndTime: timestamppb.New(start)}, "end_time"},
	} {
		_, err := admin.Tenants.ListTenantAuditEvents(ctx, connect.NewRequest(tc.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("%s: %v", name, err)
		}
		wantFields(t, err, tc.field)
	}
}

func o(s *stack, ow owner) clients { return ow.as(s) }

// TestOrgDeletion: an owner deletes the organization by typing its slug; it is closed to
// members at once, its owners may sign in and cancel within the grace period, and the purge
// loop drops it after.
func TestOrgDeletion(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(c *app.Config) {
		c.DeleteGrace = 3 * time.Second
		c.ReconcileInterval = 200 * time.Millisecond
	})
	ctx := context.Background()
	acme, globex := s.signUp("acme"), s.signUp("globex")
	adminID := s.addMember(acme, "ada@example.com", tenancyv1.Role_ROLE_ADMIN)
	admin := s.asUser(acme.tenant, adminID, authn.RoleAdmin)
	schedule := func(c clients, slug string) (*tenancyv1.Tenant, error) {
		res, err := c.Tenants.ScheduleTenantDeletion(ctx, connect.NewRequest(&tenancyv1.ScheduleTenantDeletionRequest{ConfirmSlug: slug}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetTenant(), nil
	}
	cancel := func(c clients) (*tenancyv1.Tenant, error) {
		res, err := c.Tenants.CancelTenantDeletion(ctx, connect.NewRequest(&tenancyv1.CancelTenantDeletionRequest{}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetTenant(), nil
	}
	login := func(email string) error {
		_, err := s.atTenant(acme.tenant).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: email, Password: goodPassword}))
		return err
	}

	// Only an owner, only with the slug typed.
	_, err := schedule(admin, "acme")
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = schedule(o(s, acme), "")
	wantFields(t, err, "confirm_slug")
	_, err = schedule(o(s, acme), "acme-typo")
	wantFields(t, err, "confirm_slug")
	// Globex's owner typing acme's slug deletes nothing: the slug must be the caller's own.
	_, err = schedule(o(s, globex), "acme")
	wantFields(t, err, "confirm_slug")
	if got := s.lookup("acme").GetStatus(); got != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
		t.Fatalf("acme is %v", got)
	}

	before := time.Now()
	dt, err := schedule(o(s, acme), "ACME")
	if err != nil {
		t.Fatal(err)
	}
	if dt.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_DELETING || dt.GetPurgeTime().AsTime().Before(before.Add(2*time.Second)) {
		t.Fatalf("scheduled: %v", dt)
	}
	if again, err := schedule(o(s, acme), "acme"); err != nil || !again.GetPurgeTime().AsTime().Equal(dt.GetPurgeTime().AsTime()) {
		t.Fatalf("scheduling twice moved the purge: %v, %v", again, err)
	}
	// Members cannot sign in (told why); owners can; other tenants cannot cancel it.
	err = login("ada@example.com")
	wantCode(t, err, connect.CodeFailedPrecondition)
	if !strings.Contains(err.Error(), "scheduled for deletion") {
		t.Fatalf("member login: %v", err)
	}
	if err := login(acme.email); err != nil {
		t.Fatalf("owner login while deleting: %v", err)
	}
	if _, err := cancel(admin); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("admin cancels: %v", err)
	}
	if gt, err := cancel(o(s, globex)); err != nil || gt.GetId() != globex.tenant.GetId() || s.lookup("acme").GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_DELETING {
		t.Fatalf("globex's cancel: %v, %v; acme %v", gt, err, s.lookup("acme").GetStatus())
	}
	restored, err := cancel(o(s, acme))
	if err != nil || restored.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || restored.GetPurgeTime() != nil {
		t.Fatalf("cancel: %v, %v", restored, err)
	}
	if err := login("ada@example.com"); err != nil {
		t.Fatalf("member login after cancel: %v", err)
	}
	acts, _ := auditActions(t, o(s, acme), &tenancyv1.ListTenantAuditEventsRequest{Action: "tenant."})
	if strings.Join(acts, " ") != "tenant.restore tenant.delete tenant.signup" {
		t.Fatalf("audit: %v", acts)
	}

	// Scheduled again and left: purged after the grace period, too late to cancel.
	if _, err := schedule(o(s, acme), "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge", func() bool {
		return s.lookup(acme.tenant.GetId()).GetStatus() == tenancyv1.TenantStatus_TENANT_STATUS_DELETED
	})
	if s.schemaExists(acme.tenant.GetSchema()) {
		t.Fatal("schema left after purge")
	}
	_, err = cancel(o(s, acme))
	if code := connect.CodeOf(err); code != connect.CodePermissionDenied && code != connect.CodeFailedPrecondition {
		t.Fatalf("cancel after purge: %v", err)
	}

	// An operator's deletion is not the owner's to cancel.
	if _, err := s.asOperator().Operator.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "globex"})); err != nil {
		t.Fatal(err)
	}
	_, err = cancel(o(s, globex))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = s.atTenant(s.lookup("globex")).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: globex.email, Password: goodPassword}))
	wantCode(t, err, connect.CodeFailedPrecondition)
}

// TestAPITokenNames: a member's unrevoked tokens have distinct names, case-insensitively;
// the refusal names the field; a revoked token's name is free again, and another member's
// names are theirs.
func TestAPITokenNames(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme := s.signUp("acme")
	maxID := s.addMember(acme, "max@example.com", tenancyv1.Role_ROLE_MEMBER)
	create := func(c clients, name string) (*tenancyv1.ApiToken, error) {
		res, err := c.Members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: name}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetToken(), nil
	}
	first, err := create(o(s, acme), "ci")
	if err != nil {
		t.Fatal(err)
	}
	for _, dup := range []string{"ci", " CI "} {
		_, err := create(o(s, acme), dup)
		wantCode(t, err, connect.CodeAlreadyExists)
		wantFields(t, err, "name")
	}
	if _, err := create(s.asUser(acme.tenant, maxID, authn.RoleMember), "ci"); err != nil {
		t.Fatalf("another member's token named ci: %v", err)
	}
	if _, err := o(s, acme).Members.RevokeApiToken(ctx, connect.NewRequest(&tenancyv1.RevokeApiTokenRequest{Id: first.GetId()})); err != nil {
		t.Fatal(err)
	}
	if _, err := create(o(s, acme), "ci"); err != nil {
		t.Fatalf("name of a revoked token: %v", err)
	}
}

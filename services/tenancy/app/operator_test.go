package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/redistest"
	"atrium.dev/services/tenancy/app"
	"connectrpc.com/connect"
)

func TestOperatorCreateAndList(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	op := s.asOperator().Operator
	ctx := context.Background()

	create := func(slug, email, pw string) (*tenancyv1.Tenant, error) {
		res, err := op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{Slug: slug, AdminEmail: email, AdminPassword: pw}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetTenant(), nil
	}
	var ids []string
	for i := range 5 {
		tn, err := create(fmt.Sprintf("fleet%d", i), fmt.Sprintf("boss%d@example.com", i), goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if tn.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || tn.GetDisplayName() != tn.GetSlug() {
			t.Fatalf("created %v", tn)
		}
		ids = append(ids, tn.GetId())
	}
	// Without a password the owner is mailed a link to choose one; the operator never knows it.
	extra, err := create("fleet-extra", "boss0@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	setup := s.nextMail("boss0@example.com", "is ready", 0)
	if _, err := s.atTenant(extra).Auth.ResetPassword(ctx, connect.NewRequest(&tenancyv1.ResetPasswordRequest{
		Token: setup.Token(), NewPassword: goodPassword,
	})); err != nil {
		t.Fatalf("owner setup link: %v", err)
	}
	if _, err := s.atTenant(extra).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "boss0@example.com", Password: goodPassword})); err != nil {
		t.Fatalf("owner login after setup: %v", err)
	}
	_, err = create("fleet0", "boss9@example.com", goodPassword)
	wantCode(t, err, connect.CodeAlreadyExists)
	wantFields(t, err, "slug")
	_, err = create("new-one", "nobody@example.com", "weakweakweak")
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "admin_password")
	_, err = op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{Slug: "www", AdminEmail: "bad", Shard: "main"}))
	wantFields(t, err, "slug", "admin_email")
	_, err = op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{Slug: "elsewhere", AdminEmail: "e@example.com", AdminPassword: goodPassword, Shard: "nope"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "shard")

	// Lookup by id and by slug; unknown is NotFound.
	if got := s.lookup(ids[2]); got.GetSlug() != "fleet2" {
		t.Fatalf("lookup by id = %v", got)
	}
	if got := s.lookup("fleet3"); got.GetId() != ids[3] {
		t.Fatalf("lookup by slug = %v", got)
	}
	_, err = op.LookupTenant(ctx, connect.NewRequest(&tenancyv1.LookupTenantRequest{Tenant: "nosuch"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = op.LookupTenant(ctx, connect.NewRequest(&tenancyv1.LookupTenantRequest{}))
	wantFields(t, err, "tenant")

	// Pages of two over six tenants, with the total on each page.
	var listed []string
	token := ""
	for {
		res, err := op.ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetTotalSize() != 6 {
			t.Fatalf("total = %d, want 6", res.Msg.GetTotalSize())
		}
		for _, tn := range res.Msg.GetTenants() {
			listed = append(listed, tn.GetSlug())
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(listed, ",") != "fleet0,fleet1,fleet2,fleet3,fleet4,fleet-extra" {
		t.Fatalf("listed %v", listed)
	}

	// Status filter.
	if _, err := op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "fleet1", Reason: "unpaid"})); err != nil {
		t.Fatal(err)
	}
	res, err := op.ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{Statuses: []tenancyv1.TenantStatus{tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.GetTenants()) != 1 || res.Msg.GetTenants()[0].GetSlug() != "fleet1" || res.Msg.GetTotalSize() != 1 ||
		res.Msg.GetTenants()[0].GetStatusReason() != "unpaid" {
		t.Fatalf("suspended = %v", res.Msg)
	}
	_, err = op.ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{Statuses: []tenancyv1.TenantStatus{99}, PageSize: -5}))
	wantFields(t, err, "statuses[0]", "page_size")
}

func TestOperatorLifecycle(t *testing.T) {
	t.Parallel()
	rd := redistest.New(t)
	s := newStack(t, func(c *app.Config) { c.RedisURL, c.RedisPrefix = rd.URL, rd.Prefix })
	ctx := context.Background()
	sub := rd.Client.Subscribe(ctx, rd.Prefix+"atrium:tenant-changed")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // subscription confirmed
		t.Fatal(err)
	}
	nextChange := func() map[string]string {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		msg, err := sub.ReceiveMessage(rctx)
		if err != nil {
			t.Fatalf("no tenant-changed message: %v", err)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(msg.Payload), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	o := s.signUp("acme")
	op := s.asOperator().Operator

	sus, err := op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "acme", Reason: "abuse report"}))
	if err != nil {
		t.Fatal(err)
	}
	if sus.Msg.GetTenant().GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED {
		t.Fatalf("after suspend: %v", sus.Msg.GetTenant())
	}
	if m := nextChange(); m["tenant_id"] != o.tenant.GetId() || m["slug"] != "acme" || m["status"] != "suspended" {
		t.Fatalf("change = %v", m)
	}
	// Suspending twice is a no-op; logins still work on a suspended tenant.
	if _, err := op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: o.tenant.GetId()})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.atTenant(s.lookup("acme")).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: o.email, Password: o.password})); err != nil {
		t.Fatalf("login on suspended tenant: %v", err)
	}

	res, err := op.ResumeTenant(ctx, connect.NewRequest(&tenancyv1.ResumeTenantRequest{Tenant: "acme"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetTenant().GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || res.Msg.GetTenant().GetStatusReason() != "" {
		t.Fatalf("after resume: %v", res.Msg.GetTenant())
	}
	if m := nextChange(); m["status"] != "active" {
		t.Fatalf("change = %v", m)
	}

	// Soft delete: deleting, purge after the grace period, schema still there, no logins.
	del, err := op.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "acme"}))
	if err != nil {
		t.Fatal(err)
	}
	dt := del.Msg.GetTenant()
	if dt.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_DELETING ||
		dt.GetPurgeTime().AsTime().Before(time.Now().Add(app.DefaultDeleteGrace-time.Hour)) {
		t.Fatalf("after delete: %v", dt)
	}
	if m := nextChange(); m["status"] != "deleting" {
		t.Fatalf("change = %v", m)
	}
	if !s.schemaExists(o.tenant.GetSchema()) {
		t.Fatal("soft delete dropped the schema")
	}
	_, err = s.atTenant(dt).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: o.email, Password: o.password}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = op.ResumeTenant(ctx, connect.NewRequest(&tenancyv1.ResumeTenantRequest{Tenant: "acme"}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	// The slug is still held while deleting.
	_, err = s.anon().Tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{OrgName: "Acme 2", Slug: "acme", AdminEmail: "x@example.com", AdminPassword: goodPassword}))
	wantCode(t, err, connect.CodeAlreadyExists)

	// Delete now: schema and role gone, status deleted, slug free.
	now, err := op.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "acme", Now: true}))
	if err != nil {
		t.Fatal(err)
	}
	if now.Msg.GetTenant().GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_DELETED {
		t.Fatalf("after delete now: %v", now.Msg.GetTenant())
	}
	if s.schemaExists(o.tenant.GetSchema()) || s.roleExists(o.tenant.GetSchema()) {
		t.Fatal("schema or role left after delete now")
	}
	if n := s.count(`SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1`, o.tenant.GetId()); n != 0 {
		t.Fatalf("%d memberships left", n)
	}
	again := s.signUp("acme")
	if again.tenant.GetId() == o.tenant.GetId() {
		t.Fatal("re-used tenant id")
	}
	// The deleted tenant is still there by id, for the record.
	if got := s.lookup(o.tenant.GetId()); got.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_DELETED {
		t.Fatalf("deleted tenant = %v", got)
	}

	_, err = op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "acme", Reason: strings.Repeat("r", 501)}))
	wantFields(t, err, "reason")
	_, err = op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{}))
	wantFields(t, err, "tenant")
	_, err = op.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "nosuch"}))
	wantCode(t, err, connect.CodeNotFound)

	for _, action := range []string{"tenant.suspend", "tenant.resume", "tenant.delete", "tenant.purge"} {
		if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = $1 AND tenant_id = $2`, action, o.tenant.GetId()); n == 0 {
			t.Errorf("no audit event %s", action)
		}
	}
	if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'tenant.suspend' AND actor = 'operator:op-test' AND details->>'reason' = 'abuse report'`); n != 1 {
		t.Errorf("suspend audit events by the operator = %d", n)
	}
}

func TestMigrateTenants(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	var tenants []*tenancyv1.Tenant
	for i := range 6 {
		tenants = append(tenants, s.signUp(fmt.Sprintf("mig%d", i)).tenant)
	}
	op := s.asOperator().Operator
	if _, err := op.SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "mig5"})); err != nil {
		t.Fatal(err)
	}
	if _, err := op.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "mig4"})); err != nil {
		t.Fatal(err)
	}

	// A new version of the service's tables; one tenant's migration fails.
	s.prov.setMigrations(widgetsV2)
	broken := tenants[2].GetId()
	s.prov.setFail(func(id string) error {
		if id == broken {
			return errors.New("disk on fire")
		}
		return nil
	})
	run := func(req *tenancyv1.MigrateTenantsRequest) []*tenancyv1.MigrateTenantsResponse {
		t.Helper()
		stream, err := op.MigrateTenants(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*tenancyv1.MigrateTenantsResponse
		for stream.Receive() {
			msgs = append(msgs, stream.Msg())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	msgs := run(&tenancyv1.MigrateTenantsRequest{Concurrency: 3})
	// Active and suspended tenants only: the deleting one is skipped.
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	failed := map[string]string{}
	for i, m := range msgs {
		if m.GetDone() != int32(i+1) || m.GetTotal() != 5 {
			t.Fatalf("message %d: done %d total %d", i, m.GetDone(), m.GetTotal())
		}
		if !m.GetOk() {
			failed[m.GetTenant().GetId()] = m.GetError()
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[broken], "disk on fire") {
		t.Fatalf("failed = %v, want only %s", failed, broken)
	}
	noteColumn := func(schema string) int {
		return s.count(`SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'widgets' AND column_name = 'note'`, schema)
	}
	for i, tn := range tenants {
		want := 1
		if i == 2 || i == 4 {
			want = 0
		}
		if got := noteColumn(tn.GetSchema()); got != want {
			t.Errorf("tenant %s: note column %d, want %d", tn.GetSlug(), got, want)
		}
	}

	// Fixed and re-run for just that tenant (by slug): safe to repeat.
	s.prov.setFail(nil)
	msgs = run(&tenancyv1.MigrateTenantsRequest{Tenants: []string{"mig2"}})
	if len(msgs) != 1 || !msgs[0].GetOk() || msgs[0].GetTotal() != 1 {
		t.Fatalf("re-run = %v", msgs)
	}
	if noteColumn(tenants[2].GetSchema()) != 1 {
		t.Fatal("re-run did not migrate")
	}

	stream, err := op.MigrateTenants(ctx, connect.NewRequest(&tenancyv1.MigrateTenantsRequest{Tenants: []string{"nosuch", "mig4"}, Concurrency: 99}))
	if err == nil {
		for stream.Receive() {
			t.Fatal("message on a bad request")
		}
		err = stream.Err()
	}
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "concurrency")
	stream, _ = op.MigrateTenants(ctx, connect.NewRequest(&tenancyv1.MigrateTenantsRequest{Tenants: []string{"nosuch", "mig4"}}))
	for stream.Receive() {
		t.Fatal("message on a bad request")
	}
	wantFields(t, stream.Err(), "tenants[0]", "tenants[1]")
}

func TestShards(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	op := s.asOperator().Operator
	s.signUp("acme")

	second := pgtest.New(t)
	res, err := op.AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "second", Dsn: second}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetShard().GetName() != "second" || !res.Msg.GetShard().GetAcceptsTenants() {
		t.Fatalf("shard = %v", res.Msg.GetShard())
	}
	_, err = op.AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "second", Dsn: second}))
	wantCode(t, err, connect.CodeAlreadyExists)
	wantFields(t, err, "name")
	_, err = op.AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "Bad_Name", Dsn: ""}))
	wantFields(t, err, "name", "dsn")
	_, err = op.AddShard(ctx, connect.NewRequest(&tenancyv1.AddShardRequest{Name: "dead", Dsn: "postgres://postgres:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	wantFields(t, err, "dsn")

	// The next tenant goes to the emptier shard, where the provisioner can reach it too.
	if err := s.prov.shards.Add(ctx, "second", second); err != nil {
		t.Fatal(err)
	}
	globex := s.signUp("globex")
	if globex.tenant.GetShard() != "second" {
		t.Fatalf("placed on %q, want second", globex.tenant.GetShard())
	}
	list, err := op.ListShards(ctx, connect.NewRequest(&tenancyv1.ListShardsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int32{}
	for _, sh := range list.Msg.GetShards() {
		counts[sh.GetName()] = sh.GetTenantCount()
	}
	if counts["main"] != 1 || counts["second"] != 1 || len(counts) != 2 {
		t.Fatalf("shard counts = %v", counts)
	}
	// A restarted service knows the shard added at run time.
	s2 := s.another()
	if got := s2.lookup("globex"); got.GetShard() != "second" {
		t.Fatal(got)
	}
	if _, err := s2.asOperator().Operator.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "globex", Now: true})); err != nil {
		t.Fatal(err)
	}
	if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'shard.add' AND target = 'shard:second'`); n != 1 {
		t.Fatalf("shard.add audit events = %d", n)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:redacted@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                         "postgres://u@h/db",
		"postgres://u@h/db?password=pw":             "postgres://u@h/db?password=redacted",
		"host=h user=u password=pw dbname=d":        "host=h user=u password=redacted dbname=d",
		"host=h password='p w' dbname=d":            "host=h password=redacted dbname=d",
	} {
		if got := app.RedactDSNForTest(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	acme := s.signUp("acme")
	s.signUp("globex")
	s.addMember(acme, "a1@example.com", tenancyv1.Role_ROLE_MEMBER)
	s.addMember(acme, "a2@example.com", tenancyv1.Role_ROLE_MEMBER)
	op := s.asOperator().Operator

	var all []*tenancyv1.AuditEvent
	token := ""
	for {
		res, err := op.ListAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListAuditEventsRequest{Tenant: "acme", PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.Msg.GetEvents()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	var actions []string
	for _, e := range all {
		if e.GetTenantId() != acme.tenant.GetId() {
			t.Fatalf("event of another tenant: %v", e)
		}
		actions = append(actions, e.GetAction())
	}
	// Newest first.
	if strings.Join(actions, ",") != "invitation.accept,invitation.create,invitation.accept,invitation.create,tenant.signup" {
		t.Fatalf("actions = %v", actions)
	}
	add := all[1]
	var details map[string]any
	if err := json.Unmarshal([]byte(add.GetDetailsJson()), &details); err != nil || details["email"] != "a2@example.com" {
		t.Fatalf("details = %s (%v)", add.GetDetailsJson(), err)
	}
	if add.GetActor() != "user:"+acme.user.GetId() || add.GetRequestId() == "" || add.GetTime() == nil {
		t.Fatalf("event = %v", add)
	}
	res, err := op.ListAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListAuditEventsRequest{}))
	if err != nil || len(res.Msg.GetEvents()) != 6 {
		t.Fatalf("all events = %v, %v", res, err)
	}
	_, err = op.ListAuditEvents(ctx, connect.NewRequest(&tenancyv1.ListAuditEventsRequest{Tenant: "nosuch"}))
	wantCode(t, err, connect.CodeNotFound)
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	o := s.signUp("acme")
	dir := s.asService().Directory

	for _, ref := range []string{"acme", o.tenant.GetId()} {
		res, err := dir.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: ref}))
		if err != nil || res.Msg.GetTenant().GetId() != o.tenant.GetId() || res.Msg.GetTenant().GetSchema() != o.tenant.GetSchema() {
			t.Fatalf("resolve %s = %v, %v", ref, res, err)
		}
	}
	_, err := dir.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: "globex"}))
	wantCode(t, err, connect.CodeNotFound)

	keys, err := dir.GetSigningKeys(ctx, connect.NewRequest(&tenancyv1.GetSigningKeysRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := authn.ParseJWKS([]byte(keys.Msg.GetJwksJson()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.NewUserTokenVerifier(pubs...).Verify(o.access); err != nil {
		t.Fatalf("sign-up token does not verify with the published keys: %v", err)
	}

	shard, err := dir.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{Name: o.tenant.GetShard()}))
	if err != nil || shard.Msg.GetDsn() == "" || shard.Msg.GetName() != o.tenant.GetShard() {
		t.Fatalf("resolve shard = %v, %v", shard, err)
	}
	_, err = dir.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{Name: "nosuch"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = dir.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{}))
	wantCode(t, err, connect.CodeInvalidArgument)
	// Shard DSNs carry passwords: users never get them, whatever the gateway does.
	_, err = o.as(s).Directory.ResolveShard(ctx, connect.NewRequest(&tenancyv1.ResolveShardRequest{Name: o.tenant.GetShard()}))
	wantCode(t, err, connect.CodePermissionDenied)

	secret, err := s.app.CreateOperatorToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	in, err := dir.IntrospectToken(ctx, connect.NewRequest(&tenancyv1.IntrospectTokenRequest{Token: secret}))
	if err != nil || !in.Msg.GetActive() || !in.Msg.GetOperator() || in.Msg.GetOperatorId() == "" || in.Msg.GetTenantId() != "" {
		t.Fatalf("introspect operator token = %v, %v", in, err)
	}
	// A second token for the same operator names the same operator.
	secret2, err := s.app.CreateOperatorToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	in2, err := dir.IntrospectToken(ctx, connect.NewRequest(&tenancyv1.IntrospectTokenRequest{Token: secret2}))
	if err != nil || in2.Msg.GetOperatorId() != in.Msg.GetOperatorId() || secret2 == secret {
		t.Fatalf("second operator token = %v, %v", in2, err)
	}
}

// Tenancy enforces the access option of each method itself, whatever the gateway did.
func TestAccessPolicy(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	o := s.signUp("acme")
	user := o.as(s)

	_, err := s.anon().Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = user.Operator.ListTenants(ctx, connect.NewRequest(&tenancyv1.ListTenantsRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = user.Directory.ResolveTenant(ctx, connect.NewRequest(&tenancyv1.ResolveTenantRequest{Tenant: "acme"}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = s.asOperator().Members.ListMembers(ctx, connect.NewRequest(&tenancyv1.ListMembersRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// No internal token at all, or one signed by someone else.
	noToken := tenancyv1connect.NewDirectoryServiceClient(app.H2CClient(), s.url)
	_, err = noToken.GetSigningKeys(ctx, connect.NewRequest(&tenancyv1.GetSigningKeysRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	stranger := &stack{url: s.url, internal: authn.NewInternalSigner(newKey(t))}
	_, err = stranger.as(authn.Identity{Service: "gateway"}).Directory.GetSigningKeys(ctx, connect.NewRequest(&tenancyv1.GetSigningKeysRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

// Placement respects each shard's capacity: a full shard takes no tenant, asked for by name
// or not, and with every shard full sign-up is refused with ResourceExhausted.
func TestShardCapacity(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	op := s.asOperator().Operator
	// A configured shard gets the default capacity (migration 004_shard_capacity): the measured
	// ceiling of one cluster, not "no limit".
	list, err := op.ListShards(ctx, connect.NewRequest(&tenancyv1.ListShardsRequest{}))
	if err != nil || len(list.Msg.GetShards()) != 1 || list.Msg.GetShards()[0].GetMaxTenants() != 5000 {
		t.Fatalf("configured shard: %v, %v; want main with max_tenants 5000", list, err)
	}
	one := int32(1)
	upd, err := op.UpdateShard(ctx, connect.NewRequest(&tenancyv1.UpdateShardRequest{Name: "main", MaxTenants: &one}))
	if err != nil || upd.Msg.GetShard().GetMaxTenants() != 1 {
		t.Fatalf("update shard: %v, %v", upd, err)
	}
	s.signUp("first")

	tests := []struct {
		name  string
		shard string
	}{
		{"placement", ""},
		{"by name", "main"},
	}
	for _, tt := range tests {
		_, err := op.CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
			Slug: "over-" + strings.ReplaceAll(tt.name, " ", "-"), AdminEmail: "o@over.test", AdminPassword: "a long passphrase 42", Shard: tt.shard}))
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("%s on a full shard: err = %v, want ResourceExhausted", tt.name, err)
		}
	}
	// Raising the capacity lets placement use the shard again.
	two := int32(2)
	if _, err := op.UpdateShard(ctx, connect.NewRequest(&tenancyv1.UpdateShardRequest{Name: "main", MaxTenants: &two})); err != nil {
		t.Fatal(err)
	}
	s.signUp("second")
	_, err = op.UpdateShard(ctx, connect.NewRequest(&tenancyv1.UpdateShardRequest{Name: "nosuch", MaxTenants: &two}))
	wantCode(t, err, connect.CodeNotFound)
	if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'shard.update'`); n != 2 {
		t.Fatalf("shard.update audit events = %d", n)
	}
}

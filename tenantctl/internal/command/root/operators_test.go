package root_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/tenantctl/internal/command/root"
	"google.golang.org/protobuf/encoding/protojson"
)

// testOperators creates, lists and revokes an operator credential against the shared stack:
// the new secret works until revoked, the stack's own never-expiring credential (what make up
// writes) keeps working throughout, and both changes are in the audit log as the operator.
func testOperators(t *testing.T, c *cli) {
	list := func(t *testing.T) map[string]*tenancyv1.OperatorCredential {
		t.Helper()
		var resp tenancyv1.ListOperatorsResponse
		if err := protojson.Unmarshal([]byte(c.ok(t, "operators", "list", "-o", "json").stdout), &resp); err != nil {
			t.Fatal(err)
		}
		byName := map[string]*tenancyv1.OperatorCredential{}
		for _, cr := range resp.GetCredentials() {
			byName[cr.GetName()] = cr
		}
		return byName
	}
	// as runs tenants list with token; it reports whether the gateway accepted it.
	as := func(t *testing.T, token string) bool {
		t.Helper()
		return c.run(t, "", "--token", token, "tenants", "list").code == 0
	}

	local := list(t)["tenantctl-test"]
	if local == nil || local.GetExpireTime() != nil || local.GetRevokeTime() != nil {
		t.Fatalf("the stack's own credential: %v", local)
	}

	r := c.ok(t, "operators", "create", "alice-laptop", "--operator", "alice", "--ttl-days", "7", "-o", "json")
	var created tenancyv1.CreateOperatorResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatal(err)
	}
	cred := created.GetCredential()
	if created.GetSecret() == "" || cred.GetName() != "alice-laptop" || cred.GetOperator() != "alice" {
		t.Fatalf("created %v", &created)
	}
	if d := time.Until(cred.GetExpireTime().AsTime()); d < 6*24*time.Hour || d > 7*24*time.Hour+time.Minute {
		t.Errorf("expires in %v, want 7 days", d)
	}
	if !as(t, created.GetSecret()) {
		t.Fatal("the new credential is refused")
	}
	if tbl := c.ok(t, "operators", "list").stdout; !strings.Contains(tbl, "alice-laptop") || !strings.Contains(tbl, "active") || !strings.Contains(tbl, "never") {
		t.Errorf("table:\n%s", tbl)
	}
	if secret := created.GetSecret(); strings.Contains(c.ok(t, "operators", "list", "-o", "json").stdout, secret) {
		t.Error("list shows a secret")
	}

	r = c.ok(t, "operators", "revoke", "alice-laptop", "-o", "json")
	var revoked tenancyv1.RevokeOperatorResponse
	if err := protojson.Unmarshal([]byte(r.stdout), &revoked); err != nil {
		t.Fatal(err)
	}
	if revoked.GetCredential().GetId() != cred.GetId() || revoked.GetCredential().GetRevokeTime() == nil {
		t.Fatalf("revoked %v", &revoked)
	}
	if got := list(t)["alice-laptop"]; got.GetRevokeTime() == nil {
		t.Errorf("listed after revoke: %v", got)
	}
	// Refused within a second (the gateway's cache is told); polled, not timed.
	deadline := time.Now().Add(5 * time.Second)
	for as(t, created.GetSecret()) {
		if time.Now().After(deadline) {
			t.Fatal("the revoked credential still works")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !as(t, c.op) {
		t.Fatal("the stack's own credential stopped working")
	}

	var events tenancyv1.ListAuditEventsResponse
	if err := protojson.Unmarshal([]byte(c.ok(t, "audit", "--limit", "0", "-o", "json").stdout), &events); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events.GetEvents() {
		if strings.HasSuffix(e.GetTarget(), cred.GetId()) {
			actions = append(actions, e.GetAction())
			if e.GetActor() == "" {
				t.Errorf("event without actor: %v", e)
			}
		}
	}
	for _, want := range []string{"operator_token.create", "operator_token.revoke"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit lacks %s for the credential: %v", want, actions)
		}
	}

	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"ttl too long", []string{"operators", "create", "bob", "--ttl-days", "366"}, root.ExitUsage, "--ttl-days"},
		{"ttl zero", []string{"operators", "create", "bob", "--ttl-days", "0"}, root.ExitUsage, "--ttl-days"},
		{"no name", []string{"operators", "create"}, root.ExitUsage, "arg"},
		{"blank name", []string{"operators", "create", " "}, root.ExitError, "name"},
		{"unknown credential", []string{"operators", "revoke", "nosuch"}, root.ExitError, "not found"},
		{"extra argument", []string{"operators", "list", "x"}, root.ExitUsage, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(t, "", tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
	if _, ok := list(t)["bob"]; ok {
		t.Error("a refused create made a credential")
	}
}

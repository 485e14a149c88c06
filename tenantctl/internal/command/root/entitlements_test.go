package root_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/tenantctl/internal/command/root"
	"connectrpc.com/connect"
)

type snapshotJSON struct {
	TenantID         string            `json:"tenantId"`
	Plan             string            `json:"plan"`
	InstalledPlugins []string          `json:"installedPlugins"`
	Limits           map[string]string `json:"limits"` // protojson writes int64 as strings
	Version          string            `json:"version"`
}

type tenantPluginJSON struct {
	Plugin struct {
		ID   string `json:"id"`
		Tier string `json:"tier"`
	} `json:"plugin"`
	State       string `json:"state"`
	Unavailable struct {
		Message string `json:"message"`
		Unlock  struct {
			Action string `json:"action"`
			Plan   string `json:"plan"`
		} `json:"unlock"`
	} `json:"unavailable"`
	GrantExpireTime string `json:"grantExpireTime"`
}

func pluginState(t *testing.T, c *cli, tenant, plugin string) tenantPluginJSON {
	t.Helper()
	r := c.ok(t, "plugins", "list", "--tenant", tenant, "-o", "json")
	out := decode[struct {
		Plugins []tenantPluginJSON `json:"plugins"`
	}](t, r.stdout)
	for _, p := range out.Plugins {
		if p.Plugin.ID == plugin {
			return p
		}
	}
	t.Fatalf("plugin %s not in %s", plugin, r.stdout)
	return tenantPluginJSON{}
}

// testEntitlements runs plans, plugins and limits against the shared stack's tenant initech (on
// the free plan, made here so the test runs alone too) and checks every change reached the entitlements audit log as the operator.
func testEntitlements(t *testing.T, c *cli) {
	c.ok(t, "tenants", "create", "initech", "--admin-email", "admin@initech.example.com")
	t.Run("plans list", func(t *testing.T) {
		r := c.ok(t, "plans", "list", "-o", "json")
		out := decode[struct {
			Plans []struct {
				ID     string            `json:"id"`
				Limits map[string]string `json:"limits"`
			} `json:"plans"`
		}](t, r.stdout)
		var ids []string
		for _, p := range out.Plans {
			ids = append(ids, p.ID)
			if p.Limits["seats"] == "" {
				t.Errorf("plan %s has no seats limit: %v", p.ID, p.Limits)
			}
		}
		if !slices.Equal(ids, []string{"free", "team", "enterprise"}) {
			t.Fatalf("plans %v", ids)
		}
		if r := c.ok(t, "plans", "list"); !strings.Contains(r.stdout, "enterprise") || !strings.Contains(r.stdout, "seats=") {
			t.Fatalf("table:\n%s", r.stdout)
		}
	})

	t.Run("plugins list", func(t *testing.T) {
		r := c.ok(t, "plugins", "list", "-o", "json")
		out := decode[struct {
			Plugins []struct {
				ID   string `json:"id"`
				Tier string `json:"tier"`
			} `json:"plugins"`
		}](t, r.stdout)
		tiers := map[string]string{}
		for _, p := range out.Plugins {
			tiers[p.ID] = p.Tier
		}
		if tiers["catalog"] != "PLUGIN_TIER_FREE" || tiers["insights"] != "PLUGIN_TIER_PREMIUM" {
			t.Fatalf("registry %v", tiers)
		}
		if p := pluginState(t, c, "initech", "insights"); p.State != "PLUGIN_STATE_LOCKED" || p.Unavailable.Unlock.Action != "upgrade_plan" {
			t.Fatalf("insights on free: %+v", p)
		}
		if r := c.ok(t, "plugins", "list", "--tenant", "initech"); !strings.Contains(r.stdout, "requires plan team") {
			t.Fatalf("table names no reason:\n%s", r.stdout)
		}
	})

	t.Run("plugins grant and revoke", func(t *testing.T) {
		r := c.ok(t, "plugins", "grant", "--tenant", "initech", "--plugin", "insights", "--until", "14d", "--reason", "trial from sales", "-o", "json")
		out := decode[struct {
			Grant struct {
				Plugin     string `json:"plugin"`
				ExpireTime string `json:"expireTime"`
			} `json:"grant"`
			Snapshot snapshotJSON `json:"snapshot"`
		}](t, r.stdout)
		if out.Grant.Plugin != "insights" || out.Grant.ExpireTime == "" || out.Snapshot.Plan != "free" {
			t.Fatalf("grant: %s", r.stdout)
		}
		if p := pluginState(t, c, "initech", "insights"); p.State != "PLUGIN_STATE_AVAILABLE" || p.GrantExpireTime == "" {
			t.Fatalf("insights after the grant: %+v", p)
		}
		r = c.ok(t, "plugins", "revoke", "--tenant", "initech", "--plugin", "insights", "--reason", "declined")
		if !strings.Contains(r.stdout, "revoked the grant of insights") || !strings.Contains(r.stdout, "plan:") {
			t.Fatalf("revoke:\n%s", r.stdout)
		}
		if p := pluginState(t, c, "initech", "insights"); p.State != "PLUGIN_STATE_LOCKED" {
			t.Fatalf("insights after the revoke: %+v", p)
		}
	})

	t.Run("plans set", func(t *testing.T) {
		r := c.ok(t, "plans", "set", "--tenant", "initech", "--plan", "team", "--reason", "order form", "-o", "json")
		out := decode[struct {
			Snapshot snapshotJSON `json:"snapshot"`
		}](t, r.stdout)
		if out.Snapshot.Plan != "team" {
			t.Fatalf("plan: %s", r.stdout)
		}
		if p := pluginState(t, c, "initech", "insights"); p.State != "PLUGIN_STATE_AVAILABLE" {
			t.Fatalf("insights on team: %+v", p)
		}
		c.ok(t, "plans", "set", "--tenant", "initech", "--plan", "free")
	})

	t.Run("limits set", func(t *testing.T) {
		for _, tt := range []struct{ value, want string }{{"50", "50"}, {"unlimited", "-1"}} {
			r := c.ok(t, "limits", "set", "--tenant", "initech", "--name", "seats", "--value", tt.value, "--reason", "pilot", "-o", "json")
			if got := decode[struct {
				Snapshot snapshotJSON `json:"snapshot"`
			}](t, r.stdout).Snapshot.Limits["seats"]; got != tt.want {
				t.Fatalf("--value %s: seats %s\n%s", tt.value, got, r.stdout)
			}
		}
		r := c.ok(t, "limits", "set", "--tenant", "initech", "--name", "seats", "--clear")
		if !strings.Contains(r.stdout, "seats=") || strings.Contains(r.stdout, "seats=unlimited") {
			t.Fatalf("clear:\n%s", r.stdout)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"unknown limit", []string{"limits", "set", "--tenant", "initech", "--name", "bogus", "--value", "1"}, root.ExitError, "limit"},
			{"value and clear", []string{"limits", "set", "--tenant", "initech", "--name", "seats", "--value", "1", "--clear"}, root.ExitUsage, "--value or --clear"},
			{"bad value", []string{"limits", "set", "--tenant", "initech", "--name", "seats", "--value", "lots"}, root.ExitUsage, "--value"},
			{"past until", []string{"plugins", "grant", "--tenant", "initech", "--plugin", "insights", "--until", "2020-01-01"}, root.ExitUsage, "future"},
			{"unknown plugin", []string{"plugins", "grant", "--tenant", "initech", "--plugin", "nope"}, root.ExitError, "plugin"},
			{"unknown plan", []string{"plans", "set", "--tenant", "initech", "--plan", "platinum"}, root.ExitError, "plan"},
			{"unknown tenant", []string{"plans", "set", "--tenant", "nosuchtenant", "--plan", "team"}, root.ExitError, "not found"},
			{"no tenant", []string{"plugins", "revoke", "--plugin", "insights"}, root.ExitUsage, "tenant"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := c.run(t, "", tt.args...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
					t.Fatalf("exit %d, want %d; stderr %q should name %q", r.code, tt.code, r.stderr, tt.want)
				}
			})
		}
		if p := pluginState(t, c, "initech", "insights"); p.State != "PLUGIN_STATE_LOCKED" {
			t.Fatalf("bad input changed something: %+v", p)
		}
	})

	t.Run("audited as the operator", func(t *testing.T) {
		ent := entitlementsv1connect.NewEntitlementsOperatorServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(bearer(c.op)))
		res, err := ent.ListEntitlementsAudit(context.Background(), connect.NewRequest(&entv1.ListEntitlementsAuditRequest{Tenant: "initech", PageSize: 100}))
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]string{}
		for _, e := range res.Msg.GetEntries() {
			if !strings.HasPrefix(e.GetActor(), "operator:") {
				continue
			}
			if _, seen := reasons[e.GetAction()]; !seen {
				reasons[e.GetAction()] = e.GetReason()
			}
		}
		for action, reason := range map[string]string{"grant.revoke": "declined", "plan.set": "", "limit.override": ""} {
			got, ok := reasons[action]
			if !ok || (reason != "" && got != reason) {
				t.Errorf("no %s by the operator with reason %q; saw %v", action, reason, reasons)
			}
		}
		if _, ok := reasons["grant.create"]; !ok {
			t.Errorf("no grant.create by the operator; saw %v", reasons)
		}
	})
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	optionsv1 "atrium.dev/gen/atrium/options/v1"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/rpcerr"
	entitlementsapp "atrium.dev/services/entitlements/app"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// gatedService is a test-only API whose methods declare plugins, registered with the
// descriptors the gateway builds its routes from. It stands in for the premium services that
// later issues add (insights, scorecards): the gateway's plugin check does not depend on which
// service it guards.
const gatedService = "atrium.e2egated.v1.GatedService"

func init() {
	method := func(name, plugin string) *descriptorpb.MethodDescriptorProto {
		opts := &descriptorpb.MethodOptions{}
		proto.SetExtension(opts, optionsv1.E_Access, &optionsv1.Access{Level: optionsv1.AccessLevel_ACCESS_LEVEL_TENANT_MEMBER, Plugin: plugin})
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(".google.protobuf.Empty"),
			OutputType: proto.String(".google.protobuf.Empty"), Options: opts}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("atrium/e2egated/v1/gated.proto"),
		Package:    proto.String("atrium.e2egated.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto", "atrium/options/v1/access.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   proto.String("GatedService"),
			Method: []*descriptorpb.MethodDescriptorProto{method("Insights", "insights"), method("Scorecards", "scorecards")},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err == nil {
		err = protoregistry.GlobalFiles.RegisterFile(fd)
	}
	if err != nil {
		panic("e2e: register gated service: " + err.Error())
	}
}

// gatedUpstream serves GatedService (every method answers Empty) over h2c and returns its URL.
func gatedUpstream(tb testing.TB) string {
	tb.Helper()
	mux := http.NewServeMux()
	for _, m := range []string{"Insights", "Scorecards"} {
		mux.Handle("/"+gatedService+"/"+m, connect.NewUnaryHandler("/"+gatedService+"/"+m,
			func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
				return connect.NewResponse(&emptypb.Empty{}), nil
			}))
	}
	return serveH2C(tb, mux)
}

func serveH2C(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// clock is the entitlements service's clock in tests: real time plus an offset tests move.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type entEnv struct {
	*env
	clock    *clock
	upstream string
}

func startEntitlements(t testing.TB, adjust func(*stack.Options)) *entEnv {
	t.Helper()
	up := gatedUpstream(t)
	c := &clock{}
	e := start(t, func(o *stack.Options) {
		o.Gateway = func(cfg *gatewayapp.Config) {
			cfg.Upstreams[gatedService] = up
			cfg.RateLimit = gatewayapp.RateLimit{PerSecond: -1}
		}
		o.Entitlements = func(cfg *entitlementsapp.Config) { cfg.Now = c.Now }
		if adjust != nil {
			adjust(o)
		}
	})
	return &entEnv{env: e, clock: c, upstream: up}
}

func (e *env) plugins(token, tenant string) entitlementsv1connect.PluginServiceClient {
	return entitlementsv1connect.NewPluginServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

func (e *env) entOperator() entitlementsv1connect.EntitlementsOperatorServiceClient {
	return entitlementsv1connect.NewEntitlementsOperatorServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(e.operator, ""))
}

// callGated calls a GatedService method through the gateway at gatewayURL.
func callGated(ctx context.Context, client *http.Client, gatewayURL, method, token, tenant string) error {
	c := connect.NewClient[emptypb.Empty, emptypb.Empty](client, gatewayURL+"/"+gatedService+"/"+method, as(token, tenant))
	_, err := c.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
	return err
}

// denial returns the PluginUnavailable detail of a PermissionDenied, or nil.
func denial(err error) *entv1.PluginUnavailable {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied {
		return nil
	}
	for _, d := range ce.Details() {
		if m, derr := d.Value(); derr == nil {
			if u, ok := m.(*entv1.PluginUnavailable); ok {
				return u
			}
		}
	}
	return nil
}

// waitFor polls cond for up to 3 s: a change reaches the gateways through a Redis message and
// one snapshot fetch, typically within milliseconds.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantDenied checks the gated method is refused with the given state and reason.
func wantDenied(state entv1.PluginState, reason entv1.LockReason) func(error) error {
	return func(err error) error {
		u := denial(err)
		if u == nil {
			return fmt.Errorf("want PermissionDenied with a PluginUnavailable detail, got %v", err)
		}
		if u.GetState() != state || u.GetReason() != reason {
			return fmt.Errorf("detail = %v, want state %v reason %v", u, state, reason)
		}
		return nil
	}
}

func allowed(err error) error { return err }

func cfgStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pluginState(t *testing.T, e *env, token, tenant, id string) *entv1.TenantPlugin {
	t.Helper()
	res, err := e.plugins(token, tenant).GetPlugin(context.Background(), connect.NewRequest(&entv1.GetPluginRequest{Plugin: id}))
	if err != nil {
		t.Fatalf("GetPlugin %s: %v", id, err)
	}
	return res.Msg.GetPlugin()
}

func setPlan(t testing.TB, e *env, tenant, plan string) *entv1.EntitlementsOperatorServiceSetPlanResponse {
	t.Helper()
	res, err := e.entOperator().SetPlan(context.Background(), connect.NewRequest(&entv1.EntitlementsOperatorServiceSetPlanRequest{Tenant: tenant, Plan: plan, Reason: "e2e"}))
	if err != nil {
		t.Fatalf("SetPlan %s %s: %v", tenant, plan, err)
	}
	return res.Msg
}

func TestPluginMarketplace(t *testing.T) {
	e := startEntitlements(t, nil)
	ctx := context.Background()
	acme := signUp(t, e.env, "acme")
	gw := e.st.GatewayURL
	gated := func(method string) error { return callGated(ctx, e.st.HTTPClient, gw, method, acme.access, "acme") }
	pl := e.plugins(acme.access, "acme")

	t.Run("new tenant is on free with the free plugins installed", func(t *testing.T) {
		res, err := pl.ListPlugins(ctx, connect.NewRequest(&entv1.ListPluginsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetPlan() != "free" {
			t.Fatalf("plan = %q", res.Msg.GetPlan())
		}
		states := map[string]entv1.PluginState{}
		for _, p := range res.Msg.GetPlugins() {
			states[p.GetPlugin().GetId()] = p.GetState()
		}
		for id, want := range map[string]entv1.PluginState{
			"catalog": entv1.PluginState_PLUGIN_STATE_INSTALLED, "catalog-sources": entv1.PluginState_PLUGIN_STATE_INSTALLED,
			"search": entv1.PluginState_PLUGIN_STATE_INSTALLED, "insights": entv1.PluginState_PLUGIN_STATE_LOCKED,
			"scorecards": entv1.PluginState_PLUGIN_STATE_LOCKED, "assistant": entv1.PluginState_PLUGIN_STATE_LOCKED,
			"feature-flags": entv1.PluginState_PLUGIN_STATE_LOCKED,
		} {
			if states[id] != want {
				t.Errorf("%s: state %v, want %v", id, states[id], want)
			}
		}
		if first := res.Msg.GetPlugins()[0]; first.GetState() != entv1.PluginState_PLUGIN_STATE_INSTALLED {
			t.Errorf("installed plugins must come first; first is %v", first)
		}
		ins := pluginState(t, e.env, acme.access, "acme", "insights")
		if u := ins.GetUnavailable(); u.GetMessage() != "requires plan team" || u.GetUnlock().GetPlan() != "team" || !u.GetUnlock().GetTrialAvailable() {
			t.Errorf("insights unavailable = %v", u)
		}
	})

	t.Run("locked plugin: gated method refused with the reason; install refused", func(t *testing.T) {
		err := gated("Insights")
		if err := wantDenied(entv1.PluginState_PLUGIN_STATE_LOCKED, entv1.LockReason_LOCK_REASON_REQUIRES_PLAN)(err); err != nil {
			t.Fatal(err)
		}
		if u := denial(err); u.GetPlugin() != "insights" || u.GetUnlock().GetPlan() != "team" {
			t.Fatalf("detail = %v", u)
		}
		_, err = pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
	})

	t.Run("upgrade, install, works without restart, uninstall, refused again", func(t *testing.T) {
		setPlan(t, e.env, "acme", "team")
		waitFor(t, "available after upgrade", func() error {
			return wantDenied(entv1.PluginState_PLUGIN_STATE_AVAILABLE, entv1.LockReason_LOCK_REASON_UNSPECIFIED)(gated("Insights"))
		})
		res, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights",
			Config: cfgStruct(t, map[string]any{"retention_days": 30})}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetPlugin().GetState() != entv1.PluginState_PLUGIN_STATE_INSTALLED {
			t.Fatalf("state = %v", res.Msg.GetPlugin().GetState())
		}
		waitFor(t, "gated method after install", func() error { return allowed(gated("Insights")) })
		// Idempotent: installing again changes nothing.
		if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"})); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "insights"})); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "insights"})); err != nil {
			t.Fatalf("second uninstall: %v", err)
		}
		waitFor(t, "refused after uninstall", func() error {
			return wantDenied(entv1.PluginState_PLUGIN_STATE_AVAILABLE, entv1.LockReason_LOCK_REASON_UNSPECIFIED)(gated("Insights"))
		})
		// Uninstall kept the config; reinstalling without one restores it.
		if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"})); err != nil {
			t.Fatal(err)
		}
		if got := pluginState(t, e.env, acme.access, "acme", "insights").GetConfig().AsMap()["retention_days"]; got != float64(30) {
			t.Fatalf("config after reinstall: retention_days = %v", got)
		}
	})

	t.Run("bad config: InvalidArgument with the schema path", func(t *testing.T) {
		_, err := pl.UpdatePluginConfig(ctx, connect.NewRequest(&entv1.UpdatePluginConfigRequest{Plugin: "insights",
			Config: cfgStruct(t, map[string]any{"retention_days": 0, "exclude_paths": []any{"ok/no-slash"}, "colour": "red"})}))
		wantCode(t, err, connect.CodeInvalidArgument)
		var fields []string
		for _, v := range rpcerr.FieldViolations(err) {
			fields = append(fields, v.Field)
		}
		for _, want := range []string{"config", "config/exclude_paths/0", "config/retention_days"} {
			if !slices.Contains(fields, want) {
				t.Errorf("violations %v miss %q", fields, want)
			}
		}
	})

	t.Run("dependencies are named and enforced", func(t *testing.T) {
		if _, err := pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "catalog-sources"})); err != nil {
			t.Fatal(err)
		}
		sc := pluginState(t, e.env, acme.access, "acme", "scorecards")
		if sc.GetState() != entv1.PluginState_PLUGIN_STATE_LOCKED || sc.GetUnavailable().GetMessage() != "requires plugin catalog-sources" {
			t.Fatalf("scorecards = %v", sc.GetUnavailable())
		}
		_, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "scorecards"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		if !strings.Contains(err.Error(), "catalog-sources") {
			t.Fatalf("error does not name the dependency: %v", err)
		}
		for _, id := range []string{"catalog-sources", "scorecards"} {
			if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: id})); err != nil {
				t.Fatalf("install %s: %v", id, err)
			}
		}
		_, err = pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "catalog-sources"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		_, err = pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "catalog"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		waitFor(t, "scorecards gated method", func() error { return allowed(gated("Scorecards")) })
	})

	t.Run("downgrade uninstalls what is no longer entitled and keeps the data", func(t *testing.T) {
		res := setPlan(t, e.env, "acme", "free")
		if got := res.GetUninstalledPlugins(); !slices.Equal(got, []string{"insights", "scorecards"}) {
			t.Fatalf("uninstalled = %v", got)
		}
		waitFor(t, "refused after downgrade", func() error {
			return wantDenied(entv1.PluginState_PLUGIN_STATE_LOCKED, entv1.LockReason_LOCK_REASON_REQUIRES_PLAN)(gated("Insights"))
		})
		if got := pluginState(t, e.env, acme.access, "acme", "insights").GetConfig().AsMap()["retention_days"]; got != float64(30) {
			t.Fatalf("config after downgrade: retention_days = %v", got)
		}
		audit, err := e.entOperator().ListEntitlementsAudit(ctx, connect.NewRequest(&entv1.ListEntitlementsAuditRequest{Tenant: "acme", PageSize: 1}))
		if err != nil {
			t.Fatal(err)
		}
		last := audit.Msg.GetEntries()[0]
		if last.GetAction() != "plan.set" || !strings.HasPrefix(last.GetActor(), "operator:") {
			t.Fatalf("last audit entry = %v", last)
		}
		if un := last.GetAfter().AsMap()["uninstalled"]; fmt.Sprint(un) != "[insights scorecards]" {
			t.Fatalf("audit after.uninstalled = %v", un)
		}
		if before := last.GetBefore().AsMap()["plan"]; before != "team" {
			t.Fatalf("audit before.plan = %v", before)
		}
	})

	t.Run("trial grant expires", func(t *testing.T) {
		until := timestamppb.New(e.clock.Now().Add(time.Hour))
		if _, err := e.entOperator().GrantPlugin(ctx, connect.NewRequest(&entv1.GrantPluginRequest{Tenant: "acme", Plugin: "insights", ExpireTime: until, Reason: "trial"})); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"})); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "allowed during the trial", func() error { return allowed(gated("Insights")) })
		e.clock.Advance(2 * time.Hour)
		n, err := e.st.Entitlements.Sweep(ctx)
		if err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v", n, err)
		}
		waitFor(t, "refused after the trial", func() error {
			return wantDenied(entv1.PluginState_PLUGIN_STATE_LOCKED, entv1.LockReason_LOCK_REASON_TRIAL_EXPIRED)(gated("Insights"))
		})
		if u := pluginState(t, e.env, acme.access, "acme", "insights").GetUnavailable(); u.GetMessage() != "trial expired" {
			t.Fatalf("insights after trial = %v", u)
		}
	})

	t.Run("members cannot install; other tenants cannot read or change", func(t *testing.T) {
		setPlan(t, e.env, "acme", "team")
		e.env.join(t, acme.access, "acme", "dev@acme.example.com", tenancyv1.Role_ROLE_MEMBER, password)
		login, err := e.auth("acme").Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "dev@acme.example.com", Password: password}))
		if err != nil {
			t.Fatal(err)
		}
		member := e.plugins(login.Msg.GetAccessToken(), "acme")
		if _, err := member.ListPlugins(ctx, connect.NewRequest(&entv1.ListPluginsRequest{})); err != nil {
			t.Fatalf("member ListPlugins: %v", err)
		}
		_, err = member.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = member.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "search"}))
		wantCode(t, err, connect.CodePermissionDenied)

		globex := signUp(t, e.env, "globex")
		// acme's admin naming globex: the token is not globex's.
		for name, call := range map[string]func() error{
			"list": func() error {
				_, err := e.plugins(acme.access, "globex").ListPlugins(ctx, connect.NewRequest(&entv1.ListPluginsRequest{}))
				return err
			},
			"install": func() error {
				_, err := e.plugins(acme.access, "globex").InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "search"}))
				return err
			},
			"operator api": func() error {
				_, err := entitlementsv1connect.NewEntitlementsOperatorServiceClient(e.st.HTTPClient, gw, as(acme.access, "acme")).
					SetPlan(ctx, connect.NewRequest(&entv1.EntitlementsOperatorServiceSetPlanRequest{Tenant: "globex", Plan: "enterprise"}))
				return err
			},
		} {
			if err := call(); err == nil || (connect.CodeOf(err) != connect.CodePermissionDenied && connect.CodeOf(err) != connect.CodeUnauthenticated) {
				t.Errorf("%s: err = %v, want PermissionDenied or Unauthenticated", name, err)
			}
		}
		if st := pluginState(t, e.env, globex.access, "globex", "search"); st.GetState() != entv1.PluginState_PLUGIN_STATE_INSTALLED {
			t.Fatalf("globex search = %v", st.GetState())
		}
	})

	t.Run("concurrent installs and uninstalls end consistent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if i%2 == 0 {
					_, err = pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"}))
				} else {
					_, err = pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "insights"}))
				}
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		list, err := e.entOperator().ListTenantEntitlements(ctx, connect.NewRequest(&entv1.ListTenantEntitlementsRequest{Tenant: "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		installed := slices.Contains(list.Msg.GetSnapshot().GetInstalledPlugins(), "insights")
		// Every change is one version and one audit entry: the counts agree.
		var entries int
		tok := ""
		for {
			res, err := e.entOperator().ListEntitlementsAudit(ctx, connect.NewRequest(&entv1.ListEntitlementsAuditRequest{Tenant: "acme", PageSize: 500, PageToken: tok}))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Msg.GetEntries() {
				if a.GetAction() != "tenant.provision" {
					entries++
				}
			}
			if tok = res.Msg.GetNextPageToken(); tok == "" {
				break
			}
		}
		if v := list.Msg.GetSnapshot().GetVersion(); v != int64(entries)+1 {
			t.Fatalf("version %d, %d audited changes", v, entries)
		}
		waitFor(t, "gateway agrees with the final state", func() error {
			err := gated("Insights")
			if installed {
				return err
			}
			return wantDenied(entv1.PluginState_PLUGIN_STATE_AVAILABLE, entv1.LockReason_LOCK_REASON_UNSPECIFIED)(err)
		})
	})
}

// TestPlanLimits: the catalog's entity limit and the gateway's request rate come from the
// tenant's plan (here an operator override, which replaces the plan's value).
func TestPlanLimits(t *testing.T) {
	e := startEntitlements(t, nil)
	ctx := context.Background()
	acme := signUp(t, e.env, "acme")
	override := func(limit string, v int64) {
		t.Helper()
		if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{Tenant: "acme", Limit: limit, Value: v, Reason: "e2e"})); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("catalog entities", func(t *testing.T) {
		override("catalog_entities", 1)
		cat := e.catalog(acme.access, "acme")
		_, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("a", "team-a"), component("b", "team-a")}}))
		wantCode(t, err, connect.CodeResourceExhausted)
		if _, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("a", "team-a")}})); err != nil {
			t.Fatalf("one entity within the limit: %v", err)
		}
	})

	t.Run("seats", func(t *testing.T) {
		override("seats", 2) // the owner and one more
		mem := e.members(acme.access, "acme")
		if _, err := mem.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: "one@acme.example.com", Role: tenancyv1.Role_ROLE_MEMBER})); err != nil {
			t.Fatalf("invitation within the limit: %v", err)
		}
		_, err := mem.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: "two@acme.example.com", Role: tenancyv1.Role_ROLE_MEMBER}))
		wantCode(t, err, connect.CodeResourceExhausted)
		if !strings.Contains(err.Error(), "seats") {
			t.Fatalf("error does not name the limit: %v", err)
		}
		ent, err := e.plugins(acme.access, "acme").GetEntitlements(ctx, connect.NewRequest(&entv1.GetEntitlementsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ent.Msg.GetEntitlements().GetLimits() {
			if l.GetName() == "seats" && (!l.GetUsedKnown() || l.GetUsed() != 2 || l.GetLimit() != 2) {
				t.Fatalf("seats usage = %v", l)
			}
		}
	})

	t.Run("api requests per minute", func(t *testing.T) {
		override("api_requests_per_minute", 60) // 1/s with a burst of 6
		waitFor(t, "the plan rate refuses a burst", func() error {
			for range 20 {
				_, err := e.plugins(acme.access, "acme").ListPlugins(ctx, connect.NewRequest(&entv1.ListPluginsRequest{}))
				if connect.CodeOf(err) == connect.CodeResourceExhausted {
					return nil
				}
			}
			return errors.New("20 quick requests all passed a limit of 60 per minute")
		})
		ent, err := e.entOperator().ListTenantEntitlements(ctx, connect.NewRequest(&entv1.ListTenantEntitlementsRequest{Tenant: "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ent.Msg.GetEntitlements().GetLimits() {
			if l.GetName() == "api_requests_per_minute" && (l.GetLimit() != 60 || !l.GetOverridden()) {
				t.Fatalf("limit = %v", l)
			}
		}
	})

	// Each enforcing service reports its usage (catalog the entities stored, the gateway the
	// requests this minute, insights the events this month) and GetEntitlements shows it.
	t.Run("a new org's seat is counted at sign-up", func(t *testing.T) {
		// Before, seats were recorded only by the invitation check: a new org's home page said
		// "not counted yet". SignUp now records the owner's seat before it answers.
		fresh := signUp(t, e.env, "initech")
		res, err := e.plugins(fresh.access, "initech").GetEntitlements(ctx, connect.NewRequest(&entv1.GetEntitlementsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.Msg.GetEntitlements().GetLimits() {
			if l.GetName() == "seats" && (!l.GetUsedKnown() || l.GetUsed() != 1) {
				t.Fatalf("seats used %d (known %v) right after sign-up; want 1", l.GetUsed(), l.GetUsedKnown())
			}
		}
	})

	t.Run("usage against limits", func(t *testing.T) {
		for _, l := range []string{"catalog_entities", "api_requests_per_minute"} {
			if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{Tenant: "acme", Limit: l, Clear: true})); err != nil {
				t.Fatal(err)
			}
		}
		cat := e.catalog(acme.access, "acme")
		waitFor(t, "the catalog applies past the cleared override", func() error {
			_, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{component("b", "team-a"), component("c", "team-a")}}))
			return err
		})
		now := time.Now()
		if _, err := e.insights(acme.access, "acme").Track(ctx, connect.NewRequest(&insightsv1.TrackRequest{Events: []*insightsv1.TrackEvent{
			{Id: "usage-1", Time: timestamppb.New(now), Action: "navigate", Subject: "/catalog"},
			{Id: "usage-2", Time: timestamppb.New(now), Action: "navigate", Subject: "/plugins"},
		}})); err != nil {
			t.Fatal(err)
		}
		want := map[string]func(used int64) bool{
			"catalog_entities":        func(n int64) bool { return n == 3 }, // a, b, c
			"api_requests_per_minute": func(n int64) bool { return n >= 1 },
			"usage_events_per_month":  func(n int64) bool { return n >= 2 }, // the Track events and the requests' own
			"seats":                   func(n int64) bool { return n == 2 },
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			res, err := e.plugins(acme.access, "acme").GetEntitlements(ctx, connect.NewRequest(&entv1.GetEntitlementsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			var missing []string
			for _, l := range res.Msg.GetEntitlements().GetLimits() {
				if ok := want[l.GetName()]; ok != nil && (!l.GetUsedKnown() || !ok(l.GetUsed())) {
					missing = append(missing, fmt.Sprintf("%s used %d (known %v)", l.GetName(), l.GetUsed(), l.GetUsedKnown()))
				}
			}
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GetEntitlements does not show the usage: %v", missing)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// extraGateway starts another gateway on the stack's services with its own Redis URL and
// entitlements URL, as a second process of the fleet would be.
func extraGateway(t testing.TB, e *entEnv, redisURL, entitlementsURL string) (*gatewayapp.App, string) {
	t.Helper()
	upstreams, rest := gatewayapp.StandardUpstreams(e.st.TenancyURL, e.st.CatalogURL)
	for k, v := range gatewayapp.EntitlementsUpstreams(e.st.EntitlementsURL) {
		upstreams[k] = v
	}
	upstreams[gatedService] = e.upstream
	_, prefix := e.redis()
	gw, err := gatewayapp.New(context.Background(), gatewayapp.Config{
		TenancyURL: e.st.TenancyURL, Upstreams: upstreams, RESTUpstreams: rest,
		RedisURL: redisURL, RedisPrefix: prefix, InternalKey: e.st.InternalKey,
		EntitlementsURL: entitlementsURL, HTTPClient: stack.H2CClient(),
		RateLimit: gatewayapp.RateLimit{PerSecond: -1}, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw.Start(ctx)
	u := serveH2C(t, gw.Handler())
	t.Cleanup(func() { cancel(); gw.Close() })
	return gw, u
}

// redis returns the stack's Redis URL and prefix.
func (e *env) redis() (string, string) { return e.redisURL, e.redisPrefix }

func TestEntitlementsAcrossGateways(t *testing.T) {
	e := startEntitlements(t, nil)
	ctx := context.Background()
	acme := signUp(t, e.env, "acme")
	setPlan(t, e.env, "acme", "team")
	redisURL, _ := e.redis()
	_, second := extraGateway(t, e, redisURL, e.st.EntitlementsURL)
	gateways := []string{e.st.GatewayURL, second}
	pl := e.plugins(acme.access, "acme")
	both := func(check func(error) error) func() error {
		return func() error {
			for _, gw := range gateways {
				if err := check(callGated(ctx, e.st.HTTPClient, gw, "Insights", acme.access, "acme")); err != nil {
					return fmt.Errorf("gateway %s: %w", gw, err)
				}
			}
			return nil
		}
	}
	notInstalled := wantDenied(entv1.PluginState_PLUGIN_STATE_AVAILABLE, entv1.LockReason_LOCK_REASON_UNSPECIFIED)
	waitFor(t, "both refuse", both(notInstalled))
	if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both allow after install", both(allowed))
	if _, err := pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "insights"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both refuse after uninstall", both(notInstalled))
}

// tcpProxy forwards to target until Close, which also cuts every open connection: Redis
// "going down" for the process behind it.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

// switchable proxies HTTP to target while up, and answers 503 while down.
type switchable struct {
	down  atomic.Bool
	proxy *httputil.ReverseProxy
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

func TestLastSnapshotKeptWhenRedisOrEntitlementsDown(t *testing.T) {
	e := startEntitlements(t, nil)
	ctx := context.Background()
	acme := signUp(t, e.env, "acme")
	setPlan(t, e.env, "acme", "team")
	pl := e.plugins(acme.access, "acme")
	if _, err := pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"})); err != nil {
		t.Fatal(err)
	}

	redisURL, _ := e.redis()
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := newTCPProxy(t, ru.Host)
	viaProxy := *ru
	viaProxy.Host = rp.Addr()

	target, _ := url.Parse(e.st.EntitlementsURL)
	sw := &switchable{proxy: httputil.NewSingleHostReverseProxy(target)}
	sw.proxy.Transport = stack.H2CClient().Transport
	entURL := serveH2C(t, sw)

	gw, gwURL := extraGateway(t, e, viaProxy.String(), entURL)
	gated := func() error { return callGated(ctx, e.st.HTTPClient, gwURL, "Insights", acme.access, "acme") }
	waitFor(t, "warm cache", gated)
	waitFor(t, "subscribed", func() error {
		if gw.Entitlements().Stale() {
			return errors.New("client is stale")
		}
		return nil
	})

	t.Run("redis down", func(t *testing.T) {
		rp.Close()
		waitFor(t, "stale once Redis is gone", func() error {
			if !gw.Entitlements().Stale() {
				return errors.New("client is not stale")
			}
			return nil
		})
		for range 20 {
			if err := gated(); err != nil {
				t.Fatalf("with Redis down the last snapshot must be enforced: %v", err)
			}
		}
	})

	t.Run("entitlements down", func(t *testing.T) {
		sw.down.Store(true)
		// Force a refresh attempt: the fetch fails and the last snapshot stays.
		if s, err := gw.Entitlements().Get(ctx, acme.tenant.GetId()); err != nil || !s.Installed("insights") {
			t.Fatalf("cached snapshot = %v, %v", s, err)
		}
		for range 20 {
			if err := gated(); err != nil {
				t.Fatalf("with entitlements down the last snapshot must be enforced: %v", err)
			}
		}
		if !gw.Entitlements().Stale() {
			t.Fatal("client does not report stale")
		}
		// A tenant never seen before cannot be checked: Unavailable, not a guess.
		globex := signUp(t, e.env, "globex")
		wantCode(t, callGated(ctx, e.st.HTTPClient, gwURL, "Insights", globex.access, "globex"), connect.CodeUnavailable)
	})
}

// BenchmarkEntitlementPropagation: from the start of an InstallPlugin/UninstallPlugin call (the
// change is committed inside it) until both gateways' snapshot caches, which is what their
// plugin checks read, have the new state; ATRIUM_BENCH_TRIALS trials (200), alternating.
// Run: go test ./devstack/e2e -run '^$' -bench EntitlementPropagation -benchtime 1x
func BenchmarkEntitlementPropagation(b *testing.B) {
	e := startEntitlements(b, nil)
	ctx := context.Background()
	acme := signUpB(b, e.env, "acme")
	setPlan(b, e.env, "acme", "team")
	redisURL, _ := e.redis()
	second, _ := extraGateway(b, e, redisURL, e.st.EntitlementsURL)
	gateways := []*gatewayapp.App{e.st.Gateway, second}
	tid := acme.tenant.GetId()
	// Warm both caches (the first check fetches).
	for _, gw := range gateways {
		if _, err := gw.Entitlements().Get(ctx, tid); err != nil {
			b.Fatal(err)
		}
	}
	pl := e.plugins(acme.access, "acme")
	trials := benchInt("ATRIUM_BENCH_TRIALS", 200)
	for b.Loop() {
		var lat []time.Duration
		for i := range trials {
			install := i%2 == 0
			t0 := time.Now()
			var err error
			if install {
				_, err = pl.InstallPlugin(ctx, connect.NewRequest(&entv1.InstallPluginRequest{Plugin: "insights"}))
			} else {
				_, err = pl.UninstallPlugin(ctx, connect.NewRequest(&entv1.UninstallPluginRequest{Plugin: "insights"}))
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, gw := range gateways {
				for {
					if s, ok := gw.Entitlements().Cached(tid); ok && s.Installed("insights") == install {
						break
					}
					if time.Since(t0) > 5*time.Second {
						b.Fatalf("trial %d: gateway did not see the change within 5 s", i)
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	gatewayapp "atrium.dev/gateway/app"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	insightsv1 "atrium.dev/gen/atrium/insights/v1"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// insightsFor installs the insights plugin for the tenants added to it, and nothing else.
type insightsFor struct {
	mu      sync.Mutex
	tenants map[string]bool
}

func (f *insightsFor) add(id string) { f.mu.Lock(); f.tenants[id] = true; f.mu.Unlock() }

func (f *insightsFor) Check(_ context.Context, tenantID, plugin string) (*entv1.PluginUnavailable, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if plugin == "insights" && f.tenants[tenantID] {
		return nil, nil
	}
	return &entv1.PluginUnavailable{Plugin: plugin, Message: "not installed"}, nil
}

func (f *insightsFor) Limit(context.Context, string, string) (int64, error) { return -1, nil }

func (e *env) insights(token, tenant string) insightsv1connect.InsightsServiceClient {
	return insightsv1connect.NewInsightsServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(token, tenant))
}

func TestInsightsThroughTheGateway(t *testing.T) {
	ent := &insightsFor{tenants: map[string]bool{}}
	e := start(t, func(o *stack.Options) {
		o.Gateway = func(c *gatewayapp.Config) { c.Entitlements = ent }
	})
	acme, globex, initech := signUp(t, e, "acme"), signUp(t, e, "globex"), signUp(t, e, "initech")
	ent.add(acme.tenant.GetId())
	ent.add(globex.tenant.GetId())
	ctx := context.Background()
	now := time.Now()
	track := func(u signedUp, evs ...*insightsv1.TrackEvent) error {
		_, err := e.insights(u.access, u.slug).Track(ctx, connect.NewRequest(&insightsv1.TrackRequest{Events: evs}))
		return err
	}
	view := func(id, ref string) *insightsv1.TrackEvent {
		return &insightsv1.TrackEvent{Id: id, Time: timestamppb.New(now), Action: "navigate", Subject: "/catalog/" + ref,
			Context: &insightsv1.TrackContext{PluginId: "catalog", EntityRef: ref}}
	}
	search := func(id, term string, results float64) *insightsv1.TrackEvent {
		return &insightsv1.TrackEvent{Id: id, Time: timestamppb.New(now), Action: "search", Subject: term, Value: proto.Float64(results)}
	}
	if err := track(acme, view("a1", "component:default/acme-api"), view("a2", "component:default/acme-api"), search("a3", "kafka", 0)); err != nil {
		t.Fatal(err)
	}
	// The same batch again (a client retry): counted once.
	if err := track(acme, view("a1", "component:default/acme-api"), view("a2", "component:default/acme-api"), search("a3", "kafka", 0)); err != nil {
		t.Fatal(err)
	}
	globexTemplate := &insightsv1.TrackEvent{Id: "g3", Time: timestamppb.New(now), Action: "create",
		Context: &insightsv1.TrackContext{PluginId: "scaffolder", EntityRef: "template:default/globex-template"}}
	globexDoc := &insightsv1.TrackEvent{Id: "g4", Time: timestamppb.New(now), Action: "navigate",
		Context: &insightsv1.TrackContext{PluginId: "techdocs", EntityRef: "component:default/globex-docs"}}
	if err := track(globex, view("g1", "component:default/globex-secret"), search("g2", "globex-secret", 3), globexTemplate, globexDoc); err != nil {
		t.Fatal(err)
	}

	// Fresh within seconds: acme's views show up in its top entities.
	q := e.insights(acme.access, acme.slug)
	var top *insightsv1.GetTopEntitiesResponse
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := q.GetTopEntities(ctx, connect.NewRequest(&insightsv1.GetTopEntitiesRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if top = res.Msg; len(top.GetItems()) > 0 && top.GetItems()[0].GetCount() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme's views not visible after 15 s: %v", top)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(top.GetItems()) != 1 || top.GetItems()[0].GetKey() != "component:default/acme-api" {
		t.Errorf("acme's top entities = %v", top.GetItems())
	}

	// Cross-tenant: nothing of globex's in any of acme's answers or exports.
	searches, err := q.GetTopSearches(ctx, connect.NewRequest(&insightsv1.GetTopSearchesRequest{NoResultsOnly: true}))
	if err != nil || len(searches.Msg.GetItems()) != 1 || searches.Msg.GetItems()[0].GetKey() != "kafka" || searches.Msg.GetItems()[0].GetNoResults() != 1 {
		t.Errorf("acme's no-result searches = %v %v", searches, err)
	}
	au, err := q.GetActiveUsers(ctx, connect.NewRequest(&insightsv1.GetActiveUsersRequest{}))
	if err != nil || au.Msg.GetTotalUsers() != 1 {
		t.Errorf("acme's active users = %v %v", au, err)
	}
	for r := insightsv1.Report_REPORT_ACTIVE_USERS; r <= insightsv1.Report_REPORT_RETENTION; r++ {
		res, err := q.ExportCsv(ctx, connect.NewRequest(&insightsv1.ExportCsvRequest{Report: r}))
		if err != nil {
			t.Fatalf("export %v: %v", r, err)
		}
		if strings.Contains(res.Msg.GetContent(), "globex") {
			t.Errorf("acme's %v export shows globex: %s", r, res.Msg.GetContent())
		}
	}
	// Every other query of acme's: nothing of globex's (which has a template run and a doc
	// view acme has not), while globex's own answers have them.
	gq := e.insights(globex.access, globex.slug)
	for deadline := time.Now().Add(15 * time.Second); ; {
		res, err := gq.GetTopDocs(ctx, connect.NewRequest(&insightsv1.GetTopDocsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(fmt.Sprint(res.Msg), "globex-docs") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("globex's doc view not visible after 15 s: %v", res.Msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res, err := gq.GetTopTemplates(ctx, connect.NewRequest(&insightsv1.GetTopTemplatesRequest{})); err != nil || !strings.Contains(fmt.Sprint(res.Msg), "globex-template") {
		t.Errorf("globex's top templates = %v %v", res, err)
	}
	acmeAnswers := map[string]func() (fmt.Stringer, error){
		"GetTopDocs": func() (fmt.Stringer, error) {
			r, err := q.GetTopDocs(ctx, connect.NewRequest(&insightsv1.GetTopDocsRequest{}))
			return r.Msg, err
		},
		"GetTopTemplates": func() (fmt.Stringer, error) {
			r, err := q.GetTopTemplates(ctx, connect.NewRequest(&insightsv1.GetTopTemplatesRequest{}))
			return r.Msg, err
		},
		"GetPluginAdoption": func() (fmt.Stringer, error) {
			r, err := q.GetPluginAdoption(ctx, connect.NewRequest(&insightsv1.GetPluginAdoptionRequest{}))
			return r.Msg, err
		},
		"GetRetention": func() (fmt.Stringer, error) {
			r, err := q.GetRetention(ctx, connect.NewRequest(&insightsv1.GetRetentionRequest{}))
			return r.Msg, err
		},
		"GetTopSearches": func() (fmt.Stringer, error) {
			r, err := q.GetTopSearches(ctx, connect.NewRequest(&insightsv1.GetTopSearchesRequest{}))
			return r.Msg, err
		},
	}
	for name, call := range acmeAnswers {
		msg, err := call()
		if err != nil {
			t.Errorf("acme's %s: %v", name, err)
			continue
		}
		if s := msg.String(); strings.Contains(s, "globex") || strings.Contains(s, "scaffolder") || strings.Contains(s, "techdocs") {
			t.Errorf("acme's %s shows globex's events: %s", name, s)
		}
	}
	gtop, err := e.insights(globex.access, globex.slug).GetTopEntities(ctx, connect.NewRequest(&insightsv1.GetTopEntitiesRequest{}))
	if err == nil && len(gtop.Msg.GetItems()) == 1 && gtop.Msg.GetItems()[0].GetKey() == "component:default/acme-api" {
		t.Errorf("globex sees acme's entity")
	}
	// acme's token with globex's tenant header is refused by the gateway.
	_, err = e.insights(acme.access, globex.slug).GetTopEntities(ctx, connect.NewRequest(&insightsv1.GetTopEntitiesRequest{}))
	if err == nil {
		t.Error("acme's token read globex's numbers")
	}

	// The operator's view: lag through the gateway, and a replay that finds nothing new.
	op := insightsv1connect.NewInsightsOperatorServiceClient(e.st.HTTPClient, e.st.GatewayURL, as(e.operator, ""))
	lag, err := op.GetLag(ctx, connect.NewRequest(&insightsv1.GetLagRequest{}))
	if err != nil || lag.Msg.GetLength() < 6 || lag.Msg.GetConsumers() == 0 {
		t.Errorf("GetLag = %v %v", lag, err)
	}
	rep, err := op.Replay(ctx, connect.NewRequest(&insightsv1.ReplayRequest{Tenant: "acme", FromTime: timestamppb.New(now.Add(-time.Hour))}))
	// Only events the pipeline had not reached yet (these very calls' request events) can be
	// new; acme's Track events were counted already, which the top list below confirms.
	if err != nil || rep.Msg.GetRead() < 3 || rep.Msg.GetInserted() > rep.Msg.GetRead()-3 {
		t.Errorf("Replay = %v %v, want >= 3 read, the Track events not new", rep, err)
	}

	// Without the plugin: refused, with the reason. Track still works (history is kept).
	_, err = e.insights(initech.access, initech.slug).GetActiveUsers(ctx, connect.NewRequest(&insightsv1.GetActiveUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	if !strings.Contains(err.Error(), "insights") {
		t.Errorf("refusal does not name the plugin: %v", err)
	}
	if err := track(initech, view("i1", "component:default/x")); err != nil {
		t.Errorf("Track without the plugin: %v", err)
	}

	// Bad batches: InvalidArgument with the field, nothing queued.
	many := make([]*insightsv1.TrackEvent, 101)
	for i := range many {
		many[i] = view("m"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "component:default/x")
	}
	huge := view("h1", "component:default/x")
	huge.Attributes = map[string]string{}
	for i := range 30 {
		huge.Attributes[strings.Repeat("k", 10)+string(rune('a'+i))] = strings.Repeat("v", 500)
	}
	bad := []struct {
		name  string
		evs   []*insightsv1.TrackEvent
		field string
	}{
		{"too many", many, "events"},
		{"too large", []*insightsv1.TrackEvent{huge, huge, huge, huge, huge}, "events"},
		{"future", []*insightsv1.TrackEvent{{Id: "f1", Time: timestamppb.New(now.Add(time.Hour)), Action: "navigate"}}, "events[0].time"},
		{"too old", []*insightsv1.TrackEvent{{Id: "o1", Time: timestamppb.New(now.AddDate(0, 0, -40)), Action: "navigate"}}, "events[0].time"},
		{"unknown action", []*insightsv1.TrackEvent{{Id: "u1", Time: timestamppb.New(now), Action: "explode"}}, "events[0].action"},
		{"bad id", []*insightsv1.TrackEvent{{Id: "no spaces", Time: timestamppb.New(now), Action: "navigate"}}, "events[0].id"},
		{"no time", []*insightsv1.TrackEvent{{Id: "n1", Action: "navigate"}}, "events[0].time"},
	}
	for _, b := range bad {
		err := track(acme, b.evs...)
		wantCode(t, err, connect.CodeInvalidArgument)
		if !strings.Contains(err.Error(), b.field) && !hasViolation(err, b.field) {
			t.Errorf("%s: %v does not name %s", b.name, err, b.field)
		}
	}
	// Wrong types (JSON from a client that does not use the generated code): InvalidArgument.
	for name, body := range map[string]string{
		"value as text":    `{"events":[{"id":"w1","time":"` + now.UTC().Format(time.RFC3339) + `","action":"search","value":"lots"}]}`,
		"time as number":   `{"events":[{"id":"w2","time":12,"action":"navigate"}]}`,
		"events as object": `{"events":{"id":"w3"}}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, e.st.GatewayURL+insightsv1connect.InsightsServiceTrackProcedure, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+acme.access)
		req.Header.Set("Atrium-Tenant", acme.slug)
		res, err := e.st.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "invalid_argument") {
			t.Errorf("%s: %d %s, want 400 invalid_argument", name, res.StatusCode, b)
		}
	}
	// Still exactly acme's first events: none of the bad batches was stored.
	time.Sleep(time.Second)
	res, err := q.GetTopEntities(ctx, connect.NewRequest(&insightsv1.GetTopEntitiesRequest{}))
	if err != nil || len(res.Msg.GetItems()) != 1 || res.Msg.GetItems()[0].GetCount() != 2 {
		t.Errorf("after bad batches: %v %v", res, err)
	}
}

func hasViolation(err error, field string) bool {
	var ce *connect.Error
	if !asConnect(err, &ce) {
		return false
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr == nil && strings.Contains(v.(proto.Message).ProtoReflect().Interface().(interface{ String() string }).String(), field) {
			return true
		}
	}
	return false
}

func asConnect(err error, target **connect.Error) bool { return errors.As(err, target) }

// BenchmarkInsightsFreshness: a Track event sent through the gateway → visible through the
// gateway in the tenant's GetTopEntities (a new entity per sample, polled every 5 ms), with the
// whole stack in one process and insights' pipeline at its defaults.
func BenchmarkInsightsFreshness(b *testing.B) {
	ent := &insightsFor{tenants: map[string]bool{}}
	e := start(b, func(o *stack.Options) {
		o.Gateway = func(c *gatewayapp.Config) { c.Entitlements = ent }
	})
	ctx := context.Background()
	samples := 90 // a top list holds at most 100: each iteration has a tenant of its own
	var lat []time.Duration
	for it := range b.N {
		b.StopTimer()
		acme := signUp(b, e, fmt.Sprintf("acme%d", it))
		ent.add(acme.tenant.GetId())
		cl := e.insights(acme.access, acme.slug)
		b.StartTimer()
		for i := range samples {
			ref := fmt.Sprintf("component:default/fresh-%d-%d", it, i)
			start := time.Now()
			if _, err := cl.Track(ctx, connect.NewRequest(&insightsv1.TrackRequest{Events: []*insightsv1.TrackEvent{{
				Id: fmt.Sprintf("f%d-%d", it, i), Time: timestamppb.New(start), Action: "navigate",
				Context: &insightsv1.TrackContext{PluginId: "catalog", EntityRef: ref}}}})); err != nil {
				b.Fatal(err)
			}
			for {
				res, err := cl.GetTopEntities(ctx, connect.NewRequest(&insightsv1.GetTopEntitiesRequest{Limit: 100}))
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Msg.GetItems()) >= i+1 {
					break
				}
				if time.Since(start) > 30*time.Second {
					b.Fatalf("sample %d not visible after 30 s", i)
				}
				time.Sleep(5 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

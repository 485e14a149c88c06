package entitlements

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/platform/redistest"
	"connectrpc.com/connect"
)

// fakeInternal answers GetSnapshot from a settable snapshot, or fails while down.
type fakeInternal struct {
	entitlementsv1connect.UnimplementedEntitlementsInternalServiceHandler
	mu    sync.Mutex
	snap  *entv1.Snapshot
	down  bool
	calls atomic.Int64
	// hold, when set, keeps each answer back until it is closed; the snapshot answered is the
	// one current when the call arrived, as a real fetch reads it when it runs.
	hold chan struct{}
	// checks are the CheckLimit requests answered.
	checks []*entv1.CheckLimitRequest
}

func (f *fakeInternal) set(s *entv1.Snapshot) { f.mu.Lock(); f.snap = s; f.mu.Unlock() }

func (f *fakeInternal) GetSnapshot(_ context.Context, req *connect.Request[entv1.GetSnapshotRequest]) (*connect.Response[entv1.GetSnapshotResponse], error) {
	f.calls.Add(1)
	f.mu.Lock()
	down, s, hold := f.down, f.snap, f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("down"))
	}
	return connect.NewResponse(&entv1.GetSnapshotResponse{Snapshot: s}), nil
}

func (f *fakeInternal) SetPlan(context.Context, *connect.Request[entv1.SetPlanRequest]) (*connect.Response[entv1.SetPlanResponse], error) {
	return nil, errors.New("unused")
}

func (f *fakeInternal) CheckLimit(_ context.Context, req *connect.Request[entv1.CheckLimitRequest]) (*connect.Response[entv1.CheckLimitResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("down"))
	}
	f.checks = append(f.checks, req.Msg)
	return connect.NewResponse(&entv1.CheckLimitResponse{Allowed: true, LimitValue: 5}), nil
}

func snap(version int64, installed ...string) *entv1.Snapshot {
	return &entv1.Snapshot{TenantId: "t1", Plan: "team", Version: version, InstalledPlugins: installed,
		Limits:             map[string]int64{"seats": 5},
		UnavailablePlugins: []*entv1.PluginUnavailable{{Plugin: "insights", State: entv1.PluginState_PLUGIN_STATE_AVAILABLE}}}
}

func newTestClient(t testing.TB, f *fakeInternal) *Client {
	t.Helper()
	c, err := New(Config{Internal: f})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCachesAndFollowsVersions(t *testing.T) {
	ctx := context.Background()
	f := &fakeInternal{snap: snap(1)}
	c := newTestClient(t, f)
	steps := []struct {
		name      string
		do        func()
		installed bool
		calls     int64
	}{
		{"first use fetches", func() {}, false, 1},
		{"cached", func() {}, false, 1},
		{"older message ignored", func() { c.Apply(ctx, Change{TenantID: "t1", Version: 1}) }, false, 1},
		{"newer message fetches", func() { f.set(snap(2, "insights")); c.Apply(ctx, Change{TenantID: "t1", Version: 2}) }, true, 2},
		{"a stale answer does not move the version back", func() { f.set(snap(1)); c.Apply(ctx, Change{TenantID: "t1", Version: 3}) }, true, 3},
		{"deleted tenant dropped", func() { f.set(snap(4)); c.Apply(ctx, Change{TenantID: "t1", Version: 0}) }, false, 4},
	}
	for _, s := range steps {
		s.do()
		u, err := c.Check(ctx, "t1", "insights")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if (u == nil) != s.installed {
			t.Fatalf("%s: unavailable = %v, want installed %v", s.name, u, s.installed)
		}
		if got := f.calls.Load(); got != s.calls {
			t.Fatalf("%s: %d fetches, want %d", s.name, got, s.calls)
		}
	}
}

// Two quick changes: the message of the second arrives while the fetch the first one started
// is still under way. Joining that fetch gives the older snapshot, so Apply fetches again.
func TestClientApplyAfterAJoinedOlderFetch(t *testing.T) {
	ctx := context.Background()
	f := &fakeInternal{snap: snap(1)}
	c := newTestClient(t, f)
	if _, err := c.Get(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	f.mu.Lock()
	f.snap, f.hold = snap(2), hold
	f.mu.Unlock()
	first := make(chan struct{})
	go func() { c.Apply(ctx, Change{TenantID: "t1", Version: 2}); close(first) }()
	for f.calls.Load() < 2 { // the fetch for version 2 is under way, answering version 2
		runtime.Gosched()
	}
	f.mu.Lock()
	f.snap, f.hold = snap(3, "insights"), nil
	f.mu.Unlock()
	second := make(chan struct{})
	go func() { c.Apply(ctx, Change{TenantID: "t1", Version: 3}); close(second) }()
	for {
		c.mu.RLock()
		_, joined := c.inflight["t1"]
		c.mu.RUnlock()
		if joined && f.calls.Load() == 2 {
			break
		}
		runtime.Gosched()
	}
	time.Sleep(20 * time.Millisecond) // let the second Apply join the fetch under way
	close(hold)
	<-first
	<-second
	s, _ := c.Cached("t1")
	if s.GetVersion() != 3 || !s.Installed("insights") {
		t.Fatalf("cached version %d after change 3 (installed insights: %v)", s.GetVersion(), s.Installed("insights"))
	}
}

func TestClientKeepsLastSnapshotWhenServiceDown(t *testing.T) {
	ctx := context.Background()
	f := &fakeInternal{snap: snap(1, "insights")}
	c := newTestClient(t, f)
	if u, err := c.Check(ctx, "t1", "insights"); err != nil || u != nil {
		t.Fatalf("warm: %v %v", u, err)
	}
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	c.refreshAll(ctx)
	if u, err := c.Check(ctx, "t1", "insights"); err != nil || u != nil {
		t.Fatalf("down: %v %v", u, err)
	}
	if !c.Stale() {
		t.Fatal("not stale while the service is down")
	}
	if _, err := c.Check(ctx, "other", "insights"); err == nil {
		t.Fatal("a tenant never cached cannot be answered while the service is down")
	}
	d, err := c.CheckLimit(ctx, "t1", "seats", 5, 1)
	if err != nil || d.Allowed || d.Limit != 5 {
		t.Fatalf("CheckLimit from the cached snapshot = %+v, %v", d, err)
	}
	if u := (&Snapshot{}).Unavailable("nope"); u.GetState() != entv1.PluginState_PLUGIN_STATE_LOCKED {
		t.Fatalf("unknown plugin = %v", u)
	}
}

// BenchmarkCheckWarm is the per-request cost of the plugin check with a warm cache.
func BenchmarkCheckWarm(b *testing.B) {
	ctx := context.Background()
	c := newTestClient(b, &fakeInternal{snap: snap(1, "catalog", "insights", "search")})
	if _, err := c.Check(ctx, "t1", "insights"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if u, _ := c.Check(ctx, "t1", "insights"); u != nil {
				b.Fatal("denied")
			}
		}
	})
}

// Run returns once its context ends, also while it is subscribed and its read is waiting on
// Redis: a service's Close waits for it (the gateway's for up to 5 s, then it closes Redis
// under it). The read's own timeout is 30 s, so a Run that only noticed the end there fails
// here; 10 s only keeps a failure from hanging the run.
func TestRunReturnsWhenContextEnds(t *testing.T) {
	r := redistest.New(t)
	c, err := New(Config{Internal: &fakeInternal{snap: snap(1)}, Redis: r.Client, Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	deadline := time.After(10 * time.Second)
	for !c.subscribed.Load() {
		select {
		case <-done:
			t.Fatal("Run returned before it was cancelled")
		case <-deadline:
			t.Fatal("not subscribed after 10 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting on its subscription 10 s after its context ended")
	}
}

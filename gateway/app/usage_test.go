package app_test

import (
	"context"
	"testing"
	"time"

	"atrium.dev/gateway/app"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestUsageEvents(t *testing.T) {
	s := newStack(t)
	acme := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	if _, err := s.getTenant(call{tenant: "acme", token: acme, header: map[string]string{"X-Request-Id": "usage-test-ok-1"}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.getTenant(call{tenant: "globex", token: acme, header: map[string]string{"X-Request-Id": "usage-test-denied-1"}, opts: []connect.ClientOption{connect.WithGRPC()}})
	wantCode(t, err, connect.CodePermissionDenied)

	stream := s.redis.Prefix + "atrium:usage"
	var entries []redis.XMessage
	eventually(t, "two usage events", func() bool {
		entries, err = s.redis.Client.XRange(context.Background(), stream, "-", "+").Result()
		return err == nil && len(entries) >= 2
	})
	byID := map[string]map[string]any{}
	for _, e := range entries {
		byID[e.Values["request_id"].(string)] = e.Values
	}
	want := map[string]map[string]string{
		"usage-test-ok-1": {"tenant": "acme1", "procedure": tenancyv1connect.TenantServiceGetTenantProcedure, "code": "ok", "http_status": "200",
			"source": "request", "user": ownerAcme, "user_kind": "user", "plugin": "tenancy"},
		"usage-test-denied-1": {"tenant": "", "procedure": tenancyv1connect.TenantServiceGetTenantProcedure, "code": "permission_denied", "http_status": "200",
			"user_kind": "anonymous", "plugin": "tenancy"},
	}
	for id, fields := range want {
		got, ok := byID[id]
		if !ok {
			t.Errorf("no usage event for %s in %v", id, entries)
			continue
		}
		for k, v := range fields {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %q", id, k, got[k], v)
			}
		}
		for _, k := range []string{"id", "time", "duration_us", "bytes_in", "bytes_out"} {
			if got[k] == nil || got[k] == "" {
				t.Errorf("%s: %s missing", id, k)
			}
		}
	}
	if a, b := byID["usage-test-ok-1"]["id"], byID["usage-test-denied-1"]["id"]; a == b {
		t.Errorf("two events share the event id %v", a)
	}
	if byID["usage-test-ok-1"]["bytes_out"] == "0" {
		t.Error("bytes_out of a successful call is 0")
	}
}

// With Redis unreachable, events are held up to the buffer's bound; what overflows is dropped
// and counted, and requests are served all the same.
func TestUsageDroppedCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	s := newStack(t, func(c *app.Config) {
		c.RedisURL = "redis://" + closedAddr(t) + "/0"
		c.Meter = meter
		c.UsageBuffer = 1
	})
	acme := s.userToken(ownerAcme, "acme1", authn.RoleOwner)
	// The first event becomes the writer's batch, retried while Redis is down (the batch
	// window is 100 ms); of the next five, one waits in the buffer and four overflow.
	if _, err := s.getTenant(call{tenant: "acme", token: acme}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for range 5 {
		if _, err := s.getTenant(call{tenant: "acme", token: acme}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "3 dropped events counted", func() bool { return droppedCount(t, reader) >= 3 })
}

func droppedCount(t testing.TB, reader sdkmetric.Reader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "atrium_gateway_usage_dropped" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				n += dp.Value
			}
		}
	}
	return n
}

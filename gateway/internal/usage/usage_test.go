package usage

import (
	"context"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func dropped(t *testing.T, reader sdkmetric.Reader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "atrium_gateway_usage_dropped" {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// A Redis restart: events recorded while Redis is down wait in the buffer (up to its bound)
// and reach the stream once Redis is back; what overflowed is counted as dropped. Every
// recorded event is on the stream or counted, and none of those on the stream twice.
func TestRedisRestartBuffersAndCountsDrops(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	reader := sdkmetric.NewManualReader()
	r, err := New(Config{Redis: rdb, Stream: "atrium:usage", Buffer: 50,
		Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")})
	if err != nil {
		t.Fatal(err)
	}
	r.backoff = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	onStream := func() map[string]int {
		msgs, err := rdb.XRange(context.Background(), "atrium:usage", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for _, m := range msgs {
			ids[m.Values["id"].(string)]++
		}
		return ids
	}
	record := func(n int) {
		for range n {
			r.Record(Event{Time: time.Now(), TenantID: "acme", UserKind: KindUser, User: "u1", Procedure: "/p.S/M", Code: "ok"})
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 20 s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	record(20)
	waitFor("the first 20 events on the stream", func() bool { return len(onStream()) == 20 })
	srv.Stop()
	// Down: the writer takes the first event as its batch and retries it (after the 100 ms
	// batch window); of the next 99, 50 wait in the buffer and 49 overflow.
	record(1)
	time.Sleep(300 * time.Millisecond)
	record(99)
	time.Sleep(300 * time.Millisecond)
	srv.Start()
	waitFor("the held batch and the buffer written", func() bool { return len(onStream()) == 20+1+50 })
	record(20)
	const recorded = 140
	waitFor("every event on the stream or counted as dropped", func() bool {
		return int64(len(onStream()))+dropped(t, reader) == recorded
	})
	ids := onStream()
	for id, n := range ids {
		if n > 1 {
			t.Errorf("event %s on the stream %d times", id, n)
		}
	}
	d := dropped(t, reader)
	if d != 49 {
		t.Errorf("dropped %d; want the 49 that overflowed the buffer", d)
	}
	t.Logf("recorded %d, on the stream %d, dropped and counted %d", recorded, len(ids), d)
}

package requestcount

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type reports struct {
	mu  sync.Mutex
	got map[string]int64
}

func (r *reports) report(id string, n int64) { r.mu.Lock(); r.got[id] = n; r.mu.Unlock() }
func (r *reports) take() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = map[string]int64{}
	return g
}

func equal(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Two gateways on one Redis report the tenant's total across both; a new minute starts at 0.
func TestTwoGatewaysReportTheSumPerMinute(t *testing.T) {
	r := redistest.New(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC)}
	rep := &reports{got: map[string]int64{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := New(Config{Redis: r.Client, Prefix: r.Prefix, Report: rep.report, Now: clk.now, Log: quiet, MaxTenants: 2})
	b := New(Config{Redis: r.Client, Prefix: r.Prefix, Report: rep.report, Now: clk.now, Log: quiet})
	steps := []struct {
		name string
		do   func()
		want map[string]int64
	}{
		{"one gateway", func() {
			for range 3 {
				a.Add("t1")
			}
			a.Add("t2")
			a.Flush(ctx)
		}, map[string]int64{"t1": 3, "t2": 1}},
		{"the other adds to the same minute", func() {
			b.Add("t1")
			b.Add("t1")
			b.Flush(ctx)
		}, map[string]int64{"t1": 5}},
		{"a quiet flush reports nothing", func() { a.Flush(ctx); b.Flush(ctx) }, map[string]int64{}},
		{"bounded: a third tenant is not counted past MaxTenants", func() {
			a.Add("t3")
			a.Add("t1")
			a.Flush(ctx)
		}, map[string]int64{"t1": 6}},
		{"the next minute starts afresh", func() {
			a.Add("t1")
			clk.add(time.Minute)
			a.Flush(ctx) // the unflushed request of the old minute is not reported as now's
			a.Add("t1")
			a.Flush(ctx)
		}, map[string]int64{"t1": 1}},
	}
	for _, s := range steps {
		s.do()
		if got := rep.take(); !equal(got, s.want) {
			t.Fatalf("%s: reported %v, want %v", s.name, got, s.want)
		}
	}
}

func TestWithoutRedisReportsTheProcessCount(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC)}
	rep := &reports{got: map[string]int64{}}
	c := New(Config{Report: rep.report, Now: clk.now})
	c.Add("t1")
	c.Flush(context.Background())
	c.Add("t1")
	c.Flush(context.Background())
	if got := rep.take(); got["t1"] != 2 {
		t.Fatalf("reported %v", got)
	}
}

// Add is on every tenant request's path.
func BenchmarkAdd(b *testing.B) {
	c := New(Config{Report: func(string, int64) {}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add("t1")
		}
	})
}

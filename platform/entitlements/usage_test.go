package entitlements

import (
	"context"
	"sort"
	"testing"
)

func (f *fakeInternal) takeChecks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.checks {
		if r.GetIncrement() != 0 {
			out = append(out, "growth check")
			continue
		}
		out = append(out, r.GetTenantId()+"/"+r.GetLimit()+"="+itoa(r.GetCurrent()))
	}
	f.checks = nil
	sort.Strings(out)
	return out
}

func TestReportUsageSendsTheLatestValueOncePerFlush(t *testing.T) {
	ctx := context.Background()
	f := &fakeInternal{snap: snap(1)}
	c, err := New(Config{Internal: f, MaxTenants: 3})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"many reports, one call each with the latest", func() {
			for i := range int64(1000) {
				c.ReportUsage("t1", "api_requests_per_minute", i+1)
			}
			c.ReportUsage("t1", "catalog_entities", 55)
			c.ReportUsage("t2", "catalog_entities", 7)
		}, []string{"t1/api_requests_per_minute=1000", "t1/catalog_entities=55", "t2/catalog_entities=7"}},
		{"nothing reported, nothing sent", func() {}, nil},
		{"bounded: past MaxTenants waiting values are dropped", func() {
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				c.ReportUsage(id, "catalog_entities", 1)
			}
			c.ReportUsage("a", "catalog_entities", 2) // an update of a waiting value still lands
		}, []string{"a/catalog_entities=2", "b/catalog_entities=1", "c/catalog_entities=1"}},
		{"a failed report is retried at the next flush", func() {
			c.ReportUsage("t1", "catalog_entities", 60)
			f.mu.Lock()
			f.down = true
			f.mu.Unlock()
			c.FlushUsage(ctx)
			f.mu.Lock()
			f.down = false
			f.mu.Unlock()
		}, []string{"t1/catalog_entities=60"}},
		{"a newer value replaces the failed one", func() {
			c.ReportUsage("t1", "catalog_entities", 61)
			f.mu.Lock()
			f.down = true
			f.mu.Unlock()
			c.FlushUsage(ctx)
			c.ReportUsage("t1", "catalog_entities", 62)
			f.mu.Lock()
			f.down = false
			f.mu.Unlock()
		}, []string{"t1/catalog_entities=62"}},
		{"no tenant, no report", func() { c.ReportUsage("", "seats", 3) }, nil},
	}
	for _, s := range steps {
		s.do()
		c.FlushUsage(ctx)
		got := f.takeChecks()
		if len(got) != len(s.want) {
			t.Fatalf("%s: sent %v, want %v", s.name, got, s.want)
		}
		for i := range got {
			if got[i] != s.want[i] {
				t.Fatalf("%s: sent %v, want %v", s.name, got, s.want)
			}
		}
	}
}

// The reporting path is a map write: it must stay cheap enough for every request.
func BenchmarkReportUsage(b *testing.B) {
	c, err := New(Config{Internal: &fakeInternal{snap: snap(1)}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i int64
		for pb.Next() {
			i++
			c.ReportUsage("t1", "api_requests_per_minute", i)
		}
	})
}

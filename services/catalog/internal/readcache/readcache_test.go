package readcache

import "testing"

func TestVersions(t *testing.T) {
	c := New(1 << 20)
	c.Put("acme", "q", 1, "one", 10)
	for _, tt := range []struct {
		tenant, query string
		version       int64
		want          any
	}{
		{"acme", "q", 1, "one"},
		{"globex", "q", 1, nil}, // another tenant's result is never served
		{"acme", "other", 1, nil},
		{"acme", "q", 2, nil}, // a write raised the version
		{"acme", "q", 1, nil}, // and the old result is gone for good
	} {
		got, ok := c.Get(tt.tenant, tt.query, tt.version)
		if (tt.want == nil) == ok || (ok && got != tt.want) {
			t.Errorf("Get(%s, %s, %d) = %v, %v; want %v", tt.tenant, tt.query, tt.version, got, ok, tt.want)
		}
	}
	c.Put("acme", "q", 3, "three", 10)
	c.Put("acme", "q", 2, "two", 10) // a slower reader's older result does not replace it
	if got, _ := c.Get("acme", "q", 3); got != "three" {
		t.Errorf("after an older Put: %v", got)
	}
	if s := c.Stats(); s.Entries != 1 || s.Bytes != 10 || s.Tenants != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A tenant holds at most a quarter of the budget and evicts its own results for more, never
// another tenant's; the budget as a whole evicts the least recently used.
func TestShares(t *testing.T) {
	c := New(400) // a share of 100
	c.Put("quiet", "a", 1, "a", 60)
	for i := 0; i < 50; i++ {
		c.Put("noisy", string(rune('a'+i)), 1, i, 40)
	}
	if _, ok := c.Get("quiet", "a", 1); !ok {
		t.Fatal("a noisy tenant evicted a quiet one's result")
	}
	if s := c.Stats(); s.Bytes != 60+80 || s.Entries != 3 {
		t.Fatalf("noisy tenant holds more than its share: %+v", s)
	}
	c.Put("big", "x", 1, "x", 101) // over any share: not kept
	if _, ok := c.Get("big", "x", 1); ok {
		t.Fatal("a result over the share was kept")
	}
	for i, tn := range []string{"t1", "t2", "t3", "t4", "t5"} {
		c.Put(tn, "q", 1, i, 100)
	}
	if s := c.Stats(); s.Bytes > 400 {
		t.Fatalf("over budget: %+v", s)
	}
	if _, ok := c.Get("t5", "q", 1); !ok {
		t.Fatal("the newest result was evicted")
	}
	var nilCache *Cache
	nilCache.Put("a", "q", 1, 1, 1)
	if _, ok := nilCache.Get("a", "q", 1); ok {
		t.Fatal("a nil cache cached")
	}
}

func TestVersion(t *testing.T) {
	c := New(1 << 20)
	if _, ok := c.Version("acme"); ok {
		t.Fatal("a version without results")
	}
	c.Put("acme", "a", 3, "x", 10)
	c.Put("acme", "b", 2, "y", 10)
	if v, ok := c.Version("acme"); !ok || v != 3 {
		t.Fatalf("Version = %d, %v; want 3", v, ok)
	}
	if _, ok := c.Version("globex"); ok {
		t.Fatal("another tenant's version")
	}
	c.Get("acme", "a", 4) // a write: both results go
	c.Get("acme", "b", 4)
	if _, ok := c.Version("acme"); ok {
		t.Fatal("a version after every result went")
	}
}

func TestPeek(t *testing.T) {
	c := New(1 << 20)
	c.Put("acme", "a", 3, "x", 10)
	tests := []struct {
		tenant, query string
		want          int64
		ok            bool
	}{
		{"acme", "a", 3, true},
		{"acme", "b", 0, false},
		{"globex", "a", 0, false}, // another tenant's query of the same text
	}
	for _, tc := range tests {
		if v, ok := c.Peek(tc.tenant, tc.query); v != tc.want || ok != tc.ok {
			t.Errorf("Peek(%s, %s) = %d, %v; want %d, %v", tc.tenant, tc.query, v, ok, tc.want, tc.ok)
		}
	}
	if st := c.Stats(); st.Hits != 0 || st.Misses != 0 {
		t.Fatalf("Peek counted: %+v", st)
	}
	var nilCache *Cache
	if _, ok := nilCache.Peek("acme", "a"); ok {
		t.Fatal("a nil cache has a value")
	}
}

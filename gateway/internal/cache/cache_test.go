package cache

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New[string, int](2)
	c.now = func() time.Time { return now }

	c.Set("a", 1, time.Minute)
	c.Set("b", 2, time.Minute)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	// "b" is now least recently used and goes first.
	c.Set("c", 3, time.Minute)
	if _, ok := c.Get("b"); ok {
		t.Error("b survived eviction")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("a was evicted although recently used")
	}

	c.Set("short", 4, time.Second)
	now = now.Add(2 * time.Second)
	if _, ok := c.Get("short"); ok {
		t.Error("expired entry returned")
	}
	c.Set("zero", 5, 0)
	if _, ok := c.Get("zero"); ok {
		t.Error("ttl 0 stored")
	}

	c.Set("x", 10, time.Minute)
	c.Set("y", 11, time.Minute)
	if n := c.DeleteFunc(func(_ string, v int) bool { return v == 10 }); n != 1 {
		t.Errorf("DeleteFunc removed %d, want 1", n)
	}
	if _, ok := c.Get("x"); ok {
		t.Error("x survived DeleteFunc")
	}
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("Len after Purge = %d", c.Len())
	}
}

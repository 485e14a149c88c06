package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
	"github.com/redis/go-redis/v9"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A rate so low no refill happens during the test: exactly Burst requests pass.
var (
	slow       = Limit{PerSecond: 0.001, Burst: 3}
	slowStrict = Limit{PerSecond: 0.001, Burst: 3, Strict: true}
)

func TestStrictRedisGCRA(t *testing.T) {
	r := redistest.New(t)
	l := New(r.Client, r.Prefix, slowStrict, quiet)
	ctx := context.Background()
	for i := range slow.Burst {
		if d := l.Allow(ctx, "t:a"); !d.Allowed || d.Local {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Allow(ctx, "t:a")
	if d.Allowed || d.Local {
		t.Fatalf("over the burst: %+v", d)
	}
	// The next slot is one emission interval (1000 s) after the first request, give or take.
	if d.RetryAfter < 990*time.Second || d.RetryAfter > 1000*time.Second {
		t.Errorf("RetryAfter = %v", d.RetryAfter)
	}
	if d := l.Allow(ctx, "t:b"); !d.Allowed {
		t.Error("another key shares the budget")
	}
	// A second gateway shares the state.
	other := New(r.Client, r.Prefix, slowStrict, quiet)
	if d := other.Allow(ctx, "t:a"); d.Allowed {
		t.Error("a second limiter does not see the first one's spending")
	}
	keys, _ := r.Client.Keys(ctx, r.Prefix+"atrium:ratelimit:*").Result()
	if len(keys) != 2 {
		t.Errorf("keys = %v, want two under the prefix", keys)
	}
	ttl, _ := r.Client.PTTL(ctx, r.Prefix+"atrium:ratelimit:t:a").Result()
	if ttl <= 0 {
		t.Errorf("state has no expiry (ttl %v)", ttl)
	}
}

// The default mode: each gateway decides locally; Redis learns the fleet's spending in the
// background and tells the others when a key is over budget.
func TestSharedBudget(t *testing.T) {
	r := redistest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := New(r.Client, r.Prefix, slow, quiet)
	b := New(r.Client, r.Prefix, slow, quiet)
	go a.Run(ctx)
	go b.Run(ctx)

	for i := range slow.Burst {
		if d := a.Allow(ctx, "t:a"); !d.Allowed || d.Local {
			t.Fatalf("a: request %d: %+v", i, d)
		}
	}
	if d := a.Allow(ctx, "t:a"); d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("a: over the burst: %+v", d)
	}
	key := r.Prefix + "atrium:ratelimit:t:a"
	waitFor(t, "a's spending in Redis", func() bool { return r.Client.Exists(ctx, key).Val() == 1 })
	// b has its own local budget, but its first report finds the fleet over budget.
	waitFor(t, "b refuses the key a exhausted", func() bool { return !b.Allow(ctx, "t:a").Allowed })
	if d := b.Allow(ctx, "t:b"); !d.Allowed {
		t.Errorf("another key refused: %+v", d)
	}
}

func TestFallbackWhenRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()

	t.Run("strict", func(t *testing.T) {
		l := New(rdb, "x:", slowStrict, quiet)
		for i := range slow.Burst {
			if d := l.Allow(context.Background(), "t:a"); !d.Allowed || !d.Local {
				t.Fatalf("request %d: %+v", i, d)
			}
		}
		if d := l.Allow(context.Background(), "t:a"); d.Allowed || !d.Local || d.RetryAfter <= 0 {
			t.Fatalf("over the burst: %+v", d)
		}
	})
	t.Run("async", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l := New(rdb, "x:", slow, quiet)
		go l.Run(ctx)
		if d := l.Allow(ctx, "t:a"); !d.Allowed {
			t.Fatalf("first request: %+v", d)
		}
		waitFor(t, "failed report noticed", func() bool { return l.Allow(ctx, "t:b").Local })
		for i := 1; i < slow.Burst; i++ {
			if d := l.Allow(ctx, "t:a"); !d.Allowed || !d.Local {
				t.Fatalf("request %d: %+v", i, d)
			}
		}
		if d := l.Allow(ctx, "t:a"); d.Allowed || !d.Local {
			t.Fatalf("over the burst: %+v", d)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocalGCRA(t *testing.T) {
	l := newLocal(2)
	now := time.Unix(1000, 0)
	T, tau := time.Second, 2*time.Second // 1/s, burst 3
	for i := range 3 {
		if d := l.allow("a", T, tau, now); !d.Allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	d := l.allow("a", T, tau, now)
	if d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("4th = %+v, want refused for 1s", d)
	}
	if d := l.allow("a", T, tau, now.Add(time.Second)); !d.Allowed {
		t.Fatal("not refilled after one interval")
	}
	// The map stays bounded.
	l.allow("b", T, tau, now)
	l.allow("c", T, tau, now)
	if len(l.tats) > 2 {
		t.Errorf("%d entries, max 2", len(l.tats))
	}
}

func TestNoLimit(t *testing.T) {
	l := New(nil, "", Limit{PerSecond: -1}, quiet)
	for range 100 {
		if !l.Allow(context.Background(), "k").Allowed {
			t.Fatal("refused without a limit")
		}
	}
}

package ratelimit

import (
	"context"
	"testing"

	"atrium.dev/platform/redistest"
)

func BenchmarkAllowRedis(b *testing.B) {
	r := redistest.New(b)
	l := New(r.Client, r.Prefix, Limit{PerSecond: 1e9, Burst: 1 << 30}, quiet)
	ctx := context.Background()
	for b.Loop() {
		if !l.Allow(ctx, "t:a").Allowed {
			b.Fatal("refused")
		}
	}
}

func BenchmarkPingRedis(b *testing.B) {
	r := redistest.New(b)
	ctx := context.Background()
	for b.Loop() {
		if err := r.Client.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

package pipeline_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"atrium.dev/platform/redistest"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/pipeline"
	"atrium.dev/services/insights/internal/store"
	"github.com/redis/go-redis/v9"
)

func runPipeline(t *testing.T, cfg pipeline.Config) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func wantCounted(t *testing.T, env *insightstest.Env, tenants []insightstest.Tenant, n int64) {
	t.Helper()
	for _, tn := range tenants {
		raw, counted := calls(t, env, tn)
		if raw != n || counted != n {
			t.Errorf("%s: raw %d, counted %d; produced %d unique events", tn.Slug, raw, counted, n)
		}
	}
}

// A Redis restart (orderly, with its append-only file, as a production Redis restarts): the
// entries on the stream, read or not, and the consumer group survive it; the workers retry
// until Redis answers again and carry on. Entries committed but not yet acknowledged when
// Redis went away are delivered again and count nothing twice.
func TestRedisRestartLosesNothing(t *testing.T) {
	env := insightstest.New(t)
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	stream := "atrium:usage"
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	ids := []string{acme.ID, globex.ID}
	produceFrom(t, rdb, stream, ids, 0, 400)

	// Slow workers (a pause between commit and XACK), so that the restart finds entries
	// pending and entries unread.
	p := runPipeline(t, pipeline.Config{Redis: rdb, Stream: stream, Store: store.New(env.Shards),
		Workers: 2, BatchSize: 40, ClaimIdle: 500 * time.Millisecond, ClaimInterval: 300 * time.Millisecond,
		AfterCommit: func(int) { time.Sleep(50 * time.Millisecond) }})
	waitRaw(t, env, acme, 80)
	srv.Restart(2 * time.Second)
	// The client redials in the background after failed dials (go-redis returns the last dial
	// error meanwhile), so the first answer can take it a second.
	l, err := p.ReadLag(context.Background())
	for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		l, err = p.ReadLag(context.Background())
	}
	if err != nil || l.Length == 0 {
		t.Fatalf("after the restart the stream is gone (%+v, %v): the private Redis did not persist", l, err)
	}
	produceFrom(t, rdb, stream, ids, 400, 800)
	waitDrained(t, p, 60*time.Second)
	wantCounted(t, env, []insightstest.Tenant{acme, globex}, 800)
}

// Postgres unreachable for 10 s (every connection cut, new ones refused) while events keep
// arriving: the workers back off and retry without acknowledging, the lag grows, and when
// Postgres is back they catch up; a commit whose reply was lost with its connection is
// retried and counts once.
func TestPostgresOutageLosesNothing(t *testing.T) {
	env := insightstest.New(t)
	rd := redistest.New(t)
	stream := rd.Prefix + "atrium:usage"
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	ids := []string{acme.ID, globex.ID}

	proxy := startProxy(t, env.DSN)
	shards, err := tenantdb.Open(context.Background(), map[string]string{insightstest.Shard: proxy.dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shards.Close)
	produceFrom(t, rd.Client, stream, ids, 0, 400)
	p := runPipeline(t, pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(shards),
		Workers: 2, BatchSize: 40, ClaimIdle: 500 * time.Millisecond, ClaimInterval: 300 * time.Millisecond,
		AfterCommit: func(int) { time.Sleep(20 * time.Millisecond) }})
	waitRaw(t, env, acme, 80)

	proxy.cut()
	produceFrom(t, rd.Client, stream, ids, 400, 800)
	time.Sleep(10 * time.Second)
	l, err := p.ReadLag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l.Lag+l.Pending == 0 {
		t.Fatalf("with Postgres down for 10 s nothing is waiting: %+v", l)
	}
	rawDuring, _ := calls(t, env, acme)
	proxy.restore()
	waitDrained(t, p, 60*time.Second)
	wantCounted(t, env, []insightstest.Tenant{acme, globex}, 800)
	if rawDuring >= 800 {
		t.Errorf("acme had all its events before Postgres came back (%d): the outage was not real", rawDuring)
	}
}

func waitRaw(t *testing.T, env *insightstest.Env, tn insightstest.Tenant, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if raw, _ := calls(t, env, tn); raw >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d events written in 60 s", tn.Slug, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxy is a loopback TCP proxy to Postgres that the test cuts (closing every connection
// and the listener: new connections are refused) and restores on the same port.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	dsn    string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, dsn string) *proxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	u.Host = p.addr
	p.dsn = u.String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = c.Close()
			_ = up.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
	go func() { _, _ = io.Copy(up, c); closeBoth() }()
	go func() { _, _ = io.Copy(c, up); closeBoth() }()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	// The port was free a moment ago; another process taking it meanwhile is unlikely but
	// would show here.
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

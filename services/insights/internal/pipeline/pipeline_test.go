package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/redistest"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/pipeline"
	"atrium.dev/services/insights/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The kill test runs a worker in a child process (this test binary again), so kill -9 is real.
const envWorker = "INSIGHTS_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		runWorker()
		return
	}
	os.Exit(m.Run())
}

// runWorker consumes the stream slowly: 300 ms between commit and XACK, the window in
// which a crash would double count without the dedup.
func runWorker() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	shards, err := tenantdb.Open(ctx, map[string]string{insightstest.Shard: os.Getenv("W_DSN")})
	if err != nil {
		panic(err)
	}
	opts, _ := redis.ParseURL(os.Getenv("W_REDIS"))
	p, err := pipeline.New(pipeline.Config{
		Redis: redis.NewClient(opts), Stream: os.Getenv("W_STREAM"), Store: store.New(shards),
		Workers: 2, BatchSize: 50, ConsumerName: "child",
		AfterCommit: func(int) { time.Sleep(300 * time.Millisecond) },
	})
	if err != nil {
		panic(err)
	}
	p.Run(ctx)
}

// produce writes n events per tenant, each id a second time with probability 1/4 (a producer
// retry), and returns the unique count per tenant.
func produce(t *testing.T, rdb *redis.Client, stream string, tenants []string, n int) map[string]int {
	t.Helper()
	produceFrom(t, rdb, stream, tenants, 0, n)
	out := map[string]int{}
	for _, tn := range tenants {
		out[tn] = n
	}
	return out
}

// produceFrom writes events [from, to) of each tenant, each fourth one twice.
func produceFrom(t *testing.T, rdb *redis.Client, stream string, tenants []string, from, to int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	pl := rdb.Pipeline()
	for i := from; i < to; i++ {
		for _, tn := range tenants {
			fields := []string{"id", fmt.Sprintf("%s-%d", tn, i), "source", "request", "time", strconv.FormatInt(now.Add(-time.Duration(i)*time.Second).UnixMilli(), 10),
				"tenant", tn, "shard", insightstest.Shard, "user", fmt.Sprint("u", i%7), "user_kind", "user", "plugin", "catalog",
				"procedure", "/atrium.catalog.v1.CatalogService/ListEntities", "code", "ok"}
			pl.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields})
			if i%4 == 0 {
				pl.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: fields})
			}
		}
	}
	if _, err := pl.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func calls(t *testing.T, env *insightstest.Env, tn insightstest.Tenant) (raw, counted int64) {
	t.Helper()
	err := env.Shards.InReadTx(tn.Ctx(), func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM insights_events`).Scan(&raw); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(sum(n), 0)::int8 FROM insights_counts WHERE dim = 1 AND grain = 'd'`).Scan(&counted)
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw, counted
}

func waitDrained(t *testing.T, p *pipeline.Pipeline, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := p.ReadLag(context.Background())
		if err == nil && l.Lag == 0 && l.Pending == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	l, _ := p.ReadLag(context.Background())
	t.Fatalf("stream not drained: %+v", l)
}

func TestKilledWorkerCountsEveryEventOnce(t *testing.T) {
	env := insightstest.New(t)
	rd := redistest.New(t)
	stream := rd.Prefix + "atrium:usage"
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	want := produce(t, rd.Client, stream, []string{acme.ID, globex.ID}, 600)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=1", "W_DSN="+env.DSN, "W_REDIS="+rd.URL, "W_STREAM="+stream)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has committed some batches (and is likely inside the commit-to-ack
	// window of others).
	deadline := time.Now().Add(60 * time.Second)
	for {
		raw, _ := calls(t, env, acme)
		if raw >= 100 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("child worker committed nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if l, _ := pendingOf(rd.Client, stream); l == 0 {
		t.Log("note: the child had no entries pending when killed")
	}

	// A new worker claims what the dead one left pending and reads the rest.
	p, err := pipeline.New(pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(env.Shards),
		Workers: 2, BatchSize: 100, ClaimIdle: 300 * time.Millisecond, ClaimInterval: 200 * time.Millisecond,
		// A tenant's part of a batch in several transactions (its first 7 events with the
		// other tenant's, the rest after): still every event once.
		PerTenantBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitDrained(t, p, 60*time.Second)
	for _, tn := range []insightstest.Tenant{acme, globex} {
		raw, counted := calls(t, env, tn)
		if raw != int64(want[tn.ID]) || counted != int64(want[tn.ID]) {
			t.Errorf("%s: raw %d, counted %d; produced %d unique events", tn.Slug, raw, counted, want[tn.ID])
		}
	}
}

func pendingOf(rdb *redis.Client, stream string) (int64, error) {
	ps, err := rdb.XPending(context.Background(), stream, "insights").Result()
	if err != nil {
		return 0, err
	}
	return ps.Count, nil
}

// An entry for a tenant without insights tables (created before insights existed) gets them.
func TestProvisionsMissingTables(t *testing.T) {
	env := insightstest.New(t)
	rd := redistest.New(t)
	stream := rd.Prefix + "atrium:usage"
	id := fmt.Sprintf("old%d", time.Now().UnixNano()%1e9)
	schema := tenantdb.SchemaFor(id)
	if err := env.Shards.CreateTenant(context.Background(), insightstest.Shard, schema); err != nil {
		t.Fatal(err)
	}
	produce(t, rd.Client, stream, []string{id}, 10)
	p, err := pipeline.New(pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(env.Shards), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitDrained(t, p, 30*time.Second)
	tn := insightstest.Tenant{ID: id, Schema: schema, Admin: authn.Identity{TenantID: id, Schema: schema, Shard: insightstest.Shard}}
	if raw, counted := calls(t, env, tn); raw != 10 || counted != 10 {
		t.Fatalf("raw %d counted %d, want 10", raw, counted)
	}
}

// The sweep makes tomorrow's raw partition of every tenant seen, so that a tenant's first
// event after midnight does not wait for DDL in a writer (nor every tenant's at once).
func TestSweepMakesTomorrowsPartitions(t *testing.T) {
	env := insightstest.New(t)
	rd := redistest.New(t)
	stream := rd.Prefix + "atrium:usage"
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	produce(t, rd.Client, stream, []string{acme.ID, globex.ID}, 5)
	p := runPipeline(t, pipeline.Config{Redis: rd.Client, Stream: stream, Store: store.New(env.Shards),
		TenantsKey: rd.Prefix + "insights:tenants"})
	waitDrained(t, p, 30*time.Second)
	if err := p.SweepRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	pool, err := env.Shards.Pool(insightstest.Shard)
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := "insights_events_" + time.Now().UTC().AddDate(0, 0, 1).Format("20060102")
	for _, tn := range []insightstest.Tenant{acme, globex} {
		var ok bool
		if err := pool.QueryRow(context.Background(), `SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL`,
			tn.Schema, tomorrow).Scan(&ok); err != nil || !ok {
			t.Errorf("%s: no partition %s after the sweep (%v)", tn.Slug, tomorrow, err)
		}
	}
}

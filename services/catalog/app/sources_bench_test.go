package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/services/catalog/internal/catalogtest"
	"atrium.dev/services/catalog/internal/service"
	"atrium.dev/services/catalog/internal/source"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/jackc/pgx/v5"
)

// EnvBenchLocations sets how many Locations BenchmarkLocationRefresh registers (default
// 100; docs/BENCHMARKS.md has 1,000 and 1,300).
const EnvBenchLocations = "ATRIUM_BENCH_LOCATIONS"

// writeRepo writes a bare repository with one commit on main holding catalog-info.yaml,
// with go-git (the git CLI would take a second per repository here).
func writeRepo(tb testing.TB, dir, content string) {
	tb.Helper()
	r, err := gogit.PlainInit(dir, true)
	if err != nil {
		tb.Fatal(err)
	}
	st := r.Storer
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	_, _ = w.Write([]byte(content))
	_ = w.Close()
	bh, err := st.SetEncodedObject(blob)
	if err != nil {
		tb.Fatal(err)
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "catalog-info.yaml", Mode: filemode.Regular, Hash: bh}}}
	to := st.NewEncodedObject()
	_ = tree.Encode(to)
	th, _ := st.SetEncodedObject(to)
	sig := object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "bench", TreeHash: th}
	co := st.NewEncodedObject()
	_ = c.Encode(co)
	ch, _ := st.SetEncodedObject(co)
	if err := st.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), ch)); err != nil {
		tb.Fatal(err)
	}
	_ = st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main")))
}

func tenEntities(repo, version int) string {
	out := ""
	for j := 0; j < 10; j++ {
		out += fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: r%d-c%d, description: v%d}\nspec: {type: service, lifecycle: production, owner: team-%d}\n---\n", repo, j, version, repo%20)
	}
	return out
}

// xid returns the next transaction id (32-bit, as xmin holds it).
func xid(tb testing.TB, env *catalogtest.Env) int64 {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.DSN)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int64
	if err := conn.QueryRow(ctx, `SELECT txid_current() % 4294967296`).Scan(&x); err != nil {
		tb.Fatal(err)
	}
	return x
}

// writtenSince counts the row versions the tenant's catalog tables got from transactions
// after x: every insert and update leaves one (statistics counters lag by seconds, and the
// WAL is shared with everything else on the cluster).
func writtenSince(tb testing.TB, env *catalogtest.Env, schema string, x int64) int64 {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.DSN)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var total int64
	for _, table := range []string{"catalog_entities", "catalog_search", "catalog_relations", "catalog_audit", "catalog_locations", "catalog_state"} {
		var n int64
		q := `SELECT count(*) FROM ` + pgx.Identifier{schema, table}.Sanitize() + ` WHERE xmin::text::bigint > $1`
		if err := conn.QueryRow(ctx, q, x).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		total += n
	}
	return total
}

// BenchmarkLocationRefresh registers N Locations (one Git repository each, 10 entities),
// then times a refresh of all of them with nothing changed (and counts Postgres row writes:
// the target is none), and with 1% changed (time until the change is visible).
//
//	ATRIUM_BENCH_LOCATIONS=1000 go test ./services/catalog/app -run '^$' -bench LocationRefresh -benchtime 1x
func BenchmarkLocationRefresh(b *testing.B) {
	n := 100
	if s := os.Getenv(EnvBenchLocations); s != "" {
		n, _ = strconv.Atoi(s)
	}
	g := newGitServer(b)
	for i := 0; i < n; i++ {
		writeRepo(b, filepath.Join(g.root, "org", fmt.Sprintf("r%d", i)), tenEntities(i, 1))
	}
	env := catalogtest.New(b)
	tn := env.Tenant(b, "bench")
	ctx := authn.WithIdentity(context.Background(), &tn.Identity)
	cat := service.NewCatalog(env.Store, 0)
	fetch := source.New(source.Policy{AllowHosts: []string{g.hostPort()}, Timeout: 30 * time.Second})
	src := service.NewSources(cat, env.Store, fetch, nil)
	const workers = 4 // the worker's default concurrency
	run := func(ids []string, f func(i int, id string)) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					f(i, ids[i])
				}
			}()
		}
		for i := range ids {
			next <- i
		}
		close(next)
		wg.Wait()
		return time.Since(start)
	}
	ids := make([]string, n)
	regStart := time.Now()
	run(ids, func(i int, _ string) {
		loc, _, err := src.Create(ctx, "url", fmt.Sprintf("%s/org/r%d", g.srv.URL, i))
		if err != nil || loc.LastError != "" {
			b.Errorf("register %d: %v %s", i, err, loc.LastError)
			return
		}
		ids[i] = loc.ID
	})
	register := time.Since(regStart)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		before := xid(b, env)
		unchanged := run(ids, func(_ int, id string) {
			if res, err := src.Refresh(ctx, id, false); err != nil || !res.NotModified {
				b.Errorf("refresh %s: %v", id, err)
			}
		})
		wrote := writtenSince(b, env, tn.Identity.Schema, before)
		changed := max(n/100, 1)
		for i := 0; i < changed; i++ {
			writeRepo(b, filepath.Join(g.root, "org", fmt.Sprintf("r%d-v2", i)), tenEntities(i, 2))
			_ = os.RemoveAll(filepath.Join(g.root, "org", fmt.Sprintf("r%d", i)))
			_ = os.Rename(filepath.Join(g.root, "org", fmt.Sprintf("r%d-v2", i)), filepath.Join(g.root, "org", fmt.Sprintf("r%d", i)))
		}
		visible := run(ids, func(_ int, id string) {
			if _, err := src.Refresh(ctx, id, false); err != nil {
				b.Errorf("refresh %s: %v", id, err)
			}
		})
		e, err := env.Store.GetByRef(ctx, "component:default/r0-c0")
		if err != nil || e.Description() != "v2" {
			b.Fatalf("change not visible: %v %v", err, e)
		}
		b.ReportMetric(float64(n*10), "entities")
		b.ReportMetric(register.Seconds(), "register-s")
		b.ReportMetric(unchanged.Seconds(), "unchanged-refresh-s")
		b.ReportMetric(float64(wrote), "unchanged-row-writes")
		b.ReportMetric(visible.Seconds(), "1pct-changed-visible-s")
	}
}

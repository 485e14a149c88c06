package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"atrium.dev/devstack/stack"
	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	entv1 "atrium.dev/gen/atrium/entitlements/v1"
	insightsapp "atrium.dev/services/insights/app"
	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
)

// BenchmarkBackstage: the same REST queries against Backstage's own catalog backend and
// against Atrium's /api/catalog through the gateway, both holding the same synthetic catalog
// (services/catalog/internal/synth, written as YAML by services/catalog/cmd/synthcatalog).
// tools/backstagebench/run.sh (make bench-backstage) installs and starts Backstage, loads the
// files into it and sets ATRIUM_BENCH_BACKSTAGE_URL, _TOKEN and _CATALOG (the YAML folder);
// without them the benchmark skips. Here a stack is started, the files are applied to a fresh
// tenant (timed: Atrium's ingest), its tables are vacuumed and analyzed as Backstage's were,
// every query's answers are compared between the two (counts, names, facet counts: a
// comparison of different answers would not be fair), and then each query runs in
// alternating blocks (ATRIUM_BENCH_BLOCK calls, 20, on one side then the other, the first
// side swapping each round) until each side made ATRIUM_BENCH_CALLS calls (300). One HTTP/1.1
// client per side, keep-alive, gzip accepted (Go's transport asks for it and inflates), each
// call timed until its body is read.
func BenchmarkBackstage(b *testing.B) {
	bsURL := os.Getenv("ATRIUM_BENCH_BACKSTAGE_URL")
	dir := os.Getenv("ATRIUM_BENCH_BACKSTAGE_CATALOG")
	if bsURL == "" || dir == "" {
		b.Skip("needs a running Backstage: make bench-backstage (tools/backstagebench/run.sh)")
	}
	calls := benchInt("ATRIUM_BENCH_CALLS", 300)
	block := benchInt("ATRIUM_BENCH_BLOCK", 20)
	files, err := filepath.Glob(filepath.Join(dir, "entities-*.yaml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no entities-*.yaml in %s", dir)
	}
	refs := readLines(b, filepath.Join(dir, "refs.txt"))

	e := start(b, func(o *stack.Options) {
		noLimit(o)
		// As in BenchmarkGatewayOverhead: usage ingest would share this process's cores with
		// the gateway and the catalog; in production it is another process.
		o.Insights = func(c *insightsapp.Config) { c.DisablePipeline = true }
	})
	ctx := context.Background()
	b.StopTimer()
	su := signUpB(b, e, "backstage-bench")
	for limit, v := range map[string]int64{"api_requests_per_minute": 1 << 40, "catalog_entities": 1 << 30} {
		if _, err := e.entOperator().SetLimitOverride(ctx, connect.NewRequest(&entv1.SetLimitOverrideRequest{
			Tenant: su.slug, Limit: limit, Value: v, Reason: "benchmark",
		})); err != nil {
			b.Fatal(err)
		}
	}

	// Atrium's ingest: the same files, one ApplyEntities call each, through the gateway.
	cat := e.catalog(su.access, su.slug)
	t0 := time.Now()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cat.ApplyEntities(ctx, connect.NewRequest(&catalogv1.ApplyEntitiesRequest{YamlDocuments: []string{string(data)}})); err != nil {
			b.Fatalf("apply %s: %v", f, err)
		}
	}
	ingest := time.Since(t0)
	vacuumAnalyze(b, e, su.tenant.GetSchema())

	sides := [2]*restSide{
		{name: "Backstage", base: bsURL, header: http.Header{"Authorization": {"Bearer " + os.Getenv("ATRIUM_BENCH_BACKSTAGE_TOKEN")}}},
		{name: "Atrium", base: e.st.GatewayURL + "/api/catalog", header: http.Header{"Authorization": {"Bearer " + su.access}, "Atrium-Tenant": {su.slug}}},
	}
	for _, s := range sides {
		s.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}, Timeout: time.Minute}
	}
	queries := backstageQueries(refs)

	// The answers agree, or the comparison is not fair.
	gz := [2]bool{}
	for _, q := range queries {
		for i := range q.variants {
			var got [2]string
			for si, s := range sides {
				body, gzipped := s.call(b, q.req(i))
				got[si] = q.check(b, body)
				gz[si] = gz[si] || gzipped
			}
			if got[0] != got[1] {
				b.Errorf("%s, variant %d (%s): answers differ\n  Backstage: %s\n  Atrium:    %s", q.name, i, q.req(i).path, got[0], got[1])
			} else if i == 0 {
				b.Logf("%s: both answer %.160s", q.name, got[0])
			}
		}
	}

	// Warm up both (connections, caches, JIT), then the alternating blocks.
	for _, q := range queries {
		for _, s := range sides {
			for i := range 20 {
				s.call(b, q.req(i))
			}
		}
	}
	meter := newCPUMeter(b, e, os.Getenv("ATRIUM_BENCH_BACKSTAGE_PID"), os.Getenv("ATRIUM_BENCH_BACKSTAGE_DB"))
	defer meter.close()
	load0 := loadavg()
	times := make([][2][]time.Duration, len(queries))
	cpu := make([][2]cpuSample, len(queries))
	b.StartTimer()
	for round := 0; round*block < calls; round++ {
		for qi, q := range queries {
			for k := range 2 {
				si := (round + k) % 2
				before := meter.sample(b)
				for i := round * block; i < min(calls, (round+1)*block); i++ {
					r := q.req(i)
					t := time.Now()
					sides[si].call(b, r)
					times[qi][si] = append(times[qi][si], time.Since(t))
				}
				cpu[qi][si].add(meter.sample(b).since(before))
			}
		}
	}
	b.StopTimer()
	load1 := loadavg()

	bsIngest := os.Getenv("ATRIUM_BENCH_BACKSTAGE_INGEST")
	if v, err := strconv.ParseFloat(bsIngest, 64); err == nil {
		bsIngest = fmt.Sprintf("%.1f s", v)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d entities; load average before %s, after %s; gzip: Backstage %v, Atrium %v\n", len(refs), load0, load1, gz[0], gz[1])
	fmt.Fprintf(&out, "ingest: Atrium %.1f s (%d ApplyEntities calls through the gateway); Backstage %s (process start to all entities visible)\n",
		ingest.Seconds(), len(files), bsIngest)
	fmt.Fprintf(&out, "| query | Backstage p50 / p99 ms | Atrium p50 / p99 ms | p50 ratio | p99 ratio |\n|---|---|---|---|---|\n")
	for qi, q := range queries {
		var p50, p99 [2]time.Duration
		for si := range sides {
			slices.Sort(times[qi][si])
			p50[si], p99[si] = percentile(times[qi][si], 0.50), percentile(times[qi][si], 0.99)
		}
		fmt.Fprintf(&out, "| %s | %.2f / %.2f | %.2f / %.2f | %.2fx | %.2fx |\n", q.name,
			ms(p50[0]), ms(p99[0]), ms(p50[1]), ms(p99[1]), float64(p50[0])/float64(p50[1]), float64(p99[0])/float64(p99[1]))
		b.ReportMetric(ms(p50[0]), q.metric+"-backstage-p50-ms")
		b.ReportMetric(ms(p50[1]), q.metric+"-atrium-p50-ms")
		b.ReportMetric(ms(p99[0]), q.metric+"-backstage-p99-ms")
		b.ReportMetric(ms(p99[1]), q.metric+"-atrium-p99-ms")
	}
	if meter.ok() {
		fmt.Fprintf(&out, "\nCPU per call, ms (load-independent; /proc of Backstage's node process and of the Postgres backends of each\n"+
			"side's database; Atrium's processes = this process's CPU in Atrium's blocks less its CPU in Backstage's blocks, the client's share):\n")
		fmt.Fprintf(&out, "| query | Backstage node + Postgres = total | Atrium processes + Postgres = total | ratio |\n|---|---|---|---|\n")
		for qi, q := range queries {
			bs, at := cpu[qi][0], cpu[qi][1]
			n0, n1 := float64(len(times[qi][0])), float64(len(times[qi][1]))
			bsApp, bsDB := ms(bs.backstage)/n0, ms(bs.backstageDB)/n0
			atApp := max(ms(at.self)/n1-ms(bs.self)/n0, 0)
			atDB := ms(at.atriumDB) / n1
			fmt.Fprintf(&out, "| %s | %.2f + %.2f = %.2f | %.2f + %.2f = %.2f | %.2fx |\n", q.name,
				bsApp, bsDB, bsApp+bsDB, atApp, atDB, atApp+atDB, (bsApp+bsDB)/(atApp+atDB))
			b.ReportMetric(bsApp+bsDB, q.metric+"-backstage-cpu-ms")
			b.ReportMetric(atApp+atDB, q.metric+"-atrium-cpu-ms")
		}
	}
	b.ReportMetric(ingest.Seconds(), "atrium-ingest-s")
	b.ReportMetric(0, "ns/op")
	b.Log(out.String())
}

// restSide is one catalog backend's REST surface.
type restSide struct {
	name   string
	base   string
	header http.Header
	client *http.Client
}

type restReq struct {
	method, path string
	body         []byte
}

// call makes one request and returns its body, and whether it came gzipped.
func (s *restSide) call(tb testing.TB, r restReq) ([]byte, bool) {
	req, err := http.NewRequest(r.method, s.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s %s: %v", s.name, r.method, r.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s %s %s: %d %v %.300s", s.name, r.method, r.path, resp.StatusCode, err, body)
	}
	return body, resp.Uncompressed
}

// benchQuery is one row of the comparison: variants rotate with the call's index.
type benchQuery struct {
	name, metric string
	variants     int
	req          func(i int) restReq
	// check reduces an answer to what both sides must agree on.
	check func(tb testing.TB, body []byte) string
}

func backstageQueries(refs []string) []benchQuery {
	var teams, names []string
	for _, r := range refs {
		if strings.HasPrefix(r, "group:default/team-") {
			teams = append(teams, r)
		}
	}
	// by-name and by-refs draw from a fixed sequence, the same for both sides.
	rng := rand.New(rand.NewPCG(7, 11))
	names = make([]string, 512)
	for i := range names {
		names[i] = refs[rng.IntN(len(refs))]
	}
	refSets := make([][]string, 32)
	for i := range refSets {
		for range 100 {
			refSets[i] = append(refSets[i], refs[rng.IntN(len(refs))])
		}
	}
	pageFilters := []string{
		"kind=component,spec.type=service,spec.lifecycle=production",
		"kind=component,metadata.tags=java",
		"relations.ownedBy=" + teams[3%len(teams)],
		"kind=component",
		"kind=api,spec.type=openapi",
	}
	orSets := [][2]string{
		{"kind=api,spec.type=grpc", "kind=resource,spec.type=database"},
		{"kind=component,spec.lifecycle=experimental", "kind=api,spec.lifecycle=deprecated"},
	}
	terms := []string{"payment", "gate", "fraud", "ledger-api", "team-001", "alan", "search-web", "invoice"}
	get := func(path string) restReq { return restReq{method: http.MethodGet, path: path} }
	filterQS := func(fs ...string) string {
		var p []string
		for _, f := range fs {
			p = append(p, "filter="+url.QueryEscape(f))
		}
		return strings.Join(p, "&")
	}
	return []benchQuery{
		{name: "filtered page of 100 with its total", metric: "page", variants: len(pageFilters),
			req: func(i int) restReq {
				return get("/entities/by-query?limit=100&" + filterQS(pageFilters[i%len(pageFilters)]))
			}, check: checkPage(false)},
		{name: "the same ordered by metadata.name", metric: "page-by-name", variants: len(pageFilters),
			req: func(i int) restReq {
				return get("/entities/by-query?limit=100&orderField=metadata.name,asc&" + filterQS(pageFilters[i%len(pageFilters)]))
			}, check: checkPage(true)},
		{name: "two OR-ed filter sets, page of 100", metric: "or", variants: len(orSets),
			req: func(i int) restReq {
				s := orSets[i%len(orSets)]
				return get("/entities/by-query?limit=100&" + filterQS(s[0], s[1]))
			}, check: checkPage(false)},
		{name: "four facets", metric: "facets", variants: 2,
			req: func(i int) restReq {
				p := "/entity-facets?facet=kind&facet=spec.type&facet=spec.lifecycle&facet=metadata.tags"
				if i%2 == 1 {
					p += "&filter=kind=component"
				}
				return get(p)
			}, check: checkFacets},
		{name: "filtered total (limit=0)", metric: "total", variants: len(pageFilters),
			req: func(i int) restReq {
				return get("/entities/by-query?limit=0&" + filterQS(pageFilters[i%len(pageFilters)]))
			}, check: checkTotal},
		{name: "by-name", metric: "by-name", variants: 8,
			req: func(i int) restReq {
				kind, rest, _ := strings.Cut(names[i%len(names)], ":")
				ns, name, _ := strings.Cut(rest, "/")
				return get("/entities/by-name/" + kind + "/" + ns + "/" + name)
			}, check: checkByName},
		{name: "full text (metadata.name), page of 100", metric: "fulltext", variants: len(terms),
			req: func(i int) restReq {
				return get("/entities/by-query?limit=100&fullTextFilterFields=metadata.name&fullTextFilterTerm=" + url.QueryEscape(terms[i%len(terms)]))
			}, check: checkPage(false)},
		{name: "by-refs of 100", metric: "by-refs", variants: 4,
			req: func(i int) restReq {
				body, _ := json.Marshal(map[string]any{"entityRefs": refSets[i%len(refSets)]})
				return restReq{method: http.MethodPost, path: "/entities/by-refs", body: body}
			}, check: checkByRefs},
	}
}

type restEntity struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (e restEntity) ref() string {
	return strings.ToLower(e.Kind + ":" + e.Metadata.Namespace + "/" + e.Metadata.Name)
}

func decode(tb testing.TB, body []byte, v any) {
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("decode %.200s: %v", body, err)
	}
}

// checkPage: the total and the page's size; with ordered, the page's names in order (names
// and not refs: two kinds may share a name, and ties need not break alike).
func checkPage(ordered bool) func(testing.TB, []byte) string {
	return func(tb testing.TB, body []byte) string {
		var page struct {
			Items      []restEntity `json:"items"`
			TotalItems int          `json:"totalItems"`
		}
		decode(tb, body, &page)
		s := fmt.Sprintf("totalItems=%d items=%d", page.TotalItems, len(page.Items))
		if ordered {
			var names []string
			for _, it := range page.Items {
				names = append(names, it.Metadata.Name)
			}
			s += " names=" + strings.Join(names, ",")
		}
		return s
	}
}

func checkTotal(tb testing.TB, body []byte) string {
	var page struct {
		TotalItems int `json:"totalItems"`
	}
	decode(tb, body, &page)
	return fmt.Sprintf("totalItems=%d", page.TotalItems)
}

// checkFacets: every value's count, values case-folded, Location entities left out (Backstage
// has one per registered file, of spec.type file).
func checkFacets(tb testing.TB, body []byte) string {
	var f struct {
		Facets map[string][]struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		} `json:"facets"`
	}
	decode(tb, body, &f)
	var parts []string
	for field, vals := range f.Facets {
		for _, v := range vals {
			if field == "kind" && strings.EqualFold(v.Value, "location") {
				continue
			}
			if field == "spec.type" && v.Value == "file" {
				continue // the Location entities' (no synthetic entity has this type)
			}
			parts = append(parts, fmt.Sprintf("%s=%s:%d", field, strings.ToLower(v.Value), v.Count))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func checkByName(tb testing.TB, body []byte) string {
	var e restEntity
	decode(tb, body, &e)
	return e.ref()
}

func checkByRefs(tb testing.TB, body []byte) string {
	var r struct {
		Items []*restEntity `json:"items"`
	}
	decode(tb, body, &r)
	var found []string
	for _, it := range r.Items {
		if it == nil {
			found = append(found, "null")
		} else {
			found = append(found, it.ref())
		}
	}
	return fmt.Sprintf("%d items: %s", len(r.Items), strings.Join(found, ","))
}

func readLines(tb testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// vacuumAnalyze runs VACUUM (ANALYZE) on every table of the tenant's schema, as the harness
// does on Backstage's database after its ingest.
func vacuumAnalyze(tb testing.TB, e *env, schema string) {
	ctx := context.Background()
	rows, err := e.db.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1`, schema)
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range tables {
		if _, err := e.db.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{schema, t}.Sanitize()); err != nil {
			tb.Fatalf("vacuum %s.%s: %v", schema, t, err)
		}
	}
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuSample is CPU time used: this process (client, gateway and Atrium's services), Backstage's
// node process, and the Postgres backends serving each side's database.
type cpuSample struct {
	self, backstage, backstageDB, atriumDB time.Duration
	// backends is each backend's CPU at the sample, by database, to difference the next one.
	backends map[int]time.Duration
}

func (c *cpuSample) add(d cpuSample) {
	c.self += d.self
	c.backstage += d.backstage
	c.backstageDB += d.backstageDB
	c.atriumDB += d.atriumDB
}

// since is the CPU used between before and c. A backend that started in between counts whole.
func (c cpuSample) since(before cpuSample) cpuSample {
	return cpuSample{self: c.self - before.self, backstage: c.backstage - before.backstage,
		backstageDB: c.backstageDB - before.backstageDB, atriumDB: c.atriumDB - before.atriumDB}
}

// cpuMeter reads the CPU times. The backend lists come from pg_stat_activity over a connection
// to the postgres database (so the meter's own queries count on neither side); a backend's
// CPU is read from /proc, which works because Postgres runs on this machine.
type cpuMeter struct {
	conn         *pgx.Conn
	backstagePID int
	bsDB, atDB   string
	last         map[int]time.Duration // every backend's CPU at the previous sample
	lastDB       map[int]string
	totals       [2]time.Duration // cumulated backend CPU, per side
}

func newCPUMeter(tb testing.TB, e *env, backstagePID, backstageDB string) *cpuMeter {
	m := &cpuMeter{bsDB: backstageDB, last: map[int]time.Duration{}, lastDB: map[int]string{}}
	if m.bsDB == "" {
		m.bsDB = "bench_backstage_catalog"
	}
	m.backstagePID, _ = strconv.Atoi(backstagePID)
	if m.backstagePID == 0 {
		tb.Log("ATRIUM_BENCH_BACKSTAGE_PID not set: no CPU per call")
		return m
	}
	cfg := e.db.Config().ConnConfig.Copy()
	m.atDB = cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	m.conn = conn
	m.sample(tb)
	return m
}

func (m *cpuMeter) ok() bool { return m.conn != nil }

func (m *cpuMeter) close() {
	if m.conn != nil {
		m.conn.Close(context.Background())
	}
}

func (m *cpuMeter) sample(tb testing.TB) cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.conn == nil {
		return s
	}
	s.backstage = procCPU(m.backstagePID)
	rows, err := m.conn.Query(context.Background(), `SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1)`, []string{m.bsDB, m.atDB})
	if err != nil {
		tb.Fatal(err)
	}
	now, nowDB := map[int]time.Duration{}, map[int]string{}
	for rows.Next() {
		var pid int
		var db string
		if err := rows.Scan(&pid, &db); err != nil {
			tb.Fatal(err)
		}
		now[pid], nowDB[pid] = procCPU(pid), db
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	for pid, c := range now {
		d := c - m.last[pid]
		if nowDB[pid] == m.bsDB {
			m.totals[0] += d
		} else {
			m.totals[1] += d
		}
	}
	m.last, m.lastDB = now, nowDB
	s.backstageDB, s.atriumDB = m.totals[0], m.totals[1]
	return s
}

// procCPU is a process's user and system CPU time from /proc/<pid>/stat (0 if it is gone).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// Fields after the command: state is 3rd of the file, utime the 14th, stime the 15th.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * (time.Second / clockTicks)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

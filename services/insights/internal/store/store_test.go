package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/services/insights/internal/event"
	"atrium.dev/services/insights/internal/insightstest"
	"atrium.dev/services/insights/internal/store"
	"github.com/jackc/pgx/v5"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ev(id string, t time.Time, user string, plugin string, dim int16, key string) event.Event {
	e := event.Event{ID: id, Source: event.SourceTrack, Time: t, User: user, Kind: event.KindUser, Plugin: plugin, Action: "navigate", Dim: dim, DimKey: key}
	if user == "" {
		e.Kind = event.KindAnonymous
	}
	return e
}

var unlimited = store.Limits{MonthlyEvents: -1, RetentionDays: 90}

func TestIngestCountsEachEventOnce(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	ctx := acme.Ctx()
	batch := []event.Event{
		ev("a", now, "u1", "catalog", event.DimEntity, "component:default/a"),
		ev("b", now, "u2", "catalog", event.DimEntity, "component:default/a"),
		ev("b", now, "u2", "catalog", event.DimEntity, "component:default/a"), // same batch twice
		ev("c", now.Add(-24*time.Hour), "u1", "search", event.DimSearch, "kafka"),
	}
	res, err := env.Store.Ingest(ctx, batch, unlimited, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.New != 3 || res.Counted != 3 {
		t.Fatalf("first delivery: %+v, want 3 new", res)
	}
	// Redelivery of the whole batch (a worker died before XACK): nothing new.
	res, err = env.Store.Ingest(ctx, batch, unlimited, now)
	if err != nil || res.New != 0 {
		t.Fatalf("redelivery: %+v %v, want 0 new", res, err)
	}
	top, err := env.Store.Top(ctx, event.DimEntity, now.AddDate(0, 0, -30), now.Add(time.Hour), 10, false)
	if err != nil || len(top) != 1 || top[0].Count != 2 {
		t.Fatalf("top entities = %+v %v, want component:default/a x2", top, err)
	}
	au, err := env.Store.ActiveUsersQuery(ctx, now.AddDate(0, 0, -6), now.Add(time.Hour), store.ByDay, false)
	if err != nil {
		t.Fatal(err)
	}
	last := au.Points[len(au.Points)-1]
	if last.Active != 2 || last.WAU != 2 || au.Total != 2 || au.Points[len(au.Points)-2].Active != 1 {
		t.Fatalf("active users = %+v total %d", au.Points, au.Total)
	}
}

func TestMonthlyLimitDropsAndCounts(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	ctx := acme.Ctx()
	lim := store.Limits{MonthlyEvents: 5, RetentionDays: 90}
	var batch []event.Event
	for i := range 8 {
		batch = append(batch, ev(fmt.Sprint("e", i), now.Add(time.Duration(i)*time.Second), "u1", "catalog", 0, ""))
	}
	res, err := env.Store.Ingest(ctx, batch, lim, now)
	if err != nil || res.Counted != 5 || res.Dropped != 3 || res.MonthEvents != 5 {
		t.Fatalf("%+v %v, want 5 counted 3 dropped, 5 this month", res, err)
	}
	// A retry of the dropped ones is recognised, not counted as new drops.
	res, err = env.Store.Ingest(ctx, batch, lim, now)
	if err != nil || res.New != 0 || res.MonthEvents != 5 {
		t.Fatalf("retry %+v %v", res, err)
	}
	_, events, dropped, err := env.Store.Quota(ctx, now)
	if err != nil || events != 5 || dropped != 3 {
		t.Fatalf("quota %d/%d %v, want 5 and 3", events, dropped, err)
	}
	plugins, _, err := env.Store.PluginAdoption(ctx, now.AddDate(0, 0, -1), now.Add(time.Hour))
	if err != nil || len(plugins) != 1 || plugins[0].Calls != 5 || plugins[0].Users != 1 {
		t.Fatalf("plugins %+v %v", plugins, err)
	}
}

func TestRetentionDropsRawKeepsRollups(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	ctx := acme.Ctx()
	old := now.AddDate(0, 0, -20)
	if _, err := env.Store.Ingest(ctx, []event.Event{ev("old", old, "u1", "catalog", 0, ""), ev("new", now, "u1", "catalog", 0, "")}, unlimited, now); err != nil {
		t.Fatal(err)
	}
	dropped, err := env.Store.DropExpired(ctx, 7, now)
	if err != nil || len(dropped) != 1 || dropped[0] != "insights_events_"+old.Format("20060102") {
		t.Fatalf("dropped %v %v", dropped, err)
	}
	// Events older than retention are refused (no dedup record could protect them).
	res, err := env.Store.Ingest(ctx, []event.Event{ev("old2", old, "u1", "catalog", 0, "")}, store.Limits{MonthlyEvents: -1, RetentionDays: 7}, now)
	if err != nil || res.Expired != 1 || res.New != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	au, err := env.Store.ActiveUsersQuery(ctx, old, now.Add(time.Hour), store.ByDay, false)
	if err != nil || au.Points[0].Active != 1 {
		t.Fatalf("rollups of the dropped day are gone: %+v %v", au, err)
	}
}

func TestQueriesSeeOnlyTheirTenant(t *testing.T) {
	env := insightstest.New(t)
	acme, globex := env.Tenant(t, "acme"), env.Tenant(t, "globex")
	if _, err := env.Store.Ingest(globex.Ctx(), []event.Event{
		ev("g1", now, "gu", "catalog", event.DimEntity, "component:default/secret"),
		ev("g2", now, "gu", "search", event.DimSearch, "secret"),
	}, unlimited, now); err != nil {
		t.Fatal(err)
	}
	ctx := acme.Ctx()
	from, to := now.AddDate(0, 0, -7), now.Add(time.Hour)
	for dim := int16(1); dim <= 5; dim++ {
		if items, err := env.Store.Top(ctx, dim, from, to, 10, false); err != nil || len(items) != 0 {
			t.Errorf("dim %d: acme sees %v %v", dim, items, err)
		}
	}
	// With API tokens (the month rows) and without (the people's bit sets).
	for _, tokens := range []bool{true, false} {
		au, err := env.Store.ActiveUsersQuery(ctx, from, to, store.ByDay, tokens)
		if err != nil || au.Total != 0 {
			t.Errorf("tokens %v: acme sees active users %+v %v", tokens, au, err)
		}
	}
	if cs, err := env.Store.Retention(ctx, from, to, now); err != nil || cs[len(cs)-1].Users != 0 {
		t.Errorf("acme sees cohorts %+v %v", cs, err)
	}
}

func TestRollingWindowsAndRetention(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	ctx := acme.Ctx()
	monday := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var batch []event.Event
	// u1 active on days 0 and 10; u2 on day 3; u3 (first seen week 1) on days 7 and 14.
	for i, x := range []struct {
		u string
		d int
	}{{"u1", 0}, {"u1", 10}, {"u2", 3}, {"u3", 7}, {"u3", 14}} {
		batch = append(batch, ev(fmt.Sprint("r", i), monday.AddDate(0, 0, x.d), x.u, "catalog", 0, ""))
	}
	if _, err := env.Store.Ingest(ctx, batch, store.Limits{MonthlyEvents: -1}, now); err != nil {
		t.Fatal(err)
	}
	au, err := env.Store.ActiveUsersQuery(ctx, monday, monday.AddDate(0, 0, 15), store.ByDay, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ day, dau, wau, mau int64 }{
		{0, 1, 1, 1}, {3, 1, 2, 2}, {7, 1, 2, 3}, {10, 1, 2, 3}, {14, 1, 2, 3},
	}
	for _, tt := range tests {
		p := au.Points[tt.day]
		if p.Active != tt.dau || p.WAU != tt.wau || p.MAU != tt.mau {
			t.Errorf("day %d: %+v, want dau %d wau %d mau %d", tt.day, p, tt.dau, tt.wau, tt.mau)
		}
	}
	weeks, err := env.Store.ActiveUsersQuery(ctx, monday, monday.AddDate(0, 0, 21), store.ByWeek, false)
	if err != nil || len(weeks.Points) != 4 || weeks.Points[0].Active != 2 || weeks.Points[1].Active != 2 || weeks.Points[2].Active != 1 {
		t.Fatalf("weekly %+v %v", weeks, err)
	}
	cs, err := env.Store.Retention(ctx, monday, monday.AddDate(0, 0, 14), monday.AddDate(0, 0, 20))
	if err != nil {
		t.Fatal(err)
	}
	// Week 0: u1, u2 first seen; week 1 active: u1 (day 10). Week 1 cohort: u3, active weeks 1 and 2.
	if cs[0].Users != 2 || fmt.Sprint(cs[0].Active) != "[2 1 0]" || cs[1].Users != 1 || fmt.Sprint(cs[1].Active) != "[1 1]" {
		t.Fatalf("cohorts %+v", cs)
	}
	_ = context.Background()
}

// TestTopIsExact: the top list read from each bucket's leaders equals the full sum's, for
// skewed keys (the leaders path answers), flat ones (it falls back) and ranges from a day to
// two months, with data written through IngestMany (several tenants per transaction).
func TestTopIsExact(t *testing.T) {
	env := insightstest.New(t)
	skewed, flat := env.Tenant(t, "skewed"), env.Tenant(t, "flat")
	r := rand.New(rand.NewPCG(7, 8))
	for day := range 60 {
		var parts []store.Part
		for ti, tn := range []insightstest.Tenant{skewed, flat} {
			evs := make([]event.Event, 0, 300)
			for i := range 300 {
				k := int(200 * math.Pow(r.Float64(), 3))
				if ti == 1 {
					k = r.IntN(200)
				}
				evs = append(evs, ev(fmt.Sprintf("%d-%d", day, i), now.AddDate(0, 0, -day), fmt.Sprintf("u%d", i%9), "catalog",
					event.DimEntity, fmt.Sprintf("component:default/c%03d", k)))
			}
			id := tn.Admin
			parts = append(parts, store.Part{Tenant: &id, Events: evs, Limits: unlimited})
		}
		res, err := env.Store.IngestMany(context.Background(), insightstest.Shard, parts, now)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Counted != 300 || res[1].Counted != 300 {
			t.Fatalf("day %d: %+v", day, res)
		}
	}
	for _, tn := range []insightstest.Tenant{skewed, flat} {
		before := store.TopLeadersAnswered.Load()
		for _, days := range []int{1, 3, 10, 17, 30, 59} {
			from, to := now.AddDate(0, 0, -days+1), now.Add(time.Hour)
			all, err := env.Store.Top(tn.Ctx(), event.DimEntity, from, to, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 5, 10, 25} {
				got, err := env.Store.Top(tn.Ctx(), event.DimEntity, from, to, limit, false)
				if err != nil {
					t.Fatal(err)
				}
				want := all[:min(limit, len(all))]
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s, %d days, top %d:\n got %v\nwant %v", tn.Slug, days, limit, got, want)
				}
			}
		}
		// Both ways were taken: the skewed tenant's lists nearly all from the leaders, the
		// flat tenant's long ones by the full sum.
		n := store.TopLeadersAnswered.Load() - before
		t.Logf("%s: %d of 24 lists answered from the leaders", tn.Slug, n)
		if (tn.Slug == "skewed" && n < 20) || (tn.Slug == "flat" && n > 16) {
			t.Errorf("%s: %d of 24 lists answered from the leaders", tn.Slug, n)
		}
	}
}

// TestActiveUsersExact: DAU, rolling WAU and MAU by day, distinct users by week and by month,
// and weekly retention, against a direct count over the events sent (random users and days
// over 100 days).
func TestActiveUsersExact(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	r := rand.New(rand.NewPCG(3, 4))
	active := map[int]map[string]bool{} // day offset before now -> users
	var evs []event.Event
	for i := range 3000 {
		back := int(100 * math.Pow(r.Float64(), 2))
		user := fmt.Sprintf("u%d", int(80*math.Pow(r.Float64(), 2)))
		if active[back] == nil {
			active[back] = map[string]bool{}
		}
		active[back][user] = true
		evs = append(evs, ev(fmt.Sprint(i), now.AddDate(0, 0, -back), user, "catalog", 0, ""))
	}
	if _, err := env.Store.Ingest(acme.Ctx(), evs, store.Limits{MonthlyEvents: -1}, now); err != nil {
		t.Fatal(err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	distinct := func(from, to time.Time) int64 { // users active on a day in [from, to)
		seen := map[string]bool{}
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			for u := range active[int(today.Sub(d).Hours()/24)] {
				seen[u] = true
			}
		}
		return int64(len(seen))
	}
	from, to := today.AddDate(0, 0, -69), today.AddDate(0, 0, 1)
	au, err := env.Store.ActiveUsersQuery(acme.Ctx(), from, to, store.ByDay, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(au.Points) != 70 || au.Total != distinct(from, to) || au.MAUAtEnd != distinct(today.AddDate(0, 0, -29), to) {
		t.Fatalf("%d points, total %d (want %d), MAU at end %d", len(au.Points), au.Total, distinct(from, to), au.MAUAtEnd)
	}
	for _, p := range au.Points {
		next := p.Time.AddDate(0, 0, 1)
		if p.Active != distinct(p.Time, next) || p.WAU != distinct(p.Time.AddDate(0, 0, -6), next) || p.MAU != distinct(p.Time.AddDate(0, 0, -29), next) {
			t.Fatalf("%s: %+v, want %d/%d/%d", p.Time.Format(time.DateOnly), p, distinct(p.Time, next),
				distinct(p.Time.AddDate(0, 0, -6), next), distinct(p.Time.AddDate(0, 0, -29), next))
		}
	}
	// Weekly retention over the same events: users first seen in week N, active in week N+k.
	monday := func(t time.Time) time.Time { return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)) }
	firstWeek, weeksActive := map[string]time.Time{}, map[string]map[time.Time]bool{}
	for back := 99; back >= 0; back-- {
		w := monday(today.AddDate(0, 0, -back))
		for u := range active[back] {
			if _, ok := firstWeek[u]; !ok {
				firstWeek[u] = w
			}
			if weeksActive[u] == nil {
				weeksActive[u] = map[time.Time]bool{}
			}
			weeksActive[u][w] = true
		}
	}
	cs, err := env.Store.Retention(acme.Ctx(), from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		var users int64
		want := make([]int64, len(c.Active))
		for u, fw := range firstWeek {
			if !fw.Equal(c.Week) {
				continue
			}
			users++
			for k := range want {
				if weeksActive[u][c.Week.AddDate(0, 0, 7*k)] {
					want[k]++
				}
			}
		}
		if c.Users != users || fmt.Sprint(c.Active) != fmt.Sprint(want) {
			t.Fatalf("cohort %s: %d users %v, want %d %v", c.Week.Format(time.DateOnly), c.Users, c.Active, users, want)
		}
	}
	for _, g := range []store.Grouping{store.ByWeek, store.ByMonth} {
		au, err := env.Store.ActiveUsersQuery(acme.Ctx(), from, to, g, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range au.Points {
			bEnd := to
			if i+1 < len(au.Points) {
				bEnd = au.Points[i+1].Time
			}
			if want := distinct(maxTime(p.Time, from), bEnd); p.Active != want {
				t.Fatalf("grouping %d, bucket %s: %d active, want %d", g, p.Time.Format(time.DateOnly), p.Active, want)
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// The ingest applies the rollups the store aggregated in Go when every event of a part is new
// and within the limit, and builds them in SQL from the rows it inserted otherwise (migration
// 004): both must give the same tables. Tenant a gets a mixed batch at once (aggregated path);
// b gets a third of it first, then all of it (the second call has duplicates: SQL path for
// the rest); c gets it through IngestMany in parts, the same tenant twice in one transaction.
func TestIngestAggregatedMatchesSQLPath(t *testing.T) {
	env := insightstest.New(t)
	a, b, c := env.Tenant(t, "agga"), env.Tenant(t, "aggb"), env.Tenant(t, "aggc")
	r := rand.New(rand.NewPCG(7, 7))
	plugins := []string{"", "catalog", "search", "techdocs"}
	codes := []string{"", "ok", "not_found", "internal"}
	zero, three := 0.0, 3.0
	var batch []event.Event
	for i := range 600 {
		// 40 days back from Dec 1 2026: two months, several ISO weeks, every hour.
		ts := now.Add(-time.Duration(r.IntN(40*24*60)) * time.Minute)
		e := event.Event{ID: fmt.Sprint("m", i), Source: event.SourceTrack, Time: ts, Plugin: plugins[r.IntN(len(plugins))],
			Code: codes[r.IntN(len(codes))], Action: "navigate"}
		switch r.IntN(4) {
		case 0:
			e.Kind = event.KindAnonymous
		case 1:
			e.Kind, e.User = event.KindAPIToken, fmt.Sprint("k", r.IntN(5))
		default:
			e.Kind, e.User = event.KindUser, fmt.Sprint("u", r.IntN(12))
		}
		e.Dim = int16(r.IntN(6))
		if e.Dim > 0 {
			e.DimKey = fmt.Sprint("key", r.IntN(8))
		}
		if e.Dim == event.DimSearch {
			switch r.IntN(3) {
			case 0:
				e.Value = &zero
			case 1:
				e.Value = &three
			}
		}
		batch = append(batch, e)
	}
	if res, err := env.Store.Ingest(a.Ctx(), batch, unlimited, now); err != nil || res.New != 600 || res.Counted != 600 {
		t.Fatalf("a: %+v %v", res, err)
	}
	if _, err := env.Store.Ingest(b.Ctx(), batch[:200], unlimited, now); err != nil {
		t.Fatal(err)
	}
	if res, err := env.Store.Ingest(b.Ctx(), batch, unlimited, now); err != nil || res.New != 400 || res.Counted != 400 {
		t.Fatalf("b: %+v %v", res, err)
	}
	cid := c.Admin
	parts := []store.Part{{Tenant: &cid, Events: batch[:350], Limits: unlimited}, {Tenant: &cid, Events: batch[300:], Limits: unlimited}}
	if res, err := env.Store.IngestMany(context.Background(), insightstest.Shard, parts, now); err != nil || res[0].New+res[1].New != 600 {
		t.Fatalf("c: %+v %v", res, err)
	}
	dump := func(tn insightstest.Tenant) map[string]string {
		out := map[string]string{}
		err := env.Shards.InTx(tn.Ctx(), func(ctx context.Context, tx pgx.Tx) error {
			// People's numbers differ with the order they came in: users without them, and
			// the plugin bit sets as the user keys their bits stand for.
			for table, from := range map[string]string{
				"insights_users":       `(SELECT user_key, kind, first_seen, last_seen FROM insights_users)`,
				"insights_user_months": "insights_user_months", "insights_user_hours": "insights_user_hours",
				"insights_plugin_users": "insights_plugin_users", "insights_counts": "insights_counts", "insights_months": "insights_months",
				"insights_plugin_words": `(SELECT w.grain, w.bucket, w.plugin, u.user_key FROM insights_plugin_words w
					JOIN insights_users u ON u.num / 64 = w.word AND w.bits & (1::int8 << (u.num % 64)) <> 0)`,
			} {
				var s string
				if err := tx.QueryRow(ctx, `SELECT coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '') FROM `+from+` x`).Scan(&s); err != nil {
					return err
				}
				out[table] = s
			}
			var bits, people int64
			if err := tx.QueryRow(ctx, `SELECT (SELECT coalesce(sum(bit_count(bits::bit(64))), 0) FROM insights_plugin_words),
				(SELECT count(*) FROM insights_users WHERE kind = 1)`).Scan(&bits, &people); err != nil {
				return err
			}
			out["bit count"], out["people"] = fmt.Sprint(bits), fmt.Sprint(people)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	da, db, dc := dump(a), dump(b), dump(c)
	for table, want := range da {
		if want == "" {
			t.Errorf("%s: empty", table)
		}
		if db[table] != want {
			t.Errorf("%s differs between the aggregated and the SQL path:\n%s\n---\n%s", table, want, db[table])
		}
		if dc[table] != want {
			t.Errorf("%s differs between one part and IngestMany's parts:\n%s\n---\n%s", table, want, dc[table])
		}
	}
}

// TestPluginAdoptionAndNoResultsExact: plugin adoption (distinct people per plugin and in
// all, calls, errors) and the no-result searches' top lists equal plain SQL over the raw
// events, for ranges inside a week, over whole weeks, across months and with edge days on
// both sides; data written through IngestMany, Ingest with redeliveries (the SQL path) and a
// monthly limit that drops events; then again after the bit sets were rebuilt from the
// rollups (the migration's backfill, the archive import's rebuild).
func TestPluginAdoptionAndNoResultsExact(t *testing.T) {
	env := insightstest.New(t)
	acme := env.Tenant(t, "acme")
	r := rand.New(rand.NewPCG(11, 12))
	plugins := []string{"", "catalog", "search", "techdocs", "scaffolder"}
	codes := []string{"", "ok", "ok", "not_found", "internal"}
	zero, three := 0.0, 3.0
	mk := func(id string) event.Event {
		back := time.Duration(r.IntN(75*24*60)) * time.Minute
		e := event.Event{ID: id, Source: event.SourceTrack, Time: now.Add(-back), Plugin: plugins[r.IntN(len(plugins))],
			Code: codes[r.IntN(len(codes))], Action: "navigate"}
		switch x := r.IntN(10); {
		case x == 0:
			e.Kind = event.KindAnonymous
		case x == 1:
			e.Kind, e.User = event.KindAPIToken, fmt.Sprint("k", r.IntN(5))
		case x == 2:
			e.Kind, e.User = event.KindOperator, fmt.Sprint("o", r.IntN(3))
		default: // 150 people: several words of bits
			e.Kind, e.User = event.KindUser, fmt.Sprint("u", int(150*math.Pow(r.Float64(), 2)))
		}
		if r.IntN(2) == 0 {
			e.Dim, e.DimKey = event.DimSearch, fmt.Sprint("term", int(60*math.Pow(r.Float64(), 2)))
			switch r.IntN(3) {
			case 0:
				e.Value = &zero
			case 1:
				e.Value = &three
			}
		}
		return e
	}
	var all []event.Event
	for i := range 4000 {
		all = append(all, mk(fmt.Sprint("p", i)))
	}
	id := acme.Admin
	// Aggregated path: parts of 500 through IngestMany; SQL path: redeliveries overlapping.
	for lo := 0; lo < 3000; lo += 500 {
		res, err := env.Store.IngestMany(context.Background(), insightstest.Shard, []store.Part{{Tenant: &id, Events: all[lo : lo+500], Limits: unlimited}}, now)
		if err != nil || res[0].Counted != 500 {
			t.Fatalf("part %d: %+v %v", lo, res, err)
		}
	}
	for lo := 2800; lo < 4000; lo += 400 {
		if _, err := env.Store.Ingest(acme.Ctx(), all[lo-200:lo+400], unlimited, now); err != nil {
			t.Fatal(err)
		}
	}
	// A monthly limit reached mid-part: 20 of 60 new events counted, 40 dropped (SQL path).
	_, month, _, err := env.Store.Quota(acme.Ctx(), now)
	if err != nil {
		t.Fatal(err)
	}
	var extra []event.Event
	for i := range 60 {
		extra = append(extra, mk(fmt.Sprint("x", i)))
	}
	if res, err := env.Store.Ingest(acme.Ctx(), extra, store.Limits{MonthlyEvents: month + 20, RetentionDays: 90}, now); err != nil || res.Counted != 20 || res.Dropped != 40 {
		t.Fatalf("limit: %+v %v", res, err)
	}

	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	ranges := []struct {
		name       string
		start, end time.Time
	}{
		{"one day", day(2026, 11, 18), day(2026, 11, 19)},
		{"today", day(2026, 12, 1), day(2026, 12, 2)},
		{"inside a week", day(2026, 11, 10), day(2026, 11, 13)},
		{"one ISO week", day(2026, 11, 9), day(2026, 11, 16)},
		{"weeks, no edge days", day(2026, 10, 19), day(2026, 11, 16)},
		{"across months, edge days both sides", day(2026, 10, 28), day(2026, 11, 4)},
		{"across months, weeks and edge days", day(2026, 9, 30), day(2026, 11, 25)},
		{"everything", day(2026, 9, 1), day(2026, 12, 2)},
		{"last 30 days", day(2026, 11, 2), day(2026, 12, 2)},
	}
	type use struct{ users, calls, errors int64 }
	raw := func(start, end time.Time) (map[string]use, int64, []store.Item) {
		out := map[string]use{}
		var total int64
		var noRes []store.Item
		err := env.Shards.InTx(acme.Ctx(), func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT plugin, count(DISTINCT user_key) FILTER (WHERE kind = 1), count(*),
				count(*) FILTER (WHERE code NOT IN ('', 'ok'))
				FROM insights_events WHERE day >= $1 AND day < $2 AND NOT dropped AND plugin <> '' GROUP BY plugin`, start, end)
			if err != nil {
				return err
			}
			var (
				p string
				u use
			)
			if _, err := pgx.ForEachRow(rows, []any{&p, &u.users, &u.calls, &u.errors}, func() error { out[p] = u; return nil }); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT count(DISTINCT user_key) FROM insights_events
				WHERE day >= $1 AND day < $2 AND NOT dropped AND kind = 1`, start, end).Scan(&total); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `SELECT dim_key, count(*), count(*) FILTER (WHERE value = 0) FROM insights_events
				WHERE dim = 3 AND day >= $1 AND day < $2 AND NOT dropped GROUP BY dim_key
				HAVING count(*) FILTER (WHERE value = 0) > 0 ORDER BY 3 DESC, dim_key`, start, end)
			if err != nil {
				return err
			}
			noRes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[store.Item])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, total, noRes
	}
	check := func(when string) {
		before := store.TopLeadersAnswered.Load()
		for _, rg := range ranges {
			want, wantTotal, wantNoRes := raw(rg.start, rg.end)
			got, total, err := env.Store.PluginAdoption(acme.Ctx(), rg.start, rg.end)
			if err != nil {
				t.Fatal(err)
			}
			if total != wantTotal || len(got) != len(want) {
				t.Errorf("%s, %s: %d people, %+v; want %d, %+v", when, rg.name, total, got, wantTotal, want)
			}
			for _, p := range got {
				if w := want[p.Plugin]; (use{p.Users, p.Calls, p.Errors}) != w {
					t.Errorf("%s, %s: %+v, want %+v", when, rg.name, p, w)
				}
			}
			if wantTotal == 0 {
				t.Errorf("%s: nobody in the range", rg.name)
			}
			for _, limit := range []int{0, 1, 3, 10, 100} {
				items, err := env.Store.Top(acme.Ctx(), event.DimSearch, rg.start, rg.end, limit, true)
				if err != nil {
					t.Fatal(err)
				}
				w := wantNoRes
				if limit > 0 {
					w = w[:min(limit, len(w))]
				}
				if fmt.Sprint(items) != fmt.Sprint(w) {
					t.Errorf("%s, %s, no-result top %d:\n got %v\nwant %v", when, rg.name, limit, items, w)
				}
			}
		}
		if n := store.TopLeadersAnswered.Load() - before; n < 10 {
			t.Errorf("%s: %d no-result lists answered from the leaders", when, n)
		}
	}
	check("as ingested")
	// People are numbered densely: one number each, no gaps.
	var people, maxNum, distinct int64
	err = env.Shards.InTx(acme.Ctx(), func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*), coalesce(max(num), 0), count(DISTINCT num) FROM insights_users WHERE kind = 1`).Scan(&people, &maxNum, &distinct)
	})
	if err != nil || people < 100 || maxNum != people || distinct != people {
		t.Fatalf("people %d, max number %d, distinct numbers %d (%v)", people, maxNum, distinct, err)
	}
	err = env.Shards.InTx(acme.Ctx(), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE insights_users SET num = NULL; DELETE FROM insights_plugin_words; SELECT insights_rebuild_plugin_words()`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
}

// PrepareDays makes the raw partitions of days to come in each tenant's own schema, once,
// passing over a deleted tenant; a fresh store (a restarted process) finds them without DDL.
func TestPrepareDays(t *testing.T) {
	env := insightstest.New(t)
	acme, globex, gone := env.Tenant(t, "acme"), env.Tenant(t, "globex"), env.Tenant(t, "gone")
	if err := env.Shards.DropTenant(context.Background(), insightstest.Shard, gone.Schema); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tomorrow, later := now.AddDate(0, 0, 1), now.AddDate(0, 0, 2)
	ids := []*authn.Identity{&acme.Admin, &gone.Admin, &globex.Admin}
	pool, err := env.Shards.Pool(insightstest.Shard)
	if err != nil {
		t.Fatal(err)
	}
	partitions := func(tn insightstest.Tenant) []string {
		t.Helper()
		var names []string
		if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(c.relname ORDER BY c.relname), '{}') FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
			JOIN pg_namespace n ON n.oid = p.relnamespace WHERE p.relname = 'insights_events' AND n.nspname = $1`, tn.Schema).Scan(&names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	want := []string{"insights_events_" + tomorrow.Format("20060102"), "insights_events_" + later.Format("20060102")}
	for _, step := range []struct {
		name    string
		st      *store.Store
		created int
	}{
		{"first", env.Store, 2},
		{"again, same process", env.Store, 0},
		{"again, new process", store.New(env.Shards), 0},
	} {
		n, err := step.st.PrepareDays(ctx, insightstest.Shard, ids, []time.Time{tomorrow, later}, now)
		if err != nil || n != step.created {
			t.Fatalf("%s: %d tenants needed partitions (%v), want %d", step.name, n, err, step.created)
		}
		for _, tn := range []insightstest.Tenant{acme, globex} {
			if got := partitions(tn); !slices.Equal(got, want) {
				t.Fatalf("%s: %s has partitions %v, want %v", step.name, tn.Slug, got, want)
			}
		}
	}
	if _, err := env.Store.PrepareDays(ctx, insightstest.Shard, []*authn.Identity{{TenantID: "x"}}, []time.Time{now}, now); err == nil {
		t.Fatal("an identity without schema was accepted")
	}
}

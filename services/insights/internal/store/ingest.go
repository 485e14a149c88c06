package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/insights/internal/event"
	"github.com/jackc/pgx/v5"
)

// Result of one tenant's batch.
type Result struct {
	// New events (not seen before); Counted of them went into the rollups, Dropped were over
	// the monthly limit; Expired were older than the raw retention and were not written.
	New, Counted, Dropped, Expired int
	// MonthEvents is the tenant's count of this month's events after the batch (what the
	// monthly limit compares); -1 when the batch wrote nothing and so did not read it.
	MonthEvents int64
}

// Limits of a tenant's ingestion: monthly events (-1 unlimited) and raw retention in days
// (<= 0: keep everything).
type Limits struct {
	MonthlyEvents int64
	RetentionDays int
}

// ingestSQL writes one tenant's part of a batch: raw events deduplicated on their id and
// every rollup, in one call of the caller's transaction (the tenant schema's
// insights_ingest_agg function, migration 004), so the dedup record and the effect commit
// together or not at all. $16 is the monthly limit (-1: none), $17 this month, $18 on the
// rollups' rows aggregated over the part (aggs): applied when every event was new and within
// the limit, else the function builds the rollups from the rows it actually inserted. New
// events beyond what the limit still allows stay in raw (a retry is still recognised), flagged
// dropped, and count nowhere. It returns the month's count before the part, how many events
// were new and how many of them were counted, and the dropped ones.
const ingestSQL = `SELECT o_month_events, o_new, o_counted, o_dropped_ids FROM insights_ingest_agg($1, $2, $3, $4,
	$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
	$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34,
	$35, $36, $37, $38, $39, $40)`

// monthSQL makes this month's row and locks it: the lock serializes one tenant's batches
// (partition DDL and the monthly count would race otherwise); it returns the month's count.
const monthSQL = `INSERT INTO insights_months (month) VALUES ($1)
	ON CONFLICT (month) DO UPDATE SET month = excluded.month RETURNING events`

// rows is one tenant's batch as the ingest statement's arrays.
type rows struct {
	days, times                     []time.Time
	ids, plugins, actions, subjects []string
	codes, dimKeys                  []string
	users, attrs                    []*string
	sources, kinds, dims            []int16
	durs                            []*int32
	values                          []*float64
	newDays                         []time.Time // days whose partition this process has not seen
	expired                         int
	agg                             aggs
}

func (r *rows) len() int { return len(r.ids) }

// params of ingestSQL.
func (r *rows) params(lim Limits, month time.Time) []any {
	a := &r.agg
	return []any{r.days, r.ids, r.times, r.sources, r.users, r.kinds, r.plugins, r.actions,
		r.subjects, r.codes, r.durs, r.values, r.dims, r.dimKeys, r.attrs, lim.MonthlyEvents, month,
		a.uKeys, a.uKinds, a.uFirst, a.uLast,
		a.umMonths, a.umKeys, a.umKinds, a.umDays,
		a.uhDays, a.uhKeys, a.uhKinds, a.uhHours,
		a.puMonths, a.puPlugins, a.puKeys, a.puKinds, a.puDays,
		a.cDims, a.cGrains, a.cBuckets, a.cKeys, a.cN, a.cN2}
}

// aggs are a part's rollup rows, aggregated per key over all its events as the ingest
// function's SQL path aggregates the rows it inserted (migration 004): users (kind, first and
// last day), user months (day bits), user hours (hour bits), plugin users (day bits) and
// counters by day and ISO week (n, n2). The function applies them only when every event of
// the part was new and within the monthly limit.
type aggs struct {
	uKeys                      []string
	uKinds                     []int16
	uFirst, uLast              []time.Time
	umMonths                   []time.Time
	umKeys                     []string
	umKinds                    []int16
	umDays                     []int32
	uhDays                     []time.Time
	uhKeys                     []string
	uhKinds                    []int16
	uhHours                    []int32
	puMonths                   []time.Time
	puPlugins, puKeys          []string
	puKinds                    []int16
	puDays                     []int32
	cDims                      []int16
	cGrains                    []string
	cBuckets                   []time.Time
	cKeys                      []string
	cN, cN2                    []int64
	users, userMonths, userHrs map[aggKey]int
	pluginUsers, counts        map[aggKey]int
}

// aggKey names one rollup row (the fields its table's key has; the others zero).
type aggKey struct {
	t      time.Time
	dim    int16
	grain  string
	s1, s2 string
}

// add aggregates one event (already known to be of the part) into the rollups.
func (a *aggs) add(e *event.Event, userKey string, day time.Time) {
	if a.users == nil {
		a.users, a.userMonths, a.userHrs = map[aggKey]int{}, map[aggKey]int{}, map[aggKey]int{}
		a.pluginUsers, a.counts = map[aggKey]int{}, map[aggKey]int{}
	}
	month := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
	dayBit := int32(1) << (day.Day() - 1)
	if userKey != "" {
		if i, ok := a.users[aggKey{s1: userKey}]; ok {
			a.uKinds[i] = max(a.uKinds[i], e.Kind)
			if day.Before(a.uFirst[i]) {
				a.uFirst[i] = day
			}
			if day.After(a.uLast[i]) {
				a.uLast[i] = day
			}
		} else {
			a.users[aggKey{s1: userKey}] = len(a.uKeys)
			a.uKeys, a.uKinds = append(a.uKeys, userKey), append(a.uKinds, e.Kind)
			a.uFirst, a.uLast = append(a.uFirst, day), append(a.uLast, day)
		}
		if i, ok := a.userMonths[aggKey{t: month, s1: userKey}]; ok {
			a.umKinds[i], a.umDays[i] = max(a.umKinds[i], e.Kind), a.umDays[i]|dayBit
		} else {
			a.userMonths[aggKey{t: month, s1: userKey}] = len(a.umKeys)
			a.umMonths, a.umKeys = append(a.umMonths, month), append(a.umKeys, userKey)
			a.umKinds, a.umDays = append(a.umKinds, e.Kind), append(a.umDays, dayBit)
		}
		hourBit := int32(1) << e.Time.UTC().Hour()
		if i, ok := a.userHrs[aggKey{t: day, s1: userKey}]; ok {
			a.uhKinds[i], a.uhHours[i] = max(a.uhKinds[i], e.Kind), a.uhHours[i]|hourBit
		} else {
			a.userHrs[aggKey{t: day, s1: userKey}] = len(a.uhKeys)
			a.uhDays, a.uhKeys = append(a.uhDays, day), append(a.uhKeys, userKey)
			a.uhKinds, a.uhHours = append(a.uhKinds, e.Kind), append(a.uhHours, hourBit)
		}
		if e.Plugin != "" {
			k := aggKey{t: month, s1: e.Plugin, s2: userKey}
			if i, ok := a.pluginUsers[k]; ok {
				a.puKinds[i], a.puDays[i] = max(a.puKinds[i], e.Kind), a.puDays[i]|dayBit
			} else {
				a.pluginUsers[k] = len(a.puKeys)
				a.puMonths, a.puPlugins, a.puKeys = append(a.puMonths, month), append(a.puPlugins, e.Plugin), append(a.puKeys, userKey)
				a.puKinds, a.puDays = append(a.puKinds, e.Kind), append(a.puDays, dayBit)
			}
		}
	}
	week := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // ISO week: its Monday
	count := func(dim int16, key string, n2 int64) {
		for _, g := range [2]struct {
			grain  string
			bucket time.Time
		}{{"d", day}, {"w", week}} {
			k := aggKey{t: g.bucket, dim: dim, grain: g.grain, s1: key}
			if i, ok := a.counts[k]; ok {
				a.cN[i]++
				a.cN2[i] += n2
				continue
			}
			a.counts[k] = len(a.cKeys)
			a.cDims, a.cGrains, a.cBuckets, a.cKeys = append(a.cDims, dim), append(a.cGrains, g.grain), append(a.cBuckets, g.bucket), append(a.cKeys, key)
			a.cN, a.cN2 = append(a.cN, 1), append(a.cN2, n2)
		}
	}
	if e.Plugin != "" {
		var failed int64
		if e.Code != "" && e.Code != "ok" {
			failed = 1
		}
		count(event.DimPlugin, e.Plugin, failed)
	}
	if e.Dim > 0 {
		var none int64
		if e.Dim == event.DimSearch && e.Value != nil && *e.Value == 0 {
			none = 1
		}
		count(e.Dim, e.DimKey, none)
	}
}

// toRows filters and converts a tenant's events: events older than the raw retention are not
// written (their partition is, or is about to be, dropped, and without the raw row there is
// no dedup record to count them once by), and the same event twice in one batch (a producer
// retry landing in the same read) is kept once, since ON CONFLICT cannot touch a row twice.
func (s *Store) toRows(schema string, events []event.Event, lim Limits, now time.Time) *rows {
	r := &rows{}
	var cutoff time.Time
	if lim.RetentionDays > 0 {
		cutoff = dayUTC(now).AddDate(0, 0, -lim.RetentionDays+1)
	}
	n := len(events)
	r.days, r.ids, r.times = make([]time.Time, 0, n), make([]string, 0, n), make([]time.Time, 0, n)
	r.sources, r.users, r.kinds = make([]int16, 0, n), make([]*string, 0, n), make([]int16, 0, n)
	r.plugins, r.actions, r.subjects = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	r.codes, r.durs, r.values = make([]string, 0, n), make([]*int32, 0, n), make([]*float64, 0, n)
	r.dims, r.dimKeys, r.attrs = make([]int16, 0, n), make([]string, 0, n), make([]*string, 0, n)
	type key struct {
		day time.Time
		id  string
	}
	seen := make(map[key]struct{}, n)
	newDays := map[time.Time]bool{}
	for i := range events {
		e := &events[i]
		d := e.Day()
		if !cutoff.IsZero() && d.Before(cutoff) {
			r.expired++
			continue
		}
		k := key{d, e.ID}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		r.days, r.ids, r.times, r.sources = append(r.days, d), append(r.ids, e.ID), append(r.times, e.Time), append(r.sources, e.Source)
		uk := e.UserKey()
		if uk != "" {
			r.users = append(r.users, &uk)
		} else {
			r.users = append(r.users, nil)
		}
		r.agg.add(e, uk, d)
		r.kinds, r.plugins, r.actions = append(r.kinds, e.Kind), append(r.plugins, e.Plugin), append(r.actions, e.Action)
		r.subjects, r.codes = append(r.subjects, e.Subject), append(r.codes, e.Code)
		if e.Source == event.SourceRequest {
			v := e.Duration
			r.durs = append(r.durs, &v)
		} else {
			r.durs = append(r.durs, nil)
		}
		r.values, r.dims, r.dimKeys = append(r.values, e.Value), append(r.dims, e.Dim), append(r.dimKeys, e.DimKey)
		if e.Attrs != "" {
			a := e.Attrs
			r.attrs = append(r.attrs, &a)
		} else {
			r.attrs = append(r.attrs, nil)
		}
		if !newDays[d] && !s.knownPart(schema, d) {
			newDays[d] = true
			r.newDays = append(r.newDays, d)
		}
	}
	return r
}

// Ingest writes one tenant's batch in one transaction, as the tenant in ctx. Events of
// another tenant must not be passed. It returns what was new; on error nothing was written.
func (s *Store) Ingest(ctx context.Context, events []event.Event, lim Limits, now time.Time) (Result, error) {
	res := Result{MonthEvents: -1}
	id, ok := authn.FromContext(ctx)
	if !ok || !id.HasTenant() {
		return res, tenantdb.ErrNoTenant
	}
	r := s.toRows(id.Schema, events, lim, now)
	res.Expired = r.expired
	if r.len() == 0 {
		return res, nil
	}
	month := monthUTC(now)
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if len(r.newDays) > 0 {
			// The month row first: its lock serializes this tenant's batches, so two cannot
			// race on the partition DDL.
			var counted int64
			if err := tx.QueryRow(ctx, monthSQL, month).Scan(&counted); err != nil {
				return fmt.Errorf("store: month: %w", err)
			}
			for _, d := range r.newDays {
				if err := createPartition(ctx, tx, d); err != nil {
					return err
				}
			}
		}
		var counted, nNew, nCounted int64
		var droppedIDs []string
		if err := tx.QueryRow(ctx, ingestSQL, r.params(lim, month)...).Scan(&counted, &nNew, &nCounted, &droppedIDs); err != nil {
			return fmt.Errorf("store: ingest: %w", err)
		}
		res.New, res.Counted, res.Dropped = int(nNew), int(nCounted), len(droppedIDs)
		res.MonthEvents = counted + nCounted
		return nil
	})
	if err != nil {
		return Result{Expired: res.Expired, MonthEvents: -1}, err
	}
	s.remember(id.Schema, r.newDays)
	return res, nil
}

// Part is one tenant's share of a stream batch, for IngestMany.
type Part struct {
	Tenant *authn.Identity
	Events []event.Event
	Limits Limits
}

// IngestMany writes several tenants' batches on one shard in one transaction
// (tenantdb.InMultiTx): each tenant's statements run as that tenant, pipelined, so the
// transaction costs one commit and a few round trips however many tenants it holds. It is
// Ingest's semantics per part (dedup, rollups from what was new, the monthly limit), all
// parts committed together or none. Parts are written in tenant order, so two concurrent
// calls take the tenants' month-row locks in the same order and cannot deadlock. A tenant
// whose partition for a day this process has not seen gets it first in its own small
// transaction (DDL, once per tenant and day). results[i] is parts[i]'s.
func (s *Store) IngestMany(ctx context.Context, shard string, parts []Part, now time.Time) ([]Result, error) {
	type job struct {
		i       int
		r       *rows
		counted int64
		nNew    int64
		nCount  int64
		dIDs    []string
	}
	results := make([]Result, len(parts))
	jobs := make([]*job, 0, len(parts))
	for i, p := range parts {
		results[i] = Result{MonthEvents: -1}
		if p.Tenant == nil || !p.Tenant.HasTenant() {
			return nil, tenantdb.ErrNoTenant
		}
		r := s.toRows(p.Tenant.Schema, p.Events, p.Limits, now)
		results[i].Expired = r.expired
		if r.len() == 0 {
			continue
		}
		jobs = append(jobs, &job{i: i, r: r})
	}
	if len(jobs) == 0 {
		return results, nil
	}
	var unknown []partDays
	for _, j := range jobs {
		if len(j.r.newDays) > 0 {
			unknown = append(unknown, partDays{parts[j.i].Tenant, j.r.newDays})
		}
	}
	for lo := 0; lo < len(unknown); lo += maxTenantsPerCheck {
		missing, err := s.missingPartitions(ctx, shard, unknown[lo:min(lo+maxTenantsPerCheck, len(unknown))])
		if err != nil {
			return nil, err
		}
		for _, m := range missing {
			if err := s.ensurePartitions(authn.WithIdentity(ctx, m.tenant), m.days, now); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(jobs, func(a, b int) bool { return parts[jobs[a].i].Tenant.TenantID < parts[jobs[b].i].Tenant.TenantID })
	month := monthUTC(now)
	err := s.shards.InMultiTx(ctx, shard, func(ctx context.Context, mt *tenantdb.MultiTx) error {
		for _, j := range jobs {
			p := &parts[j.i]
			if err := mt.Enter(p.Tenant); err != nil {
				return err
			}
			q, err := mt.Queue(ctx, ingestSQL, j.r.params(p.Limits, month)...)
			if err != nil {
				return err
			}
			q.QueryRow(func(row pgx.Row) error { return row.Scan(&j.counted, &j.nNew, &j.nCount, &j.dIDs) })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		results[j.i] = Result{New: int(j.nNew), Counted: int(j.nCount), Dropped: len(j.dIDs), Expired: j.r.expired,
			MonthEvents: j.counted + j.nCount}
	}
	return results, nil
}

// partDays are a tenant's days whose raw partitions this process has not seen yet.
type partDays struct {
	tenant *authn.Identity
	days   []time.Time
}

// existingDaysSQL keeps the days whose partition of insights_events exists in the current
// (tenant's) schema: to_regclass resolves the unqualified name on the search path.
const existingDaysSQL = `SELECT coalesce(array_agg(d), '{}') FROM unnest($1::date[]) AS d
	WHERE to_regclass('insights_events_' || to_char(d, 'YYYYMMDD')) IS NOT NULL`

// missingPartitions asks, for every tenant at once, which of its days lack their partition,
// and remembers the others. A process meets every tenant's partition of the day for the first
// time after a restart: a thousand tenants would otherwise cost a thousand small DDL
// transactions, one after the other, before their first events could be written.
func (s *Store) missingPartitions(ctx context.Context, shard string, unknown []partDays) ([]partDays, error) {
	found := make([][]time.Time, len(unknown))
	err := s.shards.InMultiTx(ctx, shard, func(ctx context.Context, mt *tenantdb.MultiTx) error {
		for i, u := range unknown {
			if err := mt.Enter(u.tenant); err != nil {
				return err
			}
			q, err := mt.Queue(ctx, existingDaysSQL, u.days)
			if err != nil {
				return err
			}
			q.QueryRow(func(row pgx.Row) error { return row.Scan(&found[i]) })
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: partitions: %w", err)
	}
	var missing []partDays
	for i, u := range unknown {
		s.remember(u.tenant.Schema, found[i])
		if len(found[i]) < len(u.days) {
			var days []time.Time
			for _, d := range u.days {
				if !slices.ContainsFunc(found[i], d.Equal) {
					days = append(days, d)
				}
			}
			missing = append(missing, partDays{u.tenant, days})
		}
	}
	return missing, nil
}

// maxTenantsPerCheck bounds the tenants of one missingPartitions transaction (a few
// catalog lookups each; the bound keeps one transaction's statements and reply small).
const maxTenantsPerCheck = 256

// PrepareDays makes sure the tenants' raw partitions of the days exist, creating the missing
// ones, each tenant's in a small transaction of its own; it returns how many tenants needed
// one. The pipeline calls it ahead of time (tomorrow's partitions during today): a tenant's
// first event of a day would otherwise wait for that DDL in the writer, and at midnight every
// active tenant's would, one after the other. Tenants must be on shard.
func (s *Store) PrepareDays(ctx context.Context, shard string, tenants []*authn.Identity, days []time.Time, now time.Time) (int, error) {
	var unknown []partDays
	for _, id := range tenants {
		if id == nil || !id.HasTenant() {
			return 0, tenantdb.ErrNoTenant
		}
		var ds []time.Time
		for _, d := range days {
			if d = dayUTC(d); !s.knownPart(id.Schema, d) {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			unknown = append(unknown, partDays{id, ds})
		}
	}
	gone := func(err error) bool { return IsTenantGone(err) || IsMissingTables(err) }
	created := 0
	for lo := 0; lo < len(unknown); lo += maxTenantsPerCheck {
		chunk := unknown[lo:min(lo+maxTenantsPerCheck, len(unknown))]
		missing, err := s.missingPartitions(ctx, shard, chunk)
		if err != nil && gone(err) {
			// One deleted tenant fails the whole check: ask tenant by tenant, passing over it.
			missing = nil
			for _, u := range chunk {
				m, err := s.missingPartitions(ctx, shard, []partDays{u})
				if err != nil && !gone(err) {
					return created, err
				}
				missing = append(missing, m...)
			}
		} else if err != nil {
			return created, err
		}
		for _, m := range missing {
			if err := s.ensurePartitions(authn.WithIdentity(ctx, m.tenant), m.days, now); err != nil && !gone(err) {
				return created, err
			}
			created++
		}
	}
	return created, nil
}

// ensurePartitions creates the tenant's day partitions, under its month-row lock.
func (s *Store) ensurePartitions(ctx context.Context, days []time.Time, now time.Time) error {
	id, _ := authn.FromContext(ctx)
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var counted int64
		if err := tx.QueryRow(ctx, monthSQL, monthUTC(now)).Scan(&counted); err != nil {
			return fmt.Errorf("store: month: %w", err)
		}
		for _, d := range days {
			if err := createPartition(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.remember(id.Schema, days)
	}
	return err
}

// remember records partitions known to exist (after their commit).
func (s *Store) remember(schema string, days []time.Time) {
	s.mu.Lock()
	for _, d := range days {
		s.parts[schema+"/"+d.Format("20060102")] = true
	}
	s.mu.Unlock()
}

func (s *Store) knownPart(schema string, d time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[schema+"/"+d.Format("20060102")]
}

// partitionName is a day's partition of insights_events.
func partitionName(d time.Time) string { return "insights_events_" + d.Format("20060102") }

func createPartition(ctx context.Context, tx pgx.Tx, d time.Time) error {
	name := pgx.Identifier{partitionName(d)}.Sanitize()
	// Unqualified: search_path is the tenant schema (tenantdb), so is the partition.
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF insights_events FOR VALUES FROM ('%s') TO ('%s')`,
		name, d.Format(time.DateOnly), d.AddDate(0, 0, 1).Format(time.DateOnly)))
	if err != nil {
		return fmt.Errorf("store: partition %s: %w", partitionName(d), err)
	}
	return nil
}

// DropExpired drops the tenant's raw partitions of days before now - days + 1; rollups stay.
// It returns the partitions dropped.
func (s *Store) DropExpired(ctx context.Context, days int, now time.Time) ([]string, error) {
	if days <= 0 {
		return nil, nil
	}
	id, _ := authn.FromContext(ctx)
	cutoff := dayUTC(now).AddDate(0, 0, -days+1)
	var dropped []string
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
			JOIN pg_namespace n ON n.oid = p.relnamespace
			WHERE p.relname = 'insights_events' AND n.nspname = current_schema()`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			d, err := time.Parse("20060102", name[len("insights_events_"):])
			if err != nil || !d.Before(cutoff) {
				continue
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
			dropped = append(dropped, name)
		}
		return nil
	})
	if err == nil && id != nil {
		s.mu.Lock()
		for _, name := range dropped {
			delete(s.parts, id.Schema+"/"+name[len("insights_events_"):])
		}
		s.mu.Unlock()
	}
	return dropped, err
}

package store

import (
	"context"
	"fmt"
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

// ingestSQL writes the raw events and, from the rows it actually inserted (ON CONFLICT DO
// NOTHING ... RETURNING), every rollup, in one statement: the dedup record and the effect
// commit together or not at all. $16 is the monthly limit (-1: none) and $17 this month; the
// new events beyond what the limit still allows (the limit less the month row's count, which
// the caller has locked) stay in raw, so that a retry is still recognised, and count as
// dropped.
const ingestSQL = `
WITH new AS (
    INSERT INTO insights_events (day, event_id, time, source, user_key, kind, plugin, action,
        subject, code, duration_us, value, dim, dim_key, attrs)
    SELECT * FROM unnest($1::date[], $2::text[], $3::timestamptz[], $4::int2[], $5::text[],
        $6::int2[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int4[], $12::float8[],
        $13::int2[], $14::text[], $15::jsonb[])
    ON CONFLICT DO NOTHING
    RETURNING day, event_id, time, user_key, kind, plugin, code, dim, dim_key, value
), lim AS (
    SELECT CASE WHEN $16::bigint < 0 THEN -1::bigint
                ELSE greatest($16::bigint - coalesce((SELECT events FROM insights_months WHERE month = $17), 0), 0) END AS allow
), ranked AS (
    SELECT new.*, row_number() OVER (ORDER BY time, event_id) AS rn, (lim.allow >= 0 AND row_number() OVER (ORDER BY time, event_id) > lim.allow) AS over
    FROM new, lim
), c AS (
    SELECT *, day - (extract(day FROM day)::int - 1) AS month,
           1 << (extract(day FROM day)::int - 1) AS daybit
    FROM ranked WHERE NOT over
), u AS (
    INSERT INTO insights_users (user_key, kind, first_seen, last_seen)
    SELECT user_key, max(kind), min(day), max(day) FROM c WHERE user_key IS NOT NULL GROUP BY user_key
    ON CONFLICT (user_key) DO UPDATE SET
        first_seen = least(insights_users.first_seen, excluded.first_seen),
        last_seen = greatest(insights_users.last_seen, excluded.last_seen)
    WHERE excluded.first_seen < insights_users.first_seen OR excluded.last_seen > insights_users.last_seen
), um AS (
    INSERT INTO insights_user_months (month, user_key, kind, days)
    SELECT month, user_key, max(kind), bit_or(daybit) FROM c WHERE user_key IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (month, user_key) DO UPDATE SET days = insights_user_months.days | excluded.days
    WHERE insights_user_months.days | excluded.days <> insights_user_months.days
), uh AS (
    INSERT INTO insights_user_hours (day, user_key, kind, hours)
    SELECT day, user_key, max(kind), bit_or(1 << extract(hour FROM time AT TIME ZONE 'UTC')::int)
    FROM c WHERE user_key IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (day, user_key) DO UPDATE SET hours = insights_user_hours.hours | excluded.hours
    WHERE insights_user_hours.hours | excluded.hours <> insights_user_hours.hours
), pu AS (
    INSERT INTO insights_plugin_users (month, plugin, user_key, kind, days)
    SELECT month, plugin, user_key, max(kind), bit_or(daybit) FROM c
    WHERE user_key IS NOT NULL AND plugin <> '' GROUP BY 1, 2, 3
    ON CONFLICT (month, plugin, user_key) DO UPDATE SET days = insights_plugin_users.days | excluded.days
    WHERE insights_plugin_users.days | excluded.days <> insights_plugin_users.days
), cnt AS (
    INSERT INTO insights_counts (dim, grain, bucket, key, n, n2)
    SELECT x.dim, g.grain, g.bucket, x.key, count(*), sum(x.n2) FROM (
        SELECT 1::int2 AS dim, plugin AS key, day, (code NOT IN ('', 'ok'))::int AS n2 FROM c WHERE plugin <> ''
        UNION ALL
        SELECT dim, dim_key, day, coalesce(dim = 3 AND value = 0, false)::int FROM c WHERE dim > 0
    ) x CROSS JOIN LATERAL (VALUES ('d'::"char", x.day),
                                   ('w'::"char", x.day - (extract(isodow FROM x.day)::int - 1))) g(grain, bucket)
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (dim, grain, bucket, key) DO UPDATE SET
        n = insights_counts.n + excluded.n, n2 = insights_counts.n2 + excluded.n2
), m AS (
    UPDATE insights_months SET
        events = events + (SELECT count(*) FROM c),
        dropped = dropped + (SELECT count(*) FROM new) - (SELECT count(*) FROM c)
    WHERE month = $17
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM c),
       coalesce((SELECT array_agg(event_id) FROM ranked WHERE over), '{}'),
       coalesce((SELECT array_agg(day) FROM ranked WHERE over), '{}')`

// monthSQL makes this month's row and locks it: the lock serializes one tenant's batches
// (partition DDL and the monthly count would race otherwise); it returns the month's count.
const monthSQL = `INSERT INTO insights_months (month) VALUES ($1)
	ON CONFLICT (month) DO UPDATE SET month = excluded.month RETURNING events`

// markDroppedSQL flags the raw rows of events over the monthly limit.
const markDroppedSQL = `UPDATE insights_events SET dropped = true
	WHERE (day, event_id) IN (SELECT * FROM unnest($1::date[], $2::text[]))`

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
}

func (r *rows) len() int { return len(r.ids) }

// params of ingestSQL.
func (r *rows) params(lim Limits, month time.Time) []any {
	return []any{r.days, r.ids, r.times, r.sources, r.users, r.kinds, r.plugins, r.actions,
		r.subjects, r.codes, r.durs, r.values, r.dims, r.dimKeys, r.attrs, lim.MonthlyEvents, month}
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
		if uk := e.UserKey(); uk != "" {
			r.users = append(r.users, &uk)
		} else {
			r.users = append(r.users, nil)
		}
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
		// The month row first: its lock serializes this tenant's batches.
		var counted int64
		if err := tx.QueryRow(ctx, monthSQL, month).Scan(&counted); err != nil {
			return fmt.Errorf("store: month: %w", err)
		}
		for _, d := range r.newDays {
			if err := createPartition(ctx, tx, d); err != nil {
				return err
			}
		}
		var nNew, nCounted int64
		var droppedIDs []string
		var droppedDays []time.Time
		if err := tx.QueryRow(ctx, ingestSQL, r.params(lim, month)...).Scan(&nNew, &nCounted, &droppedIDs, &droppedDays); err != nil {
			return fmt.Errorf("store: ingest: %w", err)
		}
		if len(droppedIDs) > 0 {
			if _, err := tx.Exec(ctx, markDroppedSQL, droppedDays, droppedIDs); err != nil {
				return fmt.Errorf("store: mark dropped: %w", err)
			}
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
		dDays   []time.Time
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
		if len(r.newDays) > 0 {
			if err := s.ensurePartitions(authn.WithIdentity(ctx, p.Tenant), r.newDays, now); err != nil {
				return nil, err
			}
			r.newDays = nil
		}
		jobs = append(jobs, &job{i: i, r: r})
	}
	if len(jobs) == 0 {
		return results, nil
	}
	sort.Slice(jobs, func(a, b int) bool { return parts[jobs[a].i].Tenant.TenantID < parts[jobs[b].i].Tenant.TenantID })
	month := monthUTC(now)
	err := s.shards.InMultiTx(ctx, shard, func(ctx context.Context, mt *tenantdb.MultiTx) error {
		for _, j := range jobs {
			p := &parts[j.i]
			if err := mt.Enter(p.Tenant); err != nil {
				return err
			}
			q, err := mt.Queue(ctx, monthSQL, month)
			if err != nil {
				return err
			}
			q.QueryRow(func(row pgx.Row) error { return row.Scan(&j.counted) })
			if q, err = mt.Queue(ctx, ingestSQL, j.r.params(p.Limits, month)...); err != nil {
				return err
			}
			q.QueryRow(func(row pgx.Row) error { return row.Scan(&j.nNew, &j.nCount, &j.dIDs, &j.dDays) })
		}
		if err := mt.Flush(ctx); err != nil {
			return fmt.Errorf("store: ingest: %w", err)
		}
		// Over the monthly limit: the raw rows are kept for dedup, flagged (rare: a second
		// round trip only for the tenants it concerns).
		for _, j := range jobs {
			if len(j.dIDs) == 0 {
				continue
			}
			if err := mt.Enter(parts[j.i].Tenant); err != nil {
				return err
			}
			if _, err := mt.Queue(ctx, markDroppedSQL, j.dDays, j.dIDs); err != nil {
				return err
			}
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

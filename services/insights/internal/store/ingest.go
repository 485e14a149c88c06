package store

import (
	"context"
	"fmt"
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
// commit together or not at all. $16 is how many new events the monthly limit still allows
// (-1: all); the rest stay in raw (so a retry is still recognised) and count as dropped.
const ingestSQL = `
WITH new AS (
    INSERT INTO insights_events (day, event_id, time, source, user_key, kind, plugin, action,
        subject, code, duration_us, value, dim, dim_key, attrs)
    SELECT * FROM unnest($1::date[], $2::text[], $3::timestamptz[], $4::int2[], $5::text[],
        $6::int2[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int4[], $12::float8[],
        $13::int2[], $14::text[], $15::jsonb[])
    ON CONFLICT DO NOTHING
    RETURNING day, event_id, time, user_key, kind, plugin, code, dim, dim_key, value
), ranked AS (
    SELECT *, row_number() OVER (ORDER BY time, event_id) AS rn FROM new
), c AS (
    SELECT *, day - (extract(day FROM day)::int - 1) AS month,
           1 << (extract(day FROM day)::int - 1) AS daybit
    FROM ranked WHERE $16::bigint < 0 OR rn <= $16::bigint
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
       coalesce((SELECT array_agg(event_id) FROM ranked WHERE NOT ($16::bigint < 0 OR rn <= $16::bigint)), '{}'),
       coalesce((SELECT array_agg(day) FROM ranked WHERE NOT ($16::bigint < 0 OR rn <= $16::bigint)), '{}')`

// Ingest writes one tenant's batch in one transaction, as the tenant in ctx. Events of
// another tenant must not be passed. It returns what was new; on error nothing was written.
func (s *Store) Ingest(ctx context.Context, events []event.Event, lim Limits, now time.Time) (Result, error) {
	res := Result{MonthEvents: -1}
	id, ok := authn.FromContext(ctx)
	if !ok || !id.HasTenant() {
		return res, tenantdb.ErrNoTenant
	}
	// Events older than the raw retention are not written: their partition is (or is about
	// to be) dropped, and without the raw row there is no dedup record to count them once by.
	if lim.RetentionDays > 0 {
		cutoff := dayUTC(now).AddDate(0, 0, -lim.RetentionDays+1)
		kept := events[:0:0]
		for _, e := range events {
			if e.Day().Before(cutoff) {
				res.Expired++
				continue
			}
			kept = append(kept, e)
		}
		events = kept
	}
	if len(events) == 0 {
		return res, nil
	}
	// The same event twice in one batch (a producer retry landing in the same read) would make
	// ON CONFLICT touch one row twice; keep the first.
	seen := make(map[string]struct{}, len(events))
	n := len(events)
	var (
		days     = make([]time.Time, 0, n)
		ids      = make([]string, 0, n)
		times    = make([]time.Time, 0, n)
		sources  = make([]int16, 0, n)
		users    = make([]*string, 0, n)
		kinds    = make([]int16, 0, n)
		plugins  = make([]string, 0, n)
		actions  = make([]string, 0, n)
		subjects = make([]string, 0, n)
		codes    = make([]string, 0, n)
		durs     = make([]*int32, 0, n)
		values   = make([]*float64, 0, n)
		dims     = make([]int16, 0, n)
		dimKeys  = make([]string, 0, n)
		attrs    = make([]*string, 0, n)
	)
	newDays := map[time.Time]bool{}
	for i := range events {
		e := &events[i]
		k := e.Day().Format(time.DateOnly) + "/" + e.ID
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		d := e.Day()
		days, ids, times, sources = append(days, d), append(ids, e.ID), append(times, e.Time), append(sources, e.Source)
		if uk := e.UserKey(); uk != "" {
			users = append(users, &uk)
		} else {
			users = append(users, nil)
		}
		kinds, plugins, actions = append(kinds, e.Kind), append(plugins, e.Plugin), append(actions, e.Action)
		subjects, codes = append(subjects, e.Subject), append(codes, e.Code)
		if e.Source == event.SourceRequest {
			v := e.Duration
			durs = append(durs, &v)
		} else {
			durs = append(durs, nil)
		}
		values, dims, dimKeys = append(values, e.Value), append(dims, e.Dim), append(dimKeys, e.DimKey)
		if e.Attrs != "" {
			a := e.Attrs
			attrs = append(attrs, &a)
		} else {
			attrs = append(attrs, nil)
		}
		if !s.knownPart(id.Schema, d) {
			newDays[d] = true
		}
	}
	month := monthUTC(now)
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// The month row first: its lock serializes this tenant's batches (partition DDL and
		// the monthly count would race otherwise) and says how much of the limit is left.
		var counted int64
		if err := tx.QueryRow(ctx, `INSERT INTO insights_months (month) VALUES ($1)
			ON CONFLICT (month) DO UPDATE SET month = excluded.month RETURNING events`, month).Scan(&counted); err != nil {
			return fmt.Errorf("store: month: %w", err)
		}
		allow := int64(-1)
		if lim.MonthlyEvents >= 0 {
			allow = max(lim.MonthlyEvents-counted, 0)
		}
		for d := range newDays {
			if err := createPartition(ctx, tx, d); err != nil {
				return err
			}
		}
		var nNew, nCounted int64
		var droppedIDs []string
		var droppedDays []time.Time
		if err := tx.QueryRow(ctx, ingestSQL, days, ids, times, sources, users, kinds, plugins, actions,
			subjects, codes, durs, values, dims, dimKeys, attrs, allow, month).Scan(&nNew, &nCounted, &droppedIDs, &droppedDays); err != nil {
			return fmt.Errorf("store: ingest: %w", err)
		}
		if len(droppedIDs) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE insights_events SET dropped = true
				WHERE (day, event_id) IN (SELECT * FROM unnest($1::date[], $2::text[]))`, droppedDays, droppedIDs); err != nil {
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
	s.mu.Lock()
	for d := range newDays {
		s.parts[id.Schema+"/"+d.Format("20060102")] = true
	}
	s.mu.Unlock()
	return res, nil
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

-- The ingest as a function in the tenant schema. The pipeline writes a stream batch's tenants
-- in one transaction, switching role and search_path per tenant; a statement is planned again
-- whenever search_path changes, and planning the ingest statement (one insert and seven
-- upserts) cost more than running it for a few events. A PL/pgSQL function keeps its plans
-- per session, and with its own fixed search_path (set below) they stay valid whichever
-- tenant ran before: the caller's statement is a bare function call, cheap to plan.
--
-- One call does a tenant's part of a batch: it locks this month's row (which serializes the
-- tenant's batches and says how much of the monthly limit is left), inserts the raw events
-- (ON CONFLICT DO NOTHING: the dedup), updates every rollup from the rows it inserted, and
-- flags the new events beyond the limit (kept for dedup, counted nowhere). The dedup record
-- and the effect are one statement of one transaction.
CREATE FUNCTION insights_ingest(
    p_days date[], p_ids text[], p_times timestamptz[], p_sources int2[], p_users text[],
    p_kinds int2[], p_plugins text[], p_actions text[], p_subjects text[], p_codes text[],
    p_durs int4[], p_values float8[], p_dims int2[], p_dim_keys text[], p_attrs jsonb[],
    p_limit bigint, p_month date,
    OUT o_month_events bigint, OUT o_new bigint, OUT o_counted bigint,
    OUT o_dropped_ids text[], OUT o_dropped_days date[])
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_allow bigint;
BEGIN
    INSERT INTO insights_months (month) VALUES (p_month)
    ON CONFLICT (month) DO UPDATE SET month = excluded.month RETURNING events INTO o_month_events;
    v_allow := CASE WHEN p_limit < 0 THEN -1 ELSE greatest(p_limit - o_month_events, 0) END;

    WITH new AS (
        INSERT INTO insights_events (day, event_id, time, source, user_key, kind, plugin, action,
            subject, code, duration_us, value, dim, dim_key, attrs)
        SELECT * FROM unnest(p_days, p_ids, p_times, p_sources, p_users, p_kinds, p_plugins, p_actions,
            p_subjects, p_codes, p_durs, p_values, p_dims, p_dim_keys, p_attrs)
        ON CONFLICT DO NOTHING
        RETURNING day, event_id, time, user_key, kind, plugin, code, dim, dim_key, value
    ), ranked AS (
        SELECT *, row_number() OVER (ORDER BY time, event_id) AS rn FROM new
    ), c AS (
        SELECT *, day - (extract(day FROM day)::int - 1) AS month,
               1 << (extract(day FROM day)::int - 1) AS daybit
        FROM ranked WHERE v_allow < 0 OR rn <= v_allow
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
        WHERE month = p_month
    )
    SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM c),
           coalesce((SELECT array_agg(event_id) FROM ranked WHERE NOT (v_allow < 0 OR rn <= v_allow)), '{}'),
           coalesce((SELECT array_agg(day) FROM ranked WHERE NOT (v_allow < 0 OR rn <= v_allow)), '{}')
    INTO o_new, o_counted, o_dropped_ids, o_dropped_days;

    IF cardinality(o_dropped_ids) > 0 THEN
        UPDATE insights_events SET dropped = true
        WHERE (day, event_id) IN (SELECT * FROM unnest(o_dropped_days, o_dropped_ids));
    END IF;
END
$fn$;

-- Fixed to this schema (tern resets search_path between migrations; the role keeps its name,
-- so current_user is the tenant role, named as its schema), and planned once per session:
-- the arrays' sizes vary, the plan's shape does not.
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION insights_ingest(date[], text[], timestamptz[], int2[], text[], int2[], text[], text[], text[], text[], int4[], float8[], int2[], text[], jsonb[], bigint, date) SET search_path = %I', current_user);
END $$;
ALTER FUNCTION insights_ingest(date[], text[], timestamptz[], int2[], text[], int2[], text[], text[], text[], text[], int4[], float8[], int2[], text[], jsonb[], bigint, date)
    SET plan_cache_mode = force_generic_plan;

-- Plugin adoption and the range's distinct people as bit sets, and the no-result searches'
-- leaders.
--
-- Plugin adoption counted distinct users per plugin by reading every plugin-user-month row of
-- the range (160,000 at 10M events, 196 ms p50): here people (kind 1) are numbered per tenant
-- (insights_users.num, from 1, dense: a number is taken only by a key not there yet), and
-- each plugin keeps, per day and per ISO week, the bit set of the people who used it, as
-- int8 words (person num is bit num % 64 of word num / 64); plugin '' is every person active.
-- A 90-day range is the ISO weeks and edge days store.Top tiles it with (~24 buckets), so the
-- query ORs ~24 x plugins x words rows and counts bits. The upsert is an OR (commutative), in
-- the same transaction as the raw rows, on both paths of the ingest function.
ALTER TABLE insights_users ADD COLUMN num integer;
CREATE SEQUENCE insights_users_num AS integer OWNED BY insights_users.num;

CREATE TABLE insights_plugin_words (
    grain  "char"           NOT NULL, -- 'd' day, 'w' ISO week (bucket = Monday)
    bucket date             NOT NULL,
    plugin text COLLATE "C" NOT NULL, -- '': every person active
    word   integer          NOT NULL,
    bits   bigint           NOT NULL,
    PRIMARY KEY (grain, bucket, plugin, word)
);

-- Numbers for the people without one (in first-seen order) and the bit sets rebuilt from the
-- rollups (plugin-user months and user months: raw events may be gone by retention). The
-- backfill below, and a tenant archive's import (which brings the rollups, not the bits).
CREATE FUNCTION insights_rebuild_plugin_words() RETURNS void LANGUAGE sql AS $fn$
    UPDATE insights_users u SET num = x.n
    FROM (SELECT user_key, (SELECT coalesce(max(num), 0) FROM insights_users)
                           + row_number() OVER (ORDER BY first_seen, user_key) AS n
          FROM insights_users WHERE kind = 1 AND num IS NULL) x
    WHERE u.user_key = x.user_key;
    SELECT CASE WHEN m IS NULL THEN setval('insights_users_num', 1, false) ELSE setval('insights_users_num', m) END
    FROM (SELECT max(num) AS m FROM insights_users) x;
    DELETE FROM insights_plugin_words;
    INSERT INTO insights_plugin_words (grain, bucket, plugin, word, bits)
    SELECT g.grain, g.bucket, x.plugin, u.num / 64, bit_or(1::int8 << (u.num % 64))
    FROM (SELECT p.plugin, p.user_key, p.month + b AS day
          FROM insights_plugin_users p CROSS JOIN generate_series(0, 30) AS b
          WHERE p.kind = 1 AND p.days & (1 << b) <> 0
          UNION ALL
          SELECT '', m.user_key, m.month + b
          FROM insights_user_months m CROSS JOIN generate_series(0, 30) AS b
          WHERE m.kind = 1 AND m.days & (1 << b) <> 0) x
    JOIN insights_users u ON u.user_key = x.user_key
    CROSS JOIN LATERAL (VALUES ('d'::"char", x.day),
                               ('w'::"char", x.day - (extract(isodow FROM x.day)::int - 1))) g(grain, bucket)
    WHERE u.num IS NOT NULL
    GROUP BY 1, 2, 3, 4;
$fn$;
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION insights_rebuild_plugin_words() SET search_path = %I', current_user);
END $$;
SELECT insights_rebuild_plugin_words();

-- The no-result searches' leaders per bucket (store.Top with noResultsOnly reads them as it
-- reads insights_counts_rank for the counts): only rows with a no-result count.
CREATE INDEX insights_counts_rank_n2 ON insights_counts (dim, grain, bucket, n2 DESC) WHERE n2 > 0;

-- The ingest (004's signature, so a process of the previous version calls this body too):
-- as 004, and people's bits into insights_plugin_words on both paths.
CREATE OR REPLACE FUNCTION insights_ingest_agg(
    p_days date[], p_ids text[], p_times timestamptz[], p_sources int2[], p_users text[],
    p_kinds int2[], p_plugins text[], p_actions text[], p_subjects text[], p_codes text[],
    p_durs int4[], p_values float8[], p_dims int2[], p_dim_keys text[], p_attrs jsonb[],
    p_limit bigint, p_month date,
    -- insights_users: key, kind, first day, last day
    p_u_keys text[], p_u_kinds int2[], p_u_first date[], p_u_last date[],
    -- insights_user_months: month, key, kind, day bits
    p_um_months date[], p_um_keys text[], p_um_kinds int2[], p_um_days int4[],
    -- insights_user_hours: day, key, kind, hour bits
    p_uh_days date[], p_uh_keys text[], p_uh_kinds int2[], p_uh_hours int4[],
    -- insights_plugin_users: month, plugin, key, kind, day bits
    p_pu_months date[], p_pu_plugins text[], p_pu_keys text[], p_pu_kinds int2[], p_pu_days int4[],
    -- insights_counts: dim, grain ('d' or 'w'), bucket, key, n, n2
    p_c_dims int2[], p_c_grains text[], p_c_buckets date[], p_c_keys text[], p_c_n int8[], p_c_n2 int8[],
    OUT o_month_events bigint, OUT o_new bigint, OUT o_counted bigint,
    OUT o_dropped_ids text[], OUT o_dropped_days date[])
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_allow bigint;
    v_all bigint := cardinality(p_ids);
    v_new_ids text[];
    v_new_days date[];
    -- People's (day, key) and (month, plugin, key) rows the upserts changed: only they can
    -- bring bits the words do not have yet.
    v_w_days date[];
    v_w_keys text[];
    v_p_months date[];
    v_p_plugins text[];
    v_p_keys text[];
BEGIN
    -- The month row first: its lock serializes the tenant's batches and says how much of the
    -- monthly limit is left.
    INSERT INTO insights_months (month) VALUES (p_month)
    ON CONFLICT (month) DO UPDATE SET month = excluded.month RETURNING events INTO o_month_events;
    v_allow := CASE WHEN p_limit < 0 THEN -1 ELSE greatest(p_limit - o_month_events, 0) END;

    WITH new AS (
        INSERT INTO insights_events (day, event_id, time, source, user_key, kind, plugin, action,
            subject, code, duration_us, value, dim, dim_key, attrs)
        SELECT * FROM unnest(p_days, p_ids, p_times, p_sources, p_users, p_kinds, p_plugins, p_actions,
            p_subjects, p_codes, p_durs, p_values, p_dims, p_dim_keys, p_attrs)
        ON CONFLICT DO NOTHING
        RETURNING day, event_id
    )
    SELECT count(*), array_agg(event_id), array_agg(day) INTO o_new, v_new_ids, v_new_days FROM new;
    o_dropped_ids := '{}';
    o_dropped_days := '{}';

    IF o_new = v_all AND (v_allow < 0 OR v_allow >= v_all) THEN
        -- Every event new and within the limit: the caller's aggregates are exactly their effect.
        o_counted := v_all;
        IF cardinality(p_u_keys) > 0 THEN
            -- A new person takes the next number (evaluated only for keys not there yet, so
            -- the upsert of known users does not use up numbers).
            INSERT INTO insights_users (user_key, kind, first_seen, last_seen, num)
            SELECT k, kd, f, l, CASE WHEN kd = 1 AND NOT EXISTS (SELECT 1 FROM insights_users x WHERE x.user_key = k)
                                     THEN nextval('insights_users_num') END
            FROM unnest(p_u_keys, p_u_kinds, p_u_first, p_u_last) AS u(k, kd, f, l)
            ON CONFLICT (user_key) DO UPDATE SET
                first_seen = least(insights_users.first_seen, excluded.first_seen),
                last_seen = greatest(insights_users.last_seen, excluded.last_seen)
            WHERE excluded.first_seen < insights_users.first_seen OR excluded.last_seen > insights_users.last_seen;
            INSERT INTO insights_user_months (month, user_key, kind, days)
            SELECT * FROM unnest(p_um_months, p_um_keys, p_um_kinds, p_um_days)
            ON CONFLICT (month, user_key) DO UPDATE SET days = insights_user_months.days | excluded.days
            WHERE insights_user_months.days | excluded.days <> insights_user_months.days;
            WITH uh AS (
                INSERT INTO insights_user_hours (day, user_key, kind, hours)
                SELECT * FROM unnest(p_uh_days, p_uh_keys, p_uh_kinds, p_uh_hours)
                ON CONFLICT (day, user_key) DO UPDATE SET hours = insights_user_hours.hours | excluded.hours
                WHERE insights_user_hours.hours | excluded.hours <> insights_user_hours.hours
                RETURNING day, user_key, kind
            )
            SELECT array_agg(day), array_agg(user_key) INTO v_w_days, v_w_keys FROM uh WHERE kind = 1;
        END IF;
        IF cardinality(p_pu_keys) > 0 THEN
            WITH pu AS (
                INSERT INTO insights_plugin_users (month, plugin, user_key, kind, days)
                SELECT * FROM unnest(p_pu_months, p_pu_plugins, p_pu_keys, p_pu_kinds, p_pu_days)
                ON CONFLICT (month, plugin, user_key) DO UPDATE SET days = insights_plugin_users.days | excluded.days
                WHERE insights_plugin_users.days | excluded.days <> insights_plugin_users.days
                RETURNING month, plugin, user_key, kind
            )
            SELECT array_agg(month), array_agg(plugin), array_agg(user_key) INTO v_p_months, v_p_plugins, v_p_keys
            FROM pu WHERE kind = 1;
        END IF;
        IF cardinality(v_w_keys) > 0 OR cardinality(v_p_keys) > 0 THEN
            -- People's bits by day and ISO week, per plugin and in all (plugin ''), numbered by
            -- insights_users: the part's days of the plugin-user rows whose days changed, and
            -- the days of the user-hour rows inserted or changed. A person already counted
            -- that day (the common case) changes neither, and this statement does not run.
            INSERT INTO insights_plugin_words (grain, bucket, plugin, word, bits)
            SELECT g.grain, g.bucket, x.plugin, u.num / 64, bit_or(1::int8 << (u.num % 64))
            FROM (SELECT p.plugin, p.k, p.month + b AS day
                  FROM unnest(p_pu_months, p_pu_plugins, p_pu_keys, p_pu_days) AS p(month, plugin, k, days)
                  JOIN unnest(v_p_months, v_p_plugins, v_p_keys) AS r(month, plugin, k)
                    ON r.month = p.month AND r.plugin = p.plugin AND r.k = p.k
                  CROSS JOIN generate_series(0, 30) AS b
                  WHERE p.days & (1 << b) <> 0
                  UNION ALL
                  SELECT '', h.k, h.day FROM unnest(v_w_days, v_w_keys) AS h(day, k)) x
            JOIN insights_users u ON u.user_key = x.k
            CROSS JOIN LATERAL (VALUES ('d'::"char", x.day),
                                       ('w'::"char", x.day - (extract(isodow FROM x.day)::int - 1))) g(grain, bucket)
            WHERE u.num IS NOT NULL
            GROUP BY 1, 2, 3, 4
            ON CONFLICT (grain, bucket, plugin, word) DO UPDATE SET bits = insights_plugin_words.bits | excluded.bits
            WHERE insights_plugin_words.bits | excluded.bits <> insights_plugin_words.bits;
        END IF;
        IF cardinality(p_c_keys) > 0 THEN
            INSERT INTO insights_counts (dim, grain, bucket, key, n, n2)
            SELECT d, g::"char", b, k, n, n2 FROM unnest(p_c_dims, p_c_grains, p_c_buckets, p_c_keys, p_c_n, p_c_n2) AS x(d, g, b, k, n, n2)
            ON CONFLICT (dim, grain, bucket, key) DO UPDATE SET
                n = insights_counts.n + excluded.n, n2 = insights_counts.n2 + excluded.n2;
        END IF;
    ELSIF o_new > 0 THEN
        -- Some events were seen before, or the limit stops some: the rollups of exactly the
        -- rows inserted, the first v_allow of them by time counted, the rest flagged dropped.
        WITH new AS (
            SELECT e.* FROM unnest(p_days, p_ids, p_times, p_users, p_kinds, p_plugins, p_codes, p_dims, p_dim_keys, p_values)
                AS e(day, event_id, time, user_key, kind, plugin, code, dim, dim_key, value)
            JOIN unnest(v_new_days, v_new_ids) AS n(day, event_id) USING (day, event_id)
        ), ranked AS (
            SELECT *, row_number() OVER (ORDER BY time, event_id) AS rn FROM new
        ), c AS (
            SELECT *, day - (extract(day FROM day)::int - 1) AS month,
                   1 << (extract(day FROM day)::int - 1) AS daybit
            FROM ranked WHERE v_allow < 0 OR rn <= v_allow
        ), u AS (
            INSERT INTO insights_users (user_key, kind, first_seen, last_seen, num)
            SELECT user_key, kd, f, l, CASE WHEN kd = 1 AND NOT EXISTS (SELECT 1 FROM insights_users x WHERE x.user_key = y.user_key)
                                            THEN nextval('insights_users_num') END
            FROM (SELECT user_key, max(kind) AS kd, min(day) AS f, max(day) AS l FROM c WHERE user_key IS NOT NULL GROUP BY user_key) y
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
        )
        SELECT (SELECT count(*) FROM c),
               coalesce((SELECT array_agg(event_id) FROM ranked WHERE NOT (v_allow < 0 OR rn <= v_allow)), '{}'),
               coalesce((SELECT array_agg(day) FROM ranked WHERE NOT (v_allow < 0 OR rn <= v_allow)), '{}')
        INTO o_counted, o_dropped_ids, o_dropped_days;
        IF cardinality(o_dropped_ids) > 0 THEN
            UPDATE insights_events SET dropped = true
            WHERE (day, event_id) IN (SELECT * FROM unnest(o_dropped_days, o_dropped_ids));
        END IF;
        -- The people's bits of the rows counted (after the statement above, whose new users
        -- it could not see yet).
        INSERT INTO insights_plugin_words (grain, bucket, plugin, word, bits)
        SELECT g.grain, g.bucket, pl.plugin, u.num / 64, bit_or(1::int8 << (u.num % 64))
        FROM unnest(p_days, p_ids, p_users, p_kinds, p_plugins) AS e(day, event_id, user_key, kind, plugin)
        JOIN unnest(v_new_days, v_new_ids) AS n(day, event_id) USING (day, event_id)
        JOIN insights_users u ON u.user_key = e.user_key
        CROSS JOIN LATERAL (SELECT ''::text UNION ALL SELECT e.plugin WHERE e.plugin <> '') pl(plugin)
        CROSS JOIN LATERAL (VALUES ('d'::"char", e.day),
                                   ('w'::"char", e.day - (extract(isodow FROM e.day)::int - 1))) g(grain, bucket)
        WHERE e.kind = 1 AND u.num IS NOT NULL
          AND (e.day, e.event_id) NOT IN (SELECT * FROM unnest(o_dropped_days, o_dropped_ids))
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (grain, bucket, plugin, word) DO UPDATE SET bits = insights_plugin_words.bits | excluded.bits
        WHERE insights_plugin_words.bits | excluded.bits <> insights_plugin_words.bits;
    ELSE
        o_counted := 0;
    END IF;

    IF o_new > 0 THEN
        UPDATE insights_months SET events = events + o_counted, dropped = dropped + o_new - o_counted
        WHERE month = p_month;
    END IF;
END
$fn$;

-- As 002's: fixed to this schema, planned once per session.
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION insights_ingest_agg(date[], text[], timestamptz[], int2[], text[], int2[], text[], text[], text[], text[], int4[], float8[], int2[], text[], jsonb[], bigint, date, text[], int2[], date[], date[], date[], text[], int2[], int4[], date[], text[], int2[], int4[], date[], text[], text[], int2[], int4[], int2[], text[], date[], text[], int8[], int8[]) SET search_path = %I', current_user);
END $$;
ALTER FUNCTION insights_ingest_agg(date[], text[], timestamptz[], int2[], text[], int2[], text[], text[], text[], text[], int4[], float8[], int2[], text[], jsonb[], bigint, date, text[], int2[], date[], date[], date[], text[], int2[], int4[], date[], text[], int2[], int4[], date[], text[], text[], int2[], int4[], int2[], text[], date[], text[], int8[], int8[])
    SET plan_cache_mode = force_generic_plan;

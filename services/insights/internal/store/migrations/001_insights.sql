-- Insights' tables in a tenant schema (prefix insights_: other services share the schema).
-- Raw events are the dedup record and the replay source; the rollups are what queries read.
-- The pipeline writes both in one transaction per tenant and batch, and the rollups only
-- ever see rows the raw insert actually inserted, so a redelivered event counts once.

-- Raw events, one partition per UTC day (created on demand by the pipeline, dropped by
-- retention). The primary key is the dedup key; it must include the partition key, which is
-- fine because an event's day is fixed by its producer-assigned time.
CREATE TABLE insights_events (
    day         date             NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    time        timestamptz      NOT NULL,
    source      smallint         NOT NULL, -- 1 request, 2 track
    user_key    text COLLATE "C",          -- "u:<id>", "k:<token>", "o:<op>"; NULL anonymous
    kind        smallint         NOT NULL, -- 0 anonymous, 1 user, 2 api token, 3 operator
    plugin      text             NOT NULL,
    action      text             NOT NULL, -- procedure (requests) or action (track)
    subject     text             NOT NULL,
    code        text             NOT NULL,
    duration_us integer,
    value       double precision,
    dim         smallint         NOT NULL, -- which top list it counts in (0: none)
    dim_key     text             NOT NULL,
    attrs       jsonb,
    -- Over the plan's monthly limit: kept for dedup, not counted in any rollup.
    dropped     boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (day, event_id)
) PARTITION BY RANGE (day);

-- Every user seen; first_seen drives the retention cohorts.
CREATE TABLE insights_users (
    user_key   text COLLATE "C" PRIMARY KEY,
    kind       smallint NOT NULL,
    first_seen date     NOT NULL,
    last_seen  date     NOT NULL
);
CREATE INDEX insights_users_first_seen ON insights_users (first_seen);

-- Activity as bit masks: bit d-1 of days is day d of the month, bit h of hours is hour h.
-- One row per user and month makes a 90-day DAU/WAU/MAU a read of users x 4 rows instead of
-- users x 120, and the upsert (days = days | new) is commutative, so no read-modify-write.
CREATE TABLE insights_user_months (
    month    date             NOT NULL,
    user_key text COLLATE "C" NOT NULL,
    kind     smallint         NOT NULL,
    days     integer          NOT NULL,
    PRIMARY KEY (month, user_key)
);

CREATE TABLE insights_user_hours (
    day      date             NOT NULL,
    user_key text COLLATE "C" NOT NULL,
    kind     smallint         NOT NULL,
    hours    integer          NOT NULL,
    PRIMARY KEY (day, user_key)
);

CREATE TABLE insights_plugin_users (
    month    date             NOT NULL,
    plugin   text COLLATE "C" NOT NULL,
    user_key text COLLATE "C" NOT NULL,
    kind     smallint         NOT NULL,
    days     integer          NOT NULL,
    PRIMARY KEY (month, plugin, user_key)
);

-- Counters per dimension (1 plugin calls, 2 entity views, 3 searches, 4 template runs,
-- 5 doc views), by day ('d') and by ISO week ('w', bucket = Monday): a 90-day top list sums
-- 12 weeks and a few edge days instead of 90 days.
CREATE TABLE insights_counts (
    dim    smallint         NOT NULL,
    grain  "char"           NOT NULL,
    bucket date             NOT NULL,
    key    text COLLATE "C" NOT NULL,
    n      bigint           NOT NULL,
    n2     bigint           NOT NULL, -- plugin: errors; search: no result
    PRIMARY KEY (dim, grain, bucket, key)
);

-- Events counted and dropped per month (the plan's usage_events_per_month). The pipeline
-- locks this month's row first, which also serializes one tenant's concurrent batches.
CREATE TABLE insights_months (
    month   date   PRIMARY KEY,
    events  bigint NOT NULL DEFAULT 0,
    dropped bigint NOT NULL DEFAULT 0
);

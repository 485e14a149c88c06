-- Billing's control schema: one Stripe customer and at most one subscription per tenant, the
-- webhook ledger, billing's audit log, and metered-usage reports.

-- A tenant's customer is created once (idempotency key from the tenant id), so a tenant id
-- maps to exactly one customer and back.
CREATE TABLE billing.customers (
    tenant_id          text PRIMARY KEY,
    stripe_customer_id text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- The state billing applied, from the last read of Stripe's subscription. applied_plan and
-- applied_hold are what entitlements and tenancy were last told successfully: when they
-- differ from plan and hold, the effect is still owed and the reconciler delivers it.
CREATE TABLE billing.subscriptions (
    tenant_id              text PRIMARY KEY,
    stripe_subscription_id text NOT NULL DEFAULT '',
    stripe_status          text NOT NULL DEFAULT '',
    state                  text NOT NULL DEFAULT 'none',
    plan                   text NOT NULL DEFAULT 'free',
    seats_paid             bigint NOT NULL DEFAULT 0,
    seat_item_id           text NOT NULL DEFAULT '',
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    trial_end              timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    past_due_since         timestamptz,
    grace_ends_at          timestamptz,
    payment_state          text NOT NULL DEFAULT 'ok',
    -- Created time of the newest event applied: an older one changes nothing.
    last_event_at          timestamptz,
    hold                   boolean NOT NULL DEFAULT false,
    applied_plan           text NOT NULL DEFAULT '',
    applied_hold           boolean NOT NULL DEFAULT false,
    -- Set when the member count changed and Stripe's quantity may be behind; seats_changes
    -- counts the changes, so a sync clears only the marks it saw.
    seats_dirty_at         timestamptz,
    seats_changes          bigint NOT NULL DEFAULT 0,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_owed ON billing.subscriptions (tenant_id)
    WHERE plan <> applied_plan OR hold <> applied_hold;
CREATE INDEX subscriptions_grace ON billing.subscriptions (grace_ends_at) WHERE state = 'past_due';

-- The webhook ledger: an event id is inserted in the transaction of its effect, so a replay
-- finds it and does nothing.
CREATE TABLE billing.webhook_events (
    seq         bigserial UNIQUE,
    event_id    text PRIMARY KEY,
    type        text NOT NULL,
    tenant_id   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_events_tenant ON billing.webhook_events (tenant_id, seq);

CREATE TABLE billing.audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    tenant_id  text NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    from_value text NOT NULL DEFAULT '',
    to_value   text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON billing.audit_log (tenant_id, id);

-- One metered-usage report per (tenant, meter, day). identifier is what Stripe deduplicates
-- on, so a retry after a crash or a timeout can never bill twice.
CREATE TABLE billing.meter_reports (
    tenant_id  text NOT NULL,
    meter      text NOT NULL,
    day        date NOT NULL,
    quantity   bigint NOT NULL,
    identifier text NOT NULL UNIQUE,
    status     text NOT NULL DEFAULT 'pending',
    attempts   int NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    sent_at    timestamptz,
    PRIMARY KEY (tenant_id, meter, day)
);
CREATE INDEX meter_reports_pending ON billing.meter_reports (day) WHERE status <> 'sent';

-- Daily API request counts per tenant, from the gateway's usage stream.
CREATE TABLE billing.usage_daily (
    tenant_id text NOT NULL,
    day       date NOT NULL,
    requests  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

-- The last usage-stream entry each consumer counted, written in the transaction of the
-- counts, so an entry redelivered after a crash is not counted twice.
CREATE TABLE billing.stream_offsets (
    consumer text PRIMARY KEY,
    last_id  text NOT NULL
);

-- Fleet operations: per-shard capacity, and tenant moves between shards.

-- Placement puts at most max_tenants live tenants on a shard (0: no limit). Schema-per-tenant
-- clusters degrade past about 10k schemas (catalog size, relcache per connection), so a shard's
-- capacity is a setting, not a hope.
ALTER TABLE tenancy.shards ADD COLUMN max_tenants int NOT NULL DEFAULT 0 CHECK (max_tenants >= 0);

-- One row per move; step is where a resumed move continues. The steps run in this order:
-- capture -> provision -> copy -> catchup -> pause -> verify -> switch -> done -> dropped,
-- or end in aborted.
CREATE TABLE tenancy.tenant_moves (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenancy.tenants (id),
    from_shard  text NOT NULL REFERENCES tenancy.shards (name),
    to_shard    text NOT NULL REFERENCES tenancy.shards (name),
    step        text NOT NULL CHECK (step IN ('capture', 'provision', 'copy', 'catchup', 'pause', 'verify',
                                              'switch', 'done', 'dropped', 'aborted')),
    grace       interval NOT NULL,
    rows_total  bigint NOT NULL DEFAULT 0,
    rows_copied bigint NOT NULL DEFAULT 0,
    paused_at   timestamptz,
    pause_ms    bigint NOT NULL DEFAULT 0,
    drop_after  timestamptz,
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (from_shard <> to_shard)
);
-- A tenant has at most one move whose source copy still exists.
CREATE UNIQUE INDEX tenant_moves_open ON tenancy.tenant_moves (tenant_id) WHERE step NOT IN ('dropped', 'aborted');
CREATE INDEX tenant_moves_drop ON tenancy.tenant_moves (drop_after) WHERE step = 'done';

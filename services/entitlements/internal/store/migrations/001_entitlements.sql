-- The entitlements control schema: per tenant its plan, installed plugins (with config kept
-- across uninstalls), grants, limit overrides, reported usage and the audit log. Tenants are
-- referenced by id only: tenancy owns them, and a tenant without a row here is on the free plan.

CREATE TABLE entitlements.tenants (
    tenant_id     text PRIMARY KEY,
    plan          text NOT NULL,
    -- Set while the plan is a trial; the expiry sweep moves the tenant to free after it.
    trial_ends_at timestamptz,
    -- The plan whose trial ended last (why plugins are "trial expired"), cleared by a paid plan.
    expired_trial text,
    -- Grows with every change of the tenant's entitlements; caches keep the highest seen.
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenants_trial_ends ON entitlements.tenants (trial_ends_at) WHERE trial_ends_at IS NOT NULL;

-- One row per plugin a tenant ever installed. Uninstalling clears installed and keeps config, so
-- a reinstall restores it.
CREATE TABLE entitlements.installs (
    tenant_id      text NOT NULL REFERENCES entitlements.tenants ON DELETE CASCADE,
    plugin         text NOT NULL,
    installed      boolean NOT NULL,
    config         jsonb NOT NULL DEFAULT '{}',
    installed_at   timestamptz,
    uninstalled_at timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plugin)
);

-- A grant entitles a tenant to one plugin beyond its plan. An expired grant stays (the plugin
-- shows "trial expired") until revoked or replaced.
CREATE TABLE entitlements.grants (
    tenant_id  text NOT NULL REFERENCES entitlements.tenants ON DELETE CASCADE,
    plugin     text NOT NULL,
    expires_at timestamptz,
    reason     text NOT NULL DEFAULT '',
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plugin)
);

CREATE INDEX grants_expires ON entitlements.grants (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE entitlements.limit_overrides (
    tenant_id  text NOT NULL REFERENCES entitlements.tenants ON DELETE CASCADE,
    name       text NOT NULL,
    value      bigint NOT NULL CHECK (value >= -1),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- The last usage an enforcing service reported (CheckLimit's current), shown next to limits.
CREATE TABLE entitlements.usage (
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    used        bigint NOT NULL,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Every change, with who made it and the state before and after. Not cascaded: the audit log
-- outlives the tenant's entitlements.
CREATE TABLE entitlements.audit (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    before     jsonb,
    after      jsonb,
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_tenant ON entitlements.audit (tenant_id, id DESC);

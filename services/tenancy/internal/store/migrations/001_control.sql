-- Tenancy's control-plane tables. Every name is schema-qualified: tern resets the session
-- (search_path included) between migrations.

CREATE TABLE tenancy.shards (
    name            text PRIMARY KEY,
    dsn             text NOT NULL,
    accepts_tenants boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenancy.tenants (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9][a-z0-9]{1,39}$'),
    slug          text NOT NULL,
    display_name  text NOT NULL,
    status        text NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting', 'deleted', 'failed')),
    shard         text NOT NULL REFERENCES tenancy.shards (name),
    schema        text NOT NULL UNIQUE,
    status_reason text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    purge_at      timestamptz,
    -- While provisioning: the first owner to create, so a reconciler in another process can
    -- finish the sign-up. Cleared once the tenant is active or rolled back.
    admin_email         text,
    admin_password_hash text,
    provision_attempts  int NOT NULL DEFAULT 0,
    rolling_back        boolean NOT NULL DEFAULT false
);
-- A slug belongs to one live tenant; failed and deleted tenants free theirs for re-use.
CREATE UNIQUE INDEX tenants_live_slug ON tenancy.tenants (slug) WHERE status NOT IN ('failed', 'deleted');
CREATE INDEX tenants_page ON tenancy.tenants (created_at, id);
CREATE INDEX tenants_work ON tenancy.tenants (status, updated_at) WHERE status IN ('provisioning', 'deleting');

CREATE TABLE tenancy.users (
    id            text PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email)),
    display_name  text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE tenancy.memberships (
    tenant_id  text NOT NULL REFERENCES tenancy.tenants (id),
    user_id    text NOT NULL REFERENCES tenancy.users (id),
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_page ON tenancy.memberships (tenant_id, created_at, user_id);
CREATE INDEX memberships_user ON tenancy.memberships (user_id);

CREATE TABLE tenancy.refresh_tokens (
    id         text PRIMARY KEY,
    family_id  text NOT NULL,
    user_id    text NOT NULL REFERENCES tenancy.users (id),
    tenant_id  text NOT NULL REFERENCES tenancy.tenants (id),
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    revoked_at timestamptz,
    expires_at timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_family ON tenancy.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_member ON tenancy.refresh_tokens (tenant_id, user_id);

CREATE TABLE tenancy.api_tokens (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenancy.tenants (id),
    user_id      text NOT NULL REFERENCES tenancy.users (id),
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_member ON tenancy.api_tokens (tenant_id, user_id);

CREATE TABLE tenancy.operators (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenancy.operator_tokens (
    id          text PRIMARY KEY,
    operator_id text NOT NULL REFERENCES tenancy.operators (id),
    hash        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Append-only. tenant_id has no foreign key: the log outlives what it describes.
CREATE TABLE tenancy.audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    tenant_id  text,
    target     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON tenancy.audit_log (tenant_id, id);

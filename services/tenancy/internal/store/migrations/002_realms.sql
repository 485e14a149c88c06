-- Identity realms (issue 6). An account belongs to exactly one tenant and its email is unique
-- within that tenant only: global users let one tenant's owner create, with a password of its
-- choosing, the account another tenant's member would later log in with.
--
-- Existing data: a user with memberships in several tenants becomes one account per tenant,
-- each keeping the password hash. The tenant of its oldest membership keeps the original id
-- (so tokens and audit entries there still name it); every other tenant's account gets a new
-- id, and that tenant's memberships and tokens move to it.

ALTER TABLE tenancy.users DROP CONSTRAINT users_email_key;
ALTER TABLE tenancy.users ADD COLUMN tenant_id text REFERENCES tenancy.tenants (id);

UPDATE tenancy.users u SET tenant_id = first.tenant_id
FROM (SELECT DISTINCT ON (user_id) user_id, tenant_id FROM tenancy.memberships
      ORDER BY user_id, created_at, tenant_id) first
WHERE first.user_id = u.id;

-- New ids keep the shape of store.NewID (a digit, then 19 of [a-z0-9]).
CREATE TEMPORARY TABLE account_split ON COMMIT DROP AS
SELECT m.tenant_id, m.user_id AS old_id,
       '9' || substr(md5(random()::text || clock_timestamp()::text || m.tenant_id || m.user_id), 1, 19) AS new_id
FROM tenancy.memberships m JOIN tenancy.users u ON u.id = m.user_id
WHERE u.tenant_id <> m.tenant_id;

INSERT INTO tenancy.users (id, tenant_id, email, display_name, password_hash, created_at, updated_at)
SELECT s.new_id, s.tenant_id, u.email, u.display_name, u.password_hash, u.created_at, now()
FROM account_split s JOIN tenancy.users u ON u.id = s.old_id;

UPDATE tenancy.memberships m SET user_id = s.new_id FROM account_split s
WHERE m.tenant_id = s.tenant_id AND m.user_id = s.old_id;
UPDATE tenancy.refresh_tokens r SET user_id = s.new_id FROM account_split s
WHERE r.tenant_id = s.tenant_id AND r.user_id = s.old_id;
UPDATE tenancy.api_tokens a SET user_id = s.new_id FROM account_split s
WHERE a.tenant_id = s.tenant_id AND a.user_id = s.old_id;

-- Tokens left pointing at an account of another tenant belonged to removed members (removal
-- revoked them); users with no membership at all belong to no realm. Both go.
DELETE FROM tenancy.refresh_tokens r WHERE NOT EXISTS (
    SELECT 1 FROM tenancy.users u WHERE u.id = r.user_id AND u.tenant_id = r.tenant_id);
DELETE FROM tenancy.api_tokens a WHERE NOT EXISTS (
    SELECT 1 FROM tenancy.users u WHERE u.id = a.user_id AND u.tenant_id = a.tenant_id);
DELETE FROM tenancy.users WHERE tenant_id IS NULL;

ALTER TABLE tenancy.users ALTER COLUMN tenant_id SET NOT NULL;
-- email is stored lowercased (CHECK above), so this is case-insensitive uniqueness.
ALTER TABLE tenancy.users ADD CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email);
ALTER TABLE tenancy.users ADD CONSTRAINT users_tenant_id_key UNIQUE (tenant_id, id);

-- A membership, a token or a reset can only name an account of its own tenant.
ALTER TABLE tenancy.memberships ADD CONSTRAINT memberships_account_fkey
    FOREIGN KEY (tenant_id, user_id) REFERENCES tenancy.users (tenant_id, id);
ALTER TABLE tenancy.refresh_tokens ADD CONSTRAINT refresh_tokens_account_fkey
    FOREIGN KEY (tenant_id, user_id) REFERENCES tenancy.users (tenant_id, id);
ALTER TABLE tenancy.api_tokens ADD CONSTRAINT api_tokens_account_fkey
    FOREIGN KEY (tenant_id, user_id) REFERENCES tenancy.users (tenant_id, id);

-- Invitations: the only way into an existing tenant. The token is stored hashed; one pending
-- invitation per (tenant, email).
CREATE TABLE tenancy.invitations (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenancy.tenants (id),
    email       text NOT NULL CHECK (email = lower(email)),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    token_hash  text NOT NULL UNIQUE,
    invited_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz NOT NULL DEFAULT now(),
    send_count  int NOT NULL DEFAULT 1,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX invitations_pending ON tenancy.invitations (tenant_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_page ON tenancy.invitations (tenant_id, created_at, id);

-- One-time password reset links.
CREATE TABLE tenancy.password_resets (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL,
    user_id    text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES tenancy.users (tenant_id, id)
);
CREATE INDEX password_resets_account ON tenancy.password_resets (tenant_id, user_id);

-- Mail outbox: written in the transaction of the change that sends it, delivered by the
-- sender loop over SMTP with retries. The body (which holds one-time links) is blanked once
-- the message is sent.
CREATE TABLE tenancy.outbox (
    id              bigserial PRIMARY KEY,
    tenant_id       text,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON tenancy.outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Operator credentials get a name and an expiry, and can be revoked one by one.
ALTER TABLE tenancy.operator_tokens ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE tenancy.operator_tokens ADD COLUMN expires_at timestamptz;

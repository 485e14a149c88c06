-- A member's unrevoked API tokens have distinct names (case-insensitively), so the list and
-- the audit log tell them apart. Duplicates made before this rule keep their token and get
-- the token id appended to their name (the oldest keeps the name).
UPDATE tenancy.api_tokens t SET name = t.name || ' (' || t.id || ')'
FROM (
    SELECT id, row_number() OVER (PARTITION BY tenant_id, user_id, lower(name) ORDER BY created_at, id) AS n
    FROM tenancy.api_tokens WHERE revoked_at IS NULL
) d
WHERE d.id = t.id AND d.n > 1;

CREATE UNIQUE INDEX api_tokens_member_name ON tenancy.api_tokens (tenant_id, user_id, lower(name))
    WHERE revoked_at IS NULL;

-- The organization's audit page filters by actor and action within a tenant, newest first.
CREATE INDEX audit_log_tenant_actor ON tenancy.audit_log (tenant_id, actor, id);

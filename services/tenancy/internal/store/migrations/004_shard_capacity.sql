-- A shard takes at most 5,000 live tenants unless an operator says otherwise (tenantctl
-- shards update NAME --max-tenants N; 0 lifts the limit). Measured on one Postgres 15 at 1k
-- and 10k tenants (docs/BENCHMARKS.md, "Fleet at 1k and 10k tenants"): every tenant adds
-- about 50 relations to the system catalogs, a connection's caches grow by tens of KiB for
-- every schema it enters, and migrate --all runs one tenant at a time per shard, so 5,000
-- keeps a roll-out, a connection's memory and the catalogs well inside what one cluster
-- serves without tuning (docs/ARCHITECTURE.md, "Data"). Shards that had no limit (the only
-- value anyone got without asking) get the default too.
ALTER TABLE tenancy.shards ALTER COLUMN max_tenants SET DEFAULT 5000;
UPDATE tenancy.shards SET max_tenants = 5000 WHERE max_tenants = 0;

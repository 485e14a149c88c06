-- The catalog's tables in a tenant schema. See docs/catalog-storage.md for why each index
-- exists. Every table is prefixed catalog_: other services migrate their own tables into the
-- same schema.

-- One row. Writers lock it (SELECT ... FOR UPDATE) so a tenant's writes are serialized, which
-- keeps uids stable under concurrent applies of the same ref and makes entity_count (the
-- per-tenant limit) exact without counting 100k rows per batch.
CREATE TABLE catalog_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    entity_count bigint  NOT NULL DEFAULT 0
);
INSERT INTO catalog_state DEFAULT VALUES;

CREATE TABLE catalog_entities (
    uid        uuid        PRIMARY KEY,
    -- kind:namespace/name, lowercased: the unique key every lookup and relation uses.
    ref        text COLLATE "C" NOT NULL,
    -- Lowercased parts of ref, as columns so filters and ordering on them use indexes.
    kind       text COLLATE "C" NOT NULL,
    namespace  text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    -- The entity as applied (normalized), without uid/etag/generation/relations: those are
    -- columns or derived on read.
    body       jsonb       NOT NULL,
    etag       text        NOT NULL,
    generation bigint      NOT NULL,
    spec_hash  text        NOT NULL,
    -- Words of name, title, description and tags ('simple' config: no stemming, no stop words).
    search     tsvector    NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Pages walk these in order and need only the uid of each row until the page is complete:
-- with it included the walk is index-only (no heap visit per skipped row).
CREATE UNIQUE INDEX catalog_entities_ref ON catalog_entities (ref) INCLUDE (uid);
CREATE INDEX catalog_entities_kind_ref ON catalog_entities (kind, ref) INCLUDE (uid);
CREATE INDEX catalog_entities_name ON catalog_entities (name, uid) INCLUDE (kind);
CREATE INDEX catalog_entities_search ON catalog_entities USING gin (search);

-- Flattened (key, value) pairs of each entity, lowercased, as Backstage's search table. No
-- foreign key: it would cost a lookup per row on ingest (millions at 100k entities); the store
-- deletes an entity's rows itself.
CREATE TABLE catalog_search (
    entity_uid uuid NOT NULL,
    key        text COLLATE "C" NOT NULL,
    -- NULL for a key that exists without a usable value (objects, long values).
    value      text COLLATE "C",
    -- The value as written, only when it differs from value (facets show it).
    original   text,
    -- A string item of an array: a filter on "<key>.<value>" matches it (see the store's
    -- SearchPairs).
    item       boolean NOT NULL DEFAULT false
);
-- Filters: the entities with key = value, in uid order (counts intersect these streams).
CREATE INDEX catalog_search_key_value ON catalog_search (key, value, entity_uid) INCLUDE (item);
-- Facets and probes: one key's rows in uid order with their values, so a facet under a filter
-- is a merge join; per-entity lookups (ordering by a field, deleting an entity's rows) are
-- (key, uid) probes. With time-ordered uids both indexes take inserts near the end of each
-- key's range.
CREATE INDEX catalog_search_key_entity ON catalog_search (key, entity_uid) INCLUDE (value, original, item);

-- The edges an entity's spec states, from the entity (a component's "ownedBy" its owner), each
-- with the name of the opposite direction ("ownerOf"). Backstage shows relations both ways;
-- the reverse edge is read from the same row through the target index instead of being
-- stored twice. Only the entity's own edges have it as source, so re-applying an entity
-- replaces the rows whose source is its ref.
CREATE TABLE catalog_relations (
    source_ref text COLLATE "C" NOT NULL,
    type       text COLLATE "C" NOT NULL,
    target_ref text COLLATE "C" NOT NULL,
    inverse    text COLLATE "C" NOT NULL
);
CREATE INDEX catalog_relations_source ON catalog_relations (source_ref, type, target_ref);
CREATE INDEX catalog_relations_target ON catalog_relations (target_ref, inverse, source_ref);
-- Facets and exists-filters over reversed edges ask for all edges of one type; a few types
-- cover every row, so this index is small (btree deduplication) and cheap to extend.
CREATE INDEX catalog_relations_type ON catalog_relations (type);

CREATE TABLE catalog_audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    -- create, update or delete
    action      text        NOT NULL,
    entity_ref  text COLLATE "C" NOT NULL,
    entity_uid  uuid        NOT NULL,
    etag_before text,
    etag_after  text,
    request_id  text
);
CREATE INDEX catalog_audit_entity ON catalog_audit (entity_ref, id);

-- Filters test key and value together, and how common a value is depends on its key
-- ("service" is frequent under spec.type, absent elsewhere). Without statistics on the pair
-- the planner multiplies two independent guesses, underestimates large matches and picks hash
-- joins over whole tables where an ordered walk with index probes would stop after one page.
CREATE STATISTICS catalog_search_key_value_stats (mcv, ndistinct) ON key, value FROM catalog_search;

-- Catalog queries are short and many; on a small machine a parallel plan spends more starting
-- workers than it saves, and takes cores from concurrent requests.
ALTER TABLE catalog_entities SET (parallel_workers = 0);
ALTER TABLE catalog_search SET (parallel_workers = 0);
ALTER TABLE catalog_relations SET (parallel_workers = 0);

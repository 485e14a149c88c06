-- Locations (Backstage "url" targets the catalog fetches and keeps in sync), the tenant's
-- custom kinds, per-host integration credentials, and which Location produced each entity.
-- See docs/catalog-storage.md, "Locations".

CREATE TABLE catalog_locations (
    id          uuid PRIMARY KEY,
    type        text COLLATE "C" NOT NULL,
    target      text COLLATE "C" NOT NULL,
    -- The Location entity Backstage generates for it: location:default/generated-<sha1>.
    entity_ref  text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Outcome of the last refresh that changed something (a refresh that finds the same
    -- commit or HTTP validator writes nothing; the worker keeps its check time in memory).
    refreshed_at timestamptz,
    -- The commit (Git) or validator (HTTP ETag, else content hash) last applied.
    revision    text NOT NULL DEFAULT '',
    -- "" when the last refresh succeeded; the fetch or parse error otherwise.
    last_error  text NOT NULL DEFAULT '',
    failures    integer NOT NULL DEFAULT 0,
    -- Problems of the last refresh, one per file/document/entity: [{file, document, field,
    -- entityRef, message}].
    problems    jsonb NOT NULL DEFAULT '[]',
    entity_count integer NOT NULL DEFAULT 0,
    UNIQUE (type, target)
);

-- Kinds the tenant declares beyond Backstage's, each with an optional JSON Schema its
-- entities must satisfy (Backstage needs a code change, a processor, for the same).
CREATE TABLE catalog_custom_kinds (
    kind        text COLLATE "C" PRIMARY KEY,
    -- lowercased kind, for case-insensitive lookups
    kind_lower  text COLLATE "C" NOT NULL UNIQUE,
    api_versions text[] NOT NULL DEFAULT '{}',
    json_schema jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One token per host, sealed with AES-GCM under the operator's key (never returned).
CREATE TABLE catalog_credentials (
    host        text COLLATE "C" PRIMARY KEY,
    sealed      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-tenant refresh interval of its Locations (seconds; 0: the service default).
ALTER TABLE catalog_state ADD COLUMN refresh_interval_seconds integer NOT NULL DEFAULT 0;

-- The Location an entity came from (NULL: applied directly). A ref claimed by one Location
-- is a conflict for every other; entities a Location stops yielding are found by it.
ALTER TABLE catalog_entities ADD COLUMN location_id uuid;
CREATE INDEX catalog_entities_location ON catalog_entities (location_id, ref) WHERE location_id IS NOT NULL;

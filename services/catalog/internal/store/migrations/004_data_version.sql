-- data_version grows with every write of the catalog's entities, in the writer's transaction
-- (writers already hold this row's lock). Readers cache their results under it: a result
-- cached under the version a reader reads is as new as what the tables hold
-- (internal/readcache).
ALTER TABLE catalog_state ADD COLUMN data_version bigint NOT NULL DEFAULT 0;

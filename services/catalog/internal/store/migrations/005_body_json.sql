-- Bodies are stored as json holding exactly the text jsonb prints (writers cast through jsonb,
-- which normalizes key order, duplicates and spacing), instead of as jsonb. Every read sends
-- the body as text, and printing jsonb was about 40 % of Postgres' time for the bodies of a
-- by-refs of 100 (a fifth of the statement with its relations); json is sent as stored. No
-- query looks inside a body but the metadata.name facet's #>>, which json answers as fast
-- here (a streaming parse of a ~0.5 KB document).
ALTER TABLE catalog_entities ALTER COLUMN body TYPE json USING body::json;

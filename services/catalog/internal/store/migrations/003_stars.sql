-- Stars: the entities each member marked, for the portal's "Starred" filter and Home page.
-- Keyed by ref, not uid, so a star outlives a re-created entity (a Location refresh that
-- deletes and re-adds it); listing joins the entity to find its current uid.
CREATE TABLE catalog_stars (
    user_id    text COLLATE "C" NOT NULL,
    entity_ref text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, entity_ref)
);

package store

import (
	"context"
	"errors"
	"time"

	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
)

// Star is one entity a member starred.
type Star struct {
	Ref string
	// UID is the entity's current uid; "" while no entity has the ref.
	UID string
	At  time.Time
}

// ErrTooManyStars is returned by SetStar when the member already has the most stars allowed.
var ErrTooManyStars = errors.New("store: too many stars")

// Stars returns a member's stars, newest first.
func (s *Store) Stars(ctx context.Context, userID string) ([]Star, error) {
	var out []Star
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT st.entity_ref, coalesce(e.uid::text, ''), st.created_at
			FROM catalog_stars st LEFT JOIN catalog_entities e ON e.ref = st.entity_ref
			WHERE st.user_id = $1
			ORDER BY st.created_at DESC, st.entity_ref`, userID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Star, error) {
			var st Star
			err := r.Scan(&st.Ref, &st.UID, &st.At)
			return st, err
		})
		return err
	})
	return out, err
}

// SetStar stars (on) or unstars the entity with the canonical ref for a member. Starring
// needs an entity with the ref (NotFound otherwise) and fewer than max stars
// (ErrTooManyStars); starring a starred entity changes nothing. It returns the star, or the
// zero Star after unstarring.
func (s *Store) SetStar(ctx context.Context, userID, ref string, on bool, max int) (Star, error) {
	var out Star
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !on {
			_, err := tx.Exec(ctx, `DELETE FROM catalog_stars WHERE user_id = $1 AND entity_ref = $2`, userID, ref)
			return err
		}
		// One member's stars change one at a time, so two concurrent stars cannot both pass
		// the count.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('catalog_stars'), hashtext($1))`, userID); err != nil {
			return err
		}
		var uid string
		err := tx.QueryRow(ctx, `SELECT uid::text FROM catalog_entities WHERE ref = $1`, ref).Scan(&uid)
		if errors.Is(err, pgx.ErrNoRows) {
			return rpcerr.NotFound("no entity %s", ref)
		}
		if err != nil {
			return err
		}
		var n int
		var have bool
		if err := tx.QueryRow(ctx, `
			SELECT count(*), coalesce(bool_or(entity_ref = $2), false) FROM catalog_stars WHERE user_id = $1`,
			userID, ref).Scan(&n, &have); err != nil {
			return err
		}
		if !have && n >= max {
			return ErrTooManyStars
		}
		out = Star{Ref: ref, UID: uid}
		return tx.QueryRow(ctx, `
			INSERT INTO catalog_stars (user_id, entity_ref) VALUES ($1, $2)
			ON CONFLICT (user_id, entity_ref) DO UPDATE SET created_at = catalog_stars.created_at
			RETURNING created_at`, userID, ref).Scan(&out.At)
	})
	if err != nil {
		return Star{}, err
	}
	return out, nil
}

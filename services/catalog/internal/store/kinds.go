package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"atrium.dev/platform/rpcerr"
	"github.com/jackc/pgx/v5"
)

// CustomKind is a kind the tenant declares beyond Backstage's.
type CustomKind struct {
	Kind        string
	APIVersions []string
	// Schema is a JSON Schema (as JSON) the kind's entities must satisfy; nil: none.
	Schema    []byte
	CreatedAt time.Time
}

// CustomKinds returns the tenant's custom kinds, by kind.
func (s *Store) CustomKinds(ctx context.Context) ([]CustomKind, error) {
	var out []CustomKind
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT kind, api_versions, json_schema, created_at FROM catalog_custom_kinds ORDER BY kind`)
		if err != nil {
			return fmt.Errorf("store: custom kinds: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CustomKind, error) {
			var k CustomKind
			err := r.Scan(&k.Kind, &k.APIVersions, &k.Schema, &k.CreatedAt)
			return k, err
		})
		return err
	})
	return out, err
}

// PutCustomKind creates or replaces a custom kind.
func (s *Store) PutCustomKind(ctx context.Context, k CustomKind) error {
	var schema any
	if len(k.Schema) > 0 {
		schema = string(k.Schema)
	}
	if k.APIVersions == nil {
		k.APIVersions = []string{}
	}
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO catalog_custom_kinds (kind, kind_lower, api_versions, json_schema) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (kind_lower) DO UPDATE SET kind = EXCLUDED.kind, api_versions = EXCLUDED.api_versions, json_schema = EXCLUDED.json_schema`,
			k.Kind, strings.ToLower(k.Kind), k.APIVersions, schema)
		return err
	})
}

// DeleteCustomKind removes a custom kind (entities of it stay until re-validated).
func (s *Store) DeleteCustomKind(ctx context.Context, kind string) error {
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM catalog_custom_kinds WHERE kind_lower = $1`, strings.ToLower(kind))
		if err == nil && tag.RowsAffected() == 0 {
			return rpcerr.NotFound("no custom kind %s", kind)
		}
		return err
	})
}

// Credential is a stored integration credential without its secret.
type Credential struct {
	Host                 string
	CreatedAt, UpdatedAt time.Time
}

// PutCredential stores a sealed token for a host.
func (s *Store) PutCredential(ctx context.Context, host string, sealed []byte) error {
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO catalog_credentials (host, sealed) VALUES ($1, $2)
ON CONFLICT (host) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now()`, host, sealed)
		return err
	})
}

// SealedCredential returns the sealed token of a host (nil when none).
func (s *Store) SealedCredential(ctx context.Context, host string) ([]byte, error) {
	var sealed []byte
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT sealed FROM catalog_credentials WHERE host = $1`, host).Scan(&sealed)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return sealed, err
}

// Credentials lists the hosts that have a credential.
func (s *Store) Credentials(ctx context.Context) ([]Credential, error) {
	var out []Credential
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT host, created_at, updated_at FROM catalog_credentials ORDER BY host`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Credential, error) {
			var c Credential
			err := r.Scan(&c.Host, &c.CreatedAt, &c.UpdatedAt)
			return c, err
		})
		return err
	})
	return out, err
}

// DeleteCredential removes a host's credential.
func (s *Store) DeleteCredential(ctx context.Context, host string) error {
	return s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM catalog_credentials WHERE host = $1`, host)
		if err == nil && tag.RowsAffected() == 0 {
			return rpcerr.NotFound("no credential for host %s", host)
		}
		return err
	})
}

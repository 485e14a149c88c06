package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantarchive"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// archiveTables are the catalog's tables in a tenant archive, in export order, with the
// columns that hold ids the import gives new values (an entity's uid wherever it appears, a
// Location's id). catalog_state is one row, applied onto the row the migration made;
// credentials are sealed (never in clear) and resealed for the new tenant on import.
var archiveTables = []struct {
	name, order string
	remap       []string
}{
	{"catalog_state", "", nil},
	{"catalog_custom_kinds", "kind", nil},
	{"catalog_credentials", "host", nil},
	{"catalog_locations", "id", []string{"id"}},
	{"catalog_entities", "uid", []string{"uid", "location_id"}},
	{"catalog_relations", "source_ref, type, target_ref", nil},
	{"catalog_search", "entity_uid, key", []string{"entity_uid"}},
	{"catalog_audit", "id", []string{"entity_uid"}},
}

// ExportData emits every catalog record of the tenant in ctx's identity, from one snapshot.
func (s *Store) ExportData(ctx context.Context, emit func(string) error) error {
	return s.shards.InSnapshotTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		for _, t := range archiveTables {
			if err := tenantarchive.ExportTable(ctx, tx, t.name, pgx.Identifier{t.name}, "", t.order, nil, emit); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportOptions say how records bound to the source tenant are carried over.
type ImportOptions struct {
	// UserIDs maps the source's user ids to the new tenant's (audit actors).
	UserIDs map[string]string
	// Reseal turns a credential sealed for the source tenant into one sealed for the new
	// tenant; an error leaves the credential out, with a note.
	Reseal func(host string, sealed []byte) ([]byte, error)
}

// ImportData restores records (from next, until it returns false) into the tenant in ctx's
// identity, whose catalog must be empty, in one transaction. It returns the records applied
// and notes about what could not be carried over.
func (s *Store) ImportData(ctx context.Context, next func() ([]string, bool, error), opts ImportOptions) (int64, []string, error) {
	var n int64
	var notes []string
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var count int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM catalog_entities`).Scan(&count); err != nil {
			return err
		}
		if count > 0 {
			return rpcerr.FailedPrecondition("the tenant's catalog is not empty")
		}
		ids := map[string]string{}
		fresh := func() string {
			if u, err := uuid.NewV7(); err == nil {
				return u.String()
			}
			return uuid.NewString()
		}
		remaps := map[string][]string{}
		for _, t := range archiveTables {
			remaps[t.name] = t.remap
		}
		in := tenantarchive.NewInserter(tx, 500)
		in.Omit["catalog_audit"] = []string{"id"}
		// Bodies are stored as jsonb prints them (migration 005); the archive's are compacted.
		in.Select["catalog_entities"] = map[string]string{"body": `"body"::jsonb::json`}
		for {
			lines, more, err := next()
			if err != nil {
				return err
			}
			for _, line := range lines {
				var rec tenantarchive.Record
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					return badRecord("a catalog record is not JSON")
				}
				remap, known := remaps[rec.Table]
				if !known {
					return badRecord("unknown catalog table %q in the archive", rec.Table)
				}
				row := rec.Row
				if len(remap) > 0 {
					if row, err = tenantarchive.Remap(row, ids, fresh, remap...); err != nil {
						return badRecord("catalog %s record: %v", rec.Table, err)
					}
				}
				switch rec.Table {
				case "catalog_state":
					if _, err := tx.Exec(ctx, `UPDATE catalog_state SET refresh_interval_seconds = r.refresh_interval_seconds
						FROM json_populate_record(NULL::catalog_state, $1::json) r`, string(row)); err != nil {
						return fmt.Errorf("import catalog_state: %w", err)
					}
					n++
					continue
				case "catalog_credentials":
					var c struct {
						Host   string `json:"host"`
						Sealed string `json:"sealed"`
					}
					if err := json.Unmarshal(row, &c); err != nil {
						return badRecord("catalog credential record: %v", err)
					}
					sealed, err := hex.DecodeString(strings.TrimPrefix(c.Sealed, `\x`))
					var resealed []byte
					if err == nil && opts.Reseal != nil {
						resealed, err = opts.Reseal(c.Host, sealed)
					}
					if err != nil || resealed == nil {
						notes = append(notes, fmt.Sprintf("catalog: the credential for %s could not be restored (sealed under another key); set it again", c.Host))
						continue
					}
					if row, err = tenantarchive.Set(row, map[string]any{"sealed": `\x` + hex.EncodeToString(resealed)}); err != nil {
						return err
					}
				case "catalog_audit":
					var a struct {
						Actor string `json:"actor"`
					}
					if json.Unmarshal(row, &a) == nil {
						if uid, ok := strings.CutPrefix(a.Actor, "user:"); ok && opts.UserIDs[uid] != "" {
							if row, err = tenantarchive.Set(row, map[string]any{"actor": "user:" + opts.UserIDs[uid]}); err != nil {
								return err
							}
						}
					}
				}
				if err := in.Add(ctx, rec.Table, pgx.Identifier{rec.Table}, row); err != nil {
					return err
				}
				n++
			}
			if !more {
				break
			}
		}
		if err := in.Flush(ctx); err != nil {
			return err
		}
		// The entity limit's count is the rows restored, whatever the archive said.
		_, err := tx.Exec(ctx, `UPDATE catalog_state SET entity_count = (SELECT count(*) FROM catalog_entities), data_version = data_version + 1`)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	s.Analyze(ctx)
	return n, notes, nil
}

func badRecord(format string, args ...any) error {
	return rpcerr.InvalidField("records", fmt.Sprintf(format, args...))
}

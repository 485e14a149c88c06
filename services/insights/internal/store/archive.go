package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantarchive"
	"github.com/jackc/pgx/v5"
)

// archiveTables are the rollups a tenant archive carries, in export order (every query reads
// only these and insights_plugin_words, which the import rebuilds from them). Raw events, the
// dedup record and replay source, stay behind: they are partitioned by day, large, and pruned
// by retention anyway.
var archiveTables = []struct{ name, order string }{
	{"insights_months", "month"},
	{"insights_users", "user_key"},
	{"insights_user_months", "month, user_key"},
	{"insights_user_hours", "day, user_key"},
	{"insights_plugin_users", "month, plugin, user_key"},
	{"insights_counts", "dim, grain, bucket, key"},
}

// ExportData emits the tenant's rollup records (tenant of ctx's identity), from one snapshot.
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

// ImportData restores rollup records (from next, until it returns false) into the tenant of
// ctx's identity, whose rollups must be empty, in one transaction. userIDs maps the source's
// user ids to the new tenant's: a user key "u:<id>" follows its account; keys of API tokens
// and operators are kept as they are (pseudonyms, counted the same).
func (s *Store) ImportData(ctx context.Context, next func() ([]string, bool, error), userIDs map[string]string) (int64, error) {
	known := map[string]bool{}
	for _, t := range archiveTables {
		known[t.name] = true
	}
	var n int64
	err := s.shards.InTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var users int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM insights_users`).Scan(&users); err != nil {
			return err
		}
		if users > 0 {
			return rpcerr.FailedPrecondition("the tenant's insights are not empty")
		}
		in := tenantarchive.NewInserter(tx, 1000)
		for {
			lines, more, err := next()
			if err != nil {
				return err
			}
			for _, line := range lines {
				var rec tenantarchive.Record
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					return rpcerr.InvalidField("records", "an insights record is not JSON")
				}
				if !known[rec.Table] {
					return rpcerr.InvalidField("records", fmt.Sprintf("unknown insights table %q in the archive", rec.Table))
				}
				row := rec.Row
				var k struct {
					UserKey string `json:"user_key"`
				}
				if json.Unmarshal(row, &k) == nil {
					if id, ok := strings.CutPrefix(k.UserKey, "u:"); ok && userIDs[id] != "" {
						if row, err = tenantarchive.Set(row, map[string]any{"user_key": "u:" + userIDs[id]}); err != nil {
							return err
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
		// People's numbers (kept from the source when the archive has them) and the plugin
		// bit sets, rebuilt from the rollups just imported.
		_, err := tx.Exec(ctx, `SELECT insights_rebuild_plugin_words()`)
		return err
	})
	return n, err
}

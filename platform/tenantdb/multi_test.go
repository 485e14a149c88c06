package tenantdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/tenantdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// names counts the rows of a tenant's items table, read as the pool's user (qualified).
func names(t *testing.T, shards *tenantdb.Shards, schema string) []string {
	t.Helper()
	pool, _ := shards.Pool("main")
	rows, err := pool.Query(context.Background(), `SELECT name FROM `+pgx.Identifier{schema, "items"}.Sanitize()+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMultiTxIsolation: in one multi-tenant transaction each tenant's statements write only
// its own schema, also when the very same (prepared, cached) statement text runs for tenant
// after tenant, more often than Postgres needs to switch to a generic plan.
func TestMultiTxIsolation(t *testing.T) {
	shards, acme, globex := setup(t)
	a, _ := authn.FromContext(acme)
	g, _ := authn.FromContext(globex)
	const insert = `INSERT INTO items (id, name) VALUES ($1, $2)`
	for round := range 3 {
		err := shards.InMultiTx(context.Background(), "main", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			for i := range 10 {
				for _, id := range []*authn.Identity{a, g} {
					if err := mt.Enter(id); err != nil {
						return err
					}
					if _, err := mt.Queue(ctx, insert, round*100+i, fmt.Sprintf("%s %d", id.TenantSlug, round*100+i)); err != nil {
						return err
					}
				}
				if i%3 == 0 { // several round trips in one transaction too
					if err := mt.Flush(ctx); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []*authn.Identity{a, g} {
		got := names(t, shards, id.Schema)
		if len(got) != 30 {
			t.Fatalf("%s holds %d rows, want 30", id.Schema, len(got))
		}
		for _, n := range got {
			var slug string
			var k int
			if _, err := fmt.Sscanf(n, "%s %d", &slug, &k); err != nil || slug != id.TenantSlug {
				t.Fatalf("%s holds %q, another tenant's row", id.Schema, n)
			}
		}
	}
	// Nothing of either tenant runs with the pool user's rights or outside the tenant: after
	// Enter, the session is the tenant's role with only its schema on the path.
	var role, path string
	err := shards.InMultiTx(context.Background(), "main", func(ctx context.Context, mt *tenantdb.MultiTx) error {
		if err := mt.Enter(g); err != nil {
			return err
		}
		q, err := mt.Queue(ctx, `SELECT current_user::text, current_setting('search_path')`)
		if err != nil {
			return err
		}
		q.QueryRow(func(r pgx.Row) error { return r.Scan(&role, &path) })
		return nil
	})
	if err != nil || role != g.Schema || path != g.Schema {
		t.Fatalf("after Enter(globex): role %q, search_path %q, %v", role, path, err)
	}
}

// TestMultiTxRefusals: a forged identity, another shard, a statement before any tenant, a
// write naming another tenant's schema and a tenant whose role is gone are all refused, and
// the refusal rolls back every tenant's rows of the transaction.
func TestMultiTxRefusals(t *testing.T) {
	shards, acme, globex := setup(t)
	a, _ := authn.FromContext(acme)
	g, _ := authn.FromContext(globex)
	forged := *a
	forged.Schema = g.Schema
	otherShard := *a
	otherShard.Shard = "elsewhere"
	goneID := "gone" + randomSuffix(t)
	gone := &authn.Identity{TenantID: goneID, Schema: tenantdb.SchemaFor(goneID), Shard: "main"}
	const insert = `INSERT INTO items (id, name) VALUES ($1, $2)`
	cases := []struct {
		name string
		fn   func(ctx context.Context, mt *tenantdb.MultiTx) error
		want func(error) bool
	}{
		{"forged schema", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			return mt.Enter(&forged)
		}, func(err error) bool { return errors.Is(err, tenantdb.ErrSchemaMismatch) }},
		{"other shard", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			return mt.Enter(&otherShard)
		}, func(err error) bool { return err != nil }},
		{"no identity", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			return mt.Enter(&authn.Identity{UserID: "u"})
		}, func(err error) bool { return errors.Is(err, tenantdb.ErrNoTenant) }},
		{"qualified write to another tenant", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			_, err := mt.Queue(ctx, `INSERT INTO `+pgx.Identifier{g.Schema, "items"}.Sanitize()+` VALUES (900, 'leak')`)
			return err
		}, pgCode("42501")},
		{"tenant role gone", func(ctx context.Context, mt *tenantdb.MultiTx) error {
			if err := mt.Enter(gone); err != nil {
				return err
			}
			// Would land in the previous tenant's schema if the failed switch were ignored.
			_, err := mt.Queue(ctx, insert, 901, "after a failed switch")
			return err
		}, func(err error) bool { return err != nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := shards.InMultiTx(context.Background(), "main", func(ctx context.Context, mt *tenantdb.MultiTx) error {
				// Rows of both tenants first, flushed and queued: all must roll back.
				for i, id := range []*authn.Identity{g, a} {
					if err := mt.Enter(id); err != nil {
						return err
					}
					if _, err := mt.Queue(ctx, insert, 500+i, "rolled back"); err != nil {
						return err
					}
					if i == 0 {
						if err := mt.Flush(ctx); err != nil {
							return err
						}
					}
				}
				return tc.fn(ctx, mt)
			})
			if !tc.want(err) {
				t.Fatalf("err = %v", err)
			}
			for _, id := range []*authn.Identity{a, g} {
				if got := names(t, shards, id.Schema); len(got) != 0 {
					t.Fatalf("%s holds %v after a refused transaction", id.Schema, got)
				}
			}
		})
	}
}

func TestMultiTxQueueBeforeEnter(t *testing.T) {
	shards, acme, _ := setup(t)
	a, _ := authn.FromContext(acme)
	err := shards.InMultiTx(context.Background(), "main", func(ctx context.Context, mt *tenantdb.MultiTx) error {
		_, err := mt.Queue(ctx, `INSERT INTO items (id, name) VALUES (1, 'x')`)
		return err
	})
	if !errors.Is(err, tenantdb.ErrNoTenantEntered) {
		t.Fatalf("err = %v, want ErrNoTenantEntered", err)
	}
	if got := names(t, shards, a.Schema); len(got) != 0 {
		t.Fatalf("rows %v", got)
	}
}

func pgCode(code string) func(error) bool {
	return func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == code
	}
}

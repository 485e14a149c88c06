package tenantdb

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

func asPg(err error, pe **pgconn.PgError) bool { return errors.As(err, pe) }

// IsPermissionDenied reports whether err is Postgres' insufficient_privilege (42501), what a
// query naming another tenant's schema gets.
func IsPermissionDenied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is one row of tenancy.users.
type User struct {
	ID           string
	Email        string
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
}

const userCols = `id, email, display_name, password_hash, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

// UserByEmail returns the user with a normalized email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM tenancy.users WHERE email = $1`, email))
	return u, translate(err, "user")
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM tenancy.users WHERE id = $1`, id))
	return u, translate(err, "user")
}

// InsertUser creates a user; an existing email is AlreadyExists on "email".
func (s *Store) InsertUser(ctx context.Context, u User) (User, error) {
	out, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)
		RETURNING `+userCols, u.ID, u.Email, u.DisplayName, u.PasswordHash))
	return out, translate(err, "user")
}

// EnsureUser returns the user with u.Email, creating it from u if there is none. Provisioning
// uses it so that re-running the owner step finds the user the first run made.
func (s *Store) EnsureUser(ctx context.Context, u User) (User, error) {
	out, err := scanUser(s.db.QueryRow(ctx, `
		INSERT INTO tenancy.users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (email) DO NOTHING RETURNING `+userCols, u.ID, u.Email, u.DisplayName, u.PasswordHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return s.UserByEmail(ctx, u.Email)
	}
	return out, translate(err, "user")
}

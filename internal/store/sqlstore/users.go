package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const userColumns = `id, username, email, email_verified, password_hash, roles, disabled,
created_at, updated_at, password_changed_at`

const (
	insertUser = `INSERT INTO users (` + userColumns + `, username_lower, email_lower)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

	selectUser = `SELECT ` + userColumns + ` FROM users WHERE id = $1`

	selectUserByLogin = `SELECT ` + userColumns + ` FROM users
WHERE id = (SELECT user_id FROM user_logins WHERE login = $1)`

	listUsers = `SELECT ` + userColumns + ` FROM users ORDER BY username_lower, id`

	updateUser = `UPDATE users SET username = $2, email = $3, email_verified = $4,
password_hash = $5, roles = $6, disabled = $7, created_at = $8, updated_at = $9,
password_changed_at = $10, username_lower = $11, email_lower = $12
WHERE id = $1`

	deleteUser         = `DELETE FROM users WHERE id = $1`
	insertUserLogin    = `INSERT INTO user_logins (login, user_id) VALUES ($1, $2)`
	deleteUserLogins   = `DELETE FROM user_logins WHERE user_id = $1`
	deleteUserSessions = `DELETE FROM sessions WHERE user_id = $1`
	deleteUserConsents = `DELETE FROM consents WHERE user_id = $1`
	deleteUserCodes    = `DELETE FROM auth_codes WHERE user_id = $1`
)

// foldLogin is the case folding under which usernames and e-mail addresses
// are unique and looked up: strings.ToLower, which covers ASCII and the
// simple Unicode case mappings.
func foldLogin(s string) string { return strings.ToLower(s) }

// loginsOf returns the distinct login names of u, folded.
func loginsOf(u store.User) []string {
	logins := []string{foldLogin(u.Username)}
	if e := foldLogin(u.Email); e != "" && e != logins[0] {
		logins = append(logins, e)
	}
	return logins
}

func userArgs(u store.User) []any {
	return []any{
		u.ID, u.Username, u.Email, u.EmailVerified, u.PasswordHash, encodeList(u.Roles), u.Disabled,
		toMicros(u.CreatedAt), toMicros(u.UpdatedAt), toMicros(u.PasswordChangedAt),
		foldLogin(u.Username), foldLogin(u.Email),
	}
}

// CreateUser implements store.Users. Every login name goes into the
// user_logins table, whose primary key makes the database reject a
// username or e-mail equal to any other user's username or e-mail.
func (s *DB) CreateUser(ctx context.Context, u store.User) error {
	err := s.inTx(ctx, func(tx cachedTx) error {
		if _, err := tx.ExecContext(ctx, insertUser, userArgs(u)...); err != nil {
			return err
		}
		return insertLogins(ctx, tx, u)
	})
	if err != nil {
		err = s.conflict(err)
		return fmt.Errorf("sqlstore: create user %q: %w", u.ID, err)
	}
	return nil
}

func insertLogins(ctx context.Context, tx cachedTx, u store.User) error {
	for _, l := range loginsOf(u) {
		if _, err := tx.ExecContext(ctx, insertUserLogin, l, u.ID); err != nil {
			return err
		}
	}
	return nil
}

// GetUser implements store.Users.
func (s *DB) GetUser(ctx context.Context, id string) (store.User, error) {
	if !store.ValidText(id) {
		return store.User{}, fmt.Errorf("sqlstore: get user %q: %w", id, store.ErrNotFound)
	}
	u, err := scanUser(s.q.QueryRowContext(ctx, selectUser, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByLogin implements store.Users.
func (s *DB) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	if !store.ValidText(login) {
		return store.User{}, fmt.Errorf("sqlstore: get user by login %q: %w", login, store.ErrNotFound)
	}
	u, err := scanUser(s.q.QueryRowContext(ctx, selectUserByLogin, foldLogin(login)))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		// The login may be a mistyped password; it stays out of the error.
		return store.User{}, fmt.Errorf("sqlstore: get user by login: %w", err)
	}
	return u, nil
}

// ListUsers implements store.Users: ordered by lower-cased username,
// bytewise.
func (s *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.q.QueryContext(ctx, listUsers)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list users: %w", err)
	}
	defer rows.Close()
	var us []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list users: %w", err)
	}
	return us, nil
}

// UpdateUser implements store.Users, with the caveats of UpdateClient.
func (s *DB) UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	if !store.ValidText(id) {
		return store.User{}, fmt.Errorf("sqlstore: update user %q: %w", id, store.ErrNotFound)
	}
	var updated store.User
	var fnErr error
	err := s.inTx(ctx, func(tx cachedTx) error {
		old, err := scanUser(tx.QueryRowContext(ctx, selectUser+s.dialect.ForUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		if u.ID != id {
			return fmt.Errorf("the update function changed the ID to %q", u.ID)
		}
		if _, err := tx.ExecContext(ctx, updateUser, userArgs(u)...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, deleteUserLogins, id); err != nil {
			return err
		}
		if err := insertLogins(ctx, tx, u); err != nil {
			return err
		}
		updated = u
		return nil
	})
	if fnErr != nil {
		return store.User{}, fnErr
	}
	if err != nil {
		err = s.conflict(err)
		return store.User{}, fmt.Errorf("sqlstore: update user %q: %w", id, err)
	}
	return updated, nil
}

// DeleteUser implements store.Users. Besides the user's sessions and
// consents it deletes their codes and revokes their grants as RevokeGrant
// does, in one transaction, so nothing issued to the user can be
// refreshed. The RevokeJTI entries this writes are not returned; followers
// see them through RevocationsSince. Their times come from the system
// clock, since the method takes no now. No RevokeSID or RevokeSubject
// entries are written.
func (s *DB) DeleteUser(ctx context.Context, id string) error {
	if !store.ValidText(id) {
		return fmt.Errorf("sqlstore: delete user %q: %w", id, store.ErrNotFound)
	}
	now := time.Now()
	err := s.inTx(ctx, func(tx cachedTx) error {
		if _, err := tx.ExecContext(ctx, deleteUserLogins, id); err != nil {
			return fmt.Errorf("logins: %w", err)
		}
		n, err := exec(ctx, tx, deleteUser, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		for _, q := range []string{deleteUserSessions, deleteUserConsents, deleteUserCodes, deleteUserUnusedDeviceCodes} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		_, err = s.revokeGrantsTx(ctx, tx, selectGrantIDsByUser, id, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete user %q: %w", id, err)
	}
	return nil
}

func scanUser(row scanner) (store.User, error) {
	var r userRow
	if err := row.Scan(r.dest()...); err != nil {
		return store.User{}, err
	}
	return r.user()
}

// userRow scans the userColumns of one row, alone or joined.
type userRow struct {
	u                                       store.User
	roles                                   string
	createdAt, updatedAt, passwordChangedAt int64
}

func (r *userRow) dest() []any {
	return []any{&r.u.ID, &r.u.Username, &r.u.Email, &r.u.EmailVerified, &r.u.PasswordHash, &r.roles,
		&r.u.Disabled, &r.createdAt, &r.updatedAt, &r.passwordChangedAt}
}

func (r *userRow) user() (store.User, error) {
	u := r.u
	var err error
	if u.Roles, err = decodeList(r.roles); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMicros(r.createdAt)
	u.UpdatedAt = fromMicros(r.updatedAt)
	u.PasswordChangedAt = fromMicros(r.passwordChangedAt)
	return u, nil
}

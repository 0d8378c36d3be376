package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

const roleColumns = `name, description, permissions, created_at, updated_at`

const (
	insertRole  = `INSERT INTO roles (` + roleColumns + `) VALUES ($1, $2, $3, $4, $5)`
	selectRole  = `SELECT ` + roleColumns + ` FROM roles WHERE name = $1`
	listRoles   = `SELECT ` + roleColumns + ` FROM roles ORDER BY name`
	updateRole  = `UPDATE roles SET description = $2, permissions = $3, created_at = $4, updated_at = $5 WHERE name = $1`
	deleteRole  = `DELETE FROM roles WHERE name = $1`
	roleHolders = ` WHERE roles LIKE $1 ESCAPE '\'`
)

// holderQueries select the roles lists that may hold a role: every user
// and client, and every API key not revoked (a revoked key can never
// authenticate again, so it does not keep a role alive).
var holderQueries = []struct{ what, query string }{
	{"users", `SELECT roles FROM users` + roleHolders},
	{"clients", `SELECT roles FROM clients` + roleHolders},
	{"API keys", `SELECT roles FROM api_keys` + roleHolders + ` AND revoked_at = 0`},
}

func roleArgs(r store.Role) []any {
	return []any{r.Name, r.Description, encodeList(r.Permissions), toMicros(r.CreatedAt), toMicros(r.UpdatedAt)}
}

// CreateRole implements store.Roles.
func (s *DB) CreateRole(ctx context.Context, r store.Role) error {
	if _, err := s.q.ExecContext(ctx, insertRole, roleArgs(r)...); err != nil {
		return fmt.Errorf("sqlstore: create role %q: %w", r.Name, s.conflict(err))
	}
	return nil
}

// GetRole implements store.Roles.
func (s *DB) GetRole(ctx context.Context, name string) (store.Role, error) {
	if !store.ValidText(name) {
		return store.Role{}, fmt.Errorf("sqlstore: get role %q: %w", name, store.ErrNotFound)
	}
	r, err := scanRole(s.q.QueryRowContext(ctx, selectRole, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Role{}, fmt.Errorf("sqlstore: get role %q: %w", name, err)
	}
	return r, nil
}

// ListRoles implements store.Roles.
func (s *DB) ListRoles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.q.QueryContext(ctx, listRoles)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list roles: %w", err)
	}
	defer rows.Close()
	var rs []store.Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list roles: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list roles: %w", err)
	}
	return rs, nil
}

// UpdateRole implements store.Roles, with the caveats of UpdateClient.
func (s *DB) UpdateRole(ctx context.Context, name string, fn func(store.Role) (store.Role, error)) (store.Role, error) {
	if !store.ValidText(name) {
		return store.Role{}, fmt.Errorf("sqlstore: update role %q: %w", name, store.ErrNotFound)
	}
	var updated store.Role
	var fnErr error
	err := s.inTx(ctx, func(tx cachedTx) error {
		old, err := scanRole(tx.QueryRowContext(ctx, selectRole+s.dialect.ForUpdate, name))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		r, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		if r.Name != name {
			return fmt.Errorf("the update function changed the name to %q", r.Name)
		}
		if _, err := tx.ExecContext(ctx, updateRole, roleArgs(r)...); err != nil {
			return err
		}
		updated = r
		return nil
	})
	if fnErr != nil {
		return store.Role{}, fnErr
	}
	if err != nil {
		return store.Role{}, fmt.Errorf("sqlstore: update role %q: %w", name, err)
	}
	return updated, nil
}

// DeleteRole implements store.Roles. Roles lists are JSON text, so a LIKE
// on the JSON-encoded name narrows the rows and decoding confirms each
// match. Dialect.LockRoleHolders (or serialized writes) keeps new holders
// from appearing between the check and the delete.
func (s *DB) DeleteRole(ctx context.Context, name string) error {
	if !store.ValidText(name) {
		return fmt.Errorf("sqlstore: delete role %q: %w", name, store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		if s.dialect.LockRoleHolders != "" {
			if _, err := tx.ExecContext(ctx, s.dialect.LockRoleHolders); err != nil {
				return fmt.Errorf("lock holders: %w", err)
			}
		}
		var held []string
		for _, h := range holderQueries {
			n, err := countHolders(ctx, tx, h.query, name)
			if err != nil {
				return fmt.Errorf("%s: %w", h.what, err)
			}
			if n > 0 {
				held = append(held, fmt.Sprintf("%d %s", n, h.what))
			}
		}
		if len(held) > 0 {
			return fmt.Errorf("held by %s: %w", strings.Join(held, ", "), store.ErrInUse)
		}
		n, err := exec(ctx, tx, deleteRole, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete role %q: %w", name, err)
	}
	return nil
}

// countHolders counts the rows query returns whose roles list contains
// name exactly.
func countHolders(ctx context.Context, tx cachedTx, query, name string) (int, error) {
	// The name as it appears in a JSON list, with the LIKE wildcards and
	// the escape character itself escaped.
	enc := strings.TrimSuffix(strings.TrimPrefix(encodeList([]string{name}), "["), "]")
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(enc) + "%"
	rows, err := tx.QueryContext(ctx, query, pattern)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var enc string
		if err := rows.Scan(&enc); err != nil {
			return 0, err
		}
		roles, err := decodeList(enc)
		if err != nil {
			return 0, err
		}
		if slices.Contains(roles, name) {
			n++
		}
	}
	return n, rows.Err()
}

func scanRole(row scanner) (store.Role, error) {
	var (
		r                    store.Role
		perms                string
		createdAt, updatedAt int64
	)
	if err := row.Scan(&r.Name, &r.Description, &perms, &createdAt, &updatedAt); err != nil {
		return store.Role{}, err
	}
	var err error
	if r.Permissions, err = decodeList(perms); err != nil {
		return store.Role{}, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return r, nil
}

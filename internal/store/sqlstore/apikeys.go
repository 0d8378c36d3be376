package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const apiKeyColumns = `id, prefix, name, hash, hash_alg, roles, scopes,
created_at, expires_at, last_used_at, revoked_at`

const (
	insertAPIKey = `INSERT INTO api_keys (` + apiKeyColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

	selectAPIKey         = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE id = $1`
	selectAPIKeyByPrefix = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE prefix = $1`
	listAPIKeys          = `SELECT ` + apiKeyColumns + ` FROM api_keys ORDER BY created_at, id`
	selectAPIKeyRevoked  = `SELECT revoked_at FROM api_keys WHERE id = $1`

	revokeAPIKey  = `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`
	setAPIKeyExp  = `UPDATE api_keys SET expires_at = $2 WHERE id = $1`
	touchAPIKey   = `UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND last_used_at < $2`
	existsAPIKey  = `SELECT 1 FROM api_keys WHERE id = $1`
	shortenAPIKey = `UPDATE api_keys SET expires_at = $2 WHERE id = $1 AND (expires_at = 0 OR expires_at > $2)`
)

func apiKeyArgs(k store.APIKey) []any {
	return []any{
		k.ID, k.Prefix, k.Name, k.Hash, k.HashAlg, encodeList(k.Roles), encodeList(k.Scopes),
		toMicros(k.CreatedAt), toMicros(k.ExpiresAt), toMicros(k.LastUsedAt), toMicros(k.RevokedAt),
	}
}

// CreateAPIKey implements store.APIKeys.
func (s *DB) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if _, err := s.q.ExecContext(ctx, insertAPIKey, apiKeyArgs(k)...); err != nil {
		return fmt.Errorf("sqlstore: create API key %q: %w", k.ID, s.conflict(err))
	}
	return nil
}

// GetAPIKey implements store.APIKeys.
func (s *DB) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	if !store.ValidText(id) {
		return store.APIKey{}, fmt.Errorf("sqlstore: get API key %q: %w", id, store.ErrNotFound)
	}
	k, err := scanAPIKey(s.q.QueryRowContext(ctx, selectAPIKey, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlstore: get API key %q: %w", id, err)
	}
	return k, nil
}

// GetAPIKeyByPrefix implements store.APIKeys. The prefix is part of a
// presented key; it stays out of the error.
func (s *DB) GetAPIKeyByPrefix(ctx context.Context, prefix string) (store.APIKey, error) {
	if !store.ValidText(prefix) {
		return store.APIKey{}, fmt.Errorf("sqlstore: get API key by prefix %q: %w", prefix, store.ErrNotFound)
	}
	k, err := scanAPIKey(s.q.QueryRowContext(ctx, selectAPIKeyByPrefix, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlstore: get API key by prefix: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements store.APIKeys.
func (s *DB) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := s.q.QueryContext(ctx, listAPIKeys)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
	}
	defer rows.Close()
	var ks []store.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey implements store.APIKeys.
func (s *DB) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	if !store.ValidText(id) {
		return fmt.Errorf("sqlstore: revoke API key %q: %w", id, store.ErrNotFound)
	}
	if now.IsZero() {
		return fmt.Errorf("sqlstore: revoke API key %q: %w", id, errZeroNow)
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		n, err := exec(ctx, tx, revokeAPIKey, id, toMicros(now))
		if err != nil || n > 0 {
			return err
		}
		return mustExist(ctx, tx, id) // already revoked, or absent
	})
	if err != nil {
		return fmt.Errorf("sqlstore: revoke API key %q: %w", id, err)
	}
	return nil
}

// SetAPIKeyExpiry implements store.APIKeys.
func (s *DB) SetAPIKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	err := s.inTx(ctx, func(tx cachedTx) error {
		if err := notRevoked(ctx, tx, id, s.dialect.ForUpdate); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, setAPIKeyExp, id, toMicros(expiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: set API key expiry %q: %w", id, err)
	}
	return nil
}

// RotateAPIKey implements store.APIKeys.
func (s *DB) RotateAPIKey(ctx context.Context, oldID string, oldExpiresAt time.Time, next store.APIKey) error {
	if oldExpiresAt.IsZero() {
		// Zero would mean "never expires": a rotation must end the old key.
		return fmt.Errorf("sqlstore: rotate API key %q: %w", oldID, errZeroNow)
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		if err := notRevoked(ctx, tx, oldID, s.dialect.ForUpdate); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertAPIKey, apiKeyArgs(next)...); err != nil {
			return s.conflict(err)
		}
		_, err := tx.ExecContext(ctx, shortenAPIKey, oldID, toMicros(oldExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: rotate API key %q: %w", oldID, err)
	}
	return nil
}

// TouchAPIKey implements store.APIKeys. Concurrent touches never move
// LastUsedAt backwards.
func (s *DB) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	if now.IsZero() {
		return fmt.Errorf("sqlstore: touch API key %q: %w", id, errZeroNow)
	}
	n, err := exec(ctx, s.db, touchAPIKey, id, toMicros(now))
	if err == nil && n == 0 {
		// Not found, or already touched at a later time.
		var one int
		err = s.q.QueryRowContext(ctx, existsAPIKey, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlstore: touch API key %q: %w", id, err)
	}
	return nil
}

// mustExist returns store.ErrNotFound when no key has that id.
func mustExist(ctx context.Context, q querier, id string) error {
	var one int
	err := q.QueryRowContext(ctx, existsAPIKey, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// notRevoked locks the key's row (with forUpdate) and returns
// store.ErrNotFound or store.ErrRevoked when it cannot be changed.
func notRevoked(ctx context.Context, tx cachedTx, id, forUpdate string) error {
	var revokedAt int64
	err := tx.QueryRowContext(ctx, selectAPIKeyRevoked+forUpdate, id).Scan(&revokedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case revokedAt != 0:
		return store.ErrRevoked
	}
	return nil
}

func scanAPIKey(row scanner) (store.APIKey, error) {
	var (
		k                                   store.APIKey
		roles, scopes                       string
		created, expires, lastUsed, revoked int64
	)
	if err := row.Scan(&k.ID, &k.Prefix, &k.Name, &k.Hash, &k.HashAlg, &roles, &scopes,
		&created, &expires, &lastUsed, &revoked); err != nil {
		return store.APIKey{}, err
	}
	var err error
	if k.Roles, err = decodeList(roles); err != nil {
		return store.APIKey{}, err
	}
	if k.Scopes, err = decodeList(scopes); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.ExpiresAt = fromMicros(created), fromMicros(expires)
	k.LastUsedAt, k.RevokedAt = fromMicros(lastUsed), fromMicros(revoked)
	return k, nil
}

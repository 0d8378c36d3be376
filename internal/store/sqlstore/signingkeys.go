package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const signingKeyColumns = `id, algorithm, state, public_jwk, sealed_private, created_at, retired_at, publish_until, activate_at`

const (
	insertSigningKey = `INSERT INTO signing_keys (` + signingKeyColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

	selectSigningKey = `SELECT ` + signingKeyColumns + ` FROM signing_keys WHERE id = $1`

	// id breaks ties so that keys created in the same microsecond still
	// list in a stable order.
	listSigningKeys = `SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY created_at, id`

	retireActiveSigningKeys = `UPDATE signing_keys
SET state = 'retired', retired_at = $2, publish_until = $3
WHERE algorithm = $1 AND state = 'active'`

	retireActiveAndNextSigningKeys = `UPDATE signing_keys
SET state = 'retired', retired_at = $2, publish_until = $3, activate_at = 0
WHERE algorithm = $1 AND state IN ('active', 'next')`

	activateSigningKey = `UPDATE signing_keys SET state = 'active' WHERE id = $1 AND state = 'next'`

	pruneSigningKeys = `DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= $1`
)

// CreateSigningKey implements store.SigningKeys.
func (s *DB) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if err := s.insertSigningKey(ctx, s.q, k); err != nil {
		return fmt.Errorf("sqlstore: create signing key %q: %w", k.ID, err)
	}
	return nil
}

// insertSigningKey returns store.ErrConflict, without the driver error, on a
// uniqueness violation so that no driver type leaks to callers.
func (s *DB) insertSigningKey(ctx context.Context, x execer, k store.SigningKey) error {
	_, err := x.ExecContext(ctx, insertSigningKey,
		k.ID, k.Algorithm, string(k.State), k.PublicJWK, k.SealedPrivate,
		toMicros(k.CreatedAt), toMicros(k.RetiredAt), toMicros(k.PublishUntil), toMicros(k.ActivateAt))
	if err != nil {
		if s.dialect.IsUniqueViolation(err) {
			return store.ErrConflict
		}
		return err
	}
	return nil
}

// GetSigningKey implements store.SigningKeys.
func (s *DB) GetSigningKey(ctx context.Context, id string) (store.SigningKey, error) {
	if !store.ValidText(id) {
		return store.SigningKey{}, fmt.Errorf("sqlstore: get signing key %q: %w", id, store.ErrNotFound)
	}
	k, err := scanSigningKey(s.q.QueryRowContext(ctx, selectSigningKey, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SigningKey{}, fmt.Errorf("sqlstore: get signing key %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("sqlstore: get signing key %q: %w", id, err)
	}
	return k, nil
}

// ListSigningKeys implements store.SigningKeys.
func (s *DB) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.q.QueryContext(ctx, listSigningKeys)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list signing keys: %w", err)
	}
	return keys, nil
}

// RotateSigningKey implements store.SigningKeys. next is stored as active
// whatever its State, RetiredAt and PublishUntil say, since that is what
// rotating to it means.
func (s *DB) RotateSigningKey(ctx context.Context, next store.SigningKey, publishUntil time.Time) error {
	next.State = store.KeyActive
	next.RetiredAt, next.PublishUntil, next.ActivateAt = time.Time{}, time.Time{}, time.Time{}
	if err := s.rotateSigningKey(ctx, next, publishUntil); err != nil {
		return fmt.Errorf("sqlstore: rotate signing key %q: %w", next.ID, err)
	}
	return nil
}

func (s *DB) rotateSigningKey(ctx context.Context, next store.SigningKey, publishUntil time.Time) error {
	return s.inTx(ctx, func(tx cachedTx) error {
		if s.dialect.LockSigningKeys != "" {
			if _, err := tx.ExecContext(ctx, s.dialect.LockSigningKeys); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, retireActiveAndNextSigningKeys,
			next.Algorithm, toMicros(next.CreatedAt), toMicros(publishUntil)); err != nil {
			return fmt.Errorf("retire: %w", err)
		}
		return s.insertSigningKey(ctx, tx, next)
	})
}

// ActivateSigningKey implements store.SigningKeys.
func (s *DB) ActivateSigningKey(ctx context.Context, id string, publishUntil time.Time) error {
	if err := s.activateSigningKey(ctx, id, publishUntil); err != nil {
		return fmt.Errorf("sqlstore: activate signing key %q: %w", id, err)
	}
	return nil
}

func (s *DB) activateSigningKey(ctx context.Context, id string, publishUntil time.Time) error {
	return s.inTx(ctx, func(tx cachedTx) error {
		// The same lock as rotations: nodes activating one key at once
		// queue here, and the later ones find it active already.
		if s.dialect.LockSigningKeys != "" {
			if _, err := tx.ExecContext(ctx, s.dialect.LockSigningKeys); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		k, err := scanSigningKey(tx.QueryRowContext(ctx, selectSigningKey+s.dialect.ForUpdate, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case k.State == store.KeyActive:
			return nil
		case k.State != store.KeyNext:
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, retireActiveSigningKeys,
			k.Algorithm, toMicros(k.ActivateAt), toMicros(publishUntil)); err != nil {
			return fmt.Errorf("retire: %w", err)
		}
		if _, err := tx.ExecContext(ctx, activateSigningKey, id); err != nil {
			return fmt.Errorf("activate: %w", err)
		}
		return nil
	})
}

// PruneSigningKeys implements store.SigningKeys.
func (s *DB) PruneSigningKeys(ctx context.Context, now time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, pruneSigningKeys, toMicros(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune signing keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune signing keys: rows affected: %w", err)
	}
	return int(n), nil
}

func scanSigningKey(row scanner) (store.SigningKey, error) {
	var (
		k                                  store.SigningKey
		state                              string
		createdAt, retiredAt, publishUntil int64
		activateAt                         int64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &state, &k.PublicJWK, &k.SealedPrivate,
		&createdAt, &retiredAt, &publishUntil, &activateAt); err != nil {
		return store.SigningKey{}, err
	}
	k.State = store.KeyState(state)
	k.CreatedAt = fromMicros(createdAt)
	k.RetiredAt = fromMicros(retiredAt)
	k.PublishUntil = fromMicros(publishUntil)
	k.ActivateAt = fromMicros(activateAt)
	return k, nil
}

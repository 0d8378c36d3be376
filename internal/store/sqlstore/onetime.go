package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// useOnce inserts the key, or takes over a row whose use has expired; a
// live row makes the upsert's WHERE false, so nothing changes and no row
// counts as affected. One statement, so concurrent uses of one key are
// decided by the primary key and exactly one succeeds.
const useOnce = `INSERT INTO used_once (key_hash, expires_at) VALUES ($1, $2)
ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
WHERE used_once.expires_at <= $3`

// UseOnce implements store.OneTimeUses.
func (s *DB) UseOnce(ctx context.Context, key []byte, expiresAt, now time.Time) error {
	if len(key) == 0 {
		return fmt.Errorf("sqlstore: use once: empty key")
	}
	n, err := exec(ctx, s.db, useOnce, key, toMicros(expiresAt), toMicros(now))
	if err == nil && n == 0 {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: use once: %w", err)
	}
	return nil
}

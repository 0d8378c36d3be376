package store

import (
	"context"
	"time"
)

// OneTimeUses records values that may be used only once: a consent
// approval, an assertion's "jti". Keys are stored as given, so callers pass
// a hash (secret.Hash) rather than the value itself.
type OneTimeUses interface {
	// UseOnce records the use of key until expiresAt. It returns
	// ErrConflict when key was already used and that use has not expired
	// at now; an expired use is replaced, so the table never blocks a
	// value for longer than asked.
	UseOnce(ctx context.Context, key []byte, expiresAt, now time.Time) error
}

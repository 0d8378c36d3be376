package store

import (
	"context"
	"errors"
	"time"
)

// ErrBusy reports that another node holds the lock a shared job needs
// (pruning): this node skips its turn.
var ErrBusy = errors.New("store: busy")

// Pruning deletes what has expired, a bounded batch at a time, so that a
// backlog never turns into one long transaction.
type Pruning interface {
	// PruneBatch deletes, in one transaction, at most limit rows of each
	// kind PruneExpired deletes (expired at now) and at most limit audit
	// events recorded before auditBefore (none when it is zero), and
	// returns how many rows of each table it deleted. Where several nodes
	// share the backend, one prunes at a time: the others get ErrBusy.
	PruneBatch(ctx context.Context, now, auditBefore time.Time, limit int) (map[string]int, error)
}

// Package revocation keeps the revocation list of DESIGN.md §4: entries for
// a token ("jti"), a browser session ("sid") and a subject not-before
// ("sub"), each kept until the longest token it covers has expired.
//
// Entries are written to the SQL store first (durable), then applied to an
// in-process copy that answers checks without I/O. Every node follows the
// store's revocation feed (entries in Seq order) every poll interval, so a
// revocation made on any node reaches every node's copy within that
// interval. A check fails closed: if the copy has not synced within its
// staleness bound, the check asks the store, and if the store cannot
// answer, the check returns an error rather than "not revoked".
//
// With a Mirror (Redis), every node also copies the entries it writes or
// follows to Redis for resource servers, from a loop of its own with a
// bounded queue: the feed follower never waits for Redis, and a revoke
// waits briefly, and only while Redis works. Since Redis can lose entries,
// the loop copies the whole list again whenever that may have happened
// and marks Redis synced (RedisSyncedKey), which readers require.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Store is what the list needs from the store.
type Store interface {
	AddRevocations(ctx context.Context, rs []store.Revocation, now time.Time) ([]store.Revocation, error)
	RevocationsSince(ctx context.Context, seq int64, now time.Time, limit int) ([]store.Revocation, error)
	IsRevoked(ctx context.Context, jti, sid, sub string, iat, now time.Time) (bool, error)
}

// ErrUnavailable reports that neither the in-process copy nor the store
// could answer a check.
var ErrUnavailable = errors.New("revocation: list unavailable")

// Config configures a List.
type Config struct {
	Store Store
	// PollInterval is how often the feed is followed (default 250ms).
	PollInterval time.Duration
	// StaleAfter is how long the copy may go without a successful sync
	// before checks fall back to the store (default 2s).
	StaleAfter time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	// Mirror, when set, receives every entry this node writes or follows
	// (the Redis copy that resource servers read), from a goroutine of
	// Follow's: never from a request or the feed follower.
	Mirror Mirror
}

// Mirror copies entries to a shared cache that resource servers read
// (Redis). Because the cache can lose entries (a restart without
// persistence, a flush, a failed write), the List copies its whole list
// again whenever that may have happened and then marks the cache synced;
// readers fail closed while the mark is missing.
type Mirror interface {
	// Put writes entries, never moving one back to an earlier not-before
	// or expiry.
	Put(ctx context.Context, rs []store.Revocation) error
	// Status reports whether the cache is marked synced, and which server
	// process answers.
	Status(ctx context.Context) (MirrorStatus, error)
	// BeginCopy starts a copy of every live entry and returns its token.
	BeginCopy(ctx context.Context) (string, error)
	// EndCopy marks the cache synced after the copy begun with token,
	// unless the cache may have lost entries since; it reports whether it
	// marked.
	EndCopy(ctx context.Context, token string) (bool, error)
}

// MirrorStatus is what Mirror.Status reports.
type MirrorStatus struct {
	// Synced reports that the cache holds the mark of a complete copy.
	Synced bool
	// Instance names the cache's server process ("" when unknown): a new
	// one means it restarted and may hold an old snapshot.
	Instance string
}

// List is the revocation list of one node.
type List struct {
	cfg Config

	mu       sync.RWMutex
	jti      map[string]time.Time // value -> entry expiry
	sid      map[string]time.Time
	sub      map[string]subEntry
	seq      int64
	lastSync time.Time
	// changedCh is closed, and replaced, whenever entries are applied;
	// feed requests waiting for news select on it.
	changedCh chan struct{}
	// ending is closed by EndWaits when the server shuts down.
	ending  chan struct{}
	endOnce sync.Once
	// queue holds entries waiting for the mirror.
	queue mirrorQueue
	// mirrorOK is set while the mirror loop runs and its last call to the
	// mirror did not fail: Revoke then waits for its entries to be
	// written.
	mirrorOK atomic.Bool
}

type subEntry struct{ notBefore, expires time.Time }

const pageSize = 1000

// New returns an empty list; call Sync (or Run) before relying on it.
func New(cfg Config) *List {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &List{cfg: cfg, jti: map[string]time.Time{}, sid: map[string]time.Time{}, sub: map[string]subEntry{},
		changedCh: make(chan struct{}), ending: make(chan struct{}), queue: mirrorQueue{wake: make(chan struct{}, 1)}}
}

// SubjectNotBefore returns the NotBefore for a subject entry made at now:
// the start of the next second, because "iat" has one-second resolution and
// every token issued up to and including now's second must be covered.
func SubjectNotBefore(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(time.Second)
}

// Revoke records entries durably in the store, then applies them to the
// in-process copy and queues them for the mirror. An error means nothing
// can be assumed revoked: callers must report failure (RFC 7009 §2.2.1:
// 503), never success. The store alone decides: the mirror's outcome is
// never returned, and Revoke waits for it only briefly, and only while
// the mirror works (mirrorRevokeWait).
func (l *List) Revoke(ctx context.Context, rs ...store.Revocation) error {
	if len(rs) == 0 {
		return nil
	}
	written, err := l.cfg.Store.AddRevocations(ctx, rs, l.cfg.Now())
	if err != nil {
		return fmt.Errorf("revocation: record: %w", err)
	}
	l.Apply(written)
	l.mirrorAndWait(ctx, written)
	return nil
}

// Apply adds entries that are already durable (written by a store
// transaction, such as refresh-token reuse) to the in-process copy.
func (l *List) Apply(rs []store.Revocation) {
	if len(rs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		l.applyLocked(r)
	}
	l.notifyLocked()
}

// notifyLocked wakes everyone waiting on changed.
func (l *List) notifyLocked() {
	close(l.changedCh)
	l.changedCh = make(chan struct{})
}

// changed returns a channel closed when entries are next applied.
func (l *List) changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changedCh
}

func (l *List) applyLocked(r store.Revocation) {
	switch r.Kind {
	case store.RevokeJTI:
		if r.ExpiresAt.After(l.jti[r.Value]) {
			l.jti[r.Value] = r.ExpiresAt
		}
	case store.RevokeSID:
		if r.ExpiresAt.After(l.sid[r.Value]) {
			l.sid[r.Value] = r.ExpiresAt
		}
	case store.RevokeSubject:
		old := l.sub[r.Value]
		l.sub[r.Value] = subEntry{notBefore: later(old.notBefore, r.NotBefore), expires: later(old.expires, r.ExpiresAt)}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Sync follows the store's feed until it is caught up.
func (l *List) Sync(ctx context.Context) error {
	for {
		l.mu.RLock()
		seq := l.seq
		l.mu.RUnlock()
		now := l.cfg.Now()
		rs, err := l.cfg.Store.RevocationsSince(ctx, seq, now, pageSize)
		if err != nil {
			return fmt.Errorf("revocation: follow feed: %w", err)
		}
		l.mu.Lock()
		for _, r := range rs {
			l.applyLocked(r)
			l.seq = max(l.seq, r.Seq)
		}
		if len(rs) < pageSize {
			l.lastSync = now
		}
		if len(rs) > 0 {
			l.notifyLocked()
		}
		l.mu.Unlock()
		l.mirror(rs, nil)
		if len(rs) < pageSize {
			return nil
		}
	}
}

// Run follows the feed every PollInterval, drops expired entries and, with
// a Mirror, keeps the mirror in step (see Follow) until ctx ends.
func (l *List) Run(ctx context.Context) { l.Follow(ctx, nil) }

// Follow is Run that also follows the feed as soon as wake receives: the
// store's notice that another node wrote entries (PostgreSQL
// LISTEN/NOTIFY), which spares waiting for the next poll. The poll stays,
// as the fallback when notices are lost.
//
// With a Mirror, Follow also runs the mirror loop beside the follower
// (keepMirror): the follower only queues entries for it, so a slow or
// unreachable Redis never holds the feed.
func (l *List) Follow(ctx context.Context, wake <-chan struct{}) {
	if l.cfg.Mirror != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { l.keepMirror(ctx) })
	}
	t := time.NewTicker(l.cfg.PollInterval)
	defer t.Stop()
	failing := false
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		err := l.Sync(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			l.cfg.Logger.Warn("revocation feed unavailable; checks fall back to the store", slog.Any("error", err))
			failing = true
		case err == nil && failing:
			l.cfg.Logger.Info("revocation feed available again")
			failing = false
		}
		if now := l.cfg.Now(); now.Sub(lastPrune) > time.Minute {
			l.prune(now)
			lastPrune = now
		}
	}
}

func (l *List) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, exp := range l.jti {
		if !exp.After(now) {
			delete(l.jti, k)
		}
	}
	for k, exp := range l.sid {
		if !exp.After(now) {
			delete(l.sid, k)
		}
	}
	for k, e := range l.sub {
		if !e.expires.After(now) {
			delete(l.sub, k)
		}
	}
}

// IsRevoked reports whether a token with these claims is revoked. It
// answers from memory when the copy is fresh, else from the store; when
// neither can answer it returns ErrUnavailable (fail closed).
func (l *List) IsRevoked(ctx context.Context, jti, sid, sub string, iat time.Time) (bool, error) {
	now := l.cfg.Now()
	l.mu.RLock()
	revoked := l.revokedLocked(jti, sid, sub, iat, now)
	fresh := !l.lastSync.IsZero() && now.Sub(l.lastSync) <= l.cfg.StaleAfter
	l.mu.RUnlock()
	if revoked {
		return true, nil
	}
	if fresh {
		return false, nil
	}
	r, err := l.cfg.Store.IsRevoked(ctx, jti, sid, sub, iat, now)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return r, nil
}

func (l *List) revokedLocked(jti, sid, sub string, iat, now time.Time) bool {
	if exp, ok := l.jti[jti]; ok && jti != "" && exp.After(now) {
		return true
	}
	if exp, ok := l.sid[sid]; ok && sid != "" && exp.After(now) {
		return true
	}
	if e, ok := l.sub[sub]; ok && sub != "" && e.expires.After(now) && iat.Before(e.notBefore) {
		return true
	}
	return false
}

// LastSync is when the in-process copy last caught up with the store (the
// zero time before the first sync): its age is this node's revocation lag
// at worst.
func (l *List) LastSync() time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastSync
}

// MirrorUp reports whether a mirror is configured and its last write or
// copy succeeded.
func (l *List) MirrorUp() (configured, up bool) {
	return l.cfg.Mirror != nil, l.mirrorOK.Load()
}

// Healthy reports whether the in-process copy is fresh.
func (l *List) Healthy() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return !l.lastSync.IsZero() && l.cfg.Now().Sub(l.lastSync) <= l.cfg.StaleAfter
}

package revocation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Mirror loop timing and bounds. They are constants, not settings: they
// trade seconds of staleness after a Redis outage against a GET and an
// INFO per second per node, which no deployment needs to tune.
const (
	// mirrorCheckInterval is how often the loop reads the mirror's status
	// (its synced mark and server process).
	mirrorCheckInterval = time.Second
	// mirrorRetryInterval is how often it tries again while the mirror
	// fails, so that a Redis back from an outage is copied to soon.
	mirrorRetryInterval = 250 * time.Millisecond
	// mirrorCopyInterval bounds the time between complete copies, which
	// repair whatever no other trigger noticed.
	mirrorCopyInterval = 5 * time.Minute
	// mirrorWriteTimeout bounds one call to the mirror: an unreachable
	// Redis fails a write instead of holding the loop.
	mirrorWriteTimeout = 2 * time.Second
	// mirrorSyncTimeout bounds the feed read a complete copy starts with.
	mirrorSyncTimeout = 5 * time.Second
	// mirrorQueueMax is the most entries waiting for the mirror; past it
	// new ones are dropped and a complete copy is made instead.
	mirrorQueueMax = 10_000
	// mirrorCopyChunk is the most entries written by one call during a
	// complete copy.
	mirrorCopyChunk = 1000
)

// mirrorQueue holds entries waiting to be written to the mirror.
type mirrorQueue struct {
	mu       sync.Mutex
	rs       []store.Revocation
	waiters  []chan struct{} // closed once the loop has handled what was queued with them
	overflow bool            // entries were dropped since the last take
	wake     chan struct{}   // receives (capacity 1) when entries are queued
}

// take empties the queue.
func (q *mirrorQueue) take() (rs []store.Revocation, waiters []chan struct{}, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs, waiters, overflow = q.rs, q.waiters, q.overflow
	q.rs, q.waiters, q.overflow = nil, nil, false
	return rs, waiters, overflow
}

// release tells the waiters their entries were handled.
func release(waiters []chan struct{}) {
	for _, w := range waiters {
		close(w)
	}
}

// mirror queues entries for the mirror loop, if there is a mirror, and
// returns at once, so that the feed follower never depends on Redis. done,
// if not nil, is closed once the loop has handled the entries. Every
// queued entry is already in the in-process list, which is what makes
// dropping entries on overflow safe: the complete copy that follows reads
// the list.
func (l *List) mirror(rs []store.Revocation, done chan struct{}) {
	if l.cfg.Mirror == nil || len(rs) == 0 {
		if done != nil {
			close(done)
		}
		return
	}
	q := &l.queue
	q.mu.Lock()
	if len(q.rs)+len(rs) > mirrorQueueMax {
		q.overflow = true
	} else {
		q.rs = append(q.rs, rs...)
	}
	if done != nil {
		q.waiters = append(q.waiters, done)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// mirrorRevokeWait is the most Revoke waits for its entries to reach a
// working mirror: far more than a write to a healthy Redis takes, so that
// a client told its token is revoked can count on resource servers that
// read Redis knowing it too, yet short enough that a Redis failing
// without refusing connections, or a complete copy in progress, costs a
// revoke little. Once the loop has seen Redis fail, Revoke does not wait
// at all.
const mirrorRevokeWait = 500 * time.Millisecond

// mirrorAndWait is mirror for Revoke: it waits up to mirrorRevokeWait for
// the entries to be written while the mirror works. The store alone
// decides Revoke's answer; this wait only orders the answer after the
// Redis write when that is cheap.
func (l *List) mirrorAndWait(ctx context.Context, rs []store.Revocation) {
	if !l.mirrorOK.Load() {
		l.mirror(rs, nil)
		return
	}
	done := make(chan struct{})
	l.mirror(rs, done)
	t := time.NewTimer(mirrorRevokeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// Why the mirror loop makes a complete copy, for its log.
const (
	copyAtStart    = "node start"
	copyAfterError = "redis was unreachable or a write failed"
	copyOverflow   = "too many entries were waiting"
	copyNotSynced  = "redis is not marked synced (restarted empty or flushed)"
	copyRestarted  = "redis restarted"
	copyPeriodic   = "periodic"
)

// keepMirror writes queued entries to the mirror until ctx ends, and
// copies every live entry (then marks the mirror synced) whenever the
// mirror may lack some: at start; once it answers again after a failed
// call (Redis down, or not reached yet); after the queue overflowed; when
// it is not marked synced (restarted empty or flushed, seen within
// mirrorCheckInterval); when its server process changed; and every
// mirrorCopyInterval.
func (l *List) keepMirror(ctx context.Context) {
	t := time.NewTicker(mirrorCheckInterval)
	defer t.Stop()
	l.mirrorOK.Store(true)
	defer l.mirrorOK.Store(false)
	ml := mirrorLoop{l: l, reason: copyAtStart}
	tick := true // check and copy at once
	for {
		rs, waiters, overflow := l.queue.take()
		wasFailing := ml.failing
		ml.step(ctx, tick, rs, overflow)
		release(waiters)
		l.mirrorOK.Store(!ml.failing)
		switch {
		case ml.failing && !wasFailing:
			t.Reset(mirrorRetryInterval)
		case !ml.failing && wasFailing:
			t.Reset(mirrorCheckInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.queue.wake:
			tick = false
		case <-t.C:
			tick = true
		}
	}
}

// mirrorLoop is the state of keepMirror.
type mirrorLoop struct {
	l        *List
	reason   string // why a complete copy is due; "" when none is
	instance string // the mirror's server process last seen
	lastCopy time.Time
	failing  bool
}

// step handles one wake-up: the status check (on ticks), then a complete
// copy if one is due, else the queued entries. Entries taken while a copy
// is due are dropped: the copy reads them from the list.
func (ml *mirrorLoop) step(ctx context.Context, tick bool, rs []store.Revocation, overflow bool) {
	l := ml.l
	if overflow && ml.reason == "" {
		ml.reason = copyOverflow
	}
	if tick {
		st, err := l.mirrorStatus(ctx)
		if err != nil {
			ml.fail(ctx, err)
			return
		}
		switch {
		case ml.reason != "":
		case !st.Synced:
			ml.reason = copyNotSynced
		case ml.instance != "" && st.Instance != "" && st.Instance != ml.instance:
			ml.reason = copyRestarted
		case l.cfg.Now().Sub(ml.lastCopy) >= mirrorCopyInterval:
			ml.reason = copyPeriodic
		}
		ml.instance = st.Instance
	}
	switch {
	case ml.reason != "" && (tick || !ml.failing):
		// While the mirror fails, retry on ticks, not on every queued
		// entry.
		start := l.cfg.Now()
		n, marked, err := l.copyAll(ctx)
		if err != nil {
			ml.fail(ctx, err)
			return
		}
		level := slog.LevelInfo
		if ml.reason == copyPeriodic {
			level = slog.LevelDebug
		}
		l.cfg.Logger.Log(ctx, level, "revocation: copied every live entry to redis",
			slog.String("reason", ml.reason), slog.Int("entries", n), slog.Bool("marked_synced", marked),
			slog.Duration("took", l.cfg.Now().Sub(start)))
		ml.reason, ml.failing, ml.lastCopy = "", false, start
	case ml.reason == "" && len(rs) > 0:
		if err := l.putMirror(ctx, rs); err != nil {
			ml.fail(ctx, err)
		}
	}
}

// fail notes a failed call: a complete copy is due once the mirror works
// again. It logs the first failure of a run of them.
func (ml *mirrorLoop) fail(ctx context.Context, err error) {
	if ml.reason == "" {
		ml.reason = copyAfterError
	}
	if !ml.failing && ctx.Err() == nil {
		ml.l.cfg.Logger.Warn("revocation: cannot update the redis mirror; the list is copied to it again once this works",
			slog.Any("error", err))
	}
	ml.failing = true
}

// mirrorStatus is Mirror.Status within mirrorWriteTimeout.
func (l *List) mirrorStatus(ctx context.Context) (MirrorStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, mirrorWriteTimeout)
	defer cancel()
	return l.cfg.Mirror.Status(ctx)
}

// putMirror is Mirror.Put within mirrorWriteTimeout.
func (l *List) putMirror(ctx context.Context, rs []store.Revocation) error {
	ctx, cancel := context.WithTimeout(ctx, mirrorWriteTimeout)
	defer cancel()
	return l.cfg.Mirror.Put(ctx, rs)
}

// copyAll writes every live entry to the mirror and marks it synced. It
// follows the feed after beginning, so the copy holds every entry
// committed before it began; entries committed later are written by the
// nodes that follow them, after Redis lost whatever made the copy due.
// marked is false when the mirror did not take the mark (it lost data
// during the copy, or another node's copy began meanwhile): the next
// status check decides whether to copy again.
func (l *List) copyAll(ctx context.Context) (n int, marked bool, err error) {
	m := l.cfg.Mirror
	bctx, cancel := context.WithTimeout(ctx, mirrorWriteTimeout)
	token, err := m.BeginCopy(bctx)
	cancel()
	if err != nil {
		return 0, false, err
	}
	sctx, cancel := context.WithTimeout(ctx, mirrorSyncTimeout)
	err = l.Sync(sctx)
	cancel()
	if err != nil {
		return 0, false, fmt.Errorf("revocation: copy to redis: %w", err)
	}
	// Queued entries are in the list, and so in the copy.
	_, waiters, _ := l.queue.take()
	defer release(waiters)
	rs := l.live(l.cfg.Now())
	for chunk := range slices.Chunk(rs, mirrorCopyChunk) {
		if err := l.putMirror(ctx, chunk); err != nil {
			return 0, false, err
		}
	}
	ectx, cancel := context.WithTimeout(ctx, mirrorWriteTimeout)
	defer cancel()
	marked, err = m.EndCopy(ectx, token)
	return len(rs), marked, err
}

// live returns every entry of the list that has not expired at now.
func (l *List) live(now time.Time) []store.Revocation {
	l.mu.RLock()
	defer l.mu.RUnlock()
	rs := make([]store.Revocation, 0, len(l.jti)+len(l.sid)+len(l.sub))
	for v, exp := range l.jti {
		if exp.After(now) {
			rs = append(rs, store.Revocation{Kind: store.RevokeJTI, Value: v, ExpiresAt: exp})
		}
	}
	for v, exp := range l.sid {
		if exp.After(now) {
			rs = append(rs, store.Revocation{Kind: store.RevokeSID, Value: v, ExpiresAt: exp})
		}
	}
	for v, e := range l.sub {
		if e.expires.After(now) {
			rs = append(rs, store.Revocation{Kind: store.RevokeSubject, Value: v, NotBefore: e.notBefore, ExpiresAt: e.expires})
		}
	}
	return rs
}

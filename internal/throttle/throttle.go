// Package throttle counts failures per key (a client id, an account, an IP
// address) and tells callers when a key must wait, as RFC 6819 §5.1.4.2.3
// and OWASP ASVS 6.3.1 ask of credential checks: failures beyond a free
// allowance earn an exponentially growing lock, capped so that no lock is
// ever permanent, and a success clears the key.
//
// The state is in-process: each node throttles what it sees. Counters shared
// between nodes (Redis) are a later step.
package throttle

import (
	"sync"
	"time"
)

// Policy configures a Limiter.
type Policy struct {
	// Free is the number of failures allowed before any lock.
	Free int
	// BaseLock is the lock after the first failure beyond Free; each further
	// failure doubles it.
	BaseLock time.Duration
	// MaxLock caps the lock.
	MaxLock time.Duration
	// Forget drops a key's failures after this long without a failure.
	Forget time.Duration
	// MaxKeys bounds memory: beyond it the stalest keys are dropped.
	MaxKeys int
}

// Limiter tracks failures per key. It is safe for concurrent use.
type Limiter struct {
	p   Policy
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// New returns a Limiter with policy p and clock now (nil means time.Now).
func New(p Policy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = 100_000
	}
	return &Limiter{p: p, now: now, keys: map[string]*entry{}}
}

// Wait returns how long key must still wait before its next attempt; zero
// means it may try now.
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		return 0
	}
	now := l.now()
	if now.Sub(e.lastFailure) > l.p.Forget {
		delete(l.keys, key)
		return 0
	}
	if d := e.lockedUntil.Sub(now); d > 0 {
		return d
	}
	return 0
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.keys[key]
	if e == nil || now.Sub(e.lastFailure) > l.p.Forget {
		if len(l.keys) >= l.p.MaxKeys {
			l.evict(now)
		}
		e = &entry{}
		l.keys[key] = e
	}
	e.failures++
	e.lastFailure = now
	if over := e.failures - l.p.Free; over > 0 {
		lock := l.p.BaseLock
		for i := 1; i < over && lock < l.p.MaxLock; i++ {
			lock *= 2
		}
		e.lockedUntil = now.Add(min(lock, l.p.MaxLock))
	}
}

// Succeed clears key's failures.
func (l *Limiter) Succeed(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

// evict drops forgotten keys, and if that frees nothing, an arbitrary half:
// under a flood of distinct keys, losing some counters beats unbounded
// memory.
func (l *Limiter) evict(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.lastFailure) > l.p.Forget {
			delete(l.keys, k)
		}
	}
	if len(l.keys) < l.p.MaxKeys {
		return
	}
	n := len(l.keys) / 2
	for k := range l.keys {
		if n == 0 {
			break
		}
		delete(l.keys, k)
		n--
	}
}

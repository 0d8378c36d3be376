package apikey

import (
	"sync"
	"time"
)

// MaxCacheTTL bounds how long a successful verification is reused. A
// revocation (or expiry change) made on one node reaches the others only
// through the store, so a node must look again at least this often:
// Gatehouse promises that a revoked key fails on every node within one
// second (SECURITY-CASES KEY-02, FLT-05).
const MaxCacheTTL = time.Second

// DefaultCacheSize bounds the cache's entries.
const DefaultCacheSize = 10_000

// cache remembers successful verifications, keyed by the SHA-256 of the
// whole key (so a hit proves possession of the key itself, and the cache
// holds no key material).
type cache struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	entries map[[32]byte]cacheEntry
	// gen counts invalidations. A verification records it before reading
	// the store and caches its result only if it has not moved, so a
	// revocation that lands while a verification is in flight cannot be
	// undone by that verification's late insert.
	gen uint64
}

type cacheEntry struct {
	key   Key
	until time.Time
}

func newCache(ttl time.Duration, max int) *cache {
	return &cache{ttl: ttl, max: max, entries: make(map[[32]byte]cacheEntry)}
}

func (c *cache) get(sum [32]byte, now time.Time) (Key, bool) {
	c.mu.RLock()
	e, ok := c.entries[sum]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Key{}, false
	}
	return e.key, true
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches k until now+ttl or its expiry, whichever is first, unless an
// invalidation happened since gen was read.
func (c *cache) put(sum [32]byte, k Key, now time.Time, gen uint64) {
	until := now.Add(c.ttl)
	if !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(until) {
		until = k.ExpiresAt
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= c.max {
		for s, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, s)
			}
		}
		// Still full of live entries: drop an arbitrary one.
		for s := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, s)
		}
	}
	c.entries[sum] = cacheEntry{key: k, until: until}
}

// drop forgets every entry of the key with that id.
func (c *cache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for s, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, s)
		}
	}
}

// Package redisrevocation is an sdk.RevocationChecker that reads the
// revocation entries Gatehouse mirrors to Redis, for deployments that run
// Gatehouse with `redis` configured.
//
// Gatehouse writes one key per entry, each expiring with the entry:
//
//	gh:rev:jti:<jti>  "1"               the token is revoked
//	gh:rev:sid:<sid>  "1"               every token of the browser session is revoked
//	gh:rev:sub:<sub>  "<unix seconds>"  every token of the subject issued before that time is revoked
//
// and one more, without expiry, once Redis holds every live entry:
//
//	gh:rev:synced     "1"               Redis holds Gatehouse's complete list
//
// A Redis that restarted empty or was flushed lacks every entry, which
// would read as "not revoked". It lacks the synced key too, so the Checker
// fails closed (ErrNotSynced) until a Gatehouse node has copied the list
// back, which nodes do within a second or two of Redis answering again
// (docs/tokens.md).
//
// The Checker reads the keys of a token with client-side caching (RESP3
// CLIENT TRACKING through rueidis): the first check of a token costs a few
// round trips, and later checks are answered from memory, since
// Redis tells the client to drop a cached answer as soon as the key
// changes. A revocation made on any Gatehouse node reaches every Checker
// within a few milliseconds of reaching Redis. When the connection to Redis
// is lost, rueidis drops the whole cache, so checks fail with an error (and
// the Verifier with sdk.ErrRevocationUnavailable) until Redis answers again:
// the Checker fails closed. The synced key is read through the same cache,
// so it costs nothing once cached, and Redis invalidates it on a FLUSHALL
// as on any change.
//
// It lives outside the core sdk package so that APIs that do not use Redis
// do not link a Redis client.
package redisrevocation

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/sdk"
)

// KeyPrefix starts every key Gatehouse writes; a key is
// KeyPrefix + kind + ":" + value.
const KeyPrefix = "gh:rev:"

// SyncedKey is present while Redis holds every live entry; Gatehouse
// writes it after copying its whole list.
const SyncedKey = KeyPrefix + "synced"

// ErrNotSynced reports that Redis does not hold Gatehouse's complete
// revocation list (SyncedKey is missing: Redis restarted empty or was
// flushed, and no Gatehouse node has copied the list back yet). It wraps
// sdk.ErrRevocationUnavailable: the Checker cannot tell, so it fails
// closed.
var ErrNotSynced = fmt.Errorf("%w: redisrevocation: Redis does not hold the complete list (%s is missing)",
	sdk.ErrRevocationUnavailable, SyncedKey)

// Defaults for Config.
const (
	DefaultCacheTTL = time.Minute
	DefaultTimeout  = time.Second
)

// Config configures a Checker.
type Config struct {
	// Client is a rueidis client for the Redis that Gatehouse writes to.
	// Client-side caching must be on (it is unless
	// rueidis.ClientOption.DisableCache is set): without it every check is
	// a round trip.
	Client rueidis.Client
	// CacheTTL bounds how long an answer stays in the client-side cache.
	// Correctness does not depend on it (Redis invalidates changed keys);
	// it bounds memory for tokens no longer seen. Zero means
	// DefaultCacheTTL.
	CacheTTL time.Duration
	// Timeout bounds one check that must reach Redis; zero means
	// DefaultTimeout. Past it the check fails (closed).
	Timeout time.Duration
}

// Checker is an sdk.RevocationChecker backed by Redis. It is safe for
// concurrent use.
type Checker struct {
	client  rueidis.Client
	ttl     time.Duration
	timeout time.Duration
	owned   bool
}

var _ sdk.RevocationChecker = (*Checker)(nil)

// New returns a Checker using cfg.Client, which the caller keeps and
// closes.
func New(cfg Config) (*Checker, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: redisrevocation: Config.Client is required", sdk.ErrInvalidConfig)
	}
	ttl := cfg.CacheTTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Checker{client: cfg.Client, ttl: ttl, timeout: timeout}, nil
}

// Dial connects to a redis:// or rediss:// URL (the same URL as
// Gatehouse's `redis` setting) with client-side caching of at most 16 MiB
// per connection, and returns a Checker that owns the connection: Close
// closes it.
func Dial(url string) (*Checker, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisrevocation: %w", err)
	}
	opt.CacheSizeEachConn = 16 << 20
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redisrevocation: connect: %w", err)
	}
	c, err := New(Config{Client: client})
	if err != nil {
		client.Close()
		return nil, err
	}
	c.owned = true
	return c, nil
}

// Close closes the connection if Dial opened it.
func (c *Checker) Close() {
	if c.owned {
		c.client.Close()
	}
}

// Revoked implements sdk.RevocationChecker: it reads SyncedKey, then the
// token's jti, subject and sid (when it has one) keys through the
// client-side cache; a token seen for the first time costs three round
// trips (the last reads SyncedKey again), a token seen before none.
// Without SyncedKey it returns ErrNotSynced. A token without "iat" is
// revoked by any subject entry.
func (c *Checker) Revoked(ctx context.Context, cl *sdk.Claims) (bool, error) {
	// A lost connection takes the cache with it and rueidis keeps
	// redialling, so an unbounded check would hang the request.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The mark first, so that an entry read before a node copied it
	// back is not vouched for by a mark written after (a cached mark lags
	// Redis only by the invalidation delay, far less than a copy takes).
	if err := c.synced(c.client.DoCache(ctx, c.client.B().Get().Key(SyncedKey).Cache(), c.ttl)); err != nil {
		return false, err
	}
	revoked, fromRedis, err := c.entries(ctx, cl)
	if revoked || err != nil || !fromRedis {
		return revoked, err
	}
	// An answer came from Redis itself, not the cache, so it may be
	// younger than the cached mark: Redis may have lost its data in
	// between, the invalidation of the mark still on its way (rueidis
	// spreads keys over several connections, so it can arrive after that
	// answer). The mark is read again, from Redis, after that answer.
	// (Answers all from the cache predate any such loss, like any answer
	// within the invalidation delay.)
	return false, c.synced(c.client.Do(ctx, c.client.B().Get().Key(SyncedKey).Build()))
}

// synced reads an answer to GET SyncedKey: ErrNotSynced when the key is
// missing.
func (c *Checker) synced(res rueidis.RedisResult) error {
	switch err := res.Error(); {
	case rueidis.IsRedisNil(err):
		return ErrNotSynced
	case err != nil:
		return fmt.Errorf("redisrevocation: %w", err)
	}
	return nil
}

// entries reads the token's entries, reporting whether any answer came
// from Redis rather than the cache.
func (c *Checker) entries(ctx context.Context, cl *sdk.Claims) (revoked, fromRedis bool, err error) {
	b := c.client.B()
	jti := c.client.DoCache(ctx, b.Get().Key(KeyPrefix+sdk.RevokeJTI+":"+cl.ID).Cache(), c.ttl)
	fromRedis = !jti.IsCacheHit()
	if r, err := c.revokedBy(jti, cl, false); r || err != nil {
		return r, fromRedis, err
	}
	sub := b.Get().Key(KeyPrefix + sdk.RevokeSubject + ":" + cl.Subject).Cache()
	if cl.SID == "" {
		res := c.client.DoCache(ctx, sub, c.ttl)
		r, err := c.revokedBy(res, cl, true)
		return r, fromRedis || !res.IsCacheHit(), err
	}
	sid := b.Get().Key(KeyPrefix + sdk.RevokeSession + ":" + cl.SID).Cache()
	var res [2]rueidis.RedisResult
	if fromRedis {
		// A token seen for the first time: fetch the other two keys in
		// one round trip. (DoMultiCache costs microseconds even when
		// every answer is cached, so hot tokens take the path below.)
		copy(res[:], c.client.DoMultiCache(ctx, rueidis.CT(sub, c.ttl), rueidis.CT(sid, c.ttl)))
	} else {
		res[0], res[1] = c.client.DoCache(ctx, sub, c.ttl), c.client.DoCache(ctx, sid, c.ttl)
	}
	for i, r := range res {
		fromRedis = fromRedis || !r.IsCacheHit()
		if rv, err := c.revokedBy(r, cl, i == 0); rv || err != nil {
			return rv, fromRedis, err
		}
	}
	return false, fromRedis, nil
}

// revokedBy reads one GET answer: a jti or sid key revokes by existing, a
// subject key (subject set) when the token was issued before its value.
func (c *Checker) revokedBy(res rueidis.RedisResult, cl *sdk.Claims, subject bool) (bool, error) {
	v, err := res.ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("redisrevocation: %w", err)
	case !subject:
		return true, nil
	}
	nb, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("redisrevocation: subject entry %q is not a Unix time", v)
	}
	return cl.IssuedAt.IsZero() || cl.IssuedAt.Unix() < nb, nil
}

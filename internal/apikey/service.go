package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
)

// Errors. Verify answers every rejected key with ErrInvalidKey alone, so
// callers cannot tell (or tell a client) why.
var (
	// ErrInvalidKey: malformed, unknown, wrong secret, expired or revoked.
	ErrInvalidKey = errors.New("apikey: invalid API key")
	// ErrThrottled is wrapped by *ThrottledError.
	ErrThrottled = errors.New("apikey: too many failed attempts")
	// ErrInvalidRequest reports a Create or Rotate request that cannot be
	// honoured as given (bad name, unknown role, negative duration...).
	ErrInvalidRequest = errors.New("apikey: invalid request")
)

// ThrottledError is Verify's answer while the key's prefix or the client's
// address is locked after repeated failures; the HTTP layer answers 429
// with Retry-After.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; retry in %s", ErrThrottled, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Store is what the service needs from the store.
type Store interface {
	CreateAPIKey(ctx context.Context, k store.APIKey) error
	GetAPIKey(ctx context.Context, id string) (store.APIKey, error)
	GetAPIKeyByPrefix(ctx context.Context, prefix string) (store.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]store.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, now time.Time) error
	RotateAPIKey(ctx context.Context, oldID string, oldExpiresAt time.Time, next store.APIKey) error
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
	GetRole(ctx context.Context, name string) (store.Role, error)
}

// Key is an API key as callers see it: everything but the hash.
type Key struct {
	ID string
	// Prefix is the stored part of the key; it is shown as "sk_<prefix>…".
	Prefix  string
	Name    string
	HashAlg string
	Roles   []string
	Scopes  []string
	// CreatedAt, ExpiresAt (zero: never), LastUsedAt (zero: never used,
	// as far as the caller recorded with the store's TouchAPIKey) and
	// RevokedAt (zero: not revoked).
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

func view(k store.APIKey) Key {
	return Key{
		ID: k.ID, Prefix: k.Prefix, Name: k.Name, HashAlg: k.HashAlg, Roles: k.Roles, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt,
	}
}

// Config holds a Service's dependencies.
type Config struct {
	// Store is required.
	Store Store
	// Hasher hashes new keys (and, with Verifiers, checks existing ones).
	// Required.
	Hasher Hasher
	// Verifiers check keys stored under other algorithms, for instance
	// HMAC keys after the default went back to argon2id. A key whose
	// algorithm no hasher handles fails with an error (not ErrInvalidKey):
	// that is a server misconfiguration.
	Verifiers []Hasher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheTTL is how long a successful verification is reused: 0 means
	// MaxCacheTTL, a negative value turns the cache off, and more than
	// MaxCacheTTL is refused.
	CacheTTL time.Duration
	// CacheSize bounds the cache (0 means DefaultCacheSize).
	CacheSize int
	// PrefixLimiter and IPLimiter count failures per key prefix and per
	// client address; nil means DefaultPrefixThrottle and DefaultIPThrottle.
	PrefixLimiter *throttle.Limiter
	IPLimiter     *throttle.Limiter
	// NewKeyRate is how many checks per second of keys not seen in the
	// last KnownGoodFor a node runs (bursts of twice that); beyond it they
	// are throttled. 0 means DefaultNewKeyRate (50 times more with
	// HMAC-SHA-256, whose hash is cheap).
	NewKeyRate float64
}

// DefaultNewKeyRate bounds argon2id runs for keys not seen lately: at
// about 26 ms each, 20 a second keep a flood of made-up keys under half a
// core.
const DefaultNewKeyRate = 20

// DefaultPrefixThrottle is the failure policy per key prefix. Prefixes are
// not secret (listings show them), so whoever knows one can delay that
// key's uncached verifications; locks are therefore short and capped.
func DefaultPrefixThrottle() throttle.Policy {
	return throttle.Policy{Free: 10, BaseLock: time.Second, MaxLock: time.Minute, Forget: 15 * time.Minute}
}

// DefaultIPThrottle is the failure policy per client address.
func DefaultIPThrottle() throttle.Policy {
	return throttle.Policy{Free: 20, BaseLock: time.Second, MaxLock: 5 * time.Minute, Forget: 15 * time.Minute}
}

// Service creates, verifies, rotates and revokes API keys.
type Service struct {
	store    Store
	hasher   Hasher
	hashers  map[string]Hasher
	now      func() time.Time
	cache    *cache // nil when off
	prefixes *throttle.Limiter
	ips      *throttle.Limiter
	budget   *bucket // hashes for keys not seen lately, per second

	touchMu sync.Mutex
	touched map[string]time.Time   // key id -> last "last used" write
	good    map[[32]byte]time.Time // SHA-256 of a key -> when it last verified
}

// IDPrefix starts every key's id ("ak_..."): ids are told apart from other
// ids at a glance, and never start with "-", which command lines would
// take for a flag.
const IDPrefix = "ak_"

// TouchInterval is how often a key's "last used" time is written at
// most, per node: a busy key costs one store write per interval, not one
// per request. Listings are therefore accurate to about this much.
const TouchInterval = time.Minute

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Hasher == nil {
		return nil, errors.New("apikey: Config.Store and Config.Hasher are required")
	}
	if cfg.CacheTTL > MaxCacheTTL {
		return nil, fmt.Errorf("apikey: CacheTTL %s exceeds %s, the bound on how long a revoked key may keep working", cfg.CacheTTL, MaxCacheTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{store: cfg.Store, hasher: cfg.Hasher, now: cfg.Now, hashers: map[string]Hasher{},
		touched: map[string]time.Time{}, good: map[[32]byte]time.Time{}}
	rate := cfg.NewKeyRate
	if rate <= 0 {
		rate = DefaultNewKeyRate
		if cfg.Hasher.Alg() == store.APIKeyHashHMACSHA256 {
			rate = 50 * DefaultNewKeyRate // a hash costs microseconds, not tens of milliseconds
		}
	}
	s.budget = newBucket(rate, 2*rate, cfg.Now)
	for _, h := range append([]Hasher{cfg.Hasher}, cfg.Verifiers...) {
		if _, dup := s.hashers[h.Alg()]; !dup {
			s.hashers[h.Alg()] = h
		}
	}
	if cfg.CacheTTL >= 0 {
		ttl, size := cfg.CacheTTL, cfg.CacheSize
		if ttl == 0 {
			ttl = MaxCacheTTL
		}
		if size <= 0 {
			size = DefaultCacheSize
		}
		s.cache = newCache(ttl, size)
	}
	s.prefixes, s.ips = cfg.PrefixLimiter, cfg.IPLimiter
	if s.prefixes == nil {
		s.prefixes = throttle.New(DefaultPrefixThrottle(), cfg.Now)
	}
	if s.ips == nil {
		s.ips = throttle.New(DefaultIPThrottle(), cfg.Now)
	}
	return s, nil
}

// Verify returns the key that key is, or ErrInvalidKey, or a
// *ThrottledError, or another error when the check itself failed (store
// unreachable, context done: the caller answers 5xx). clientIP is the
// address failures are counted against, as the caller determines it; ""
// counts failures per prefix only, for checks made on behalf of another
// server (introspection by a resource server, whose own address must not
// be locked out by its callers' mistakes).
//
// An unknown prefix costs the same store query and one hash, like a wrong
// secret; a malformed key is rejected without either, since the format is
// public and rejecting it fast reveals nothing about stored keys.
func (s *Service) Verify(ctx context.Context, key, clientIP string) (Key, error) {
	now := s.now()
	sum := sha256.Sum256([]byte(key))
	var gen uint64
	if s.cache != nil {
		if k, ok := s.cache.get(sum, now); ok {
			return cloneKey(k), nil
		}
		gen = s.cache.generation()
	}

	prefix, wellFormed := parse(key)
	// A key that verified here recently skips the locks: prefixes are shown
	// in listings and addresses may be shared (a proxy), and whoever knows
	// one must not be able to lock the key's holder out by failing on
	// purpose. Checks made for another server (clientIP "") are not locked
	// per prefix either: the resource server's callers would lock each
	// other out; the budget below bounds what they cost instead.
	known := s.knownGood(sum, now)
	var wait time.Duration
	if clientIP != "" && !known {
		wait = s.ips.Wait(clientIP)
		if wellFormed {
			wait = max(wait, s.prefixes.Wait(prefix))
		}
	}
	if wait > 0 {
		return Key{}, &ThrottledError{RetryAfter: wait}
	}
	if !wellFormed {
		s.failIP(clientIP)
		return Key{}, ErrInvalidKey
	}
	// Every check of a key not seen lately costs a hash (an argon2id run,
	// or the dummy one for an unknown prefix); a node spends at most its
	// budget of them per second, so a flood of made-up keys cannot take
	// the hashing slots from keys in use.
	if !known && !s.budget.take(now) {
		return Key{}, &ThrottledError{RetryAfter: time.Second}
	}

	hasher, stored := s.hasher, []byte(nil)
	rec, err := s.store.GetAPIKeyByPrefix(ctx, prefix)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Verify against the dummy hash below.
	case err != nil:
		return Key{}, fmt.Errorf("apikey: verify: %w", err)
	default:
		h, ok := s.hashers[rec.HashAlg]
		if !ok {
			return Key{}, fmt.Errorf("apikey: verify: key sk_%s… is hashed with %q, which this server is not configured to check", rec.Prefix, rec.HashAlg)
		}
		hasher, stored = h, rec.Hash
		if stored == nil {
			stored = []byte{} // never the dummy: an empty hash matches nothing
		}
	}
	match, err := hasher.Verify(ctx, key, stored)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: verify: %w", err)
	}
	if !match || !rec.RevokedAt.IsZero() || expired(rec.ExpiresAt, now) {
		s.prefixes.Fail(prefix)
		s.failIP(clientIP)
		return Key{}, ErrInvalidKey
	}
	s.prefixes.Succeed(prefix)
	k := view(rec)
	if s.cache != nil {
		s.cache.put(sum, k, now, gen)
	}
	s.touch(ctx, rec.ID, now)
	s.markGood(sum, now)
	return cloneKey(k), nil
}

// KnownGoodFor is how long a key that verified is exempt from its
// prefix's lock on this node.
const KnownGoodFor = time.Hour

func (s *Service) knownGood(sum [32]byte, now time.Time) bool {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	at, ok := s.good[sum]
	return ok && now.Sub(at) < KnownGoodFor && !now.Before(at)
}

func (s *Service) markGood(sum [32]byte, now time.Time) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if len(s.good) >= 100_000 {
		clear(s.good) // bounded; keys just lose the exemption until next used
	}
	s.good[sum] = now
}

// touch records that key id was used, at most once per TouchInterval and
// off the request path. A failed write only leaves "last used" older.
func (s *Service) touch(ctx context.Context, id string, now time.Time) {
	s.touchMu.Lock()
	last, ok := s.touched[id]
	due := !ok || now.Sub(last) >= TouchInterval || now.Before(last)
	if due {
		if len(s.touched) > 100_000 {
			clear(s.touched) // bounded; the cost is a few extra writes
		}
		s.touched[id] = now
	}
	s.touchMu.Unlock()
	if !due {
		return
	}
	go func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.store.TouchAPIKey(tctx, id, now)
	}()
}

func (s *Service) failIP(ip string) {
	if ip != "" {
		s.ips.Fail(ip)
	}
}

func expired(expiresAt, now time.Time) bool { return !expiresAt.IsZero() && !now.Before(expiresAt) }

// cloneKey copies the lists so that a caller changing them cannot change
// what the cache hands to the next request.
func cloneKey(k Key) Key {
	k.Roles, k.Scopes = slices.Clone(k.Roles), slices.Clone(k.Scopes)
	return k
}

// CreateRequest describes a new key.
type CreateRequest struct {
	// Name is a label for people (1 to 200 bytes of UTF-8, no control
	// characters).
	Name string
	// Roles must exist in the store.
	Roles []string
	// Scopes are RFC 6749 §3.3 scope tokens.
	Scopes []string
	// ExpiresIn is the key's lifetime from now; zero means it never
	// expires (whether that is allowed is the caller's policy).
	ExpiresIn time.Duration
}

// maxCreateAttempts bounds retries on a prefix collision (48-bit
// prefixes: a collision is already unlikely with millions of keys).
const maxCreateAttempts = 5

// Create stores a new key and returns it in plaintext, the only time it is
// available, with its record.
func (s *Service) Create(ctx context.Context, req CreateRequest) (string, Key, error) {
	if err := s.validate(ctx, req); err != nil {
		return "", Key{}, err
	}
	now := s.now()
	var exp time.Time
	if req.ExpiresIn > 0 {
		exp = now.Add(req.ExpiresIn)
	}
	rec := store.APIKey{Name: req.Name, Roles: req.Roles, Scopes: req.Scopes, CreatedAt: now, ExpiresAt: exp}
	plain, rec, err := s.insert(ctx, rec, func(k store.APIKey) error { return s.store.CreateAPIKey(ctx, k) })
	if err != nil {
		return "", Key{}, fmt.Errorf("apikey: create: %w", err)
	}
	return plain, cloneKey(view(rec)), nil
}

// insert generates a key for rec, hashes it and writes it with write,
// retrying with a fresh key when the prefix (or id) is taken.
func (s *Service) insert(ctx context.Context, rec store.APIKey, write func(store.APIKey) error) (string, store.APIKey, error) {
	for range maxCreateAttempts {
		plain, prefix := generate()
		hash, err := s.hasher.Hash(ctx, plain)
		if err != nil {
			return "", store.APIKey{}, err
		}
		rec.ID, rec.Prefix, rec.Hash, rec.HashAlg = IDPrefix+secret.ID(), prefix, hash, s.hasher.Alg()
		err = write(rec)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return "", store.APIKey{}, err
		}
		return plain, rec, nil
	}
	return "", store.APIKey{}, fmt.Errorf("%d prefix collisions in a row: %w", maxCreateAttempts, store.ErrConflict)
}

func (s *Service) validate(ctx context.Context, req CreateRequest) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...))
	}
	if req.Name == "" || len(req.Name) > 200 || !utf8.ValidString(req.Name) ||
		strings.ContainsFunc(req.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad("name must be 1 to 200 bytes of UTF-8 without control characters")
	}
	if req.ExpiresIn < 0 {
		bad("negative lifetime %s", req.ExpiresIn)
	}
	for i, r := range req.Roles {
		if err := rbac.ValidateRoleName(r); err != nil {
			bad("%v", err)
			continue
		}
		if slices.Contains(req.Roles[:i], r) {
			bad("role %q listed twice", r)
			continue
		}
		_, err := s.store.GetRole(ctx, r)
		switch {
		case errors.Is(err, store.ErrNotFound):
			bad("role %q does not exist", r)
		case err != nil:
			return fmt.Errorf("apikey: create: %w", err)
		}
	}
	for i, sc := range req.Scopes {
		if !validScope(sc) {
			bad("scope %q is not an RFC 6749 scope token", sc)
		} else if slices.Contains(req.Scopes[:i], sc) {
			bad("scope %q listed twice", sc)
		}
	}
	return errors.Join(errs...)
}

// validScope checks RFC 6749 §3.3: scope-token = 1*NQCHAR, NQCHAR =
// %x21 / %x23-5B / %x5D-7E; bounded to 128 bytes.
func validScope(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Get returns the key with that id (store.ErrNotFound when absent).
func (s *Service) Get(ctx context.Context, id string) (Key, error) {
	k, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: get: %w", err)
	}
	return view(k), nil
}

// List returns every key, revoked and expired ones included, oldest first.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	ks, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = view(k)
	}
	return out, nil
}

// Revoke revokes the key at once on this node (its cache entries go) and
// within MaxCacheTTL on every other node. Revoking a revoked key is not an
// error; store.ErrNotFound when absent.
func (s *Service) Revoke(ctx context.Context, id string) error {
	err := s.store.RevokeAPIKey(ctx, id, s.now())
	if s.cache != nil {
		s.cache.drop(id)
	}
	if err != nil {
		return fmt.Errorf("apikey: revoke: %w", err)
	}
	return nil
}

// Rotate issues a successor of key id (same name, roles and scopes, and
// the same lifetime counted from now) and ends the old key after overlap:
// its expiry becomes now+overlap, or stays where it is if that is sooner.
// It returns the new key in plaintext, once. store.ErrNotFound,
// store.ErrRevoked and store.ErrExpired report an absent, revoked or
// already expired key.
func (s *Service) Rotate(ctx context.Context, id string, overlap time.Duration) (string, Key, error) {
	if overlap < 0 {
		return "", Key{}, fmt.Errorf("%w: negative overlap %s", ErrInvalidRequest, overlap)
	}
	old, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		return "", Key{}, fmt.Errorf("apikey: rotate: %w", err)
	}
	now := s.now()
	switch {
	case !old.RevokedAt.IsZero():
		return "", Key{}, fmt.Errorf("apikey: rotate: %w", store.ErrRevoked)
	case expired(old.ExpiresAt, now):
		// Rotation must not become a way to renew an expired key.
		return "", Key{}, fmt.Errorf("apikey: rotate: %w", store.ErrExpired)
	}
	next := store.APIKey{Name: old.Name, Roles: old.Roles, Scopes: old.Scopes, CreatedAt: now}
	if !old.ExpiresAt.IsZero() {
		next.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	plain, next, err := s.insert(ctx, next, func(k store.APIKey) error {
		return s.store.RotateAPIKey(ctx, id, now.Add(overlap), k)
	})
	if s.cache != nil {
		s.cache.drop(id) // cached with the old expiry
	}
	if err != nil {
		return "", Key{}, fmt.Errorf("apikey: rotate: %w", err)
	}
	return plain, cloneKey(view(next)), nil
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(rate, burst float64, now func() time.Time) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, now: now}
}

// take spends a token if one is left at now.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

package sdk

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// MaxTokenSize is the longest token Verify parses; longer ones fail with
	// ErrTooLarge before any decoding. Gatehouse's access tokens are well
	// under 2 KiB.
	MaxTokenSize = 8 << 10
	// MaxLeeway caps Config.Leeway: skew beyond a minute is a broken clock.
	MaxLeeway = 60 * time.Second
	// DefaultLeeway is used when Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// DefaultRefreshCooldown is used when Config.RefreshCooldown is zero.
	DefaultRefreshCooldown = 10 * time.Second
	// cacheSize bounds the verified-token cache.
	cacheSize = 10_000
)

// supportedAlgorithm reports whether the Verifier can check alg. "none"
// and the HS* family are not among them: a resource server has no business
// holding the issuer's HMAC secret, and RFC 8725 §3.1 forbids "none".
func supportedAlgorithm(alg string) bool {
	switch alg {
	case "ES256", "RS256", "EdDSA":
		return true
	}
	return false
}

// Config configures a Verifier. Issuer, Audience and Algorithms are
// required: there is no default that accepts more.
type Config struct {
	// Issuer is the Gatehouse issuer URL. Discovery is fetched from
	// Issuer + "/.well-known/openid-configuration", its "issuer" must equal
	// Issuer byte for byte, and so must every token's "iss".
	Issuer string
	// Audience is this API's identifier; it must be one of a token's "aud"
	// values.
	Audience string
	// Algorithms is the allowlist of JWS algorithms: a non-empty subset of
	// ES256, RS256 and EdDSA.
	Algorithms []string
	// HTTPClient fetches discovery and the JWKS; nil means
	// http.DefaultClient. Every request is bounded by a 5 s timeout and a
	// 1 MiB body limit regardless of the client.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed for exp, nbf and iat: zero means
	// DefaultLeeway (30 s), negative means none, and values above
	// MaxLeeway (60 s) are capped.
	Leeway time.Duration
	// RefreshCooldown is the least time between two JWKS fetches triggered
	// by tokens with an unknown kid; zero means DefaultRefreshCooldown
	// (10 s).
	RefreshCooldown time.Duration
	// Revocation is asked about every token that verifies, cached ones
	// included; a revoked token fails with ErrRevoked and leaves the
	// cache. Required: use a FeedChecker, a redisrevocation.Checker, or
	// InsecureNoRevocation to opt out knowingly.
	Revocation RevocationChecker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies Gatehouse access tokens (RFC 9068 JWTs) for one
// audience. It is safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	allowed  map[string]bool
	leeway   time.Duration
	now      func() time.Time
	keys     *keySet
	cache    *tokenCache
	revoked  RevocationChecker

	hmu     sync.RWMutex
	headers map[string]headerInfo // see header
}

// NewVerifier validates cfg, discovers the issuer's jwks_uri and fetches its
// key set. It fails if cfg is incomplete (ErrInvalidConfig), if discovery
// names another issuer, or if the JWKS holds no usable key.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: Issuer is required", ErrInvalidConfig)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Audience is required", ErrInvalidConfig)
	}
	if len(cfg.Algorithms) == 0 {
		return nil, fmt.Errorf("%w: Algorithms is required", ErrInvalidConfig)
	}
	if cfg.Revocation == nil {
		return nil, fmt.Errorf("%w: Revocation is required (a FeedChecker, a redisrevocation.Checker, or InsecureNoRevocation)", ErrInvalidConfig)
	}
	allowed := make(map[string]bool, len(cfg.Algorithms))
	for _, a := range cfg.Algorithms {
		if !supportedAlgorithm(a) {
			return nil, fmt.Errorf("%w: algorithm %q is not supported (use ES256, RS256 or EdDSA)", ErrInvalidConfig, a)
		}
		allowed[a] = true
	}
	issURL, err := url.Parse(cfg.Issuer)
	if err != nil || (issURL.Scheme != "https" && issURL.Scheme != "http") || issURL.Host == "" {
		return nil, fmt.Errorf("%w: Issuer must be an absolute https URL", ErrInvalidConfig)
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		allowed:  allowed,
		now:      cfg.Now,
		cache:    newTokenCache(cacheSize),
		revoked:  cfg.Revocation,
		headers:  map[string]headerInfo{},
	}
	switch {
	case cfg.Leeway == 0:
		v.leeway = DefaultLeeway
	case cfg.Leeway < 0:
		v.leeway = 0
	default:
		v.leeway = min(cfg.Leeway, MaxLeeway)
	}
	if v.now == nil {
		v.now = time.Now
	}
	cooldown := cfg.RefreshCooldown
	if cooldown <= 0 {
		cooldown = DefaultRefreshCooldown
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discURL := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, client, discURL, &disc); err != nil {
		return nil, fmt.Errorf("sdk: discovery: %w", err)
	}
	if disc.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("sdk: discovery: issuer %q does not match the configured %q", disc.Issuer, cfg.Issuer)
	}
	ju, err := url.Parse(disc.JWKSURI)
	if err != nil || ju.Host == "" || (ju.Scheme != "https" && ju.Scheme != issURL.Scheme) {
		return nil, fmt.Errorf("sdk: discovery: bad jwks_uri %q", disc.JWKSURI)
	}
	keys, err := fetchJWKS(ctx, client, disc.JWKSURI, allowed)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("sdk: JWKS at %s has no usable key for %v", disc.JWKSURI, cfg.Algorithms)
	}
	v.keys = &keySet{
		client:      client,
		jwksURI:     disc.JWKSURI,
		allowed:     allowed,
		cooldown:    cooldown,
		now:         v.now,
		lastAttempt: v.now(),
	}
	v.keys.keys.Store(&keys)
	return v, nil
}

// Verify checks an access token and returns its claims. It requires, in
// this order: at most MaxTokenSize bytes; three base64url segments; no jku,
// jwk, x5u, x5c or crit header; an "alg" in Config.Algorithms; "typ"
// at+jwt (RFC 9068 §2.1); a "kid" naming a key of the issuer's JWKS whose
// own "alg" is the token's; a valid signature; then "iss" equal to
// Config.Issuer, "aud" containing Config.Audience, "exp" present and not
// passed, "nbf" and "iat" not in the future (each with the leeway), and a
// "jti". An unknown kid refetches the JWKS at most once per
// Config.RefreshCooldown. Header URLs and embedded keys are never fetched
// or used.
//
// A token that verified before is answered from a bounded in-memory cache
// (keyed by its SHA-256) until it expires, skipping the signature check.
// Every token that verifies, cached or not, is then checked against
// Config.Revocation: a revoked one fails with ErrRevoked (and leaves the
// cache), and a checker that cannot answer fails closed with
// ErrRevocationUnavailable.
//
// Every rejection wraps ErrInvalidToken and one specific error (ErrRevoked
// included); an outage (ErrKeysUnavailable, ErrRevocationUnavailable) is
// not a rejection, and does not wrap it.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.verify(ctx, token, true)
}

func (v *Verifier) verify(ctx context.Context, token string, useCache bool) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	var c *Claims
	if useCache {
		c = v.cache.get(token, v.now())
	}
	if c != nil {
		if err := v.checkTimes(c); err != nil {
			return nil, err
		}
	} else {
		var err error
		if c, err = v.verifyUncached(ctx, token); err != nil {
			return nil, err
		}
		if useCache {
			v.cache.put(token, c, c.ExpiresAt.Add(v.leeway), v.now())
		}
	}
	revoked, err := v.revoked.Revoked(ctx, c)
	switch {
	case err != nil && errors.Is(err, ErrRevocationUnavailable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	case revoked:
		v.cache.drop(token)
		return nil, ErrRevoked
	}
	return c.clone(), nil
}

// jwsHeader is the JOSE header; members are decoded strictly, and the
// forbidden ones are only checked for presence.
type jwsHeader struct {
	Alg  *string         `json:"alg"`
	Typ  *string         `json:"typ"`
	Kid  *string         `json:"kid"`
	JKU  json.RawMessage `json:"jku"`
	JWK  json.RawMessage `json:"jwk"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
	Crit json.RawMessage `json:"crit"`
}

func (v *Verifier) verifyUncached(ctx context.Context, token string) (*Claims, error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	// An empty signature segment is left to the signature check, so that
	// an unsigned "alg":"none" token is reported as ErrAlgorithm.
	if !ok1 || !ok2 || h64 == "" || p64 == "" || strings.Contains(s64, ".") {
		return nil, fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	alg, kid, err := v.header(h64)
	if err != nil {
		return nil, err
	}
	key, err := v.keys.get(ctx, kid)
	if err != nil {
		return nil, err
	}
	if key.alg != alg {
		return nil, fmt.Errorf("%w: key %q is for %s", ErrAlgorithm, kid, key.alg)
	}
	sig, err := b64(s64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrSignature)
	}
	if !verifySignature(key, token[:len(h64)+1+len(p64)], sig) {
		return nil, ErrSignature
	}
	pb, err := b64(p64)
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	c, err := parseClaims(pb)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	return c, nil
}

// header decodes and checks a JOSE header segment and returns its alg and
// kid. Gatehouse's tokens share a handful of headers (one per signing
// key), so headers that pass are remembered by their encoded form, which
// spares the decoding for the next token; the cache holds at most
// maxHeaders entries, and a header that fails is never cached.
func (v *Verifier) header(h64 string) (alg, kid string, err error) {
	v.hmu.RLock()
	h, ok := v.headers[h64]
	v.hmu.RUnlock()
	if ok {
		return h.alg, h.kid, nil
	}
	hb, err := b64(h64)
	if err != nil {
		return "", "", fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	if hb = bytes.TrimSpace(hb); len(hb) == 0 || hb[0] != '{' {
		return "", "", fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var jh jwsHeader
	if err := json.Unmarshal(hb, &jh); err != nil {
		return "", "", fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	// RFC 7515 §4 lets a parser keep the last of duplicate members, but
	// then two parsers can read different algs or kids from one header.
	if dup, err := duplicateMember(hb); err != nil || dup {
		return "", "", fmt.Errorf("%w: a header member appears twice", ErrMalformed)
	}
	switch {
	case jh.JKU != nil || jh.JWK != nil || jh.X5U != nil || jh.X5C != nil || jh.Crit != nil:
		return "", "", ErrHeader
	case jh.Alg == nil || !v.allowed[*jh.Alg]:
		return "", "", ErrAlgorithm
	case jh.Typ == nil || !isAccessTokenType(*jh.Typ):
		return "", "", ErrType
	case jh.Kid == nil || *jh.Kid == "":
		return "", "", fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	v.hmu.Lock()
	if len(v.headers) >= maxHeaders {
		clear(v.headers)
	}
	v.headers[h64] = headerInfo{alg: *jh.Alg, kid: *jh.Kid}
	v.hmu.Unlock()
	return *jh.Alg, *jh.Kid, nil
}

// duplicateMember reports whether the JSON object b names a member twice,
// compared case-insensitively as encoding/json matches struct fields; an
// error means b is not one JSON object.
func duplicateMember(b []byte) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false, errors.New("not a JSON object")
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false, err
		}
		name, _ := t.(string)
		for _, s := range seen {
			if strings.EqualFold(s, name) {
				return true, nil
			}
		}
		seen = append(seen, name)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false, err
		}
	}
	return false, nil
}

// maxHeaders bounds the header cache: a few signing keys in rotation need
// a few entries; forged headers that pass the checks only churn it.
const maxHeaders = 64

type headerInfo struct{ alg, kid string }

// isAccessTokenType reports whether typ is "at+jwt" or
// "application/at+jwt", in any case (RFC 7515 §4.1.9, RFC 9068 §2.1).
func isAccessTokenType(typ string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

// verifySignature checks sig over signingInput with key's one algorithm.
func verifySignature(key publicKey, signingInput string, sig []byte) bool {
	switch key.alg {
	case "ES256":
		pub, ok := key.key.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		digest := sha256.Sum256([]byte(signingInput))
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest[:], r, s)
	case "RS256":
		pub, ok := key.key.(*rsa.PublicKey)
		if !ok {
			return false
		}
		digest := sha256.Sum256([]byte(signingInput))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case "EdDSA":
		pub, ok := key.key.(ed25519.PublicKey)
		return ok && ed25519.Verify(pub, []byte(signingInput), sig)
	}
	return false
}

// checkClaims checks the claim values of a token whose signature holds.
func (v *Verifier) checkClaims(c *Claims) error {
	if c.Issuer != v.issuer {
		return ErrInvalidIssuer
	}
	if !slices.Contains(c.Audience, v.audience) {
		return ErrInvalidAudience
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: no exp", ErrMalformed)
	}
	if c.ID == "" {
		return fmt.Errorf("%w: no jti", ErrMalformed)
	}
	return v.checkTimes(c)
}

// checkTimes checks exp, nbf and iat against the clock, with the leeway.
func (v *Verifier) checkTimes(c *Claims) error {
	now := v.now()
	if !now.Add(-v.leeway).Before(c.ExpiresAt) {
		return ErrExpired
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return ErrNotYetValid
	}
	if !c.IssuedAt.IsZero() && now.Add(v.leeway).Before(c.IssuedAt) {
		return fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	return nil
}

// tokenCache remembers verified tokens until they expire. It is keyed by
// the token itself: the map compares whole keys, so a spliced or altered
// token can never hit another token's entry, and hashing a string for a
// map costs far less than a cryptographic hash. It holds at most size
// entries; when full, the oldest insertion is evicted. Expired entries
// are dropped when looked up or evicted.
type tokenCache struct {
	mu    sync.Mutex
	m     map[string]cacheEntry
	ring  []string // insertion order; ring[next] is the oldest once full
	next  int
	count int // slots of ring in use
}

type cacheEntry struct {
	claims  *Claims
	expires time.Time
	slot    int
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{m: make(map[string]cacheEntry), ring: make([]string, size)}
}

// get returns the claims cached for key, or nil; an expired entry is
// dropped.
func (tc *tokenCache) get(key string, now time.Time) *Claims {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	e, ok := tc.m[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(tc.m, key)
		return nil
	}
	return e.claims
}

// put stores c until expires; entries already past expires are not stored.
func (tc *tokenCache) put(key string, c *Claims, expires, now time.Time) {
	if !now.Before(expires) {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.m[key]; ok {
		return
	}
	slot := tc.next
	if tc.count == len(tc.ring) {
		old := tc.ring[slot]
		if e, ok := tc.m[old]; ok && e.slot == slot {
			delete(tc.m, old)
		}
	} else {
		tc.count++
	}
	tc.ring[slot] = key
	tc.m[key] = cacheEntry{claims: c, expires: expires, slot: slot}
	tc.next = (slot + 1) % len(tc.ring)
}

// drop forgets key (a revoked token).
func (tc *tokenCache) drop(key string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.m, key)
}

func (tc *tokenCache) len() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return len(tc.m)
}

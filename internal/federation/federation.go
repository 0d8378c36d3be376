package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Validation limits.
const (
	// MaxTokenSize bounds an external token: the largest platform tokens
	// are a few KiB.
	MaxTokenSize = 16 << 10
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway = 60 * time.Second
)

// Rejection is a refused external token. Reason is safe to show the
// client (it names the failed rule, never echoes the token); Policy names
// the policy whose rule failed, when one was tried.
type Rejection struct {
	Reason string
	Policy string
	cause  error
}

func (r *Rejection) Error() string {
	if r.cause != nil {
		return "federation: " + r.Reason + ": " + r.cause.Error()
	}
	return "federation: " + r.Reason
}

// Unwrap returns the underlying cause, if any.
func (r *Rejection) Unwrap() error { return r.cause }

func reject(reason string) *Rejection { return &Rejection{Reason: reason} }

// Identity is an external token that a policy accepted.
type Identity struct {
	Policy store.FederationPolicy
	// Issuer and Subject are the external token's iss and sub.
	Issuer  string
	Subject string
	// Expires is the external token's exp: nothing issued for it may
	// outlive it.
	Expires time.Time
}

// Store is what the federator needs from the store.
type Store interface {
	ListFederationPolicies(ctx context.Context) ([]store.FederationPolicy, error)
	UseOnce(ctx context.Context, key []byte, expiresAt, now time.Time) error
}

// Config configures a Federator.
type Config struct {
	Store Store
	// PolicyCacheTTL bounds how long a policy change takes to reach this
	// node (default 1 s).
	PolicyCacheTTL time.Duration
	// FetchTimeout bounds each key fetch (default FetchTimeout).
	FetchTimeout time.Duration
	Now          func() time.Time
}

// Federator validates external tokens against the trust policies. It is
// safe for concurrent use.
type Federator struct {
	cfg Config

	mu        sync.Mutex
	policies  []store.FederationPolicy
	loadedAt  time.Time
	sources   map[string]*keySource
	sourceAge map[string]time.Time // last use, to drop sources of deleted policies
}

// New returns a Federator.
func New(cfg Config) *Federator {
	if cfg.PolicyCacheTTL <= 0 {
		cfg.PolicyCacheTTL = time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = FetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Federator{cfg: cfg, sources: map[string]*keySource{}, sourceAge: map[string]time.Time{}}
}

// Invalidate drops the cached policies, so this node's next exchange
// reads them again (after a local change).
func (f *Federator) Invalidate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loadedAt = time.Time{}
}

// policiesFor returns the policies trusting iss, read from the store at
// most once per PolicyCacheTTL.
func (f *Federator) policiesFor(ctx context.Context, iss string) ([]store.FederationPolicy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now()
	if f.loadedAt.IsZero() || now.Sub(f.loadedAt) >= f.cfg.PolicyCacheTTL || now.Before(f.loadedAt) {
		ps, err := f.cfg.Store.ListFederationPolicies(ctx)
		if err != nil {
			return nil, fmt.Errorf("federation: load policies: %w", err)
		}
		f.policies, f.loadedAt = ps, now
	}
	var out []store.FederationPolicy
	for _, p := range f.policies {
		if p.Issuer == iss {
			out = append(out, p)
		}
	}
	return out, nil
}

// source returns the key source of p, shared by policies that find keys
// the same way.
func (f *Federator) source(p store.FederationPolicy) *keySource {
	key := sourceKey(p)
	if len(p.JWKS) > 0 {
		sum := sha256.Sum256(p.JWKS)
		key += ":" + hex.EncodeToString(sum[:8])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now()
	// Sources unused for a day belong to policies gone or changed.
	for k, last := range f.sourceAge {
		if now.Sub(last) > StaleKeysFor {
			delete(f.sources, k)
			delete(f.sourceAge, k)
		}
	}
	f.sourceAge[key] = now
	if s, ok := f.sources[key]; ok {
		return s
	}
	s := &keySource{issuer: p.Issuer, jwksURI: p.JWKSURI, now: f.cfg.Now,
		client: guardedClient(p.AllowPrivateNetwork, f.cfg.FetchTimeout)}
	if len(p.JWKS) > 0 {
		keys, _ := parseKeySet(p.JWKS) // Normalize checked it
		s.static, s.keys = true, keys
	}
	f.sources[key] = s
	return s
}

// header is the JOSE header of an external token.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// forbiddenHeaders name keys or extensions a token would bring along:
// keys come from the policy's issuer only (RFC 8725 §3.10).
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c", "crit"}

// Validate checks an external token against the policies trusting its
// issuer and returns the identity the first matching policy (by name)
// accepts. A *Rejection names the rule it failed; ErrKeysUnavailable
// wraps an issuer that cannot be reached (retry later); any other error is
// the store's.
func (f *Federator) Validate(ctx context.Context, token string) (Identity, error) {
	if len(token) > MaxTokenSize {
		return Identity{}, reject("the token is too large")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		return Identity{}, reject("the token is not a signed JWT (JWE and unsigned tokens are refused)")
	}
	h, err := decodeHeader(parts[0])
	if err != nil {
		return Identity{}, err
	}
	claims, err := decodeClaims(parts[1])
	if err != nil {
		return Identity{}, err
	}
	iss, _ := claims["iss"].(string)
	if iss == "" {
		return Identity{}, reject("the token has no iss")
	}
	policies, err := f.policiesFor(ctx, iss)
	if err != nil {
		return Identity{}, err
	}
	if len(policies) == 0 {
		return Identity{}, reject("no federation policy trusts the token's issuer")
	}
	now := f.cfg.Now()
	var first error
	for _, p := range policies {
		id, err := f.check(ctx, p, h, parts, claims, now)
		if err == nil {
			return id, f.useOnce(ctx, p, id, claims, now)
		}
		var rej *Rejection
		if !errors.As(err, &rej) {
			return Identity{}, err // an outage decides nothing
		}
		if first == nil {
			first = err
		}
	}
	return Identity{}, first
}

// check applies one policy to a decoded token.
func (f *Federator) check(ctx context.Context, p store.FederationPolicy, h header, parts []string, claims map[string]any, now time.Time) (Identity, error) {
	fail := func(reason string) error { return &Rejection{Reason: reason, Policy: p.Name} }
	if !slices.Contains(p.Algorithms, h.Alg) {
		return Identity{}, fail("the token's algorithm is not allowed for its issuer")
	}
	k, err := f.source(p).find(ctx, h.Kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return Identity{}, fail("the issuer publishes no key with the token's kid")
	case errors.Is(err, ErrBlockedAddress):
		return Identity{}, &Rejection{Reason: "the issuer's keys are on an address the policy does not allow", Policy: p.Name, cause: err}
	case errors.Is(err, ErrTooLarge):
		return Identity{}, &Rejection{Reason: "the issuer's key set is larger than 1 MiB", Policy: p.Name, cause: err}
	case err != nil:
		return Identity{}, err
	}
	if k.alg != "" && k.alg != h.Alg {
		return Identity{}, fail("the token's algorithm is not its key's")
	}
	method := jwt.GetSigningMethod(h.Alg)
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if method == nil || err != nil || method.Verify(parts[0]+"."+parts[1], sig, k.key) != nil {
		return Identity{}, fail("the token's signature does not verify")
	}

	exp, ok := numericDate(claims, "exp")
	switch {
	case !ok:
		return Identity{}, fail("the token has no valid exp")
	case !now.Before(exp.Add(Leeway)):
		return Identity{}, fail("the token has expired")
	}
	if _, present := claims["nbf"]; present {
		t, ok := numericDate(claims, "nbf")
		if !ok || t.After(now.Add(Leeway)) {
			return Identity{}, fail("the token is not valid yet (nbf)")
		}
	}
	iat, ok := numericDate(claims, "iat")
	switch {
	case !ok:
		return Identity{}, fail("the token has no valid iat")
	case iat.After(now.Add(Leeway)):
		return Identity{}, fail("the token was issued in the future (iat)")
	case exp.Sub(iat) > p.MaxLifetime:
		return Identity{}, fail("the token lives longer than the policy allows (exp - iat)")
	}
	if !audienceHas(claims["aud"], p.Audience) {
		return Identity{}, fail("the token's audience is not the one the policy requires")
	}
	sub, _ := claims["sub"].(string)
	if sub == "" || !store.ValidText(sub) {
		return Identity{}, fail("the token has no sub")
	}
	if ok, name := conditionsMet(p, claims); !ok {
		return Identity{}, fail(fmt.Sprintf("the token does not meet the policy's condition on %q", name))
	}
	return Identity{Policy: p, Issuer: p.Issuer, Subject: sub, Expires: exp}, nil
}

// useOnce records the token's jti, so that it is exchanged once, unless
// the policy allows reuse.
func (f *Federator) useOnce(ctx context.Context, p store.FederationPolicy, id Identity, claims map[string]any, now time.Time) error {
	if p.AllowReuse {
		return nil
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return &Rejection{Reason: "the token has no jti, so it could be replayed (set allow_reuse on the policy for issuers without one)", Policy: p.Name}
	}
	key := secret.Hash("federation\x00" + id.Issuer + "\x00" + jti)
	switch err := f.cfg.Store.UseOnce(ctx, key, id.Expires.Add(Leeway), now); {
	case errors.Is(err, store.ErrConflict):
		return &Rejection{Reason: "the token was already exchanged (its jti was used)", Policy: p.Name}
	case err != nil:
		return fmt.Errorf("federation: record jti: %w", err)
	}
	return nil
}

func decodeHeader(h64 string) (header, error) {
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return header{}, reject("the token's header is not base64url")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(hb, &members); err != nil {
		return header{}, reject("the token's header is not a JSON object")
	}
	if dup, err := keys.DuplicateMember(hb); err != nil || dup {
		return header{}, reject("the token's header names a member twice")
	}
	for _, name := range forbiddenHeaders {
		for m := range members {
			if strings.EqualFold(m, name) {
				return header{}, reject("the token names its own key or a critical extension (jwk, jku, x5u, x5c, crit); keys come from the issuer only")
			}
		}
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg == "" {
		return header{}, reject("the token's header has no valid alg")
	}
	return h, nil
}

func decodeClaims(p64 string) (map[string]any, error) {
	pb, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return nil, reject("the token's payload is not base64url")
	}
	if dup, err := keys.DuplicateMember(pb); err != nil || dup {
		return nil, reject("the token's payload is not a JSON object with unique claims")
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, reject("the token's payload is not a JSON object")
	}
	return claims, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2): a finite,
// non-negative number of seconds.
func numericDate(claims map[string]any, name string) (time.Time, bool) {
	n, ok := claims[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	v, err := n.Float64()
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// audienceHas reports whether an aud claim (a string or an array of
// strings) holds want.
func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

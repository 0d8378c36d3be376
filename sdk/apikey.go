package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// APIKeyPrefix starts every Gatehouse API key ("sk_" and at least 43
// base64url characters).
const APIKeyPrefix = "sk_"

// API key verification limits.
const (
	// DefaultAPIKeyCacheTTL is used when APIKeyConfig.CacheTTL is zero.
	DefaultAPIKeyCacheTTL = 30 * time.Second
	// MaxAPIKeyCacheTTL caps APIKeyConfig.CacheTTL. Gatehouse keeps the
	// revocation entry of a revoked key longer than this, so a cached key
	// is always caught by the revocation check.
	MaxAPIKeyCacheTTL = 5 * time.Minute
	// apiKeyNegativeTTL is how long a key Gatehouse called inactive is
	// answered without asking again: it bounds the introspection calls a
	// client spraying one bad key can cause.
	apiKeyNegativeTTL = 5 * time.Second
	// maxAPIKeySize bounds what is sent to Gatehouse.
	maxAPIKeySize   = 256
	apiKeyCacheSize = 10_000
)

// ErrAPIKey reports an API key that is malformed, unknown, expired or
// revoked; Gatehouse does not say which.
var ErrAPIKey = fmt.Errorf("%w: API key not accepted", ErrInvalidToken)

// ErrIntrospectionUnavailable reports that Gatehouse could not be asked
// about an API key. It does not wrap ErrInvalidToken (answered 503).
var ErrIntrospectionUnavailable = errors.New("sdk: API key introspection unavailable")

// APIKeyConfig configures an APIKeyVerifier.
type APIKeyConfig struct {
	// Issuer is the Gatehouse issuer URL; the introspection endpoint is
	// found through its discovery document.
	Issuer string
	// ClientID and ClientSecret are the API's confidential client, sent
	// with HTTP Basic to the introspection endpoint (RFC 7662 §2.1).
	ClientID     string
	ClientSecret string
	// Revocation is asked about every key, cached ones included, so a key
	// revoked in Gatehouse fails at once rather than when its cache entry
	// ends. Use the same checker as the Verifier's. Required.
	Revocation RevocationChecker
	// CacheTTL is how long an accepted key is answered from memory; zero
	// means DefaultAPIKeyCacheTTL, and it is capped at MaxAPIKeyCacheTTL.
	CacheTTL time.Duration
	// HTTPClient makes the requests; nil means http.DefaultClient. Each is
	// bounded by a 5 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// APIKeyVerifier checks Gatehouse API keys by token introspection
// (RFC 7662) behind a short cache. It implements TokenVerifier, for
// AcceptAPIKeys.
type APIKeyVerifier struct {
	cfg      APIKeyConfig
	endpoint string
	client   *http.Client

	mu       sync.Mutex
	accepted map[[32]byte]apiKeyEntry
	refused  map[[32]byte]time.Time // until
	inflight map[[32]byte]*apiKeyCall
}

type apiKeyEntry struct {
	claims  *Claims
	expires time.Time
}

type apiKeyCall struct {
	done   chan struct{}
	claims *Claims
	err    error
}

var _ TokenVerifier = (*APIKeyVerifier)(nil)

// NewAPIKeyVerifier discovers the issuer's introspection endpoint.
func NewAPIKeyVerifier(ctx context.Context, cfg APIKeyConfig) (*APIKeyVerifier, error) {
	switch {
	case cfg.Issuer == "":
		return nil, fmt.Errorf("%w: APIKeyConfig.Issuer is required", ErrInvalidConfig)
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, fmt.Errorf("%w: APIKeyConfig.ClientID and ClientSecret are required", ErrInvalidConfig)
	case cfg.Revocation == nil:
		return nil, fmt.Errorf("%w: APIKeyConfig.Revocation is required", ErrInvalidConfig)
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultAPIKeyCacheTTL
	}
	cfg.CacheTTL = min(cfg.CacheTTL, MaxAPIKeyCacheTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := getJSON(ctx, client, strings.TrimSuffix(cfg.Issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, fmt.Errorf("sdk: discovery: %w", err)
	}
	if disc.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("sdk: discovery: issuer %q does not match the configured %q", disc.Issuer, cfg.Issuer)
	}
	u, err := url.Parse(disc.Introspection)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("sdk: discovery: bad introspection_endpoint %q", disc.Introspection)
	}
	return &APIKeyVerifier{cfg: cfg, endpoint: disc.Introspection, client: client,
		accepted: map[[32]byte]apiKeyEntry{}, refused: map[[32]byte]time.Time{}, inflight: map[[32]byte]*apiKeyCall{}}, nil
}

// Verify checks an API key: well-formed, then answered from the cache or
// by Gatehouse's introspection endpoint (one request per key at a time),
// then checked against the revocation list. The claims have APIKey set,
// ID and Subject the key's id, and the key's roles, scopes and
// permissions. Rejections wrap ErrAPIKey (or ErrRevoked); outages are
// ErrIntrospectionUnavailable or ErrRevocationUnavailable.
func (a *APIKeyVerifier) Verify(ctx context.Context, key string) (*Claims, error) {
	if !wellFormedAPIKey(key) {
		return nil, fmt.Errorf("%w: malformed", ErrAPIKey)
	}
	sum := sha256.Sum256([]byte(key))
	now := a.cfg.Now()
	c, err := a.lookup(ctx, sum, key, now)
	if err != nil {
		return nil, err
	}
	revoked, err := a.cfg.Revocation.Revoked(ctx, c)
	switch {
	case err != nil && errors.Is(err, ErrRevocationUnavailable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrRevocationUnavailable, err)
	case revoked:
		a.mu.Lock()
		delete(a.accepted, sum)
		a.mu.Unlock()
		return nil, ErrRevoked
	}
	return c.clone(), nil
}

// lookup answers from the caches or asks Gatehouse, single-flight per key.
func (a *APIKeyVerifier) lookup(ctx context.Context, sum [32]byte, key string, now time.Time) (*Claims, error) {
	a.mu.Lock()
	if e, ok := a.accepted[sum]; ok {
		if now.Before(e.expires) && (e.claims.ExpiresAt.IsZero() || now.Before(e.claims.ExpiresAt)) {
			a.mu.Unlock()
			return e.claims, nil
		}
		delete(a.accepted, sum)
	}
	if until, ok := a.refused[sum]; ok {
		if now.Before(until) {
			a.mu.Unlock()
			return nil, ErrAPIKey
		}
		delete(a.refused, sum)
	}
	if call, ok := a.inflight[sum]; ok {
		a.mu.Unlock()
		select {
		case <-call.done:
			return call.claims, call.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, ctx.Err())
		}
	}
	call := &apiKeyCall{done: make(chan struct{})}
	a.inflight[sum] = call
	a.mu.Unlock()

	// The request is not cancelled by this caller's context: others may
	// be waiting for it. It has its own timeout.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	call.claims, call.err = a.introspect(rctx, key)
	cancel()

	a.mu.Lock()
	delete(a.inflight, sum)
	switch {
	case call.err == nil:
		if len(a.accepted) >= apiKeyCacheSize {
			clear(a.accepted) // rare: a cold cache costs one introspection per key
		}
		a.accepted[sum] = apiKeyEntry{claims: call.claims, expires: now.Add(a.cfg.CacheTTL)}
	case errors.Is(call.err, ErrAPIKey):
		if len(a.refused) >= apiKeyCacheSize {
			clear(a.refused)
		}
		a.refused[sum] = now.Add(apiKeyNegativeTTL)
	}
	a.mu.Unlock()
	close(call.done)
	return call.claims, call.err
}

// introspection is the part of an RFC 7662 answer the SDK reads.
type introspection struct {
	Active      bool     `json:"active"`
	TokenType   string   `json:"token_type"`
	Sub         string   `json:"sub"`
	JTI         string   `json:"jti"`
	ClientID    string   `json:"client_id"`
	Scope       string   `json:"scope"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	Exp         int64    `json:"exp"`
	Iat         int64    `json:"iat"`
	Iss         string   `json:"iss"`
}

func (a *APIKeyVerifier) introspect(ctx context.Context, key string) (*Claims, error) {
	form := url.Values{"token": {key}, "token_type_hint": {"api_key"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, strings.NewReader(form.Encode())) //nolint:gosec // G704: the configured issuer's discovered endpoint
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	resp, err := a.client.Do(req) //nolint:gosec // G704: the discovered introspection endpoint
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }() // the body is read; a close error changes nothing
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", ErrIntrospectionUnavailable, err)
	}
	if len(body) > maxBodySize {
		return nil, fmt.Errorf("%w: the answer exceeds %d bytes", ErrIntrospectionUnavailable, maxBodySize)
	}
	if resp.StatusCode != http.StatusOK {
		// 401 here means this API's own credentials were refused: an
		// operator's problem, not the caller's, so not a 401 for them.
		return nil, fmt.Errorf("%w: %s", ErrIntrospectionUnavailable, resp.Status)
	}
	var in introspection
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	if !in.Active || in.TokenType != "api_key" || in.JTI == "" || (in.Iss != "" && in.Iss != a.cfg.Issuer) {
		return nil, ErrAPIKey
	}
	c := &Claims{
		APIKey:      true,
		Issuer:      in.Iss,
		Subject:     in.Sub,
		ID:          in.JTI,
		ClientID:    in.ClientID,
		Scope:       strings.Fields(in.Scope),
		Roles:       in.Roles,
		Permissions: in.Permissions,
	}
	if in.Exp > 0 {
		c.ExpiresAt = time.Unix(in.Exp, 0)
	}
	if in.Iat > 0 {
		c.IssuedAt = time.Unix(in.Iat, 0)
	}
	return c, nil
}

// wellFormedAPIKey reports whether key is "sk_" followed by 32 to 253
// base64url characters.
func wellFormedAPIKey(key string) bool {
	if len(key) > maxAPIKeySize || !strings.HasPrefix(key, APIKeyPrefix) || len(key) < len(APIKeyPrefix)+32 {
		return false
	}
	for i := len(APIKeyPrefix); i < len(key); i++ {
		switch c := key[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

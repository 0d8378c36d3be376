package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Introspection is RFC 7662's response. An inactive token is exactly
// {"active":false}: nothing about why, nothing about the token.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	SID       string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	// Permissions are those of the roles, for API keys.
	Permissions []string `json:"permissions,omitempty"`
}

// APIKeyIntrospector answers introspection requests for API keys
// ("sk_..."): nil for a key that is not active, an *oauth.Error when it
// cannot tell.
type APIKeyIntrospector interface {
	IntrospectAPIKey(ctx context.Context, key string) (*Introspection, error)
}

var inactive = []byte(`{"active":false}` + "\n")

// IntrospectionHandler serves POST /oauth/introspect.
func (e *Endpoint) IntrospectionHandler() http.Handler {
	return httpx.Handle(e.cfg.Logger, e.introspect)
}

func (e *Endpoint) introspect(w http.ResponseWriter, r *http.Request) error {
	f, err := parseAuthenticatedForm(r)
	if err != nil {
		return err
	}
	caller, err := e.cfg.Clients.Authenticate(r, f)
	if err != nil {
		return err
	}
	if caller.Public {
		return oauth.NewError(oauth.CodeUnauthorizedClient, "public clients cannot introspect tokens")
	}
	tok := f.Get("token")
	if tok == "" {
		return oauth.NewError(oauth.CodeInvalidRequest, "token is required")
	}
	httpx.NoStore(w)
	var res *Introspection
	switch {
	case strings.HasPrefix(tok, APIKeyPrefix):
		// Any confidential client may ask about an API key: keys are not
		// bound to an audience, and resource servers must check them.
		if e.cfg.APIKeys != nil {
			res, err = e.cfg.APIKeys.IntrospectAPIKey(r.Context(), tok)
		}
	case looksLikeJWT(tok):
		res, err = e.introspectAccess(r.Context(), tok, caller)
	default:
		res, err = e.introspectRefresh(r.Context(), tok, caller)
	}
	if err != nil {
		return err
	}
	if res == nil {
		httpx.WriteJSONBytes(w, http.StatusOK, inactive)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

// APIKeyPrefix starts every API key.
const APIKeyPrefix = "sk_"

// VerifyAccessToken verifies one of our access tokens (signature, typ,
// issuer, expiry) and checks the revocation list. A nil error means valid.
// A token that verified before is taken from a small cache until it
// expires, skipping the signature check; the revocation list is consulted
// every time.
func (e *Endpoint) VerifyAccessToken(ctx context.Context, tok string) (*AccessClaims, error) {
	key := sha256.Sum256([]byte(tok))
	c, ok := e.verified.get(key, e.cfg.Now())
	if !ok {
		c = &AccessClaims{}
		err := e.cfg.Signer.VerifyClaims(tok, keys.VerifyOptions{
			Algorithms: []string{e.cfg.AccessAlg},
			Typ:        TypAccessToken,
			Issuer:     e.cfg.Issuer,
			Leeway:     keys.MaxLeeway,
		}, c)
		if err != nil {
			return nil, err
		}
		e.verified.put(key, c, e.cfg.Now())
	}
	var iat time.Time
	if c.IssuedAt != nil {
		iat = c.IssuedAt.Time
	}
	revoked, err := e.cfg.Revocations.IsRevoked(ctx, c.ID, c.SID, c.Subject, iat)
	if err != nil {
		return nil, oauth.Unavailable(err)
	}
	if revoked {
		return nil, errRevoked
	}
	return c, nil
}

// verifiedCache keeps the claims of access tokens whose signature checked
// out, until they expire (plus the verifier's leeway). Entries are
// read-only once stored. The size is bounded: when full, expired entries go
// first, and if too few have expired, an arbitrary tenth of the rest (map
// order), so that a working set larger than the cache costs some
// signature checks again, not all of them at once.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*AccessClaims
}

const maxVerified = 10_000

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{entries: map[[sha256.Size]byte]*AccessClaims{}}
}

func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time) (*AccessClaims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if cl.ExpiresAt == nil || !now.Before(cl.ExpiresAt.Add(keys.MaxLeeway)) {
		delete(c.entries, key)
		return nil, false
	}
	return cl, true
}

func (c *verifiedCache) put(key [sha256.Size]byte, cl *AccessClaims, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerified {
		for k, v := range c.entries {
			if v.ExpiresAt == nil || !now.Before(v.ExpiresAt.Time) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxVerified-maxVerified/10 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cl
}

var errRevoked = errors.New("token: revoked")

func (e *Endpoint) introspectAccess(ctx context.Context, tok string, caller store.Client) (*Introspection, error) {
	c, err := e.VerifyAccessToken(ctx, tok)
	if err != nil {
		if oe, ok := errors.AsType[*oauth.Error](err); ok {
			return nil, oe // the revocation list could not answer: fail closed
		}
		return nil, nil
	}
	// A caller learns only about tokens meant for it: issued to it, or
	// with one of its audiences (RFC 7662 §4).
	if c.ClientID != caller.ID && !slices.ContainsFunc(c.Audience, func(a string) bool {
		return a == caller.ID || slices.Contains(caller.Audiences, a)
	}) {
		return nil, nil
	}
	res := &Introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
		Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer, JTI: c.ID, SID: c.SID, Roles: c.Roles}
	if c.ExpiresAt != nil {
		res.Exp = c.ExpiresAt.Unix()
	}
	if c.IssuedAt != nil {
		res.Iat = c.IssuedAt.Unix()
	}
	return res, nil
}

func (e *Endpoint) introspectRefresh(ctx context.Context, tok string, caller store.Client) (*Introspection, error) {
	rt, g, err := e.cfg.Store.GetRefreshToken(ctx, secret.OrderedHash(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, oauth.Unavailable(err)
	}
	now := e.cfg.Now()
	if g.ClientID != caller.ID || !g.RevokedAt.IsZero() || !rt.UsedAt.IsZero() ||
		!rt.ExpiresAt.After(now) || !g.ExpiresAt.After(now) {
		return nil, nil
	}
	return &Introspection{Active: true, Scope: oauth.JoinScope(g.Scopes), ClientID: g.ClientID,
		TokenType: "refresh_token", Sub: g.UserID, Exp: rt.ExpiresAt.Unix(), Iat: rt.CreatedAt.Unix(),
		Iss: e.cfg.Issuer, SID: g.SessionID}, nil
}

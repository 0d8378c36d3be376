// Package token implements the token endpoint (RFC 6749 §3.2, §5) with the
// authorization_code (§4.1.3, PKCE per RFC 7636 §4.6), refresh_token (§6,
// rotation per RFC 9700 §4.14.2) and client_credentials (§4.4) grants,
// token introspection (RFC 7662) and revocation (RFC 7009), and mints JWT
// access tokens per RFC 9068 and id_tokens per OpenID Connect Core §2.
//
// The endpoint parses the request once, authenticates the client once,
// checks that the client may use the grant, then hands over to one small
// type per grant (one file each).
package token

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Signer signs and verifies JWTs (package keys' Manager).
type Signer interface {
	Sign(alg, typ string, claims jwt.Claims) (string, error)
	VerifyClaims(token string, opts keys.VerifyOptions, claims keys.IdentifiedClaims) error
}

// Auditor records security events.
type Auditor interface {
	Record(ctx context.Context, e store.AuditEvent)
	// Count records one occurrence of a high-volume event, summarised
	// periodically instead of stored one by one.
	Count(typ, clientID, grant string)
}

// Revoker is the revocation list.
type Revoker interface {
	IsRevoked(ctx context.Context, jti, sid, sub string, iat time.Time) (bool, error)
	Revoke(ctx context.Context, rs ...store.Revocation) error
	Apply(rs []store.Revocation)
}

// Store is what the endpoints need from the store.
type Store interface {
	ClientStore
	GetUser(ctx context.Context, id string) (store.User, error)
	GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error)
	RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g store.Grant, iss store.Issue) ([]store.Revocation, error)
	GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.Grant, error)
	RotateRefreshTokenWith(ctx context.Context, hash []byte, now time.Time, grace time.Duration, plan store.RotationPlan) (store.Grant, []store.Revocation, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) ([]store.Revocation, error)
	EndSession(ctx context.Context, sid string, now, sidExpiresAt time.Time) ([]store.Revocation, error)
	CreateDeviceCode(ctx context.Context, d store.DeviceCode, now time.Time) error
	PollDeviceCode(ctx context.Context, hash []byte, clientID string, now time.Time) (store.DeviceCode, error)
	RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, g store.Grant, iss store.Issue) ([]store.Revocation, error)
}

// Config holds the endpoints' dependencies.
type Config struct {
	Issuer    string
	AccessTTL time.Duration
	// IDTokenTTL is the lifetime of id_tokens (default 1h).
	IDTokenTTL time.Duration
	// RefreshTTL is the absolute lifetime of a grant, the family of
	// refresh tokens one code redemption starts (default 30 days).
	RefreshTTL time.Duration
	// RefreshIdleTTL is how long one refresh token may go unused (default
	// 7 days, never beyond the grant's end).
	RefreshIdleTTL time.Duration
	// DeviceCodeTTL and DevicePollInterval are the device grant's
	// expires_in and interval (defaults 10 minutes and 5 s, RFC 8628).
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	// AccessAlg signs access tokens.
	AccessAlg   string
	Signer      Signer
	Store       Store
	Revocations Revoker
	Auditor     Auditor
	Clients     *ClientAuthenticator
	// APIKeys answers introspection of API keys; nil reports every key
	// inactive.
	APIKeys APIKeyIntrospector
	// Federator, when set, enables workload identity federation through
	// token exchange and the JWT bearer grant.
	Federator Federator
	// Permissions, when set, puts the permissions of the subject's roles
	// in access tokens (the "permissions" claim).
	Permissions func(ctx context.Context, roles []string) ([]string, error)
	Now         func() time.Time
	Logger      *slog.Logger
}

// grantHandler handles one grant_type for an authenticated client.
type grantHandler interface {
	grant(ctx context.Context, r *http.Request, f oauth.Form, c store.Client) (*Response, error)
}

// Endpoint serves POST /oauth/token.
type Endpoint struct {
	cfg      Config
	minter   *Minter
	verified *verifiedCache
	grants   map[string]grantHandler
	// optional holds the grants a request may use without client
	// authentication (the presented token is the credential).
	optional map[string]optionalClientGrant
}

// Defaults for the lifetimes left zero in Config (the same as package
// config's defaults).
const (
	DefaultIDTokenTTL     = time.Hour
	DefaultRefreshTTL     = 30 * 24 * time.Hour
	DefaultRefreshIdleTTL = 7 * 24 * time.Hour
)

// New returns the token endpoint serving the authorization_code,
// refresh_token, client_credentials and device_code grants.
func New(cfg Config) *Endpoint {
	if cfg.IDTokenTTL <= 0 {
		cfg.IDTokenTTL = DefaultIDTokenTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.RefreshIdleTTL <= 0 {
		cfg.RefreshIdleTTL = DefaultRefreshIdleTTL
	}
	if cfg.DeviceCodeTTL <= 0 {
		cfg.DeviceCodeTTL = DefaultDeviceCodeTTL
	}
	if cfg.DevicePollInterval <= 0 {
		cfg.DevicePollInterval = DefaultDevicePollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Minter{Issuer: cfg.Issuer, AccessTTL: cfg.AccessTTL, IDTokenTTL: cfg.IDTokenTTL,
		Alg: cfg.AccessAlg, Signer: cfg.Signer, Now: cfg.Now, Permissions: cfg.Permissions}
	e := &Endpoint{cfg: cfg, minter: m, verified: newVerifiedCache()}
	e.grants = map[string]grantHandler{
		oauth.GrantAuthorizationCode: &authorizationCode{cfg: &e.cfg, minter: m},
		oauth.GrantClientCredentials: &clientCredentials{minter: m, auditor: cfg.Auditor},
		oauth.GrantRefreshToken:      &refreshToken{cfg: &e.cfg, minter: m},
		oauth.GrantDeviceCode:        &deviceCode{cfg: &e.cfg, minter: m},
	}
	e.optional = map[string]optionalClientGrant{
		oauth.GrantTokenExchange: &exchange{cfg: &e.cfg, minter: m, verify: e.VerifyAccessToken},
	}
	if cfg.Federator != nil {
		e.optional[oauth.GrantJWTBearer] = &exchange{cfg: &e.cfg, minter: m, verify: e.VerifyAccessToken, bearer: true}
	}
	return e
}

// GrantTypes lists the grant_type values served, for discovery.
func (e *Endpoint) GrantTypes() []string {
	var out []string
	for g := range e.grants {
		out = append(out, g)
	}
	for g := range e.optional {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// Response is a successful token response (RFC 6749 §5.1).
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType is RFC 8693 §2.2.1's, for token exchange only.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Handler returns the HTTP handler.
func (e *Endpoint) Handler() http.Handler {
	return httpx.Handle(e.cfg.Logger, e.serve)
}

func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request) error {
	// RFC 8707 lets "resource" repeat; nothing else may.
	f, err := oauth.ParseForm(r, "resource", "audience")
	if err != nil {
		return err
	}
	if g, ok := e.optional[f.Get("grant_type")]; ok {
		return e.serveOptional(w, r, f, g)
	}
	c, err := e.cfg.Clients.Authenticate(r, f)
	if err != nil {
		return err
	}
	gt := f.Get("grant_type")
	if gt == "" {
		return oauth.NewError(oauth.CodeInvalidRequest, "grant_type is required")
	}
	h, ok := e.grants[gt]
	if !ok {
		return oauth.NewError(oauth.CodeUnsupportedGrantType, "this grant_type is not supported")
	}
	if !slices.Contains(c.GrantTypes, gt) {
		return oauth.NewError(oauth.CodeUnauthorizedClient, "the client is not allowed to use this grant_type")
	}
	resp, err := h.grant(r.Context(), r, f, c)
	if err != nil {
		return err
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// serveOptional serves a grant whose client authentication is optional: a
// request that tries to authenticate must succeed and name a client
// allowed the grant; one that does not is anonymous.
func (e *Endpoint) serveOptional(w http.ResponseWriter, r *http.Request, f oauth.Form, g optionalClientGrant) error {
	var c *store.Client
	if hasClientCredentials(r, f) {
		cl, err := e.cfg.Clients.Authenticate(r, f)
		if err != nil {
			return err
		}
		if !slices.Contains(cl.GrantTypes, f.Get("grant_type")) {
			return oauth.NewError(oauth.CodeUnauthorizedClient, "the client is not allowed to use this grant_type")
		}
		c = &cl
	}
	resp, err := g.grant(r.Context(), r, f, c)
	if err != nil {
		return err
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

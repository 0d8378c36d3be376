// Package adminapi is Gatehouse's JSON admin API under /admin/v1: clients,
// users, roles, API keys, sessions, signing keys, federation policies and
// audit events.
//
// It is built on the SDK's policy router (sdk.Router), the same one API
// teams use, so every route is registered with its access policy or the
// server does not start; Routes lists them for `gatehouse routes`. Callers
// authenticate with a Gatehouse access token whose audience includes
// AdminAudience, or with an API key (Authorization: Bearer sk_... or
// X-API-Key); their permissions are those of their roles, read from the
// current role definitions (re-read at most every second), not frozen in
// the token.
//
// Each handler decodes the request, calls admin.Service as the caller's
// admin.Principal, and renders a view: what may be changed, by whom (no
// caller hands out more than it holds), and with which revocations and
// audit event is the Service's to decide, for the command line as for
// this API. The API's own error codes (errors.go) render the Service's
// refusals.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/sdk"
)

// Prefix is the path every admin route starts with.
const Prefix = "/admin/v1"

// AdminAudience is the audience an access token needs to call the admin
// API: issuer + "/admin". Register it in a client's audiences to let that
// client's users (with the right roles) use the API.
func AdminAudience(issuer string) string { return admin.AdminAudience(issuer) }

// TokenVerifier verifies Gatehouse access tokens, revocation included.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, tok string) (*token.AccessClaims, error)
}

// KeyVerifier verifies API keys (package apikey's Service): the key, or
// apikey.ErrInvalidKey, or *apikey.ThrottledError, or an outage.
type KeyVerifier interface {
	Verify(ctx context.Context, key, clientIP string) (apikey.Key, error)
}

// Config holds the API's dependencies.
type Config struct {
	Issuer string
	// Admin makes every change and answers every read.
	Admin *admin.Service
	// Tokens and APIKeys authenticate callers; Roles expands their roles.
	Tokens  TokenVerifier
	APIKeys KeyVerifier
	Roles   rbac.RoleLister
	Now     func() time.Time
	Logger  *slog.Logger
}

// API is the admin API.
type API struct {
	cfg      Config
	audience string
	roles    *rbac.Resolver
	router   *sdk.Router
}

// New builds the API and registers every route with its policy.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, audience: AdminAudience(cfg.Issuer), roles: rbac.NewResolver(cfg.Roles, time.Second, cfg.Now)}
	a.router = sdk.NewRouter(authenticator{a}, sdk.AcceptAPIKeys(authenticator{a}))
	a.routes()
	return a
}

// Routes lists every admin route with its policy.
func (a *API) Routes() []sdk.Route { return a.router.Routes() }

// Handler serves the admin API. API keys are checked here, before the
// router, so that a throttled key is answered 429 with Retry-After.
func (a *API) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Path segments name stored records; one no store can hold
		// (%00, invalid UTF-8) names nothing.
		if !store.ValidText(r.URL.Path) {
			a.writeError(w, r, badRequest("the path is not UTF-8 text without NUL characters"))
			return
		}
		if key, ok := apiKeyOf(r); ok {
			k, err := a.cfg.APIKeys.Verify(r.Context(), key, httpx.ClientIP(r))
			if te, ok := errors.AsType[*apikey.ThrottledError](err); ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())+1))
				a.writeError(w, r, &Problem{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests,
					Description: "too many failed attempts; retry later"})
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), keyResultCtx{}, keyResult{key: key, k: k, err: err}))
		}
		a.router.ServeHTTP(w, r)
	})
}

// apiKeyOf returns the API key a request carries, if any, where the SDK's
// router will look for it.
func apiKeyOf(r *http.Request) (string, bool) {
	if v := r.Header.Values("X-API-Key"); len(v) == 1 && strings.HasPrefix(v[0], sdk.APIKeyPrefix) {
		return v[0], true
	}
	if v := r.Header.Values("Authorization"); len(v) == 1 {
		scheme, rest, _ := strings.Cut(v[0], " ")
		if tok := strings.TrimLeft(rest, " "); strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(tok, sdk.APIKeyPrefix) {
			return tok, true
		}
	}
	return "", false
}

type keyResultCtx struct{}

type keyResult struct {
	key string
	k   apikey.Key
	err error
}

// authenticator turns an access token or an API key into sdk.Claims with
// the caller's current permissions.
type authenticator struct{ a *API }

func (au authenticator) Verify(ctx context.Context, tok string) (*sdk.Claims, error) {
	a := au.a
	var c *sdk.Claims
	if strings.HasPrefix(tok, sdk.APIKeyPrefix) {
		res, ok := ctx.Value(keyResultCtx{}).(keyResult)
		switch {
		case !ok || res.key != tok:
			return nil, errors.New("adminapi: API key was not checked before routing")
		case errors.Is(res.err, apikey.ErrInvalidKey):
			return nil, sdk.ErrAPIKey
		case res.err != nil:
			return nil, res.err // 503
		}
		c = &sdk.Claims{APIKey: true, ID: res.k.ID, Subject: res.k.ID, Roles: res.k.Roles, Scope: res.k.Scopes,
			IssuedAt: res.k.CreatedAt, ExpiresAt: res.k.ExpiresAt}
	} else {
		at, err := a.cfg.Tokens.VerifyAccessToken(ctx, tok)
		if err != nil {
			if oe, ok := errors.AsType[*oauth.Error](err); ok {
				return nil, oe // the revocation list could not answer: 503
			}
			return nil, fmt.Errorf("%w: %w", sdk.ErrInvalidToken, err)
		}
		if !slices.Contains(at.Audience, a.audience) {
			return nil, sdk.ErrInvalidAudience
		}
		c = &sdk.Claims{Issuer: at.Issuer, Subject: at.Subject, Audience: at.Audience, ID: at.ID,
			ClientID: at.ClientID, Scope: strings.Fields(at.Scope), Roles: at.Roles, SID: at.SID}
		if at.ExpiresAt != nil {
			c.ExpiresAt = at.ExpiresAt.Time
		}
		if at.IssuedAt != nil {
			c.IssuedAt = at.IssuedAt.Time
		}
	}
	perms, err := a.roles.Expand(ctx, c.Roles)
	if err != nil {
		return nil, err // 503
	}
	c.Permissions = perms.Permissions()
	return c, nil
}

// principal is the authenticated caller of r (every route is guarded) as
// the admin service sees it.
func principal(r *http.Request) admin.Principal {
	p := admin.Principal{IP: httpx.ClientIP(r), Origin: map[string]string{"route": r.Pattern, "path": r.URL.Path}}
	c, _ := sdk.ClaimsFrom(r.Context())
	if c == nil {
		return p
	}
	p.Actor, p.Permissions, p.Scopes = c.Subject, rbac.NewSet(c.Permissions), c.Scope
	if c.APIKey {
		p.Actor = "apikey:" + c.ID
	}
	return p
}

// as is the admin service acting for the caller of r.
func (a *API) as(r *http.Request) admin.Actions { return a.cfg.Admin.As(principal(r)) }

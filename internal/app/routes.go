package app

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/web"
)

// Access describes who may call a route. Every route declares one; the
// admin API's subtree declares Admin, and its own routes each carry a
// permission in the SDK's policy router (AdminRoutes).
type Access string

// Access levels.
const (
	// Public routes are part of the documented unauthenticated surface
	// (discovery, JWKS, health, metrics).
	Public Access = "public"
	// ClientAuth routes authenticate an OAuth client (RFC 6749 §2.3).
	ClientAuth Access = "client"
	// Bearer routes require one of our access tokens (RFC 6750).
	Bearer Access = "bearer"
	// Admin is the admin API's subtree: each of its routes carries its own
	// policy in the SDK router (AdminRoutes).
	Admin Access = "admin"
)

// Route is one entry of the route table.
type Route struct {
	// Pattern is an http.ServeMux pattern with method, e.g. "GET /healthz".
	Pattern string
	Access  Access
	Handler http.Handler
}

// Routes returns the route table (for `gatehouse routes` and tests).
func (a *App) Routes() []Route { return a.routes }

// AdminRoutes returns the admin API's routes with their policies.
func (a *App) AdminRoutes() []sdk.Route { return a.admin.Routes() }

// buildRoutes is the whole HTTP surface, top to bottom.
func (a *App) buildRoutes() ([]Route, error) {
	meta := oidc.NewMetadata(a.cfg.Issuer, oidc.Features{
		Authorization:    true,
		EndSession:       true,
		Userinfo:         true,
		Token:            true,
		Revocation:       true,
		Introspection:    true,
		Device:           true,
		GrantTypes:       a.token.GrantTypes(),
		TokenAuthMethods: []string{store.AuthClientSecretBasic, store.AuthClientSecretPost, store.AuthNone},
		// Introspection is for confidential clients only; a public client
		// may revoke its own tokens (RFC 7009 §2.1).
		IntrospectionAuthMethods: []string{store.AuthClientSecretBasic, store.AuthClientSecretPost},
		RevocationAuthMethods:    []string{store.AuthClientSecretBasic, store.AuthClientSecretPost, store.AuthNone},
		Scopes:                   []string{"openid", "profile", "email", "offline_access"},
		// Every claim of id_tokens (OIDC Core §2, §5.1), access tokens
		// (RFC 9068 §2.2: jti, client_id, scope, roles, permissions; act
		// for delegation, RFC 8693 §4.1; fed for federation) and
		// userinfo; TestDiscoveryListsEveryIssuedClaim keeps it complete.
		Claims: []string{"iss", "sub", "aud", "exp", "iat", "jti", "auth_time", "nonce", "at_hash", "sid",
			"client_id", "scope", "roles", "permissions", "act", "fed",
			"preferred_username", "name", "email", "email_verified"},
	})
	discovery, err := meta.Render()
	if err != nil {
		return nil, err
	}
	const discoveryMaxAge = 3600
	metrics := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})
	userinfo := oidc.UserinfoHandler(a.token, a.store, a.log)

	routes := []Route{
		{"GET " + oidc.PathDiscovery, Public, oidc.StaticJSON(discovery, discoveryMaxAge)},
		{"GET " + oidc.PathOAuthMetadata, Public, oidc.StaticJSON(discovery, discoveryMaxAge)},
		{"GET " + oidc.PathJWKS, Public, oidc.JWKSHandler(a.keys.JWKS)},
		{"GET /healthz", Public, http.HandlerFunc(healthz)},
		{"GET /readyz", Public, a.ready},
		{"GET /metrics", Public, metrics},
		// Client-authenticated OAuth endpoints: the client's credentials
		// are the access policy (RFC 6749 §2.3).
		{"POST /oauth/token", ClientAuth, a.token.Handler()},
		{"POST /oauth/introspect", ClientAuth, a.token.IntrospectionHandler()},
		{"POST /oauth/revoke", ClientAuth, a.token.RevocationHandler()},
		{"POST " + token.DeviceAuthorizationPath, ClientAuth, a.token.DeviceAuthorizationHandler()},
		{"GET " + revocation.FeedPath, ClientAuth, a.revocations.FeedHandler(a.clients, a.feedAccess)},
		{"GET " + oidc.PathUserinfo, Bearer, userinfo},
		{"POST " + oidc.PathUserinfo, Bearer, userinfo},
		// Browser flow: the user signs in on these pages; forms are
		// CSRF-protected and sessions are cookie-bound.
		{"GET /oauth/authorize", Public, a.authorize},
		{"POST /oauth/authorize", Public, a.authorize},
		{"GET /login", Public, http.HandlerFunc(a.login.LoginForm)},
		{"POST /login", Public, http.HandlerFunc(a.login.LoginSubmit)},
		{"GET /consent", Public, http.HandlerFunc(a.login.ConsentForm)},
		{"POST /consent", Public, http.HandlerFunc(a.login.ConsentSubmit)},
		// Device verification (RFC 8628 §3.3): the user enters the code
		// shown on the device, signs in and approves it by POST.
		{"GET " + login.DevicePath, Public, http.HandlerFunc(a.login.DeviceForm)},
		{"POST " + login.DevicePath, Public, http.HandlerFunc(a.login.DeviceSubmit)},
		{"GET /oauth/logout", Public, http.HandlerFunc(a.login.Logout)},
		{"POST /oauth/logout", Public, http.HandlerFunc(a.login.Logout)},
		{"GET " + web.StaticPattern, Public, a.pages.StaticHandler()},
		// The admin API: authenticated by an access token for the admin
		// audience or an API key, every route with its own permission.
		{adminapi.Prefix + "/", Admin, a.admin.Handler()},
	}
	for _, r := range routes {
		if r.Access == "" || r.Handler == nil {
			return nil, fmt.Errorf("route %s: missing access policy or handler", r.Pattern)
		}
	}
	return routes, nil
}

// healthz reports liveness: the process is up and serving HTTP.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

package app

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/internal/oidc"
)

// Access describes who may call a route. Every route declares one; the
// admin API (later) uses the SDK's policy router for anything not public.
type Access string

// Access levels.
const (
	// Public routes are part of the documented unauthenticated surface
	// (discovery, JWKS, health, metrics).
	Public Access = "public"
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

// buildRoutes is the whole HTTP surface, top to bottom.
func (a *App) buildRoutes() ([]Route, error) {
	meta := oidc.NewMetadata(a.cfg.Issuer, oidc.Features{})
	discovery, err := meta.Render()
	if err != nil {
		return nil, err
	}
	const discoveryMaxAge = 3600
	metrics := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})

	routes := []Route{
		{"GET " + oidc.PathDiscovery, Public, oidc.StaticJSON(discovery, discoveryMaxAge)},
		{"GET " + oidc.PathOAuthMetadata, Public, oidc.StaticJSON(discovery, discoveryMaxAge)},
		{"GET " + oidc.PathJWKS, Public, oidc.JWKSHandler(a.keys.JWKS)},
		{"GET /healthz", Public, http.HandlerFunc(healthz)},
		{"GET /readyz", Public, a.ready},
		{"GET /metrics", Public, metrics},
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

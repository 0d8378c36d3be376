package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/sdktest"
)

const audience = "https://api.example"

func newTestAPI(t *testing.T) (*sdktest.Issuer, *sdk.Router) {
	t.Helper()
	iss := sdktest.NewIssuer(t)
	v, err := sdk.NewVerifier(t.Context(), iss.Config(audience))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	keys, err := sdk.NewAPIKeyVerifier(t.Context(), iss.APIKeyConfig())
	if err != nil {
		t.Fatalf("NewAPIKeyVerifier: %v", err)
	}
	return iss, newRouter(v, sdk.AcceptAPIKeys(keys))
}

func TestRoutes(t *testing.T) {
	iss, h := newTestAPI(t)
	plain := iss.Mint(sdktest.Claims{Subject: "user-1", Audience: audience, Roles: []string{"viewer"}, Scope: []string{"openid"}})
	admin := iss.Mint(sdktest.Claims{Subject: "user-2", Audience: audience, Roles: []string{"admin"}})
	manager := iss.Mint(sdktest.Claims{Subject: "user-3", Audience: audience, Roles: []string{"product_manager"}})
	writer := iss.Mint(sdktest.Claims{Subject: "svc-1", Audience: audience, Scope: []string{"products:write"}})
	otherAPI := iss.Mint(sdktest.Claims{Subject: "user-2", Audience: "https://other.example", Roles: []string{"admin"}})
	deployKey := iss.APIKey(sdktest.Claims{Subject: "ci-key", Roles: []string{"deployer"}})
	readKey := iss.APIKey(sdktest.Claims{Subject: "dashboard-key", Roles: []string{"viewer"}})
	revokedKey := iss.APIKey(sdktest.Claims{Subject: "old-key", Roles: []string{"deployer"}})
	iss.Revoke("old-key")
	loggedOut := iss.Mint(sdktest.Claims{Subject: "user-4", Audience: audience, Roles: []string{"admin"}, SID: "session-9"})
	iss.RevokeSession("session-9")

	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"list without token", "GET", "/products", "", "", 401},
		{"list with other audience", "GET", "/products", otherAPI, "", 401},
		{"list", "GET", "/products", plain, "", 200},
		{"get without token", "GET", "/products/1", "", "", 401},
		{"get", "GET", "/products/1", plain, "", 200},
		{"get missing", "GET", "/products/99", plain, "", 404},
		{"create without token", "POST", "/products", "", `{"name":"Cup","price_cents":500}`, 401},
		{"create without scope", "POST", "/products", admin, `{"name":"Cup","price_cents":500}`, 403},
		{"create", "POST", "/products", writer, `{"name":"Cup","price_cents":500}`, 201},
		{"create bad body", "POST", "/products", writer, `{"nom":"Cup"}`, 400},
		{"delete without token", "DELETE", "/products/1", "", "", 401},
		{"delete without role", "DELETE", "/products/1", plain, "", 403},
		{"delete with scope but no role", "DELETE", "/products/1", writer, "", 403},
		{"delete as admin", "DELETE", "/products/1", admin, "", 204},
		{"delete as product_manager", "DELETE", "/products/2", manager, "", 204},
		{"deleted is gone", "GET", "/products/1", plain, "", 404},
		{"deploy with the deployer key", "POST", "/deployments", deployKey, "", 202},
		{"deploy with another key", "POST", "/deployments", readKey, "", 403},
		{"deploy with a revoked key", "POST", "/deployments", revokedKey, "", 401},
		{"deploy without the role", "POST", "/deployments", admin, "", 403},
		{"list with a key", "GET", "/products", readKey, "", 200},
		{"token after logout", "GET", "/products", loggedOut, "", 401},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %s %s = %d, want %d (%s)", tc.name, tc.method, tc.path, w.Code, tc.want, w.Body)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without a WWW-Authenticate challenge", tc.name)
		}
	}
}

// TestEveryRouteHasAPolicy fails if a route is added without a policy, or
// if one becomes Public: this API has no public route.
func TestEveryRouteHasAPolicy(t *testing.T) {
	_, rt := newTestAPI(t)
	want := map[string]string{
		"GET /products":         "authenticated",
		"GET /products/{id}":    "authenticated",
		"POST /products":        "scopes(products:write)",
		"DELETE /products/{id}": "roles(admin|product_manager)",
		"POST /deployments":     "roles(deployer)",
	}
	routes := rt.Routes()
	if len(routes) != len(want) {
		t.Errorf("%d routes, want %d: %v", len(routes), len(want), routes)
	}
	for _, r := range routes {
		key := r.Method + " " + r.Pattern
		if r.Policy == "" || r.Policy == "<none>" || r.Policy == "public" {
			t.Errorf("%s has policy %q", key, r.Policy)
		}
		if p, ok := want[key]; !ok {
			t.Errorf("unexpected route %s (%s): add it to this test", key, r.Policy)
		} else if p != r.Policy {
			t.Errorf("%s policy = %s, want %s", key, r.Policy, p)
		}
	}
}

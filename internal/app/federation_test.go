package app

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/workload"
)

// externalIssuer is a workload platform's OpenID Connect issuer on
// loopback (a CI system, a cluster): discovery, a JWKS and token minting.
type externalIssuer struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	hang atomic.Bool // when set, the JWKS never answers
}

func newExternalIssuer(t *testing.T) *externalIssuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := &externalIssuer{key: k}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": e.srv.URL, "jwks_uri": e.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		if e.hang.Load() {
			<-r.Context().Done()
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	return e
}

var externalJTI atomic.Int64

// token mints a workload token for a GitHub-Actions-like job.
func (e *externalIssuer) token(t *testing.T, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": e.srv.URL, "aud": "https://gatehouse.test", "sub": "repo:acme/app:ref:refs/heads/main",
		"repository_owner": "acme", "environment": "prod", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "jti": fmt.Sprint("job-", externalJTI.Add(1))}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(e.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// policy is the admin API document trusting e for the acme repository's
// main branch in the prod environment.
func (e *externalIssuer) policy(name string) map[string]any {
	return map[string]any{"name": name, "issuer": e.srv.URL, "audience": "https://gatehouse.test",
		"conditions": map[string]string{"sub": "repo:acme/*:ref:refs/heads/main", "repository_owner": "acme", "environment": "prod"},
		"subject":    "ci:{sub}", "roles": []string{"deployer"}, "scopes": []string{"deploy", "read"},
		"audiences": []string{"https://api.example"}, "token_ttl_seconds": 60, "allow_private_network": true}
}

// exchange posts a token exchange (or, with bearer, a JWT bearer grant)
// without client authentication to base.
func exchange(t *testing.T, base, subject string, bearer bool, extra url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
	if bearer {
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {subject}}
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := http.PostForm(base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func newFederationServer(t *testing.T, backend string) (*testServer, *adminFixture) {
	t.Helper()
	srv := startServer(t, backend, nil)
	af := newAdminFixture(t, srv)
	if _, err := admin.CreateRole(t.Context(), srv.App.store, "deployer", "deploys", []string{"deployments:create"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return srv, af
}

// TestFederatedTokenExchange: a CI job exchanges its platform's token for
// a Gatehouse access token with no client secret, by RFC 8693 token
// exchange and by the RFC 7523 JWT bearer grant; the token carries the
// policy's subject, roles, scopes and audience and a fed claim, verifies
// at an SDK-protected API, and is audited with the external identity.
func TestFederatedTokenExchange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv, af := newFederationServer(t, backend)
		ext := newExternalIssuer(t)
		if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/gh-main", af.rootKey, ext.policy("gh-main")); code != 201 {
			t.Fatalf("create policy: %d %v", code, body)
		}

		code, m, _ := exchange(t, srv.URL, ext.token(t, nil), false, url.Values{"scope": {"deploy"}})
		if code != 200 || m["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" || m["token_type"] != "Bearer" ||
			m["scope"] != "deploy" || m["expires_in"] != float64(60) {
			t.Fatalf("token exchange: %d %v", code, m)
		}
		v, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: srv.URL, Audience: "https://api.example",
			Algorithms: []string{"ES256"}, Revocation: sdk.InsecureNoRevocation})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(t.Context(), m["access_token"].(string))
		if err != nil {
			t.Fatalf("the SDK refuses the federated token: %v", err)
		}
		if claims.Subject != "ci:repo:acme/app:ref:refs/heads/main" || !claims.HasRole("deployer") || claims.ClientID != "federation:gh-main" {
			t.Fatalf("claims %+v", claims)
		}
		payload := jwtPayload(t, m["access_token"].(string))
		fed, _ := payload["fed"].(map[string]any)
		if fed["iss"] != ext.srv.URL || fed["sub"] != "repo:acme/app:ref:refs/heads/main" || fed["policy"] != "gh-main" {
			t.Fatalf("fed claim %v", payload["fed"])
		}

		code, m, _ = exchange(t, srv.URL, ext.token(t, nil), true, nil)
		if code != 200 || m["access_token"] == nil || m["issued_token_type"] != nil || m["scope"] != "deploy read" {
			t.Fatalf("JWT bearer grant: %d %v", code, m)
		}

		srv.App.audit.Flush(t.Context())
		events, err := srv.App.store.ListAuditEvents(t.Context(), auditQuery("token_issued"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			if e.Details["policy"] == "gh-main" && e.Details["external_issuer"] == ext.srv.URL && e.Details["external_subject"] == "repo:acme/app:ref:refs/heads/main" {
				found = true
			}
		}
		if !found {
			t.Errorf("no token_issued event names the policy and the external identity: %+v", events)
		}
	})
}

// TestFederationRejections: every refused external token gets 400
// invalid_grant with a description naming the rule, never a 5xx; an
// issuer whose keys do not answer gets 503 with Retry-After.
func TestFederationRejections(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		srv, af := newFederationServer(t, backend)
		ext := newExternalIssuer(t)
		if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/gh-main", af.rootKey, ext.policy("gh-main")); code != 201 {
			t.Fatalf("create policy: %d %v", code, body)
		}
		replayed := ext.token(t, nil)
		if code, m, _ := exchange(t, srv.URL, replayed, false, nil); code != 200 {
			t.Fatalf("first exchange: %d %v", code, m)
		}
		for name, tc := range map[string]struct {
			token string
			extra url.Values
			code  string
			text  string
		}{
			"feature branch":     {ext.token(t, func(c jwt.MapClaims) { c["sub"] = "repo:acme/app:ref:refs/heads/feature" }), nil, "invalid_grant", "condition"},
			"other owner":        {ext.token(t, func(c jwt.MapClaims) { c["repository_owner"] = "evil" }), nil, "invalid_grant", "condition"},
			"other environment":  {ext.token(t, func(c jwt.MapClaims) { c["environment"] = "staging" }), nil, "invalid_grant", "condition"},
			"wrong aud":          {ext.token(t, func(c jwt.MapClaims) { c["aud"] = "https://else.example" }), nil, "invalid_grant", "audience"},
			"expired":            {ext.token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() }), nil, "invalid_grant", "expired"},
			"future nbf":         {ext.token(t, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() }), nil, "invalid_grant", "nbf"},
			"too long":           {ext.token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(48 * time.Hour).Unix() }), nil, "invalid_grant", "longer"},
			"replayed jti":       {replayed, nil, "invalid_grant", "already exchanged"},
			"not a JWT":          {"garbage", nil, "invalid_grant", "not a signed JWT"},
			"scope not granted":  {ext.token(t, nil), url.Values{"scope": {"admin"}}, "invalid_scope", ""},
			"audience not given": {ext.token(t, nil), url.Values{"audience": {"https://other.example"}}, "invalid_target", ""},
			"refresh requested":  {ext.token(t, nil), url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, "invalid_request", ""},
			"bad token type":     {ext.token(t, nil), url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, "invalid_request", ""},
		} {
			code, m, _ := exchange(t, srv.URL, tc.token, false, tc.extra)
			desc, _ := m["error_description"].(string)
			if code != 400 || m["error"] != tc.code || !strings.Contains(desc, tc.text) {
				t.Errorf("%s: %d %v, want 400 %s mentioning %q", name, code, m, tc.code, tc.text)
			}
		}
		// No subject token at all, and an authenticated client that may
		// not use the grant.
		if resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}}); err != nil || resp.StatusCode != 400 {
			t.Errorf("exchange without a subject token: %v %v", err, resp)
		}
		_, sec := srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"}})
		fx := &ccFixture{srv: srv}
		if resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {ext.token(t, nil)}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "svc", sec); resp.StatusCode != 400 ||
			!strings.Contains(string(body), "unauthorized_client") {
			t.Errorf("exchange by a client without the grant: %d %s", resp.StatusCode, body)
		}
		if resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {ext.token(t, nil)}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "svc", "wrong"); resp.StatusCode != 401 {
			t.Errorf("exchange with bad client credentials: %d %s", resp.StatusCode, body)
		}

		// Keys that never come: an outage, 503 with Retry-After, within
		// the fetch timeout.
		ext2 := newExternalIssuer(t)
		ext2.hang.Store(true)
		if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/silent", af.rootKey, ext2.policy("silent")); code != 201 {
			t.Fatalf("create policy: %d %v", code, body)
		}
		start := time.Now()
		code, m, h := exchange(t, srv.URL, ext2.token(t, nil), false, nil)
		if code != 503 || m["error"] != "temporarily_unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("JWKS that never answers: %d %v", code, m)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a silent JWKS held the request %s", d)
		}
	})
}

// TestFederationPolicyAdmin: policies are validated (400 with every
// problem), cannot hand out more than the caller holds, and changes take
// effect on the node at once.
func TestFederationPolicyAdmin(t *testing.T) {
	srv, af := newFederationServer(t, "sqlite")
	ext := newExternalIssuer(t)
	bad := ext.policy("bad")
	bad["algorithms"] = []string{"HS256"}
	bad["audience"] = ""
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/bad", af.rootKey, bad); code != 400 ||
		!strings.Contains(field(body, "error_description"), "HS256") || !strings.Contains(field(body, "error_description"), "audience is required") {
		t.Fatalf("invalid policy: %d %v", code, body)
	}
	bad = ext.policy("bad")
	bad["roles"] = []string{"no-such-role"}
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/bad", af.rootKey, bad); code != 400 || !strings.Contains(field(body, "error_description"), "does not exist") {
		t.Fatalf("policy with an unknown role: %d %v", code, body)
	}
	p := ext.policy("gh")
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/gh", af.rootKey, p); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	if code, _, _ := exchange(t, srv.URL, ext.token(t, nil), false, nil); code != 200 {
		t.Fatalf("exchange: %d", code)
	}
	// Tighten the policy: the next exchange follows it at once.
	p["conditions"] = map[string]string{"sub": "repo:acme/other:*"}
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/gh", af.rootKey, p); code != 200 {
		t.Fatalf("replace: %d %v", code, body)
	}
	if code, m, _ := exchange(t, srv.URL, ext.token(t, nil), false, nil); code != 400 {
		t.Fatalf("exchange after tightening: %d %v", code, m)
	}
	if code, body := af.call(t, "GET", adminapi.Prefix+"/federation/policies/gh", af.rootKey, nil); code != 200 || field(body, "subject") != "ci:{sub}" {
		t.Fatalf("get: %d %v", code, body)
	}
	// A caller without the deployer role's permissions cannot grant it.
	if _, err := admin.CreateRole(t.Context(), srv.App.store, "fedadmin", "manages federation", []string{"federation:read", "federation:write"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	key, _, err := srv.App.apiKeys.Create(t.Context(), apikeyRequest("fed", "fedadmin"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/escalate", key, ext.policy("escalate")); code != 403 {
		t.Fatalf("granting a role the caller lacks: %d %v", code, body)
	}
	if code, _ := af.call(t, "DELETE", adminapi.Prefix+"/federation/policies/gh", af.rootKey, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, m, _ := exchange(t, srv.URL, ext.token(t, nil), false, nil); code != 400 || !strings.Contains(m["error_description"].(string), "no federation policy") {
		t.Fatalf("exchange after delete: %d %v", code, m)
	}
}

// TestClusterFederationPolicyChange: a policy created, changed and deleted
// through one node takes effect on every node within a second (the
// policy cache's lifetime), on PostgreSQL with three nodes.
func TestClusterFederationPolicyChange(t *testing.T) {
	c := startCluster(t, 3, nil)
	af := newAdminFixture(t, c.nodes[0])
	if _, err := admin.CreateRole(t.Context(), c.nodes[0].App.store, "deployer", "deploys", []string{"deployments:create"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ext := newExternalIssuer(t)
	// Prime every node's (empty) policy cache.
	for _, n := range c.nodes {
		exchange(t, "http://"+n.cfg.Listen, ext.token(t, nil), false, nil)
	}
	waitAll := func(what string, want int) {
		t.Helper()
		start := time.Now()
		for i, n := range c.nodes {
			for {
				code, _, _ := exchange(t, "http://"+n.cfg.Listen, ext.token(t, nil), false, nil)
				if code == want {
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%s: node %d still answers %d after %s", what, i, code, time.Since(start))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Logf("%s: every node follows after %s (bound: 1 s cache)", what, time.Since(start).Round(time.Millisecond))
	}
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/gh", af.rootKey, ext.policy("gh")); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	waitAll("created", 200)
	if code, _ := af.call(t, "DELETE", adminapi.Prefix+"/federation/policies/gh", af.rootKey, nil); code != 204 {
		t.Fatal("delete failed")
	}
	waitAll("deleted", 400)
}

func jwtPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Claims.(jwt.MapClaims)
}

func auditQuery(typ string) store.AuditQuery { return store.AuditQuery{Type: typ, Limit: 100} }

func apikeyRequest(name string, roles ...string) apikey.CreateRequest {
	return apikey.CreateRequest{Name: name, Roles: roles}
}

// TestDelegationTokenExchange: a confidential client exchanges an access
// token issued to it (its client_id in aud) for a token to call another
// API on behalf of the token's subject (RFC 8693 delegation): same
// subject and roles, at most the same scopes, its own audiences, no
// longer life, and an act claim naming it. Anything else is refused.
func TestDelegationTokenExchange(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	_, gwSec := srv.createClient(t, admin.ClientSpec{ID: "gateway", Name: "gateway",
		GrantTypes: []string{"client_credentials", oauth.GrantTokenExchange}, Audiences: []string{"https://downstream.example"}})
	_, svcSec := srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"items:read", "items:write"}, Audiences: []string{"gateway", "https://other.example"}})
	fx := &ccFixture{srv: srv}
	token := func(aud string) string {
		resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {aud}}, "svc", svcSec)
		if resp.StatusCode != 200 {
			t.Fatalf("client_credentials: %d %s", resp.StatusCode, body)
		}
		return decodeJSON(t, body)["access_token"].(string)
	}
	delegate := func(subject string, extra url.Values, user, pass string) (int, map[string]any) {
		form := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
		for k, v := range extra {
			form[k] = v
		}
		resp, body := fx.post(t, "/oauth/token", form, user, pass)
		return resp.StatusCode, decodeJSON(t, body)
	}

	subject := token("gateway")
	code, m := delegate(subject, url.Values{"scope": {"items:read"}}, "gateway", gwSec)
	if code != 200 || m["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("delegation: %d %v", code, m)
	}
	got, orig := jwtPayload(t, m["access_token"].(string)), jwtPayload(t, subject)
	act, _ := got["act"].(map[string]any)
	if got["sub"] != "svc" || got["client_id"] != "gateway" || got["scope"] != "items:read" || act["client_id"] != "gateway" ||
		got["aud"].([]any)[0] != "https://downstream.example" || got["exp"].(float64) > orig["exp"].(float64) {
		t.Fatalf("delegated token %v", got)
	}

	for name, tc := range map[string]struct {
		subject    string
		extra      url.Values
		user, pass string
		status     int
		code       string
	}{
		"more scope":          {subject, url.Values{"scope": {"items:admin"}}, "gateway", gwSec, 400, "invalid_scope"},
		"another audience":    {subject, url.Values{"audience": {"https://elsewhere.example"}}, "gateway", gwSec, 400, "invalid_target"},
		"token not for it":    {token("https://other.example"), nil, "gateway", gwSec, 400, "invalid_grant"},
		"anonymous":           {subject, nil, "", "", 401, "invalid_client"},
		"a client without it": {subject, nil, "svc", svcSec, 400, "unauthorized_client"},
		"garbage subject":     {"not.a.token", nil, "gateway", gwSec, 400, "invalid_grant"},
		"actor token":         {subject, url.Values{"actor_token": {subject}, "actor_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, "gateway", gwSec, 400, "invalid_request"},
	} {
		if code, m := delegate(tc.subject, tc.extra, tc.user, tc.pass); code != tc.status || m["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", name, code, m, tc.status, tc.code)
		}
	}

	// A revoked subject token delegates nothing.
	revoked := token("gateway")
	if resp, body := fx.post(t, "/oauth/revoke", url.Values{"token": {revoked}}, "svc", svcSec); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if code, m := delegate(revoked, nil, "gateway", gwSec); code != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("revoked subject token: %d %v", code, m)
	}
}

// TestWorkloadSDKExchangesAFile: sdk/workload reads a pod's projected
// token file and exchanges it against the real server, again after the
// file rotates; the policy allows reuse, as Kubernetes tokens are reused.
func TestWorkloadSDKExchangesAFile(t *testing.T) {
	srv, af := newFederationServer(t, "sqlite")
	ext := newExternalIssuer(t)
	p := ext.policy("k8s")
	p["conditions"] = map[string]string{"kubernetes.io/namespace": "ci", "kubernetes.io/serviceaccount/name": "builder"}
	p["allow_reuse"] = true
	if code, body := af.call(t, "PUT", adminapi.Prefix+"/federation/policies/k8s", af.rootKey, p); code != 201 {
		t.Fatalf("create policy: %d %v", code, body)
	}
	podToken := func(ns string) string {
		return ext.token(t, func(c jwt.MapClaims) {
			c["sub"] = "system:serviceaccount:" + ns + ":builder"
			c["kubernetes.io"] = map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": "builder"}}
			delete(c, "jti")
		})
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(podToken("ci")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := workload.Config{Issuer: srv.URL, SubjectToken: workload.FromFile(file), Audiences: []string{"https://api.example"}}
	for range 2 {
		tok, err := workload.Exchange(t.Context(), cfg)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if sub := jwtPayload(t, tok.AccessToken)["sub"]; sub != "ci:system:serviceaccount:ci:builder" {
			t.Fatalf("sub %v", sub)
		}
	}
	if err := os.WriteFile(file, []byte(podToken("prod")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := workload.Exchange(t.Context(), cfg)
	var we *workload.Error
	if !errors.As(err, &we) || we.Code != "invalid_grant" || !strings.Contains(we.Description, "condition") {
		t.Fatalf("a pod of another namespace: %v", err)
	}
}

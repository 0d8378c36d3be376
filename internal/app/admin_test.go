package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk"
)

// adminFixture is a server with a role "admin" (*:*) and an API key
// holding it.
type adminFixture struct {
	srv      *testServer
	rootKey  string
	baseURL  string
	lastBody []byte
}

func newAdminFixture(t *testing.T, srv *testServer) *adminFixture {
	t.Helper()
	ctx, now := t.Context(), time.Now()
	if _, err := admin.CreateRole(ctx, srv.App.store, "admin", "everything", []string{"*:*"}, now); err != nil {
		t.Fatal(err)
	}
	key, _, err := srv.App.apiKeys.Create(ctx, apikey.CreateRequest{Name: "root", Roles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	return &adminFixture{srv: srv, rootKey: key, baseURL: srv.URL}
}

// call sends a JSON request with cred as Bearer (when not empty) and
// returns the status and the decoded body (nil when empty).
func (f *adminFixture) call(t *testing.T, method, path, cred string, body any) (int, any) {
	t.Helper()
	status, raw, _ := f.do(t, method, path, body, "Authorization", bearer(cred))
	var v any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
		}
	}
	return status, v
}

func bearer(cred string) string {
	if cred == "" {
		return ""
	}
	return "Bearer " + cred
}

func (f *adminFixture) do(t *testing.T, method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.baseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Add(hdr[i], hdr[i+1])
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	f.lastBody = raw
	return resp.StatusCode, raw, resp.Header
}

func field(v any, name string) string {
	m, _ := v.(map[string]any)
	s, _ := m[name].(string)
	return s
}

// volatile fields are replaced in golden files.
var volatile = map[string]bool{"id": true, "key": true, "prefix": true, "client_secret": true, "created_at": true,
	"updated_at": true, "expires_at": true, "kid": true}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && volatile[k] && s != "" {
				x[k] = "<" + k + ">"
			} else {
				x[k] = normalize(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	}
	return v
}

// TestAdminAPIGolden walks the admin API with an admin API key and pins
// every answer (volatile values masked) in testdata/admin_api.golden.json.
func TestAdminAPIGolden(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	type exchange struct {
		Request string `json:"request"`
		Body    any    `json:"body,omitempty"`
		Status  int    `json:"status"`
		Answer  any    `json:"answer,omitempty"`
	}
	var log []exchange
	var userID, keyID string
	step := func(method, path string, body any) any {
		req := method + " " + path
		path = strings.NewReplacer("{user}", userID, "{key}", keyID).Replace(path)
		status, ans := f.call(t, method, adminapi.Prefix+path, f.rootKey, body)
		if status >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, status, f.lastBody)
		}
		log = append(log, exchange{Request: req, Body: body, Status: status, Answer: normalize(cloneJSON(ans))})
		return ans
	}
	step("POST", "/roles", map[string]any{"name": "viewer", "description": "reads clients", "permissions": []string{"clients:read", "users:read"}})
	step("POST", "/roles", map[string]any{"name": "viewer", "permissions": []string{}})
	step("POST", "/roles", map[string]any{"name": "bad", "permissions": []string{"clients*:read"}})
	step("GET", "/roles", nil)
	step("POST", "/clients", map[string]any{"client_id": "billing", "name": "Billing", "grant_types": []string{"client_credentials"},
		"scopes": []string{"invoices:read"}, "audiences": []string{"https://billing.example"}})
	step("GET", "/clients/billing", nil)
	step("PATCH", "/clients/billing", map[string]any{"name": "Billing service"})
	step("PATCH", "/clients/billing", map[string]any{"secret": "x"})
	step("POST", "/clients/billing/roles", map[string]any{"role": "viewer"})
	step("POST", "/clients/billing/roles", map[string]any{"role": "nope"})
	userID = field(step("POST", "/users", map[string]any{"username": "ada", "email": "ada@example.com",
		"password": "correct horse battery staple", "roles": []string{"viewer"}}), "id")
	step("GET", "/users/ada", nil)
	step("PATCH", "/users/{user}", map[string]any{"disabled": true})
	step("DELETE", "/users/{user}/roles/viewer", nil)
	step("DELETE", "/roles/viewer", nil) // still held by the billing client
	keyID = field(step("POST", "/apikeys", map[string]any{"name": "deploy bot", "roles": []string{"viewer"},
		"scopes": []string{"deploy"}, "expires_in_seconds": 90 * 24 * 3600}), "id")
	step("GET", "/apikeys/{key}", nil)
	step("DELETE", "/apikeys/{key}", nil)
	step("POST", "/apikeys/{key}/rotate", map[string]any{"overlap_seconds": 60})
	step("GET", "/users/{user}/sessions", nil)
	step("GET", "/clients/nope", nil)
	step("DELETE", "/clients/billing", nil)

	got, err := json.MarshalIndent(log, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "admin_api.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestAdminAPIGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("admin API answers differ from %s (run with -update and review the diff):\n%s", golden, got)
	}
	// No answer ever carries a stored hash.
	if bytes.Contains(bytes.ToLower(got), []byte("hash")) {
		t.Error("an admin API answer mentions a hash")
	}
}

func cloneJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// RBAC-01 on the admin API: no credential, a malformed one, one without
// the permission, one with it.
func TestAdminAPIRBAC01(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	weak, _, err := f.srv.App.apiKeys.Create(t.Context(), apikey.CreateRequest{Name: "no roles"})
	if err != nil {
		t.Fatal(err)
	}
	path := adminapi.Prefix + "/users"
	status, _, hdr := f.do(t, "GET", path, nil)
	if status != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") || strings.Contains(hdr.Get("WWW-Authenticate"), "error=") {
		t.Errorf("no credential: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	status, _, hdr = f.do(t, "GET", path, nil, "Authorization", "Bearer not-a-token")
	if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("malformed token: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	if status, _ := f.call(t, "GET", path, weak, nil); status != 403 {
		t.Errorf("key without the permission: %d", status)
	}
	if status, _ := f.call(t, "GET", path, f.rootKey, nil); status != 200 {
		t.Errorf("admin key: %d", status)
	}
}

// KEY-05: a read-only key cannot write, and a key that may manage keys
// cannot mint one with more power than its own, nor grant such a role.
func TestAdminAPIKEY05NoEscalation(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	ctx, now := t.Context(), time.Now()
	for name, perms := range map[string][]string{
		"reader":    {"clients:read", "apikeys:read"},
		"keymaster": {"apikeys:read", "apikeys:write", "roles:read"},
		"usermgr":   {"users:write", "users:read"},
	} {
		if _, err := admin.CreateRole(ctx, f.srv.App.store, name, "", perms, now); err != nil {
			t.Fatal(err)
		}
	}
	key := func(role string) string {
		k, _, err := f.srv.App.apiKeys.Create(ctx, apikey.CreateRequest{Name: role, Roles: []string{role}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	reader, keymaster, usermgr := key("reader"), key("keymaster"), key("usermgr")
	if _, err := admin.CreateRole(ctx, f.srv.App.store, "clientmgr", "", []string{"clients:read", "clients:write"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRole(ctx, f.srv.App.store, "rolewriter", "", []string{"roles:read", "roles:write"}, now); err != nil {
		t.Fatal(err)
	}
	clientmgr, rolewriter := key("clientmgr"), key("rolewriter")
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	boss, err := admin.CreateUser(ctx, f.srv.App.store, h, admin.UserSpec{Username: "boss", Password: "correct horse battery staple",
		Roles: []string{"admin"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.createClient(t, admin.ClientSpec{ID: "robot", Name: "robot", GrantTypes: []string{"client_credentials"},
		Roles: []string{"admin"}})
	rootID := func() string {
		ks, _ := f.srv.App.apiKeys.List(ctx)
		return ks[0].ID
	}()
	for _, tc := range []struct {
		name, cred, method, path string
		body                     any
		want                     int
	}{
		{"read-only key writes", reader, "POST", "/clients", map[string]any{"name": "x", "grant_types": []string{"client_credentials"}}, 403},
		{"read-only key revokes a key", reader, "POST", "/apikeys", map[string]any{"name": "x"}, 403},
		{"keymaster mints an admin key", keymaster, "POST", "/apikeys", map[string]any{"name": "x", "roles": []string{"admin"}}, 403},
		{"keymaster mints a keymaster key", keymaster, "POST", "/apikeys", map[string]any{"name": "x", "roles": []string{"keymaster"}}, 201},
		{"keymaster writes a role", keymaster, "POST", "/roles", map[string]any{"name": "x", "permissions": []string{"apikeys:read"}}, 403},
		{"user manager grants admin", usermgr, "POST", "/users", map[string]any{"username": "eve", "password": "correct horse battery staple", "roles": []string{"admin"}}, 403},
		{"user manager resets an admin's password", usermgr, "PUT", "/users/" + boss.ID + "/password", map[string]any{"password": "pwned pwned pwned"}, 403},
		{"user manager disables an admin", usermgr, "PATCH", "/users/boss", map[string]any{"disabled": true}, 403},
		{"user manager strips an admin", usermgr, "DELETE", "/users/boss/roles/admin", nil, 403},
		{"user manager deletes an admin", usermgr, "DELETE", "/users/boss", nil, 403},
		{"user manager signs an admin out", usermgr, "DELETE", "/users/boss/sessions", nil, 403},
		{"client manager rotates an admin client's secret", clientmgr, "POST", "/clients/robot/secret", nil, 403},
		{"client manager patches an admin client", clientmgr, "PATCH", "/clients/robot", map[string]any{"audiences": []string{"https://x.example"}}, 403},
		{"client manager deletes an admin client", clientmgr, "DELETE", "/clients/robot", nil, 403},
		{"client manager makes an admin-audience client", clientmgr, "POST", "/clients", map[string]any{"name": "phish",
			"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://evil.example/cb"},
			"audiences": []string{adminapi.AdminAudience(f.srv.URL)}, "skip_consent": true}, 403},
		{"keymaster mints scopes it lacks", keymaster, "POST", "/apikeys", map[string]any{"name": "x", "roles": []string{"keymaster"}, "scopes": []string{"items:write"}}, 403},
		{"keymaster revokes the root key", keymaster, "DELETE", "/apikeys/" + rootID, nil, 403},
		{"role writer empties the admin role", rolewriter, "PUT", "/roles/admin", map[string]any{"permissions": []string{}}, 403},
		{"role writer deletes the admin role", rolewriter, "DELETE", "/roles/admin", nil, 403},
		{"overflowing lifetime", f.rootKey, "POST", "/apikeys", map[string]any{"name": "x", "expires_in_seconds": int64(1) << 55}, 400},
		{"overflowing overlap", f.rootKey, "POST", "/apikeys/" + rootID + "/rotate", map[string]any{"overlap_seconds": int64(1) << 55}, 400},
		{"admin may make an admin-audience client", f.rootKey, "POST", "/clients", map[string]any{"name": "console",
			"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://console.example/cb"},
			"audiences": []string{adminapi.AdminAudience(f.srv.URL)}}, 201},
		{"admin mints a scoped key", f.rootKey, "POST", "/apikeys", map[string]any{"name": "x", "scopes": []string{"items:write"}}, 201},
	} {
		if status, _ := f.call(t, tc.method, adminapi.Prefix+tc.path, tc.cred, tc.body); status != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, status, tc.want, f.lastBody)
		}
	}
}

// KEY-04 on the admin API: malformed keys and keys in the query string
// are refused with 401, never a 500.
func TestAdminAPIKEY04Malformed(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	path := adminapi.Prefix + "/clients"
	for name, hdr := range map[string][]string{
		"sk_ alone":   {"X-API-Key", "sk_"},
		"sk_ + 10 KB": {"X-API-Key", "sk_" + strings.Repeat("A", 10<<10)},
		"non-ASCII":   {"X-API-Key", "sk_" + strings.Repeat("é", 22)},
		"inner space": {"X-API-Key", f.rootKey[:10] + " " + f.rootKey[10:]},
		"SK_":         {"X-API-Key", "SK_" + f.rootKey[3:]},
		"unknown":     {"X-API-Key", "sk_" + strings.Repeat("A", 43)},
	} {
		if status, _, _ := f.do(t, "GET", path, nil, hdr...); status != 401 && status != 400 && status != 431 {
			t.Errorf("%s: %d", name, status)
		}
	}
	for _, q := range []string{"api_key", "access_token", "key"} {
		if status, _, _ := f.do(t, "GET", path+"?"+q+"="+url.QueryEscape(f.rootKey), nil); status != 401 {
			t.Errorf("key as ?%s=: %d", q, status)
		}
	}
}

// KEY-02: a key revoked through node A fails at node B within a second
// (its cache bound), and its revocation entry reaches resource servers.
func TestAdminAPIKEY02RevokeAcrossNodes(t *testing.T) {
	shared := testsvc.PostgresSchema(t)
	masterKey := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	nodeA := startServer(t, "postgres", func(c *config.Config) { c.Store, c.MasterKey = shared, masterKey })
	nodeB := startServer(t, "postgres", func(c *config.Config) { c.Store, c.MasterKey, c.Issuer = shared, masterKey, nodeA.URL })
	fa := newAdminFixture(t, nodeA)
	fb := &adminFixture{srv: nodeB, baseURL: "http://" + nodeB.cfg.Listen}
	status, k := fa.call(t, "POST", adminapi.Prefix+"/apikeys", fa.rootKey, map[string]any{"name": "ci", "roles": []string{"admin"}})
	if status != 201 {
		t.Fatalf("create: %d %s", status, fa.lastBody)
	}
	key, id := field(k, "key"), field(k, "id")
	if status, _ := fb.call(t, "GET", adminapi.Prefix+"/clients", key, nil); status != 200 {
		t.Fatalf("node B before revocation: %d", status)
	}
	if status, _ := fa.call(t, "DELETE", adminapi.Prefix+"/apikeys/"+id, fa.rootKey, nil); status != 204 {
		t.Fatalf("revoke at A: %d %s", status, fa.lastBody)
	}
	start := time.Now()
	for {
		status, _ := fb.call(t, "GET", adminapi.Prefix+"/clients", key, nil)
		if status == 401 {
			t.Logf("node B refused the key %s after its revocation at node A", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("node B still accepts a key revoked at node A: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	revoked, err := nodeB.App.revocations.IsRevoked(t.Context(), id, "", "", time.Now())
	if err != nil || !revoked {
		t.Errorf("the key's id is not on the revocation list: %v %v", revoked, err)
	}
	// An expired key fails too.
	exp, _, err := nodeA.App.apiKeys.Create(t.Context(), apikey.CreateRequest{Name: "short", Roles: []string{"admin"}, ExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if status, _ := fb.call(t, "GET", adminapi.Prefix+"/clients", exp, nil); status != 401 {
		t.Errorf("expired key: %d", status)
	}
}

// Access tokens reach the admin API only with its audience, and a role
// taken from the holder stops its older tokens at once (RBAC-05): the next
// token lacks the role.
func TestAdminAPIAccessTokensAndRBAC05(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	f := newAdminFixture(t, srv)
	aud := adminapi.AdminAudience(srv.URL)
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "ops", Name: "ops", GrantTypes: []string{"client_credentials"},
		Audiences: []string{aud, "https://other.example"}, Roles: []string{"admin"}})
	token := func(audience string) string {
		cfg := clientcredentials.Config{ClientID: "ops", ClientSecret: sec, TokenURL: srv.URL + "/oauth/token",
			EndpointParams: url.Values{"audience": {audience}}}
		tok, err := cfg.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	path := adminapi.Prefix + "/clients"
	if status, _ := f.call(t, "GET", path, token("https://other.example"), nil); status != 401 {
		t.Errorf("token for another audience: %d", status)
	}
	old := token(aud)
	if status, _ := f.call(t, "GET", path, old, nil); status != 200 {
		t.Fatalf("admin token: %d %s", status, f.lastBody)
	}
	if status, _ := f.call(t, "DELETE", adminapi.Prefix+"/clients/ops/roles/admin", f.rootKey, nil); status != 200 {
		t.Fatalf("revoke role: %d %s", status, f.lastBody)
	}
	if status, _ := f.call(t, "GET", path, old, nil); status != 401 {
		t.Errorf("token issued before the role was revoked: %d, want 401", status)
	}
	// Tokens issued in the second of the revocation are refused too (the
	// not-before is the next second), and the token endpoint may use its
	// cached copy of the client for token.ClientCacheTTL: poll.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		status, _ := f.call(t, "GET", path, token(aud), nil)
		if status == 403 {
			break
		}
		if (status != 401 && status != 200) || time.Since(start) > 10*time.Second {
			t.Fatalf("token issued after the role was revoked: %d, want 403", status)
		}
	}
}

// API keys are verified by introspection for resource servers, and are
// never a client secret, a refresh token or a bearer at /userinfo.
func TestAPIKeyIntrospectionAndMisuse(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	f := newAdminFixture(t, srv)
	_, rsSec := srv.createClient(t, admin.ClientSpec{ID: "products-api", Name: "products", GrantTypes: []string{"client_credentials"}})
	fx := &ccFixture{srv: srv}
	introspect := func(tok string) map[string]any { return fx.introspect(t, tok, "products-api", rsSec) }
	m := introspect(f.rootKey)
	if m["active"] != true || m["token_type"] != "api_key" || m["iss"] != srv.URL || fmt.Sprint(m["permissions"]) != "[*:*]" {
		t.Fatalf("introspection of a live key: %v", m)
	}
	if m := introspect("sk_" + strings.Repeat("A", 43)); m["active"] != false {
		t.Errorf("unknown key: %v", m)
	}
	// Not a client secret.
	resp, _ := fx.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "products-api", f.rootKey)
	if resp.StatusCode != 401 {
		t.Errorf("key as a client secret: %d", resp.StatusCode)
	}
	// Not a refresh token.
	resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.rootKey}}, "products-api", rsSec)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_grant") && !strings.Contains(string(body), "unauthorized_client") {
		t.Errorf("key as a refresh token: %d %s", resp.StatusCode, body)
	}
	// Not a bearer at /userinfo.
	req, _ := http.NewRequest("GET", srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+f.rootKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("key at /userinfo: %v %v", resp.StatusCode, err)
	}
	// Revoked: inactive.
	k, _ := srv.App.apiKeys.List(t.Context())
	if status, _ := f.call(t, "DELETE", adminapi.Prefix+"/apikeys/"+k[0].ID, f.rootKey, nil); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	if m := introspect(f.rootKey); m["active"] != false {
		t.Errorf("revoked key: %v", m)
	}
}

// RBAC-04: every route called without credentials answers 401, except the
// documented public surface.
func TestRBAC04EveryRouteNeedsCredentials(t *testing.T) {
	a := newApp(t, testConfig(t))
	public := regexp.MustCompile(`^(GET|POST) (/\.well-known/|/healthz|/readyz|/metrics|/oauth/authorize|/oauth/token|/oauth/device_authorization|/device|/login|/consent|/oauth/logout|/static/)`)
	for _, rt := range allRoutes(t, a) {
		if public.MatchString(rt.Pattern) {
			if rt.Access != Public && rt.Access != ClientAuth {
				t.Errorf("%s is on the public list but declared %s", rt.Pattern, rt.Access)
			}
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
		if w.Code != 401 {
			t.Errorf("%s (%s) without credentials: %d, want 401", rt.Pattern, rt.Access, w.Code)
		}
	}
}

// RBAC-02 on the admin API: a key without users:read never gets the user
// list through another spelling of the path.
func TestAdminAPIRBAC02PathVariants(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	low, _, err := f.srv.App.apiKeys.Create(t.Context(), apikey.CreateRequest{Name: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{
		"/admin/v1/users", "/admin/v1/users/", "//admin/v1/users", "/ADMIN/V1/users", "/admin/v1/./users",
		"/admin/x/../v1/users", "/admin/v1/%2e/users", "/admin/v1%2fusers", "/admin;a=b/v1/users",
		"/admin/v1/users;a=b", "/admin/v1/users%00", "/admin/v1/users.json", "/admin/v1/%75sers",
	} {
		req, _ := http.NewRequest("GET", f.baseURL+p, nil)
		req.URL.RawPath, req.URL.Path = "", "" // send p as written
		req.URL.Opaque = p
		req.Header.Set("X-API-Key", low)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 || strings.Contains(string(body), `"username"`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}

// Repeated failures with one key prefix are throttled: 429 with
// Retry-After, never a 500; the same answer for an unknown prefix and a
// wrong secret until then.
func TestAdminAPIKeyThrottle(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	wrong := f.rootKey[:11] + strings.Repeat("A", len(f.rootKey)-11) // the root key's prefix, another secret
	unknown := "sk_" + strings.Repeat("B", len(f.rootKey)-3)
	_, bodyWrong, _ := f.do(t, "GET", adminapi.Prefix+"/clients", nil, "X-API-Key", wrong)
	_, bodyUnknown, _ := f.do(t, "GET", adminapi.Prefix+"/clients", nil, "X-API-Key", unknown)
	if string(bodyWrong) != string(bodyUnknown) {
		t.Errorf("wrong secret and unknown prefix answer differently:\n%s\n%s", bodyWrong, bodyUnknown)
	}
	for i := range 30 {
		status, body, hdr := f.do(t, "GET", adminapi.Prefix+"/clients", nil, "X-API-Key", wrong)
		if status == http.StatusTooManyRequests {
			if hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "too_many_requests") {
				t.Errorf("429 without Retry-After or error code: %v %s", hdr, body)
			}
			return
		}
		if status != 401 {
			t.Fatalf("attempt %d: %d %s", i, status, body)
		}
	}
	t.Fatal("30 wrong secrets for one prefix were never throttled")
}

// With tokens.permissions_claim, access tokens carry the permissions of
// the roles, which the SDK's RequirePermissions checks (wildcards by whole
// segment); without it they carry role names only.
func TestPermissionsClaim(t *testing.T) {
	for _, on := range []bool{true, false} {
		srv := startServer(t, "sqlite", func(c *config.Config) { c.Tokens.PermissionsClaim = on })
		if _, err := admin.CreateRole(t.Context(), srv.App.store, "deployer", "", []string{"deployments:*", "products:read"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, sec := srv.createClient(t, admin.ClientSpec{ID: "ci", Name: "ci", GrantTypes: []string{"client_credentials"},
			Audiences: []string{"https://api.example"}, Roles: []string{"deployer"}})
		feedReader(t, srv)
		_, rsSec := srv.createClient(t, admin.ClientSpec{ID: "rs", Name: "rs", GrantTypes: []string{"client_credentials"},
			Roles: []string{"resource-server"}})
		fx := &ccFixture{srv: srv, cc1: "ci", cc1Sec: sec}
		tok := fx.ccToken(t)
		_, claims, _ := segments(t, tok)
		got := fmt.Sprint(claims["permissions"])
		if on && got != "[deployments:* products:read]" || !on && claims["permissions"] != nil {
			t.Errorf("permissions_claim=%v: permissions %s", on, got)
		}
		c, err := sdkVerifier(t, srv, "rs", rsSec).Verify(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.HasPermission("deployments:create") != on || c.HasPermission("products:write") {
			t.Errorf("permissions_claim=%v: the SDK sees %v", on, c.Permissions)
		}
	}
}

// KEY-01 through the admin API: the key is sk_ + a 43-character secret,
// shown once; the API accepts it; list and get show its prefix and
// metadata only.
func TestAdminAPIKEY01(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	status, created := f.call(t, "POST", adminapi.Prefix+"/apikeys", f.rootKey, map[string]any{"name": "ci", "roles": []string{"admin"}})
	if status != 201 {
		t.Fatalf("create: %d %s", status, f.lastBody)
	}
	key, id := field(created, "key"), field(created, "id")
	if !regexp.MustCompile(`^sk_[A-Za-z0-9_-]{43}$`).MatchString(key) || field(created, "prefix") != key[:11]+"…" {
		t.Fatalf("key %q, prefix %q", key, field(created, "prefix"))
	}
	if status, _ := f.call(t, "GET", adminapi.Prefix+"/clients", key, nil); status != 200 {
		t.Errorf("the new key is refused: %d", status)
	}
	for _, path := range []string{"/apikeys", "/apikeys/" + id} {
		status, _ := f.call(t, "GET", adminapi.Prefix+path, f.rootKey, nil)
		body := string(f.lastBody)
		if status != 200 || strings.Contains(body, key[11:]) || strings.Contains(body, `"key"`) || strings.Contains(strings.ToLower(body), "hash") {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
		if !strings.Contains(body, key[:11]+"…") {
			t.Errorf("GET %s does not show the prefix", path)
		}
	}
}

// Only clients whose roles grant revocations:read may follow the
// revocation feed: its entries name users who signed out or were disabled.
func TestRevocationFeedNeedsItsPermission(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	feedReader(t, srv)
	_, plainSec := srv.createClient(t, admin.ClientSpec{ID: "plain", Name: "plain", GrantTypes: []string{"client_credentials"}})
	_, rsSec := srv.createClient(t, admin.ClientSpec{ID: "rs", Name: "rs", GrantTypes: []string{"client_credentials"},
		Roles: []string{"resource-server"}})
	if _, err := sdk.NewFeedChecker(t.Context(), sdk.FeedConfig{Issuer: srv.URL, ClientID: "plain", ClientSecret: plainSec}); err == nil ||
		!strings.Contains(err.Error(), "403") {
		t.Errorf("a client without revocations:read follows the feed: %v", err)
	}
	fc, err := sdk.NewFeedChecker(t.Context(), sdk.FeedConfig{Issuer: srv.URL, ClientID: "rs", ClientSecret: rsSec})
	if err != nil {
		t.Fatalf("a client with revocations:read: %v", err)
	}
	fc.Close()
}

// Bad input to the admin API gets a 4xx with an error code, never a 5xx.
// (Taking away a role not held, and ending a session that is gone, are
// idempotent successes, not errors.)
func TestAdminAPIBadInputNeverFails(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, err := admin.CreateUser(t.Context(), f.srv.App.store, h, admin.UserSpec{Username: "ada", Password: "correct horse battery"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"}})
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/users", map[string]any{"username": "bob", "password": "short"}},
		{"POST", "/users", map[string]any{"username": "", "password": "correct horse battery"}},
		{"POST", "/users", map[string]any{"username": "ada", "password": "correct horse battery"}},
		{"POST", "/users", map[string]any{"username": "x", "password": 12}},
		{"POST", "/users", "not an object"},
		{"POST", "/users", nil},
		{"PUT", "/users/ada/password", map[string]any{"password": "short"}},
		{"PUT", "/users/ada/password", map[string]any{"password": strings.Repeat("x", 200)}},
		{"PUT", "/users/nobody/password", map[string]any{"password": "correct horse battery"}},
		{"PATCH", "/users/nobody", map[string]any{"disabled": true}},
		{"DELETE", "/users/nobody", nil},
		{"POST", "/users/ada/roles", map[string]any{"role": ""}},
		{"GET", "/users/nobody/sessions", nil},
		{"POST", "/clients", map[string]any{"name": ""}},
		{"POST", "/clients", map[string]any{"name": "x", "grant_types": []string{"password"}}},
		{"POST", "/clients", map[string]any{"name": "x", "redirect_uris": []string{"javascript:alert(1)"}}},
		{"POST", "/clients", map[string]any{"client_id": "svc", "name": "dup", "grant_types": []string{"client_credentials"}}},
		{"POST", "/clients", map[string]any{"name": "x", "grant_types": []string{"client_credentials"}, "refresh_grace_seconds": -5}},
		{"PATCH", "/clients/svc", map[string]any{"token_endpoint_auth_method": "private_key_jwt"}},
		{"PATCH", "/clients/nope", map[string]any{"name": "x"}},
		{"POST", "/clients/nope/secret", nil},
		{"DELETE", "/clients/nope", nil},
		{"POST", "/roles", map[string]any{"name": "Bad Name!", "permissions": []string{"a:b"}}},
		{"POST", "/roles", map[string]any{"name": "r", "permissions": []string{"a"}}},
		{"PUT", "/roles/nope", map[string]any{"permissions": []string{"a:b"}}},
		{"PUT", "/roles/admin", map[string]any{}},
		{"DELETE", "/roles/nope", nil},
		{"POST", "/apikeys", map[string]any{"name": ""}},
		{"POST", "/apikeys", map[string]any{"name": "x", "roles": []string{"nope"}}},
		{"POST", "/apikeys", map[string]any{"name": "x", "scopes": []string{"bad scope"}}},
		{"POST", "/apikeys", map[string]any{"name": "x", "expires_in_seconds": -1}},
		{"GET", "/apikeys/nope", nil},
		{"DELETE", "/apikeys/nope", nil},
		{"POST", "/apikeys/nope/rotate", map[string]any{"overlap_seconds": 5}},
		{"POST", "/keys/rotate", map[string]any{"alg": "none"}},
		{"GET", "/audit?limit=0", nil},
		{"GET", "/audit?before=x", nil},
	} {
		status, body := f.call(t, tc.method, adminapi.Prefix+tc.path, f.rootKey, tc.body)
		if status < 400 || status >= 500 || field(body, "error") == "" {
			t.Errorf("%s %s %v: %d %s", tc.method, tc.path, tc.body, status, f.lastBody)
		}
	}
}

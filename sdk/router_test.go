package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const adminData = "admin-data: ada, grace"

// rbacFixture is a sample API behind a Router, with tokens from the fake
// issuer.
type rbacFixture struct {
	iss   *testIssuer
	rt    *Router
	admin string // roles admin, editor; scopes openid items:read items:write
	low   string // role viewer, scope items:read
}

func newRBACFixture(t testing.TB) *rbacFixture {
	t.Helper()
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, nil)
	return &rbacFixture{
		iss:   iss,
		rt:    sampleRouter(v),
		admin: iss.token(esKey(), nil, map[string]any{"permissions": []string{"reports:create", "reports:read"}}),
		low:   iss.token(esKey(), nil, map[string]any{"roles": []string{"viewer"}, "scope": "items:read"}),
	}
}

// sampleRouter is the route table used by the tests.
func sampleRouter(v TokenVerifier) *Router {
	rt := NewRouter(v)
	text := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) }
	}
	rt.HandleFunc("GET /health", Public(), text("ok"))
	rt.HandleFunc("GET /api/me", Authenticated(), func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "me:"+c.Subject)
	})
	rt.HandleFunc("GET /api/admin/users", RequireRoles("admin"), text(adminData))
	rt.HandleFunc("GET /api/items/{id}", RequireScopes("items:read"), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "GET item "+r.PathValue("id"))
	})
	rt.HandleFunc("DELETE /api/items/{id}", AllOf(RequireScopes("items:write"), RequireRoles("admin", "editor")), text("deleted"))
	rt.HandleFunc("POST /api/reports", RequirePermissions("reports:create"), text("created"))
	rt.HandleFunc("GET /api/reports", AnyOf(RequireRoles("auditor"), RequirePermissions("reports:read")), text("reports"))
	return rt
}

type result struct {
	code int
	hdr  http.Header
	body string
}

// do serves one request; auth is the Authorization header ("" for none).
func do(h http.Handler, method, target, auth string) result {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return serve(h, r)
}

func serve(h http.Handler, r *http.Request) result {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return result{w.Code, w.Result().Header, w.Body.String()}
}

// errorCode returns the "error" member of a JSON error body.
func errorCode(t *testing.T, res result) string {
	t.Helper()
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(res.body), &b); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", res.body, err)
	}
	if b.Description == "" {
		t.Errorf("body %q has no error_description", res.body)
	}
	if got := res.hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	return b.Error
}

func TestRouterRBAC01(t *testing.T) {
	f := newRBACFixture(t)
	invalid := `Bearer realm="api", error="invalid_token", error_description="`
	tests := []struct {
		name      string
		auth      []string
		wantCode  int
		wantErr   string // JSON "error"; "" for a 200
		challenge string // WWW-Authenticate prefix; exact when it has no error attribute
	}{
		{"no token", nil, 401, "unauthorized", `Bearer realm="api"`},
		{"empty header", []string{""}, 401, "invalid_token", invalid},
		{"scheme only", []string{"Bearer"}, 401, "invalid_token", invalid},
		{"scheme and space", []string{"Bearer "}, 401, "invalid_token", invalid},
		{"basic scheme", []string{"Basic YWRhOnB3"}, 401, "invalid_token", invalid},
		{"two tokens", []string{"Bearer a b"}, 401, "invalid_token", invalid},
		{"bad characters", []string{`Bearer <script>"x"`}, 401, "invalid_token", invalid},
		{"two headers", []string{"Bearer " + f.admin, "Bearer " + f.admin}, 401, "invalid_token", invalid},
		{"not a JWT", []string{"Bearer not.a.jwt"}, 401, "invalid_token", invalid},
		{"bad signature", []string{"Bearer " + f.admin[:len(f.admin)-4] + "AAAA"}, 401, "invalid_token", invalid},
		{"too large", []string{"Bearer " + strings.Repeat("a", MaxTokenSize+1)}, 401, "invalid_token", invalid},
		{"valid without role", []string{"Bearer " + f.low}, 403, "insufficient_scope", `Bearer realm="api", error="insufficient_scope"`},
		{"valid with role", []string{"Bearer " + f.admin}, 200, "", ""},
		{"lower-case scheme", []string{"bearer " + f.admin}, 200, "", ""},
		{"upper-case scheme", []string{"BEARER  " + f.admin}, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/admin/users", nil)
			for _, a := range tc.auth {
				r.Header.Add("Authorization", a)
			}
			res := serve(f.rt, r)
			if res.code != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", res.code, tc.wantCode, res.body)
			}
			if tc.wantCode == 200 {
				if res.body != adminData {
					t.Errorf("body = %q", res.body)
				}
				return
			}
			if strings.Contains(res.body, "admin-data") {
				t.Errorf("admin data leaked: %q", res.body)
			}
			if got := errorCode(t, res); got != tc.wantErr {
				t.Errorf("error = %q, want %q", got, tc.wantErr)
			}
			ch := res.hdr.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, tc.challenge) || (!strings.Contains(tc.challenge, "error=") && ch != tc.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q...", ch, tc.challenge)
			}
			for _, a := range tc.auth {
				if len(a) > 8 && strings.Contains(res.body+ch, a[7:]) {
					t.Errorf("response echoes the credential: %q %q", ch, res.body)
				}
			}
		})
	}
}

// Tokens are taken from the Authorization header only.
func TestRouterTokenOnlyFromHeader(t *testing.T) {
	f := newRBACFixture(t)
	r := httptest.NewRequest("GET", "/api/admin/users?access_token="+f.admin, nil)
	r.AddCookie(&http.Cookie{Name: "access_token", Value: f.admin})
	r.Header.Set("X-Access-Token", f.admin)
	res := serve(f.rt, r)
	if res.code != 401 || res.hdr.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Fatalf("status %d, challenge %q; want 401 without error", res.code, res.hdr.Get("WWW-Authenticate"))
	}
}

func TestRouterPolicies(t *testing.T) {
	f := newRBACFixture(t)
	noPerms := f.iss.token(esKey(), nil, nil)
	auditor := f.iss.token(esKey(), nil, map[string]any{"roles": []string{"auditor"}, "scope": "openid"})
	editorWriter := f.iss.token(esKey(), nil, map[string]any{"roles": []string{"editor"}})
	adminReader := f.iss.token(esKey(), nil, map[string]any{"scope": "items:read"})
	const allOf = "requires the scope 'items:write' and one of the roles 'admin', 'editor'"
	tests := []struct {
		name, method, target, token string
		want                        int
		wantScope                   string // scope attribute of a 403 challenge
		wantDesc                    string // error_description of a 403
	}{
		{"public without token", "GET", "/health", "", 200, "", ""},
		{"public with bad token", "GET", "/health", "garbage", 200, "", ""},
		{"authenticated", "GET", "/api/me", f.low, 200, "", ""},
		{"scopes met", "GET", "/api/items/7", f.low, 200, "", ""},
		{"scopes not met", "GET", "/api/items/7", auditor, 403, "items:read", "requires the scope 'items:read'"},
		{"allOf met (editor)", "DELETE", "/api/items/7", editorWriter, 200, "", ""},
		{"allOf met (admin)", "DELETE", "/api/items/7", f.admin, 200, "", ""},
		{"allOf scope missing", "DELETE", "/api/items/7", adminReader, 403, "items:write", allOf},
		{"allOf role missing", "DELETE", "/api/items/7", f.low, 403, "items:write", allOf},
		{"permissions met", "POST", "/api/reports", f.admin, 200, "", ""},
		{"permissions missing", "POST", "/api/reports", noPerms, 403, "", "requires the permission 'reports:create'"},
		{"anyOf by role", "GET", "/api/reports", auditor, 200, "", ""},
		{"anyOf by permission", "GET", "/api/reports", f.admin, 200, "", ""},
		{"anyOf neither", "GET", "/api/reports", f.low, 403, "", "requires the role 'auditor' or the permission 'reports:read'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth := ""
			if tc.token != "" {
				auth = "Bearer " + tc.token
			}
			res := do(f.rt, tc.method, tc.target, auth)
			if res.code != tc.want {
				t.Fatalf("status = %d, want %d (body %q)", res.code, tc.want, res.body)
			}
			if tc.want != 403 {
				return
			}
			if got := errorCode(t, res); got != "insufficient_scope" {
				t.Errorf("error = %q", got)
			}
			want := `Bearer realm="api", error="insufficient_scope", error_description="` + tc.wantDesc + `"`
			if tc.wantScope != "" {
				want += `, scope="` + tc.wantScope + `"`
			}
			if got := res.hdr.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			var body struct {
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Description != tc.wantDesc {
				t.Errorf("body %q, want error_description %q", res.body, tc.wantDesc)
			}
		})
	}
}

// TestPolicyRequirement: the 403 error_description names what the policy
// requires, and stays in the RFC 6749 charset (printable ASCII without
// '"' and '\') whatever the names, so it can be quoted in the challenge.
func TestPolicyRequirement(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{RequirePermissions("clients:write"), "requires the permission 'clients:write'"},
		{RequirePermissions("a:b", "c:d"), "requires the permissions 'a:b', 'c:d'"},
		{RequireRoles("admin"), "requires the role 'admin'"},
		{RequireRoles("admin", "product_manager"), "requires one of the roles 'admin', 'product_manager'"},
		{RequireScopes("products:write"), "requires the scope 'products:write'"},
		{RequireScopes("a", "b"), "requires the scopes 'a', 'b'"},
		{AnyOf(RequireRoles("admin"), AllOf(RequireScopes("x"), RequirePermissions("p:q"))),
			"requires the role 'admin' or (the scope 'x' and the permission 'p:q')"},
		{AllOf(Authenticated(), RequireRoles("a")), "requires a valid access token and the role 'a'"},
		{RequireRoles(`a"b\c`, "caf\u00e9", "tab\there"), "requires one of the roles 'a?b?c', 'caf??', 'tab?here'"},
	} {
		if got := tc.p.requirement(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.p, got, tc.want)
		}
	}
	long := RequireRoles(strings.Split(strings.Repeat("role_with_a_long_name,", 40), ",")[:40]...)
	got := long.requirement()
	if len(got) > maxRequirement || !strings.HasSuffix(got, "...") {
		t.Errorf("long policy: %d bytes %q", len(got), got)
	}
	for _, c := range []byte(got) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Fatalf("%q: byte %q outside the RFC 6749 charset", got, c)
		}
	}
}

func TestPolicyAllows(t *testing.T) {
	c := &Claims{Roles: []string{"editor"}, Scope: []string{"a", "b"}, Permissions: []string{"p1", "p2"}}
	tests := []struct {
		p    Policy
		want bool
		str  string
	}{
		{Public(), true, "public"},
		{Authenticated(), true, "authenticated"},
		{RequireRoles("admin", "editor"), true, "roles(admin|editor)"},
		{RequireRoles("admin"), false, "roles(admin)"},
		{RequireScopes("a", "b"), true, "scopes(a&b)"},
		{RequireScopes("a", "c"), false, "scopes(a&c)"},
		{RequirePermissions("p1", "p2"), true, "permissions(p1&p2)"},
		{RequirePermissions("p1", "p3"), false, "permissions(p1&p3)"},
		{AllOf(RequireRoles("editor"), RequireScopes("a")), true, "allOf(roles(editor), scopes(a))"},
		{AllOf(RequireRoles("editor"), RequireScopes("c")), false, "allOf(roles(editor), scopes(c))"},
		{AnyOf(RequireRoles("admin"), RequirePermissions("p2")), true, "anyOf(roles(admin), permissions(p2))"},
		{AnyOf(RequireRoles("admin"), RequirePermissions("p3")), false, "anyOf(roles(admin), permissions(p3))"},
		{AnyOf(AllOf(RequireRoles("admin"), Authenticated()), RequireScopes("b")), true, "anyOf(allOf(roles(admin), authenticated), scopes(b))"},
	}
	for _, tc := range tests {
		if got := tc.p.allows(c); got != tc.want {
			t.Errorf("%s allows = %v, want %v", tc.p, got, tc.want)
		}
		if got := tc.p.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
		if tc.p.allows(nil) {
			t.Errorf("%s allows nil claims", tc.p)
		}
	}
	if (Policy{}).allows(c) || (Policy{}).String() != "<none>" || !(Policy{}).IsZero() {
		t.Error("zero Policy must allow nothing and say so")
	}
}

// expectPanic runs f and returns the panic message, failing if none.
func expectPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func TestPolicyConstructorsPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"no roles":         func() { RequireRoles() },
		"empty role":       func() { RequireRoles("admin", "") },
		"no scopes":        func() { RequireScopes() },
		"scope with space": func() { RequireScopes("a b") },
		"no permissions":   func() { RequirePermissions() },
		"empty allOf":      func() { AllOf() },
		"empty anyOf":      func() { AnyOf() },
		"zero in allOf":    func() { AllOf(Authenticated(), Policy{}) },
		"zero in anyOf":    func() { AnyOf(Policy{}) },
		"public in anyOf":  func() { AnyOf(Public(), RequireRoles("admin")) },
		"public in allOf":  func() { AllOf(Public()) },
	} {
		t.Run(name, func(t *testing.T) { expectPanic(t, f) })
	}
}

func TestRouterRegistrationPanics(t *testing.T) {
	rt := NewRouter(stubVerifier{})
	ok := func(http.ResponseWriter, *http.Request) {}
	msg := expectPanic(t, func() { rt.HandleFunc("GET /api/x", Policy{}, ok) })
	if want := `sdk: route "GET /api/x" registered without a policy`; msg != want {
		t.Errorf("panic = %q, want %q", msg, want)
	}
	expectPanic(t, func() { rt.Handle("GET /api/y", Policy{}, http.NotFoundHandler()) })
	expectPanic(t, func() { rt.HandleFunc("/api/x", Authenticated(), ok) })
	expectPanic(t, func() { rt.HandleFunc("GET /api/x", Authenticated(), nil) })
	expectPanic(t, func() { rt.Handle("GET /api/x", Authenticated(), nil) })
	expectPanic(t, func() { NewRouter(nil) })
	rt.HandleFunc("GET /api/x", Authenticated(), ok)
	expectPanic(t, func() { rt.HandleFunc("GET /api/x", Public(), ok) }) // ServeMux conflict
	if got := rt.Routes(); len(got) != 1 || got[0].Policy != "authenticated" {
		t.Errorf("Routes() = %+v; failed registrations must not be listed", got)
	}
}

func TestRouterRoutes(t *testing.T) {
	got := sampleRouter(stubVerifier{}).Routes()
	want := []Route{
		{"GET", "/health", "public"},
		{"GET", "/api/me", "authenticated"},
		{"GET", "/api/admin/users", "roles(admin)"},
		{"GET", "/api/items/{id}", "scopes(items:read)"},
		{"DELETE", "/api/items/{id}", "allOf(scopes(items:write), roles(admin|editor))"},
		{"POST", "/api/reports", "permissions(reports:create)"},
		{"GET", "/api/reports", "anyOf(roles(auditor), permissions(reports:read))"},
	}
	if len(got) != len(want) {
		t.Fatalf("Routes() = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Routes()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestClaimsFrom(t *testing.T) {
	f := newRBACFixture(t)
	if res := do(f.rt, "GET", "/api/me", "Bearer "+f.low); res.code != 200 || res.body != "me:user-42" {
		t.Errorf("got %d %q", res.code, res.body)
	}
	if _, ok := ClaimsFrom(context.Background()); ok {
		t.Error("ClaimsFrom(empty context) reports claims")
	}
	rt := NewRouter(stubVerifier{})
	rt.HandleFunc("GET /pub", Public(), func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ClaimsFrom(r.Context()); ok {
			t.Error("a Public route has claims")
		}
	})
	do(rt, "GET", "/pub", "Bearer abc")
}

// RBAC-04: every route except the documented public ones answers 401 to an
// unauthenticated request.
func TestRouterRBAC04EveryRouteAuthenticated(t *testing.T) {
	f := newRBACFixture(t)
	for _, rt := range f.rt.Routes() {
		path := strings.NewReplacer("{id}", "1").Replace(rt.Pattern)
		res := do(f.rt, rt.Method, path, "")
		want := http.StatusUnauthorized
		if rt.Policy == "public" {
			want = http.StatusOK
		}
		if res.code != want {
			t.Errorf("%s %s (%s): status %d, want %d", rt.Method, rt.Pattern, rt.Policy, res.code, want)
		}
	}
}

// RBAC-02: no spelling of /api/admin/users gives a low-privilege token the
// admin data.
func TestRouterRBAC02PathVariants(t *testing.T) {
	const redirect = 3 // 301 or 307
	f := newRBACFixture(t)
	tests := []struct {
		name, target string
		want         int
	}{
		{"canonical", "/api/admin/users", 403},
		{"trailing slash", "/api/admin/users/", 404},
		{"double leading slash", "//api/admin/users", redirect},
		{"double inner slash", "/api//admin/users", redirect},
		{"upper case", "/API/ADMIN/users", 404},
		{"dot segment", "/api/admin/./users", redirect},
		{"dot-dot segment", "/api/x/../admin/users", redirect},
		{"encoded dot", "/api/admin/%2e/users", 400},
		{"encoded dot-dot", "/api/x/%2e%2e/admin/users", 400},
		{"encoded slash", "/api/admin%2fusers", 400},
		{"encoded slash upper", "/api/admin%2Fusers", 400},
		{"encoded backslash", "/api/admin%5cusers", 400},
		{"semicolon", "/api/admin;a=b/users", 400},
		{"semicolon suffix", "/api/admin/users;", 400},
		{"NUL suffix", "/api/admin/users%00", 400},
		{"NUL suffix json", "/api/admin/users%00.json", 400},
		{"json suffix", "/api/admin/users.json", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// An absolute URL keeps "//api" a path rather than a host.
			res := do(f.rt, "GET", "http://api.example.com"+tc.target, "Bearer "+f.low)
			if res.code >= 200 && res.code < 300 || strings.Contains(res.body, "admin-data") {
				t.Fatalf("low-privilege token got %d %q", res.code, res.body)
			}
			got := res.code
			if got == http.StatusMovedPermanently || got == http.StatusTemporaryRedirect {
				got = redirect // ServeMux's clean-path redirect: 301, or 307 in newer Go
			}
			if got != tc.want {
				t.Errorf("status = %d, want %d", res.code, tc.want)
			}
			if got == redirect {
				// Following the redirect lands on the policy.
				loc := res.hdr.Get("Location")
				if loc != "/api/admin/users" {
					t.Fatalf("Location = %q", loc)
				}
				if res := do(f.rt, "GET", loc, "Bearer "+f.low); res.code != 403 {
					t.Errorf("redirect target: status %d", res.code)
				}
			}
		})
	}
}

// The route is chosen by the real method; HEAD is checked as GET; OPTIONS
// reaches no handler unless registered.
func TestRouterMethods(t *testing.T) {
	f := newRBACFixture(t)
	overrides := []string{"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"}
	for _, h := range overrides {
		t.Run(h, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/items/7", nil)
			r.Header.Set("Authorization", "Bearer "+f.low)
			r.Header.Set(h, "DELETE")
			if res := serve(f.rt, r); res.code != 200 || res.body != "GET item 7" {
				t.Errorf("GET with %s: DELETE got %d %q, want the GET route", h, res.code, res.body)
			}
			r = httptest.NewRequest("POST", "/api/admin/users", nil)
			r.Header.Set("Authorization", "Bearer "+f.low)
			r.Header.Set(h, "GET")
			if res := serve(f.rt, r); res.code != 405 || strings.Contains(res.body, "admin-data") {
				t.Errorf("POST with %s: GET got %d %q, want 405", h, res.code, res.body)
			}
		})
	}
	for _, tc := range []struct {
		name, method, token string
		want                int
	}{
		{"HEAD without token", "HEAD", "", 401},
		{"HEAD low privilege", "HEAD", f.low, 403},
		{"HEAD admin", "HEAD", f.admin, 200},
		{"OPTIONS admin", "OPTIONS", f.admin, 405},
		{"OPTIONS without token", "OPTIONS", "", 405},
		{"TRACE", "TRACE", f.admin, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := ""
			if tc.token != "" {
				auth = "Bearer " + tc.token
			}
			res := do(f.rt, tc.method, "/api/admin/users", auth)
			if res.code != tc.want {
				t.Errorf("status = %d, want %d", res.code, tc.want)
			}
			if tc.want != 200 && strings.Contains(res.body, "admin-data") {
				t.Errorf("admin data leaked: %q", res.body)
			}
		})
	}
}

// stubVerifier returns its fields; the zero value accepts every token with
// empty claims.
type stubVerifier struct {
	claims *Claims
	err    error
	nilOK  bool // return nil, nil
}

func (s stubVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if s.err != nil || s.nilOK {
		return nil, s.err
	}
	if s.claims != nil {
		return s.claims, nil
	}
	return &Claims{Subject: "stub"}, nil
}

// A verifier failure that is not about the token is 503, never 200 or 401.
func TestRouterVerifierOutage(t *testing.T) {
	tests := []struct {
		name string
		v    stubVerifier
		want int
	}{
		{"JWKS outage", stubVerifier{err: errors.New("sdk: JWKS fetch: connection refused")}, 503},
		{"canceled", stubVerifier{err: context.Canceled}, 503},
		{"deadline", stubVerifier{err: fmt.Errorf("fetch: %w", context.DeadlineExceeded)}, 503},
		{"nil claims", stubVerifier{nilOK: true}, 503},
		{"token error", stubVerifier{err: fmt.Errorf("wrapped: %w", ErrExpired)}, 401},
		{"accepted", stubVerifier{claims: &Claims{Roles: []string{"admin"}}}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := sampleRouter(tc.v)
			res := do(rt, "GET", "/api/admin/users", "Bearer abc.def.ghi")
			if res.code != tc.want {
				t.Fatalf("status = %d, want %d", res.code, tc.want)
			}
			if tc.want != 503 {
				return
			}
			if got := errorCode(t, res); got != "temporarily_unavailable" {
				t.Errorf("error = %q", got)
			}
			if res.hdr.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			if strings.Contains(res.body, "connection refused") || strings.Contains(res.body, "admin-data") {
				t.Errorf("body leaks: %q", res.body)
			}
		})
	}
	// A real Verifier whose request context is already canceled still
	// never lets the request through.
	f := newRBACFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "/api/admin/users", nil)
	r.Header.Set("Authorization", "Bearer "+f.iss.token(esKey(), map[string]any{"kid": "unknown"}, nil))
	if res := serve(f.rt, r); res.code/100 == 2 {
		t.Errorf("canceled request got %d", res.code)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in          string
		tok         string
		present, ok bool
	}{
		{"Bearer abc", "abc", true, true},
		{"bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==", true, true},
		{"Bearer   abc", "abc", true, true},
		{"Bearer abc ", "", true, false},
		{"Bearer =abc", "", true, false},
		{"Bearer ===", "", true, false},
		{"Bearer a=b", "", true, false},
		{"Bearerabc", "", true, false},
		{"Token abc", "", true, false},
		{"Bearer\tabc", "", true, false},
	}
	for _, tc := range tests {
		h := http.Header{"Authorization": {tc.in}}
		tok, present, ok := bearerToken(h)
		if tok != tc.tok || present != tc.present || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v, %v", tc.in, tok, present, ok)
		}
	}
	if _, present, _ := bearerToken(http.Header{}); present {
		t.Error("no header reported present")
	}
}

func TestPermissionsClaim(t *testing.T) {
	c, err := parseClaims([]byte(`{"permissions":["a","b"]}`))
	if err != nil || !c.HasPermission("b") || c.HasPermission("c") {
		t.Fatalf("parseClaims = %+v, %v", c, err)
	}
	if d := c.clone(); &d.Permissions[0] == &c.Permissions[0] {
		t.Error("clone shares Permissions")
	}
	for _, bad := range []string{`{"permissions":"a"}`, `{"permissions":[1]}`, `{"permissions":{}}`} {
		if _, err := parseClaims([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseClaims(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestPermissionWildcards(t *testing.T) {
	for _, tc := range []struct {
		granted, wanted string
		want            bool
	}{
		{"products:delete", "products:delete", true},
		{"products:*", "products:delete", true},
		{"*:read", "products:read", true},
		{"*:*", "clients:write", true},
		{"products:*", "orders:delete", false},
		{"*:read", "products:write", false},
		{"product*:delete", "products:delete", false}, // partial wildcard
		{"products*", "products:delete", false},
		{"*", "products:delete", false},
		{"products:*:x", "products:delete", false},
		{"*:*", "products:delete:x", false},
		{":*", ":x", false},
		{"*:*", "plain", false},
		{"plain", "plain", true}, // not resource:action: exact only
		{"Products:*", "products:delete", false},
		{"products:*", "products:*", false}, // a wildcard is never wanted
	} {
		c := &Claims{Permissions: []string{tc.granted}}
		if got := c.HasPermission(tc.wanted); got != tc.want {
			t.Errorf("%q grants %q = %v, want %v", tc.granted, tc.wanted, got, tc.want)
		}
	}
	if msg := expectPanic(t, func() { RequirePermissions("products:*") }); !strings.Contains(msg, "wildcard") {
		t.Errorf("panic %q", msg)
	}
}

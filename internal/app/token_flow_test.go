package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/admin"
)

// ccClients registers the SECURITY-CASES clients used by client-auth tests.
type ccFixture struct {
	srv               *testServer
	cc1, conf2, post1 string // client ids
	cc1Sec, conf2Sec  string
	post1Sec          string
}

func newCCFixture(t *testing.T, backend string) *ccFixture {
	srv := startServer(t, backend, nil)
	f := &ccFixture{srv: srv, cc1: "cc1", conf2: "conf2", post1: "post1"}
	_, f.cc1Sec = srv.createClient(t, admin.ClientSpec{ID: "cc1", Name: "CC one",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read", "items:write"},
		Audiences: []string{"https://api.example"}, Roles: []string{"deployer"}})
	_, f.conf2Sec = srv.createClient(t, admin.ClientSpec{ID: "conf2", Name: "Conf two",
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}})
	_, f.post1Sec = srv.createClient(t, admin.ClientSpec{ID: "post1", Name: "Post", AuthMethod: "client_secret_post",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read"}})
	return f
}

type oauthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// post sends a form to path with optional Basic credentials.
func (f *ccFixture) post(t *testing.T, path string, form url.Values, user, pass string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (f *ccFixture) ccToken(t *testing.T, scopes ...string) string {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: f.cc1, ClientSecret: f.cc1Sec, TokenURL: f.srv.URL + "/oauth/token", Scopes: scopes}
	tok, err := cfg.Token(t.Context())
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	return tok.AccessToken
}

func (f *ccFixture) introspect(t *testing.T, token, user, pass string) map[string]any {
	t.Helper()
	resp, body := f.post(t, "/oauth/introspect", url.Values{"token": {token}}, user, pass)
	if resp.StatusCode != 200 {
		t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// TestClientCredentialsFlow drives x/oauth2's clientcredentials against the
// server and checks the RFC 9068 token with go-oidc's JWKS verifier
// (JWT-08 for access tokens).
func TestClientCredentialsFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCCFixture(t, backend)
		at := f.ccToken(t, "items:read")

		keySet := oidc.NewRemoteKeySet(context.Background(), f.srv.URL+"/.well-known/jwks.json")
		payload, err := keySet.VerifySignature(t.Context(), at)
		if err != nil {
			t.Fatalf("go-oidc could not verify the access token against our JWKS: %v", err)
		}
		var hdr map[string]any
		seg, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[0])
		_ = json.Unmarshal(seg, &hdr)
		if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" || hdr["kid"] == "" {
			t.Errorf("header %v: want typ at+jwt, alg ES256, a kid", hdr)
		}
		var c struct {
			Iss, Sub, Jti, Scope string
			ClientID             string `json:"client_id"`
			Aud                  any
			Exp, Iat             int64
			Roles                []string
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		if c.Iss != f.srv.URL || c.Sub != "cc1" || c.ClientID != "cc1" || c.Scope != "items:read" ||
			c.Jti == "" || c.Exp-c.Iat != 120 || len(c.Roles) != 1 || c.Roles[0] != "deployer" {
			t.Errorf("claims %+v", c)
		}
		if aud, _ := json.Marshal(c.Aud); !strings.Contains(string(aud), "https://api.example") {
			t.Errorf("aud %s", aud)
		}

		// Introspection by the owner: active with claims.
		m := f.introspect(t, at, f.cc1, f.cc1Sec)
		if m["active"] != true || m["client_id"] != "cc1" || m["scope"] != "items:read" {
			t.Errorf("introspection by owner: %v", m)
		}
		// Another client that is not an audience learns nothing.
		if m := f.introspect(t, at, f.conf2, f.conf2Sec); len(m) != 1 || m["active"] != false {
			t.Errorf("introspection by an unrelated client: %v, want only active:false", m)
		}
		// Revocation by another client is refused and changes nothing.
		resp, body := f.post(t, "/oauth/revoke", url.Values{"token": {at}}, f.conf2, f.conf2Sec)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "unauthorized_client") {
			t.Errorf("revoke by another client: %d %s", resp.StatusCode, body)
		}
		if m := f.introspect(t, at, f.cc1, f.cc1Sec); m["active"] != true {
			t.Fatal("token inactive after a refused revocation")
		}
		// Revocation by the owner: 200, then inactive.
		if resp, body := f.post(t, "/oauth/revoke", url.Values{"token": {at}}, f.cc1, f.cc1Sec); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		if m := f.introspect(t, at, f.cc1, f.cc1Sec); len(m) != 1 || m["active"] != false {
			t.Errorf("introspection after revoke: %v", m)
		}
	})
}

// TestScopeAndAudienceRules covers scope and RFC 8707 resource selection.
func TestScopeAndAudienceRules(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	cases := []struct {
		name     string
		form     url.Values
		wantCode int
		wantErr  string
		wantAud  string
	}{
		{"default scopes and audiences", url.Values{}, 200, "", "https://api.example"},
		{"allowed scope", url.Values{"scope": {"items:write"}}, 200, "", "https://api.example"},
		{"scope beyond the client", url.Values{"scope": {"items:read admin"}}, 400, "invalid_scope", ""},
		{"malformed scope", url.Values{"scope": {"items\"read"}}, 400, "invalid_scope", ""},
		{"registered resource", url.Values{"resource": {"https://api.example"}}, 200, "", "https://api.example"},
		{"unregistered resource", url.Values{"resource": {"https://other.example"}}, 400, "invalid_target", ""},
		{"unregistered audience", url.Values{"audience": {"https://other.example"}}, 400, "invalid_target", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.form.Set("grant_type", "client_credentials")
			resp, body := f.post(t, "/oauth/token", c.form, f.cc1, f.cc1Sec)
			if resp.StatusCode != c.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.wantCode, body)
			}
			if c.wantErr != "" {
				var e oauthErr
				_ = json.Unmarshal(body, &e)
				if e.Error != c.wantErr {
					t.Fatalf("error %q, want %q", e.Error, c.wantErr)
				}
				return
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(body, &tok)
			if m := f.introspect(t, tok.AccessToken, f.cc1, f.cc1Sec); !strings.Contains(toJSON(m["aud"]), c.wantAud) {
				t.Fatalf("aud %v, want %s", m["aud"], c.wantAud)
			}
		})
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

var rfc6749Charset = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]*$`)

// TestTokenEndpointHygiene is CODE-08 and part of CODE-07.
func TestTokenEndpointHygiene(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	do := func(method, path, ctype, body string, basic bool) (*http.Response, oauthErr) {
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if basic {
			req.SetBasicAuth(f.cc1, f.cc1Sec)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e oauthErr
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp, e
	}
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, ctype, body string
		basic                           bool
		wantStatus                      int
		wantErr                         string
	}{
		{"GET is not allowed", "GET", "/oauth/token", "", "", true, 405, ""},
		{"JSON body", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials"}`, true, 400, "invalid_request"},
		{"secret in query string", "POST", "/oauth/token?client_secret=" + f.cc1Sec, form, "grant_type=client_credentials", true, 400, "invalid_request"},
		{"missing grant_type", "POST", "/oauth/token", form, "scope=items:read", true, 400, "invalid_request"},
		{"password grant", "POST", "/oauth/token", form, "grant_type=password&username=a&password=b", true, 400, "unsupported_grant_type"},
		{"implicit-style grant", "POST", "/oauth/token", form, "grant_type=token", true, 400, "unsupported_grant_type"},
		{"repeated parameter", "POST", "/oauth/token", form, "grant_type=client_credentials&grant_type=client_credentials", true, 400, "invalid_request"},
		{"oversized body", "POST", "/oauth/token", form, "grant_type=client_credentials&x=" + strings.Repeat("a", 70<<10), true, 413, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, e := do(c.method, c.path, c.ctype, c.body, c.basic)
			if resp.StatusCode != c.wantStatus || e.Error != c.wantErr {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, e.Error, c.wantStatus, c.wantErr)
			}
			if c.wantStatus == 405 {
				return
			}
			h := resp.Header
			if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers: Cache-Control %q Pragma %q Content-Type %q", h.Get("Cache-Control"), h.Get("Pragma"), h.Get("Content-Type"))
			}
			if !rfc6749Charset.MatchString(e.Description) || strings.Contains(e.Description, f.cc1Sec) {
				t.Errorf("error_description %q breaks the RFC 6749 charset or echoes input", e.Description)
			}
		})
	}
	// A success also carries the no-store headers.
	resp, _ := do("POST", "/oauth/token", form, "grant_type=client_credentials", true)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("success: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

// TestClientAuthFailures is CA-01 and CODE-07's unauthorized_client row.
func TestClientAuthFailures(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	cc := url.Values{"grant_type": {"client_credentials"}}
	withPost := func(id, sec string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}}
		return v
	}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
		wantErr    string
		wantBasic  bool
	}{
		{"wrong secret via Basic", cc, "cc1", "wrong", 401, "invalid_client", true},
		{"unknown client via Basic", cc, "nobody", "wrong", 401, "invalid_client", true},
		{"wrong secret via post", withPost("post1", "wrong"), "", "", 401, "invalid_client", false},
		{"unknown client via post", withPost("nobody", "x"), "", "", 401, "invalid_client", false},
		{"basic client using post", withPost("cc1", ""), "", "", 401, "invalid_client", false},
		{"post client using Basic", cc, "post1", "x", 401, "invalid_client", true},
		{"no credentials", cc, "", "", 401, "invalid_client", false},
		{"two methods at once", withPost("cc1", "x"), "cc1", "x", 400, "invalid_request", false},
		{"grant not registered", cc, "conf2", f.conf2Sec, 400, "unauthorized_client", false},
	}
	var unknownBody, wrongBody string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := f.post(t, "/oauth/token", c.form, c.user, c.pass)
			var e oauthErr
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != c.wantStatus || e.Error != c.wantErr {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, e.Error, c.wantStatus, c.wantErr)
			}
			if c.wantBasic && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q, want Basic", resp.Header.Get("WWW-Authenticate"))
			}
			switch c.name {
			case "wrong secret via Basic":
				wrongBody = string(body)
			case "unknown client via Basic":
				unknownBody = string(body)
			}
		})
	}
	if unknownBody != wrongBody {
		t.Errorf("unknown client and wrong secret answer differently:\n%s\n%s", unknownBody, wrongBody)
	}
	// post1 with the right secret in the body works.
	if resp, body := f.post(t, "/oauth/token", withPost("post1", f.post1Sec), "", ""); resp.StatusCode != 200 {
		t.Fatalf("client_secret_post: %d %s", resp.StatusCode, body)
	}
}

// TestClientAuthThrottling is CA-03: repeated failures lock that client
// from that address for a while; other clients are unaffected; the right
// secret works again once the lock passes (no permanent lockout).
func TestClientAuthThrottling(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	cc := url.Values{"grant_type": {"client_credentials"}}
	var locked *http.Response
	for range 200 {
		resp, _ := f.post(t, "/oauth/token", cc, f.cc1, "wrong")
		if resp.StatusCode == 429 {
			locked = resp
			break
		}
	}
	if locked == nil {
		t.Fatal("200 wrong secrets were never throttled")
	}
	if locked.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// While locked, even the right secret waits.
	if resp, _ := f.post(t, "/oauth/token", cc, f.cc1, f.cc1Sec); resp.StatusCode != 429 {
		t.Errorf("right secret during the lock: %d, want 429", resp.StatusCode)
	}
	// Another client is unaffected.
	if resp, body := f.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"post1"}, "client_secret": {f.post1Sec}}, "", ""); resp.StatusCode != 200 {
		t.Fatalf("other client throttled: %d %s", resp.StatusCode, body)
	}
	// After the lock, the right secret works.
	wait, _ := time.ParseDuration(locked.Header.Get("Retry-After") + "s")
	time.Sleep(wait + 100*time.Millisecond)
	if resp, body := f.post(t, "/oauth/token", cc, f.cc1, f.cc1Sec); resp.StatusCode != 200 {
		t.Fatalf("right secret after the lock: %d %s", resp.StatusCode, body)
	}
}

// TestRevokeAndIntrospectEdgeCases is REV-03.
func TestRevokeAndIntrospectEdgeCases(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	at := f.ccToken(t)
	for _, tok := range []string{"garbage", "a.b.c", "", strings.Repeat("x", 5000)} {
		resp, body := f.post(t, "/oauth/revoke", url.Values{"token": {tok}}, f.cc1, f.cc1Sec)
		want := 200
		if tok == "" {
			want = 400
		}
		if resp.StatusCode != want {
			t.Errorf("revoke %.10q: %d %s, want %d", tok, resp.StatusCode, body, want)
		}
		if tok != "" {
			if m := f.introspect(t, tok, f.cc1, f.cc1Sec); len(m) != 1 || m["active"] != false {
				t.Errorf("introspect %.10q: %v", tok, m)
			}
		}
	}
	for _, ep := range []string{"/oauth/revoke", "/oauth/introspect"} {
		for _, creds := range [][2]string{{"", ""}, {f.cc1, "wrong"}} {
			resp, body := f.post(t, ep, url.Values{"token": {at}}, creds[0], creds[1])
			if resp.StatusCode != 401 || !strings.Contains(string(body), "invalid_client") {
				t.Errorf("%s with creds %q: %d %s, want 401 invalid_client", ep, creds[0], resp.StatusCode, body)
			}
		}
	}
	if m := f.introspect(t, at, f.cc1, f.cc1Sec); m["active"] != true {
		t.Fatal("unauthenticated revoke attempts affected the token")
	}
	// Revoking twice is fine.
	for range 2 {
		if resp, _ := f.post(t, "/oauth/revoke", url.Values{"token": {at}}, f.cc1, f.cc1Sec); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
	}
}

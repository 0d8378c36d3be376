package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/login"
)

// browser is a cookie-keeping HTTP client that follows redirects within the
// issuer and stops at the first redirect elsewhere (the client's callback).
type browser struct {
	t      *testing.T
	issuer string
	c      *http.Client
}

func newBrowser(t *testing.T, issuer string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, issuer: issuer, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header.Get("Location"), string(body), resp.Header}
}

// get follows redirects while they stay on the issuer.
func (b *browser) get(u string) page {
	b.t.Helper()
	for range 10 {
		req, _ := http.NewRequest("GET", b.abs(u), nil)
		p := b.do(req)
		if p.status < 300 || p.status > 399 || !b.internal(p.location) {
			return p
		}
		u = p.location
	}
	b.t.Fatal("redirect loop")
	return page{}
}

func (b *browser) post(path string, form url.Values, header map[string]string) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	p := b.do(req)
	if p.status >= 300 && p.status <= 399 && b.internal(p.location) {
		return b.get(p.location)
	}
	return p
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.issuer + u
	}
	return u
}

func (b *browser) internal(loc string) bool {
	return strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, b.issuer+"/")
}

var hiddenRE = regexp.MustCompile(`name="(csrf_token|request)"\s+value="([^"]*)"`)

// formFields extracts the hidden csrf_token and request of a page.
func formFields(t *testing.T, p page) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf_token") == "" || v.Get("request") == "" {
		t.Fatalf("page (%d) has no form fields:\n%s", p.status, p.body)
	}
	return v
}

// browserFixture is a server with a user alice and clients web (confidential,
// code + refresh) and spa (public).
type browserFixture struct {
	srv       *testServer
	web       oauth2.Config
	spa       oauth2.Config
	webSecret string
}

const alicePassword = "correct horse battery"

func newBrowserFixture(t *testing.T, backend string) *browserFixture {
	return newBrowserFixtureWith(t, backend, nil)
}

// newBrowserFixtureWith is newBrowserFixture with change applied to the
// server's configuration.
func newBrowserFixtureWith(t *testing.T, backend string, change func(*config.Config)) *browserFixture {
	srv := startServer(t, backend, change)
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, err := admin.CreateUser(t.Context(), srv.App.store, h, admin.UserSpec{Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Password: alicePassword, Roles: []string{"admin"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	feedReader(t, srv) // "web" doubles as the client of an SDK-protected API in some tests
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "web", Name: "Web App",
		RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Audiences: []string{"https://api.example"},
		Roles: []string{"resource-server"}})
	srv.createClient(t, admin.ClientSpec{ID: "spa", Name: "Single Page", Public: true,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"}})
	ep := oauth2.Endpoint{AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	return &browserFixture{srv: srv, webSecret: sec,
		web: oauth2.Config{ClientID: "web", ClientSecret: sec, Endpoint: ep, RedirectURL: "https://app.example/cb",
			Scopes: []string{"openid", "profile", "email", "offline_access"}},
		spa: oauth2.Config{ClientID: "spa", Endpoint: oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: "http://127.0.0.1:5555/cb", Scopes: []string{"openid"}},
	}
}

// signIn drives the login and consent pages from an authorization URL and
// returns the final redirect to the client.
func (f *browserFixture) signIn(t *testing.T, b *browser, authURL string) *url.URL {
	t.Helper()
	p := b.get(authURL)
	if strings.Contains(p.body, `name="password"`) {
		fields := formFields(t, p)
		fields.Set("username", "alice")
		fields.Set("password", alicePassword)
		p = b.post("/login", fields, nil)
	}
	if strings.Contains(p.body, `value="allow"`) {
		fields := formFields(t, p)
		fields.Set("decision", "allow")
		p = b.post("/consent", fields, nil)
	}
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("sign-in ended with %d, not a redirect to the client:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAuthorizationCodeFlowWithPKCE is the end-to-end browser flow with
// x/oauth2 and go-oidc: login, consent, code + PKCE, id_token, refresh,
// userinfo and logout, on each backend.
func TestAuthorizationCodeFlowWithPKCE(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		provider, err := oidc.NewProvider(ctx, f.srv.URL)
		if err != nil {
			t.Fatalf("go-oidc discovery: %v", err)
		}
		b := newBrowser(t, f.srv.URL)
		verifier := oauth2.GenerateVerifier()
		cb := f.signIn(t, b, f.web.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-456")))
		q := cb.Query()
		if cb.Host != "app.example" || q.Get("state") != "st-123" || q.Get("iss") != f.srv.URL || q.Get("code") == "" {
			t.Fatalf("callback %s: want code, state st-123 and iss (RFC 9207)", cb)
		}

		tok, err := f.web.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc rejected the id_token: %v", err)
		}
		if idt.Nonce != "n-456" {
			t.Errorf("nonce %q", idt.Nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
			t.Errorf("userinfo %+v", ui)
		}

		// Refresh rotates the refresh token.
		old := tok.RefreshToken
		tok.Expiry = time.Now().Add(-time.Minute)
		fresh, err := f.web.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.RefreshToken == "" || fresh.RefreshToken == old || fresh.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate")
		}

		// The second authorization skips login and consent (remembered).
		cb2 := f.signIn(t, b, f.web.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)))
		if cb2.Query().Get("code") == "" {
			t.Fatalf("second authorization: %s", cb2)
		}

		// Logout with id_token_hint ends the session: the access token and
		// the refresh token stop working at once, at Gatehouse and at an API
		// protected by the SDK.
		api := sdkVerifier(t, f.srv, "web", f.webSecret)
		if _, err := api.Verify(ctx, fresh.AccessToken); err != nil {
			t.Fatalf("the SDK refuses the access token before logout: %v", err)
		}
		p := b.get("/oauth/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"https://app.example/bye"},
			"state": {"bye-1"}}.Encode())
		if p.status != http.StatusSeeOther || p.location != "https://app.example/bye?state=bye-1" {
			t.Fatalf("logout: %d %q", p.status, p.location)
		}
		fx := &ccFixture{srv: f.srv}
		if m := fx.introspect(t, fresh.AccessToken, "web", f.webSecret); m["active"] != false {
			t.Errorf("access token active after logout: %v", m)
		}
		sdkRefuses(t, api, fresh.AccessToken, "replay of an access token after logout")
		if _, err := f.web.TokenSource(context.Background(), &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Error("refresh token still works after logout")
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
			t.Error("userinfo accepts the access token after logout")
		}
		// And the browser must sign in again.
		if p := b.get(f.web.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier))); !strings.Contains(p.body, `name="password"`) {
			t.Errorf("after logout the browser is still signed in (%d)", p.status)
		}
	})
}

// TestES256IDTokens: a client registered with id_token_signed_response_alg
// ES256 gets ES256 id_tokens at code redemption and at every refresh, which
// go-oidc verifies with the algorithms discovery lists; clients that
// registered nothing keep RS256, OpenID Connect's default.
func TestES256IDTokens(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	_, sec := f.srv.createClient(t, admin.ClientSpec{ID: "fast", Name: "Fast", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, IDTokenAlg: "ES256"})
	fast := f.web
	fast.ClientID, fast.ClientSecret = "fast", sec
	ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		conf oauth2.Config
		alg  string
	}{{fast, "ES256"}, {f.web, "RS256"}} {
		b := newBrowser(t, f.srv.URL)
		v := oauth2.GenerateVerifier()
		cb := f.signIn(t, b, tc.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
		tok, err := tc.conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		tok.Expiry = time.Now().Add(-time.Minute)
		fresh, err := tc.conf.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		for name, tk := range map[string]*oauth2.Token{"code": tok, "refresh": fresh} {
			raw, _ := tk.Extra("id_token").(string)
			if got := decodeHeaderAlg(t, raw); got != tc.alg {
				t.Errorf("%s: %s id_token signed with %s, want %s", tc.conf.ClientID, name, got, tc.alg)
			}
			if _, err := provider.Verifier(&oidc.Config{ClientID: tc.conf.ClientID}).Verify(ctx, raw); err != nil {
				t.Errorf("%s: go-oidc refuses the %s id_token: %v", tc.conf.ClientID, name, err)
			}
		}
	}
}

func decodeHeaderAlg(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Alg
}

package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
)

// authParams returns a valid authorization request for the web client.
func authParams(f *browserFixture) url.Values {
	return url.Values{"client_id": {"web"}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st<script>"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}}
}

// expectRedirectError asserts a redirect to the registered URI carrying
// error, the unchanged state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func expectRedirectError(t *testing.T, f *browserFixture, p page, wantErr, state, redirect string) {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect with error=%s:\n%.300s", p.status, wantErr, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(p.location, redirect) || q.Get("error") != wantErr || q.Get("state") != state || q.Get("iss") != f.srv.URL || q.Get("code") != "" {
		t.Fatalf("redirect %s: want error=%s, state %q, iss, no code", p.location, wantErr, state)
	}
}

// expectErrorPage asserts an error page and no redirect anywhere.
func expectErrorPage(t *testing.T, p page) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("got %d location %q, want a 400 error page", p.status, p.location)
	}
}

func TestPKCE01PublicClientWithoutChallenge(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	v := url.Values{"client_id": {"spa"}, "redirect_uri": {"http://127.0.0.1:5555/cb"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s1"}}
	expectRedirectError(t, f, b.get("/oauth/authorize?"+v.Encode()), "invalid_request", "s1", "http://127.0.0.1:5555/cb")
}

func TestPKCE02OnlyS256(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	cases := []struct{ name, challenge, method string }{
		{"plain", challenge, "plain"},
		{"challenge without method (plain by default)", challenge, ""},
		{"S512", challenge, "S512"},
		{"lowercase s256", challenge, "s256"},
		{"method without challenge", "", "S256"},
		{"challenge not S256-shaped", "short", "S256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := authParams(f)
			v.Set("state", "s2")
			v.Set("code_challenge", c.challenge)
			v.Set("code_challenge_method", c.method)
			if c.challenge == "" {
				v.Del("code_challenge")
			}
			if c.method == "" {
				v.Del("code_challenge_method")
			}
			expectRedirectError(t, f, b.get("/oauth/authorize?"+v.Encode()), "invalid_request", "s2", "https://app.example/cb")
		})
	}
}

// TestRED01UnregisteredRedirectOrClient: error page, never a redirect.
func TestRED01UnregisteredRedirectOrClient(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	f.srv.createClient(t, admin.ClientSpec{ID: "two", Name: "Two URIs",
		RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}})
	b := newBrowser(t, f.srv.URL)
	cases := []struct {
		name   string
		change func(url.Values)
	}{
		{"unregistered redirect_uri", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }},
		{"unknown client_id", func(v url.Values) { v.Set("client_id", "nobody") }},
		{"no client_id", func(v url.Values) { v.Del("client_id") }},
		{"no redirect_uri, two registered", func(v url.Values) { v.Set("client_id", "two"); v.Del("redirect_uri") }},
		{"no redirect_uri, one registered", func(v url.Values) { v.Del("redirect_uri") }},
		{"redirect_uri twice", func(v url.Values) { v.Add("redirect_uri", "https://app.example/cb") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := authParams(f)
			c.change(v)
			expectErrorPage(t, b.get("/oauth/authorize?"+v.Encode()))
		})
	}
}

// TestRED02RedirectURINearMisses: every near-miss gets the error page.
func TestRED02RedirectURINearMisses(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	f.srv.createClient(t, admin.ClientSpec{ID: "q", Name: "Query", RedirectURIs: []string{"https://app.example/cb?x=1"}})
	b := newBrowser(t, f.srv.URL)
	for _, uri := range []string{
		"https://app.example/cb/?x=1", "https://app.example/CB?x=1", "https://APP.example/cb?x=1",
		"https://app.example/cb?x=1&y=2", "https://app.example/cb?x=2", "https://app.example/cb",
		"https://app.example/cb?x=1#f", "https://app.example:443/cb?x=1", "http://app.example/cb?x=1",
		"https://app.example/cb/extra?x=1", "https://app.example%2Fcb?x=1",
	} {
		t.Run(uri, func(t *testing.T) {
			v := authParams(f)
			v.Set("client_id", "q")
			v.Set("redirect_uri", uri)
			expectErrorPage(t, b.get("/oauth/authorize?"+v.Encode()))
		})
	}
	// The exact URI is accepted, and the registered query is kept as is.
	v := authParams(f)
	v.Set("client_id", "q")
	v.Set("redirect_uri", "https://app.example/cb?x=1")
	v.Set("scope", "bad-scope")
	p := b.get("/oauth/authorize?" + v.Encode())
	if !strings.HasPrefix(p.location, "https://app.example/cb?x=1&") {
		t.Fatalf("exact registered URI: %d %q", p.status, p.location)
	}
}

// TestRED04ErrorsGoToTheRegisteredRedirect covers RED-04 and CODE-07's
// response types.
func TestRED04ErrorsGoToTheRegisteredRedirect(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	cases := []struct {
		name    string
		change  func(url.Values)
		wantErr string
	}{
		{"scope not allowed", func(v url.Values) { v.Set("scope", "openid admin") }, "invalid_scope"},
		{"no scope", func(v url.Values) { v.Del("scope") }, "invalid_scope"},
		{"response_type token", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"response_type id_token token", func(v url.Values) { v.Set("response_type", "id_token token") }, "unsupported_response_type"},
		{"no response_type", func(v url.Values) { v.Del("response_type") }, "invalid_request"},
		{"response_mode fragment", func(v url.Values) { v.Set("response_mode", "fragment") }, "invalid_request"},
		{"request object", func(v url.Values) { v.Set("request", "eyJ.x.y") }, "request_not_supported"},
		{"unregistered resource", func(v url.Values) { v.Set("resource", "https://other.example") }, "invalid_target"},
		{"bad prompt", func(v url.Values) { v.Set("prompt", "none login") }, "invalid_request"},
		{"bad max_age", func(v url.Values) { v.Set("max_age", "-1") }, "invalid_request"},
		{"repeated scope", func(v url.Values) { v.Add("scope", "openid") }, "invalid_request"},
		{"prompt=none, not signed in (SES-06)", func(v url.Values) { v.Set("prompt", "none") }, "login_required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := authParams(f)
			c.change(v)
			expectRedirectError(t, f, b.get("/oauth/authorize?"+v.Encode()), c.wantErr, "st<script>", "https://app.example/cb")
		})
	}
}

// TestConsentDenied: deny sends access_denied to the client.
func TestConsentDenied(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	p := b.get("/oauth/authorize?" + authParams(f).Encode())
	fields := formFields(t, p)
	fields.Set("username", "alice")
	fields.Set("password", alicePassword)
	p = b.post("/login", fields, nil)
	fields = formFields(t, p)
	fields.Set("decision", "deny")
	expectRedirectError(t, f, b.post("/consent", fields, nil), "access_denied", "st<script>", "https://app.example/cb")
}

// cookieNamed finds a Set-Cookie by name in a response.
func cookieNamed(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestSES01ProductionCookies checks the session and CSRF cookies of an
// https issuer: __Host- prefix, Secure, HttpOnly, SameSite=Lax, Path=/,
// no Domain.
func TestSES01ProductionCookies(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	cfg := *f.srv.cfg
	cfg.Issuer = "https://auth.example"
	cfg.MasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	cfg.MasterKeyFile = ""
	cfg.DataDir = t.TempDir()
	cfg.Store = "sqlite:" + cfg.DataDir + "/gh.db"
	a := newApp(t, &cfg)
	_, _, _ = admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "web", Name: "Web",
		RedirectURIs: []string{"https://app.example/cb"}}, time.Now())

	v := authParams(f)
	rec := get(t, a.Handler(), "/oauth/authorize?"+v.Encode())
	loc := rec.Header().Get("Location")
	rec = get(t, a.Handler(), loc)
	csrf := cookieNamed(rec.Header(), "__Host-gh_csrf")
	if csrf == nil {
		t.Fatalf("no __Host-gh_csrf cookie on the login page: %v", rec.Header()["Set-Cookie"])
	}
	if !csrf.Secure || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode || csrf.Path != "/" || csrf.Domain != "" {
		t.Errorf("csrf cookie flags: %+v", csrf)
	}
	if got := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=31536000") {
		t.Errorf("HSTS %q on an https issuer", got)
	}
}

// TestSES01DevCookies: on plain-http loopback (dev mode) cookies drop only
// Secure and the prefix.
func TestSES01DevCookies(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	p := b.get("/oauth/authorize?" + authParams(f).Encode())
	fields := formFields(t, p)
	fields.Set("username", "alice")
	fields.Set("password", alicePassword)
	req, _ := http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := b.do(req)
	s := cookieNamed(resp.header, "gh_session")
	if s == nil || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Path != "/" || s.Domain != "" || len(s.Value) != 43 {
		t.Fatalf("session cookie %+v", s)
	}
}

// TestSES02SessionFixation: a planted cookie never becomes a session, the
// session id is new at login, and a logged-out cookie is dead.
func TestSES02SessionFixation(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	u, _ := url.Parse(f.srv.URL)
	planted := &http.Cookie{Name: "gh_session", Value: strings.Repeat("A", 43), Path: "/"}
	b.c.Jar.SetCookies(u, []*http.Cookie{planted})

	cb := f.signIn(t, b, f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if cb.Query().Get("code") == "" {
		t.Fatal("sign-in failed")
	}
	var session string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			session = c.Value
		}
	}
	if session == "" || session == planted.Value {
		t.Fatalf("session cookie not replaced at login: %q", session)
	}
	// The planted value alone is not signed in.
	other := newBrowser(t, f.srv.URL)
	other.c.Jar.SetCookies(u, []*http.Cookie{planted})
	if p := other.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); !strings.Contains(p.body, `name="password"`) {
		t.Fatal("planted cookie is treated as signed in")
	}
	// prompt=login re-authenticates and issues yet another session.
	p := b.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatal("prompt=login did not ask for the password (SES-06)")
	}
	fields := formFields(t, p)
	fields.Set("username", "alice")
	fields.Set("password", alicePassword)
	b.post("/login", fields, nil)
	var second string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			second = c.Value
		}
	}
	if second == "" || second == session {
		t.Fatal("re-authentication kept the old session id")
	}
	// Log out (confirming), then replay the old cookie: not signed in.
	p = b.get("/oauth/logout")
	fields = formFields(t, p)
	fields.Set("decision", "logout")
	b.post("/oauth/logout", fields, nil)
	replay := newBrowser(t, f.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_session", Value: second, Path: "/"}})
	if p := replay.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); !strings.Contains(p.body, `name="password"`) {
		t.Fatal("post-logout cookie still signed in")
	}
}

// TestSES03CSRF: login and consent refuse a POST without our token, with
// another browser's token, or from another origin.
func TestSES03CSRF(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	victim := newBrowser(t, f.srv.URL)
	attacker := newBrowser(t, f.srv.URL)
	vp := victim.get("/oauth/authorize?" + authParams(f).Encode())
	ap := attacker.get("/oauth/authorize?" + authParams(f).Encode())
	vf, af := formFields(t, vp), formFields(t, ap)

	cases := []struct {
		name   string
		fields url.Values
		origin string
	}{
		{"no token", url.Values{"request": {vf.Get("request")}}, ""},
		{"another browser's token", url.Values{"request": {vf.Get("request")}, "csrf_token": {af.Get("csrf_token")}}, ""},
		{"cross-site origin", url.Values{"request": {vf.Get("request")}, "csrf_token": {vf.Get("csrf_token")}}, "https://evil.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fields.Set("username", "alice")
			c.fields.Set("password", alicePassword)
			hdr := map[string]string{}
			if c.origin != "" {
				hdr["Origin"] = c.origin
			}
			p := victim.post("/login", c.fields, hdr)
			if p.status != http.StatusForbidden {
				t.Fatalf("login: %d, want 403", p.status)
			}
			u, _ := url.Parse(f.srv.URL)
			for _, ck := range victim.c.Jar.Cookies(u) {
				if ck.Name == "gh_session" {
					t.Fatal("a session was created")
				}
			}
		})
	}
	// Consent with another browser's token: 403 and no consent stored.
	vf.Set("username", "alice")
	vf.Set("password", alicePassword)
	cp := victim.post("/login", vf, nil)
	cf := formFields(t, cp)
	p := victim.post("/consent", url.Values{"request": {cf.Get("request")}, "csrf_token": {af.Get("csrf_token")}, "decision": {"allow"}}, nil)
	if p.status != http.StatusForbidden {
		t.Fatalf("consent with a foreign token: %d", p.status)
	}
	if _, err := f.srv.App.store.GetConsent(t.Context(), mustUser(t, f).ID, "web"); err == nil {
		t.Fatal("consent stored despite the CSRF failure")
	}
	// GET /consent never approves.
	if p := victim.get("/consent?decision=allow&" + url.Values{"resume": {cf.Get("request")}}.Encode()); p.status != 200 || p.location != "" {
		t.Fatalf("GET /consent: %d %q", p.status, p.location)
	}
}

func mustUser(t *testing.T, f *browserFixture) struct{ ID string } {
	u, err := f.srv.App.store.GetUserByLogin(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return struct{ ID string }{u.ID}
}

// TestSES05LoginThrottling: failures lock the account (username and e-mail
// share one counter) for a growing while; never permanently; unknown users
// get the same answer.
func TestSES05LoginThrottling(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	attempt := func(login, pw string) page { return tryLogin(t, f, b, login, pw) }
	wrong := attempt("alice", "wrong password")
	unknown := attempt("mallory", "wrong password")
	if wrong.status != http.StatusUnauthorized || unknown.status != http.StatusUnauthorized ||
		!strings.Contains(wrong.body, "Incorrect username or password.") || !strings.Contains(unknown.body, "Incorrect username or password.") {
		t.Fatalf("wrong password %d / unknown user %d: want the same 401 answer", wrong.status, unknown.status)
	}
	// Four more failures, alternating username and e-mail: one counter.
	for i := range 4 {
		login := "alice"
		if i%2 == 0 {
			login = "ALICE@example.com"
		}
		attempt(login, "wrong password")
	}
	// The sixth failure locks the account.
	attempt("alice@example.com", "wrong password")
	locked := attempt("alice", alicePassword)
	if locked.status != http.StatusTooManyRequests || locked.header.Get("Retry-After") == "" {
		t.Fatalf("right password during the lock: %d, want 429 with Retry-After", locked.status)
	}
	time.Sleep(1100 * time.Millisecond)
	if p := attempt("alice", alicePassword); p.status != http.StatusFound && p.status != http.StatusSeeOther && p.status != 200 {
		t.Fatalf("right password after the lock: %d", p.status)
	}
}

// TestSES06MaxAge: max_age=0 forces a fresh sign-in, and auth_time moves.
func TestSES06MaxAge(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	f.signIn(t, b, f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	p := b.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "0")))
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("max_age=0 with a session: %d, want the login page", p.status)
	}
}

// TestSES09PagesEscapeAndCarryHeaders reflects hostile values through
// login_hint and checks page headers.
func TestSES09PagesEscapeAndCarryHeaders(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	v := authParams(f)
	v.Set("login_hint", `"><script>alert(1)</script>`)
	p := b.get("/oauth/authorize?" + v.Encode())
	if strings.Contains(p.body, "<script>alert(1)") {
		t.Fatal("login_hint reflected unescaped")
	}
	for _, page := range []page{p, b.get("/oauth/authorize?client_id=<script>")} {
		h := page.header
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("page headers: %v", h)
		}
		if strings.Contains(page.body, "<script>") {
			t.Error("input reflected unescaped")
		}
	}
}

// TestRED06LogoutRedirects: an unregistered post_logout_redirect_uri (or a
// registered one with a query added) never navigates away.
func TestRED06LogoutRedirects(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	for _, uri := range []string{"https://evil.example/bye", "https://app.example/bye?foo=bar", "https://app.example/bye/"} {
		p := b.get("/oauth/logout?" + url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {uri}}.Encode())
		if p.status != http.StatusBadRequest || p.location != "" {
			t.Errorf("%s: %d %q, want an error page", uri, p.status, p.location)
		}
	}
	// A login URL with return_to stays on our pages.
	p := b.get("/login?return_to=https://evil.example")
	if p.location != "" {
		t.Errorf("login followed return_to: %q", p.location)
	}
}

// TestSES05PerIPThrottling spreads failures over several accounts from one
// address, none past its own allowance: the address is locked once it has
// failed more often than the per-IP allowance, for any account.
func TestSES05PerIPThrottling(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	b := newBrowser(t, f.srv.URL)
	attempt := func(login, pw string) page { return tryLogin(t, f, b, login, pw) }
	perIP := login.DefaultIPThrottle().Free
	perAccount := login.DefaultAccountThrottle().Free
	failures := 0
	for acct := 0; failures < perIP; acct++ {
		for i := 0; i < perAccount && failures < perIP; i++ {
			if p := attempt(fmt.Sprintf("user%d", acct), "wrong password"); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401 before the address allowance is used", failures+1, p.status)
			}
			failures++
		}
	}
	// One more failure from this address, on a fresh account, locks it.
	attempt("fresh-account", "wrong password")
	if p := attempt("alice", alicePassword); p.status != http.StatusTooManyRequests {
		t.Fatalf("right password from a locked address: %d, want 429", p.status)
	}
}

// tryLogin starts an authorization request and submits the login form.
func tryLogin(t *testing.T, f *browserFixture, b *browser, login, pw string) page {
	t.Helper()
	fields := formFields(t, b.get("/oauth/authorize?"+authParams(f).Encode()))
	fields.Set("username", login)
	fields.Set("password", pw)
	return b.post("/login", fields, nil)
}

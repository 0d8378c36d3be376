package signin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/signin"
)

const (
	testClientID = "shop"
	testSecret   = "shop-secret"
	appURL       = "https://app.example"
	callbackURL  = appURL + "/auth/callback"
)

// clock is the fake clock shared by the Client and the fake provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// grant is an authorization code the fake provider issued.
type grant struct {
	challenge, nonce, redirect string
	used                       bool
}

// fakeOP is a minimal OpenID provider: discovery, JWKS with one ES256 key,
// an /authorize endpoint the test calls by hand, and a /token endpoint that
// enforces PKCE S256 and single-use codes.
type fakeOP struct {
	t        *testing.T
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	clock    *clock
	redirect string // the registered redirect URI

	mu             sync.Mutex
	codes          map[string]*grant
	tokenCalls     int
	discoveryCalls int
	// Knobs the tests turn before authorizing.
	deny       bool   // answer /authorize with error=access_denied
	nonce      string // id_token nonce instead of the requested one
	aud        string // id_token aud instead of the client_id
	tokenFails bool   // answer /token with 500
}

func newFakeOP(t *testing.T, clk *clock) *fakeOP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, key: key, clock: clk, redirect: callbackURL, codes: map[string]*grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *fakeOP) TokenCalls() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.tokenCalls
}

func (op *fakeOP) discovery(w http.ResponseWriter, _ *http.Request) {
	op.mu.Lock()
	op.discoveryCalls++
	op.mu.Unlock()
	iss := op.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
	})
}

func (op *fakeOP) jwks(w http.ResponseWriter, _ *http.Request) {
	pub, err := op.key.PublicKey.ECDH()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b := pub.Bytes() // 0x04 || X || Y
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
		"x": b64(b[1:33]), "y": b64(b[33:65]),
	}}})
}

func (op *fakeOP) authorize(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code",
		q.Get("client_id") != testClientID,
		q.Get("redirect_uri") != op.redirect,
		q.Get("code_challenge_method") != "S256",
		len(q.Get("code_challenge")) != 43,
		q.Get("state") == "",
		q.Get("nonce") == "",
		!strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"state": {q.Get("state")}}
	if op.deny {
		v.Set("error", "access_denied")
	} else {
		code := b64(randomBytes(op.t, 16))
		op.codes[code] = &grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.tokenCalls++
	if op.tokenFails {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	if id, secret, ok := r.BasicAuth(); !ok || id != testClientID || secret != testSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	g := op.codes[r.PostForm.Get("code")]
	if g == nil || g.used || g.redirect != r.PostForm.Get("redirect_uri") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	g.used = true
	if ok, err := sdk.VerifyS256(r.PostForm.Get("code_verifier"), g.challenge); err != nil || !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	nonce, aud := g.nonce, testClientID
	if op.nonce != "" {
		nonce = op.nonce
	}
	if op.aud != "" {
		aud = op.aud
	}
	now := op.clock.Now()
	idToken := op.sign(map[string]any{
		"iss": op.srv.URL, "sub": "user-1", "aud": aud, "nonce": nonce,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": "ada@example.com", "email_verified": true, "name": "Ada",
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "at-" + b64(randomBytes(op.t, 16)), "token_type": "Bearer",
		"expires_in": 300, "id_token": idToken,
	})
}

func (op *fakeOP) sign(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(p)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, op.key, digest[:])
	if err != nil {
		op.t.Error(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

// env is one application using a Client against a fake provider.
type env struct {
	t     *testing.T
	op    *fakeOP
	clock *clock
	c     *signin.Client
	cb    http.Handler

	mu      sync.Mutex
	results []*signin.Result
	errs    []*signin.Error
}

func newEnv(t *testing.T, edit ...func(*signin.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now()}}
	e.op = newFakeOP(t, e.clock)
	cfg := signin.Config{
		Issuer:       e.op.srv.URL,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		RedirectURL:  callbackURL,
		Scopes:       []string{"email", "openid"},
		HTTPClient:   e.op.srv.Client(),
		Now:          e.clock.Now,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err *signin.Error) {
			e.mu.Lock()
			e.errs = append(e.errs, err)
			e.mu.Unlock()
			http.Error(w, err.Message, err.Status)
		},
	}
	for _, f := range edit {
		f(&cfg)
	}
	e.op.set(func(op *fakeOP) { op.redirect = cfg.RedirectURL })
	c, err := signin.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.c = c
	e.cb = c.Callback(func(w http.ResponseWriter, r *http.Request, res *signin.Result) {
		e.mu.Lock()
		e.results = append(e.results, res)
		e.mu.Unlock()
		io.WriteString(w, "signed in")
	})
	return e
}

// lastErr returns the error of the last failed callback, or nil.
func (e *env) lastErr() *signin.Error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs[len(e.errs)-1]
}

func (e *env) lastResult() *signin.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.results) == 0 {
		return nil
	}
	return e.results[len(e.results)-1]
}

// browser keeps cookies across calls to the app's handlers like a browser
// would, including deletion by Max-Age.
type browser struct {
	t      *testing.T
	jar    *cookiejar.Jar
	origin string // the app's scheme://host, where Login is served
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, jar: jar, origin: appURL}
}

func (b *browser) get(h http.Handler, target string) *http.Response {
	b.t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range b.jar.Cookies(r.URL) {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	b.jar.SetCookies(r.URL, res.Cookies())
	return res
}

func (b *browser) cookies() []*http.Cookie {
	u, _ := url.Parse(b.origin)
	return b.jar.Cookies(u)
}

// plant sets a cookie as a script or another site could not: to test what
// the callback does with a cookie it did not set.
func (b *browser) plant(c *http.Cookie) {
	u, _ := url.Parse(b.origin)
	b.jar.SetCookies(u, []*http.Cookie{c})
}

// login runs Login and the provider's /authorize and returns the callback
// URL the provider redirected to.
func (e *env) login(b *browser, returnTo string) string {
	e.t.Helper()
	target := b.origin + "/auth/login"
	if returnTo != "" {
		target += "?return_to=" + url.QueryEscape(returnTo)
	}
	res := b.get(http.HandlerFunc(e.c.Login), target)
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("Login: status %d, want 302", res.StatusCode)
	}
	return e.authorize(res.Header.Get("Location"))
}

func (e *env) authorize(authURL string) string {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("/authorize: status %d, want 302", res.StatusCode)
	}
	return res.Header.Get("Location")
}

// callback delivers the authorization response and checks the status.
func (e *env) callback(b *browser, target string, want int) *http.Response {
	e.t.Helper()
	res := b.get(e.cb, target)
	if res.StatusCode != want {
		body, _ := io.ReadAll(res.Body)
		e.t.Fatalf("callback: status %d, want %d (%s; err %v)", res.StatusCode, want, body, e.lastErr())
	}
	return res
}

func (e *env) wantErr(kind error) {
	e.t.Helper()
	if err := e.lastErr(); !errors.Is(err, kind) {
		e.t.Fatalf("error %v, want %v", err, kind)
	}
}

func (e *env) wantTokenCalls(n int) {
	e.t.Helper()
	if got := e.op.TokenCalls(); got != n {
		e.t.Fatalf("token endpoint called %d times, want %d", got, n)
	}
}

func withQuery(t *testing.T, raw string, edit func(url.Values)) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	edit(q)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)

	res := b.get(http.HandlerFunc(e.c.Login), appURL+"/auth/login?return_to="+url.QueryEscape("/orders?tab=open"))
	if res.StatusCode != http.StatusFound {
		t.Fatalf("Login: status %d, want 302", res.StatusCode)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Login Cache-Control = %q, want no-store", got)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.op.srv.URL+"/authorize" {
		t.Errorf("redirected to %s", got)
	}
	for k, want := range map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": callbackURL,
		"code_challenge_method": "S256", "scope": "openid email",
	} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) != 43 {
			t.Errorf("authorization request %s = %q, want 43 characters", k, q.Get(k))
		}
	}
	set := res.Cookies()
	if len(set) != 1 {
		t.Fatalf("Login set %d cookies, want 1", len(set))
	}
	ck := set[0]
	if !strings.HasPrefix(ck.Name, "__Host-gh_signin_") || ck.Path != "/" || ck.Domain != "" ||
		!ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 600 {
		t.Errorf("login cookie %s", ck)
	}
	if strings.Contains(ck.Value, "orders") {
		t.Errorf("cookie value %q is not encoded", ck.Value)
	}

	cb := e.authorize(loc.String())
	out := e.callback(b, cb, http.StatusOK)
	e.wantTokenCalls(1)
	if got := out.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("callback Referrer-Policy = %q", got)
	}
	cleared := false
	for _, c := range out.Cookies() {
		cleared = cleared || (c.Name == ck.Name && c.MaxAge < 0)
	}
	if !cleared || len(b.cookies()) != 0 {
		t.Errorf("login cookie not cleared: Set-Cookie %v, jar %v", out.Cookies(), b.cookies())
	}

	r := e.lastResult()
	if r == nil {
		t.Fatal("done not called")
	}
	want := signin.Claims{Subject: "user-1", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	if r.Claims != want {
		t.Errorf("Claims = %+v, want %+v", r.Claims, want)
	}
	if r.ReturnTo != "/orders?tab=open" {
		t.Errorf("ReturnTo = %q", r.ReturnTo)
	}
	if r.IDToken.Nonce != q.Get("nonce") || r.IDToken.Issuer != e.op.srv.URL {
		t.Errorf("IDToken nonce %q issuer %q", r.IDToken.Nonce, r.IDToken.Issuer)
	}
	if !strings.HasPrefix(r.Token.AccessToken, "at-") {
		t.Errorf("AccessToken = %q", r.Token.AccessToken)
	}
	if _, ok := r.Token.Extra("id_token").(string); !ok {
		t.Error("Token has no raw id_token")
	}
}

func TestMissingState(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	cb := withQuery(t, e.login(b, ""), func(q url.Values) { q.Del("state") })
	e.callback(b, cb, http.StatusBadRequest)
	e.wantErr(signin.ErrState)
	e.wantTokenCalls(0)
}

func TestMismatchedState(t *testing.T) {
	t.Run("other state", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		other, _ := sdk.NewState()
		cb := withQuery(t, e.login(b, ""), func(q url.Values) { q.Set("state", other) })
		e.callback(b, cb, http.StatusBadRequest)
		e.wantErr(signin.ErrState)
		e.wantTokenCalls(0)
	})
	t.Run("repeated state", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		cb := e.login(b, "")
		cb = withQuery(t, cb, func(q url.Values) { q.Add("state", q.Get("state")) })
		e.callback(b, cb, http.StatusBadRequest)
		e.wantErr(signin.ErrState)
		e.wantTokenCalls(0)
	})
	t.Run("cookie of another login", func(t *testing.T) {
		// The cookie found by name holds another login's state, which
		// only the full comparison catches.
		e := newEnv(t)
		b := newBrowser(t)
		e.login(b, "")
		first := b.cookies()[0]
		cb := e.login(b, "")
		var second *http.Cookie
		for _, c := range b.cookies() {
			if c.Name != first.Name {
				second = c
			}
		}
		b.plant(&http.Cookie{Name: second.Name, Value: first.Value, Path: "/", Secure: true})
		e.callback(b, cb, http.StatusBadRequest)
		e.wantErr(signin.ErrState)
		e.wantTokenCalls(0)
	})
}

func TestMissingCookie(t *testing.T) {
	e := newEnv(t)
	cb := e.login(newBrowser(t), "")
	e.callback(newBrowser(t), cb, http.StatusBadRequest)
	e.wantErr(signin.ErrCookie)
	e.wantTokenCalls(0)
}

func TestExpiredCookie(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	cb := e.login(b, "")
	e.clock.Advance(10*time.Minute + time.Second)
	e.callback(b, cb, http.StatusBadRequest)
	e.wantErr(signin.ErrCookie)
	e.wantTokenCalls(0)
	if len(b.cookies()) != 0 {
		t.Errorf("expired cookie not cleared")
	}
}

func TestMalformedCookie(t *testing.T) {
	for name, value := range map[string]string{
		"not base64":     "%%%",
		"not JSON":       b64([]byte("hello")),
		"unknown field":  b64([]byte(`{"s":"x","z":1}`)),
		"missing fields": b64([]byte(`{"e":99999999999}`)),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			b := newBrowser(t)
			cb := e.login(b, "")
			b.plant(&http.Cookie{Name: b.cookies()[0].Name, Value: value, Path: "/", Secure: true})
			e.callback(b, cb, http.StatusBadRequest)
			e.wantErr(signin.ErrCookie)
			e.wantTokenCalls(0)
		})
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	cb := e.login(b, "")
	saved := b.cookies()
	e.callback(b, cb, http.StatusOK)

	// The browser no longer has the cookie: refused before the exchange.
	e.callback(b, cb, http.StatusBadRequest)
	e.wantErr(signin.ErrCookie)
	e.wantTokenCalls(1)

	// An attacker who kept a copy of the cookie still meets a spent code.
	thief := newBrowser(t)
	for _, c := range saved {
		thief.plant(&http.Cookie{Name: c.Name, Value: c.Value, Path: "/", Secure: true})
	}
	e.callback(thief, cb, http.StatusBadRequest)
	e.wantErr(signin.ErrCode)
	e.wantTokenCalls(2)
}

func TestWrongVerifier(t *testing.T) {
	// Proves the fake enforces PKCE: a cookie whose verifier was swapped
	// for another login's cannot redeem the code.
	e := newEnv(t)
	b := newBrowser(t)
	e.login(b, "")
	other := decodeCookie(t, b.cookies()[0].Value)
	b = newBrowser(t)
	cb := e.login(b, "")
	ck := b.cookies()[0]
	mine := decodeCookie(t, ck.Value)
	mine["v"] = other["v"]
	raw, _ := json.Marshal(mine)
	b.plant(&http.Cookie{Name: ck.Name, Value: b64(raw), Path: "/", Secure: true})
	e.callback(b, cb, http.StatusBadRequest)
	e.wantErr(signin.ErrCode)
	e.wantTokenCalls(1)
}

func TestWrongNonce(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	other, _ := sdk.NewNonce()
	e.op.set(func(op *fakeOP) { op.nonce = other })
	e.callback(b, e.login(b, ""), http.StatusBadRequest)
	e.wantErr(signin.ErrNonce)
	e.wantTokenCalls(1)
	if e.lastResult() != nil {
		t.Error("done called")
	}
}

func TestOtherAudience(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	e.op.set(func(op *fakeOP) { op.aud = "another-client" })
	e.callback(b, e.login(b, ""), http.StatusBadGateway)
	e.wantErr(signin.ErrProvider)
	e.wantTokenCalls(1)
	if e.lastResult() != nil {
		t.Error("done called")
	}
}

func TestTokenEndpointFailure(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	e.op.set(func(op *fakeOP) { op.tokenFails = true })
	e.callback(b, e.login(b, ""), http.StatusBadGateway)
	e.wantErr(signin.ErrProvider)
	e.wantTokenCalls(1)
}

func TestAccessDenied(t *testing.T) {
	t.Run("valid state", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		e.op.set(func(op *fakeOP) { op.deny = true })
		e.callback(b, e.login(b, ""), http.StatusBadRequest)
		e.wantErr(signin.ErrDenied)
		if got := e.lastErr().OAuthError; got != "access_denied" {
			t.Errorf("OAuthError = %q, want access_denied", got)
		}
		e.wantTokenCalls(0)
		if len(b.cookies()) != 0 {
			t.Error("login cookie not cleared")
		}
	})
	t.Run("state checked first", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		e.op.set(func(op *fakeOP) { op.deny = true })
		other, _ := sdk.NewState()
		cb := withQuery(t, e.login(b, ""), func(q url.Values) { q.Set("state", other) })
		e.callback(b, cb, http.StatusBadRequest)
		e.wantErr(signin.ErrState)
	})
	t.Run("unregistered code", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		e.op.set(func(op *fakeOP) { op.deny = true })
		cb := withQuery(t, e.login(b, ""), func(q url.Values) { q.Set("error", "<b>pwned</b>") })
		e.callback(b, cb, http.StatusBadRequest)
		e.wantErr(signin.ErrDenied)
		if got := e.lastErr().OAuthError; got != "" {
			t.Errorf("OAuthError = %q, want empty", got)
		}
	})
}

func TestOpenRedirect(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"/\t/evil.example", "/"},
		{"/ok\n", "/"},
		{"evil.example", "/"},
		{"/" + strings.Repeat("a", 2000), "/"},
		{"/" + strings.Repeat("<", 1000), "/"}, // escapes past the cookie limit
		{"", "/"},
		{"/orders/7?x=1#top", "/orders/7?x=1#top"},
		{"/a//b", "/a//b"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			e := newEnv(t)
			b := newBrowser(t)
			e.callback(b, e.login(b, tc.in), http.StatusOK)
			if got := e.lastResult().ReturnTo; got != tc.want {
				t.Errorf("ReturnTo = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	first := e.login(b, "/first")
	second := e.login(b, "/second")
	e.callback(b, second, http.StatusOK)
	if got := e.lastResult().ReturnTo; got != "/second" {
		t.Errorf("ReturnTo = %q, want /second", got)
	}
	e.callback(b, first, http.StatusOK)
	if got := e.lastResult().ReturnTo; got != "/first" {
		t.Errorf("ReturnTo = %q, want /first", got)
	}
	e.wantTokenCalls(2)
}

func TestPendingLoginsBounded(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	var cbs []string
	for range 8 {
		cbs = append(cbs, e.login(b, ""))
		e.clock.Advance(time.Second)
	}
	if n := len(b.cookies()); n != 5 {
		t.Fatalf("%d login cookies kept, want 5", n)
	}
	e.callback(b, cbs[0], http.StatusBadRequest)
	e.wantErr(signin.ErrState)
	e.callback(b, cbs[7], http.StatusOK)
	e.callback(b, cbs[3], http.StatusOK)
	e.wantTokenCalls(2)
}

func TestDefaultErrorResponse(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) { c.ErrorHandler = nil })
	b := newBrowser(t)
	cb := withQuery(t, e.login(b, ""), func(q url.Values) { q.Set("state", "<script>x</script>") })
	res := e.callback(b, cb, http.StatusBadRequest)
	body, _ := io.ReadAll(res.Body)
	if strings.Contains(string(body), "script") {
		t.Errorf("body echoes the request: %q", body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
	e.wantTokenCalls(0)
}

func TestInsecureCookies(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) {
		c.InsecureCookies = true
		c.RedirectURL = "http://localhost:8080/auth/callback"
	})
	b := newBrowser(t)
	b.origin = "http://localhost:8080"
	cb := e.login(b, "")
	ck := b.cookies()[0]
	if !strings.HasPrefix(ck.Name, "gh_signin_") || ck.Secure {
		t.Errorf("cookie %s", ck)
	}
	e.callback(b, cb, http.StatusOK)
}

func TestNewRejectsBadConfig(t *testing.T) {
	op := newFakeOP(t, &clock{t: time.Now()})
	good := signin.Config{Issuer: op.srv.URL, ClientID: testClientID, RedirectURL: callbackURL}
	for name, edit := range map[string]func(*signin.Config){
		"no client id":        func(c *signin.Config) { c.ClientID = "" },
		"no issuer":           func(c *signin.Config) { c.Issuer = "" },
		"http issuer":         func(c *signin.Config) { c.Issuer = "http://gatehouse.example" },
		"relative redirect":   func(c *signin.Config) { c.RedirectURL = "/auth/callback" },
		"http redirect":       func(c *signin.Config) { c.RedirectURL = "http://localhost:8080/cb" },
		"javascript redirect": func(c *signin.Config) { c.RedirectURL = "javascript://x/%0aalert(1)" },
		"issuer mismatch":     func(c *signin.Config) { c.Issuer = op.srv.URL + "/" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			edit(&cfg)
			if _, err := signin.New(context.Background(), cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
	if _, err := signin.New(context.Background(), good); err != nil {
		t.Errorf("New(good): %v", err)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.discoveryCalls != 2 {
		t.Errorf("discovery fetched %d times, want 2 (only for valid configs)", op.discoveryCalls)
	}
}

func TestCallbackNilDonePanics(t *testing.T) {
	e := newEnv(t)
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	e.c.Callback(nil)
}

func decodeCookie(t *testing.T, v string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Error(err)
	}
	return b
}

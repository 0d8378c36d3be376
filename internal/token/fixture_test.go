package token_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

const (
	testIssuer = "https://issuer.example"
	accessTTL  = 10 * time.Minute
	idTokenTTL = 30 * time.Minute
	refreshTTL = 2 * time.Hour
	idleTTL    = time.Hour
	codeTTL    = 60 * time.Second

	redirect1 = "https://app.example/cb"
	redirect2 = "https://app.example/other"
	pubRedir  = "http://127.0.0.1/cb"
	apiAud    = "https://api.example"
)

// fakeClock is the one clock every component of a fixture reads.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a token endpoint over real components: a SQLite store, a key
// manager, the revocation list and the audit log, on a fake clock.
type fixture struct {
	st      *sqlite.Store
	clock   *fakeClock
	keys    *keys.Manager
	rev     *revocation.List
	audit   *audit.Log
	ep      *token.Endpoint
	handler http.Handler
	secrets map[string]string // client id -> secret
	alice   store.User
	bob     store.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	masterKey := make([]byte, 32)
	_, _ = rand.Read(masterKey)
	km, err := keys.NewManager(ctx, keys.Config{Store: st, MasterKey: masterKey,
		MaxTokenTTL: idTokenTTL + keys.MaxLeeway, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rev := revocation.New(revocation.Config{Store: st, Now: clock.Now, Logger: log})
	if err := rev.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	al := audit.New(st, log, clock.Now)
	ep := token.New(token.Config{
		Issuer: testIssuer, AccessTTL: accessTTL, IDTokenTTL: idTokenTTL,
		RefreshTTL: refreshTTL, RefreshIdleTTL: idleTTL,
		AccessAlg: km.AccessTokenAlg(), Signer: km, Store: st, Revocations: rev, Auditor: al,
		Clients: token.NewClientAuthenticator(st, nil, clock.Now), Now: clock.Now, Logger: log,
	})
	f := &fixture{st: st, clock: clock, keys: km, rev: rev, audit: al, ep: ep, handler: ep.Handler(),
		secrets: map[string]string{}}

	userScopes := []string{"openid", "profile", "email", "offline_access", "items:read"}
	for _, spec := range []admin.ClientSpec{
		{ID: "conf1", Name: "Conf one", RedirectURIs: []string{redirect1, redirect2},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes, Audiences: []string{apiAud}},
		{ID: "conf2", Name: "Conf two", RedirectURIs: []string{redirect1},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes},
		{ID: "pub1", Name: "Public one", Public: true, RedirectURIs: []string{pubRedir},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes},
		{ID: "pub2", Name: "Public two", Public: true, RedirectURIs: []string{pubRedir},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes},
		{ID: "norefresh", Name: "No refresh", RedirectURIs: []string{redirect1},
			GrantTypes: []string{"authorization_code"}, Scopes: userScopes},
		{ID: "grace", Name: "Grace", RedirectURIs: []string{redirect1},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes, RefreshGrace: 5 * time.Second},
		{ID: "cc1", Name: "CC one", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid", "items:read"}},
	} {
		_, sec, err := admin.CreateClient(ctx, st, spec, clock.Now())
		if err != nil {
			t.Fatalf("create client %s: %v", spec.ID, err)
		}
		f.secrets[spec.ID] = sec
	}
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	f.alice, err = admin.CreateUser(ctx, st, h, admin.UserSpec{Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Password: "correct horse battery", Roles: []string{"viewer"}}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.bob, err = admin.CreateUser(ctx, st, h, admin.UserSpec{Username: "bob", Password: "correct horse battery"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// codeSpec is an authorization code as /oauth/authorize would store it.
type codeSpec struct {
	client    string
	user      store.User
	redirect  string
	scopes    []string
	audiences []string
	challenge string
	nonce     string
	sid       string
	authTime  time.Time
	expiresAt time.Time
}

// session creates a browser session for u and returns its sid.
func (f *fixture) session(t testing.TB, u store.User) string {
	t.Helper()
	now := f.clock.Now()
	s := store.Session{ID: secret.ID(), TokenHash: secret.Hash(secret.Token()), UserID: u.ID,
		AuthTime: now.Add(-time.Minute), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := f.st.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// code stores a code for s (defaults: conf1, alice, redirect1, openid
// profile email, a fresh session) and returns it in clear.
func (f *fixture) code(t testing.TB, s codeSpec) string {
	t.Helper()
	now := f.clock.Now()
	if s.client == "" {
		s.client = "conf1"
	}
	if s.user.ID == "" {
		s.user = f.alice
	}
	if s.redirect == "" {
		s.redirect = redirect1
	}
	if s.scopes == nil {
		s.scopes = []string{"openid", "profile", "email"}
	}
	if s.sid == "" {
		s.sid = f.session(t, s.user)
	}
	if s.authTime.IsZero() {
		s.authTime = now.Add(-time.Minute).Truncate(time.Second)
	}
	if s.expiresAt.IsZero() {
		s.expiresAt = now.Add(codeTTL)
	}
	plain := secret.Token()
	err := f.st.CreateAuthCode(context.Background(), store.AuthCode{
		Hash: secret.Hash(plain), ClientID: s.client, UserID: s.user.ID, SessionID: s.sid,
		RedirectURI: s.redirect, Scopes: s.scopes, Audiences: s.audiences, Nonce: s.nonce,
		CodeChallenge: s.challenge, AuthTime: s.authTime, CreatedAt: now, ExpiresAt: s.expiresAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// pkcePair returns a fresh S256 verifier and its challenge.
func pkcePair() (verifier, challenge string) {
	verifier = secret.Token() + "-pkce"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	status int
	header http.Header
	raw    []byte

	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// auth says how a request authenticates its client.
type auth struct {
	id, secret string
	basic      bool // Basic header (confidential clients); else client_id in the body
}

func (f *fixture) as(id string) auth {
	if sec := f.secrets[id]; sec != "" {
		return auth{id: id, secret: sec, basic: true}
	}
	return auth{id: id}
}

func serve(h http.Handler, path string, form url.Values, a auth) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	form = cloneValues(form)
	if !a.basic && a.id != "" {
		form.Set("client_id", a.id)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.basic {
		req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// token posts form to the token endpoint.
func (f *fixture) token(t testing.TB, form url.Values, a auth) tokenResponse {
	t.Helper()
	rec := serve(f.handler, "/oauth/token", form, a)
	r := tokenResponse{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	if err := json.Unmarshal(r.raw, &r); err != nil {
		t.Fatalf("token response is not JSON: %d %q", rec.Code, r.raw)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
	return r
}

// redeem exchanges code at the token endpoint.
func (f *fixture) redeem(t testing.TB, a auth, code, redirectURI, verifier string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return f.token(t, form, a)
}

// mustRedeem redeems a fresh default code for client and returns the tokens.
func (f *fixture) mustRedeem(t testing.TB, s codeSpec) tokenResponse {
	t.Helper()
	if s.client == "" {
		s.client = "conf1"
	}
	if s.redirect == "" {
		s.redirect = redirect1
	}
	r := f.redeem(t, f.as(s.client), f.code(t, s), s.redirect, "")
	if r.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.status, r.raw)
	}
	return r
}

func (f *fixture) refresh(t testing.TB, a auth, rt string, extra url.Values) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return f.token(t, form, a)
}

// introspect asks the endpoint about tok as client a.
func (f *fixture) introspect(t testing.TB, tok string, a auth) map[string]any {
	t.Helper()
	rec := serve(f.ep.IntrospectionHandler(), "/oauth/introspect", url.Values{"token": {tok}}, a)
	if rec.Code != http.StatusOK {
		t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) active(t testing.TB, tok string, a auth) bool {
	t.Helper()
	return f.introspect(t, tok, a)["active"] == true
}

// auditEvents returns the stored audit events of type typ.
func (f *fixture) auditEvents(t testing.TB, typ string) []store.AuditEvent {
	t.Helper()
	ctx := context.Background()
	f.audit.Flush(ctx)
	evs, err := f.st.ListAuditEvents(ctx, store.AuditQuery{Type: typ, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// expect asserts status and OAuth error code.
func expect(t testing.TB, r tokenResponse, status int, code string) {
	t.Helper()
	if r.status != status || r.Error != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.status, r.Error, r.Description, status, code)
	}
}

package oidc_test

import (
	"context"
	"crypto/rand"
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
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

const (
	issuer    = "https://issuer.example"
	redirect  = "https://app.example/cb"
	accessTTL = 5 * time.Minute
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fixture is userinfo in front of a real token endpoint, store, key manager
// and revocation list.
type fixture struct {
	st       *sqlite.Store
	clock    *clock
	ep       *token.Endpoint
	userinfo http.Handler
	secrets  map[string]string
	alice    store.User
	bob      store.User
}

func newFixture(t *testing.T) *fixture {
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
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	km, err := keys.NewManager(ctx, keys.Config{Store: st, MasterKey: mk, MaxTokenTTL: 2 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rev := revocation.New(revocation.Config{Store: st, Now: clk.Now, Logger: log})
	if err := rev.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ep := token.New(token.Config{Issuer: issuer, AccessTTL: accessTTL, AccessAlg: km.AccessTokenAlg(), Signer: km,
		Store: st, Revocations: rev, Auditor: audit.New(st, log, clk.Now),
		Clients: token.NewClientAuthenticator(st, nil, clk.Now), Now: clk.Now, Logger: log})
	f := &fixture{st: st, clock: clk, ep: ep, userinfo: oidc.UserinfoHandler(ep, st, log), secrets: map[string]string{}}
	for _, spec := range []admin.ClientSpec{
		{ID: "web", Name: "Web", RedirectURIs: []string{redirect}, Scopes: []string{"openid", "profile", "email", "items:read"}},
		{ID: "cc1", Name: "CC", GrantTypes: []string{"client_credentials"}, Scopes: []string{"openid", "items:read"}},
	} {
		_, sec, err := admin.CreateClient(ctx, st, spec, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[spec.ID] = sec
	}
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	f.alice, err = admin.CreateUser(ctx, st, h, admin.UserSpec{Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Password: "correct horse battery"}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.bob, err = admin.CreateUser(ctx, st, h, admin.UserSpec{Username: "bob", Email: "bob@example.com",
		Password: "correct horse battery"}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func (f *fixture) post(t *testing.T, h http.Handler, form url.Values, client string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, f.secrets[client])
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// userTokens redeems a code for u with scopes.
func (f *fixture) userTokens(t *testing.T, u store.User, scopes ...string) tokens {
	t.Helper()
	now := f.clock.Now()
	code := secret.Token()
	if err := f.st.CreateAuthCode(context.Background(), store.AuthCode{Hash: secret.Hash(code), ClientID: "web",
		UserID: u.ID, SessionID: secret.ID(), RedirectURI: redirect, Scopes: scopes,
		AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	rec := f.post(t, f.ep.Handler(), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}, "web")
	if rec.Code != http.StatusOK {
		t.Fatalf("redeem: %d %s", rec.Code, rec.Body)
	}
	var tk tokens
	if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

func (f *fixture) ccToken(t *testing.T) string {
	t.Helper()
	rec := f.post(t, f.ep.Handler(), url.Values{"grant_type": {"client_credentials"}, "scope": {"openid items:read"}}, "cc1")
	if rec.Code != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", rec.Code, rec.Body)
	}
	var tk tokens
	_ = json.Unmarshal(rec.Body.Bytes(), &tk)
	return tk.AccessToken
}

// call sends a userinfo request with the given Authorization header.
func (f *fixture) call(method, authz, target string) *httptest.ResponseRecorder {
	if target == "" {
		target = oidc.PathUserinfo
	}
	req := httptest.NewRequest(method, target, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	f.userinfo.ServeHTTP(rec, req)
	return rec
}

const realmOnly = `Bearer realm="gatehouse"`

// TestUserinfo covers OIDC Core §5.3 and the RFC 6750 §3 errors.
func TestUserinfo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	full := f.userTokens(t, f.alice, "openid", "profile", "email")
	profileOnly := f.userTokens(t, f.alice, "openid", "profile")
	noOpenID := f.userTokens(t, f.alice, "profile", "email", "items:read")
	bobs := f.userTokens(t, f.bob, "openid", "email")
	cc := f.ccToken(t)

	revoked := f.userTokens(t, f.alice, "openid")
	if rec := f.post(t, f.ep.RevocationHandler(), url.Values{"token": {revoked.AccessToken}}, "web"); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d", rec.Code)
	}
	carol, err := admin.CreateUser(ctx, f.st, login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1),
		admin.UserSpec{Username: "carol", Password: "correct horse battery"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	disabled := f.userTokens(t, carol, "openid")
	if _, err := admin.SetDisabled(ctx, f.st, carol.ID, true, f.clock.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	dave, err := admin.CreateUser(ctx, f.st, login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1),
		admin.UserSpec{Username: "dave", Password: "correct horse battery"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	deleted := f.userTokens(t, dave, "openid")
	if err := f.st.DeleteUser(ctx, dave.ID); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, method, authz, target string
		wantStatus                  int
		wantChallenge               string // exact WWW-Authenticate prefix
		wantError                   string // error= in the challenge and the body
		wantBody                    map[string]any
	}{
		{name: "GET with all scopes", method: "GET", authz: "Bearer " + full.AccessToken, wantStatus: 200,
			wantBody: map[string]any{"sub": f.alice.ID, "preferred_username": "alice", "name": "alice",
				"email": "alice@example.com", "email_verified": true}},
		{name: "POST works the same", method: "POST", authz: "Bearer " + full.AccessToken, wantStatus: 200,
			wantBody: map[string]any{"sub": f.alice.ID, "preferred_username": "alice", "name": "alice",
				"email": "alice@example.com", "email_verified": true}},
		{name: "scheme is case-insensitive", method: "GET", authz: "bearer " + full.AccessToken, wantStatus: 200,
			wantBody: map[string]any{"sub": f.alice.ID, "preferred_username": "alice", "name": "alice",
				"email": "alice@example.com", "email_verified": true}},
		{name: "profile scope only", method: "GET", authz: "Bearer " + profileOnly.AccessToken, wantStatus: 200,
			wantBody: map[string]any{"sub": f.alice.ID, "preferred_username": "alice", "name": "alice"}},
		{name: "email not verified", method: "GET", authz: "Bearer " + bobs.AccessToken, wantStatus: 200,
			wantBody: map[string]any{"sub": f.bob.ID, "email": "bob@example.com", "email_verified": false}},

		{name: "no token", method: "GET", wantStatus: 401, wantChallenge: realmOnly},
		{name: "token only in the query string", method: "GET", target: "/userinfo?access_token=" + full.AccessToken,
			wantStatus: 401, wantChallenge: realmOnly},
		{name: "Basic credentials", method: "GET", authz: "Basic d2ViOnNlY3JldA==", wantStatus: 401, wantChallenge: realmOnly},
		{name: "empty bearer", method: "GET", authz: "Bearer ", wantStatus: 400, wantError: "invalid_request"},
		{name: "garbage token", method: "GET", authz: "Bearer not-a-token", wantStatus: 401, wantError: "invalid_token"},
		{name: "API key", method: "GET", authz: "Bearer sk_live_" + secret.Token(), wantStatus: 401, wantError: "invalid_token"},
		{name: "tampered token", method: "GET", authz: "Bearer " + full.AccessToken[:len(full.AccessToken)-4] + "AAAA", wantStatus: 401, wantError: "invalid_token"},
		{name: "id_token instead of an access token", method: "GET", authz: "Bearer " + full.IDToken, wantStatus: 401, wantError: "invalid_token"},
		{name: "refresh token", method: "GET", authz: "Bearer " + full.RefreshToken, wantStatus: 401, wantError: "invalid_token"},
		{name: "revoked token", method: "GET", authz: "Bearer " + revoked.AccessToken, wantStatus: 401, wantError: "invalid_token"},
		{name: "disabled user", method: "GET", authz: "Bearer " + disabled.AccessToken, wantStatus: 401, wantError: "invalid_token"},
		{name: "deleted user", method: "GET", authz: "Bearer " + deleted.AccessToken, wantStatus: 401, wantError: "invalid_token"},
		{name: "token without openid", method: "GET", authz: "Bearer " + noOpenID.AccessToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "client_credentials token", method: "GET", authz: "Bearer " + cc, wantStatus: 403, wantError: "insufficient_scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.call(c.method, c.authz, c.target)
			if rec.Code != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.wantStatus, rec.Body)
			}
			checkCommon(t, rec)
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %q", rec.Body)
			}
			chal := rec.Header().Get("WWW-Authenticate")
			switch {
			case c.wantBody != nil:
				if len(body) != len(c.wantBody) {
					t.Errorf("body %v, want %v", body, c.wantBody)
				}
				for k, v := range c.wantBody {
					if body[k] != v {
						t.Errorf("%s = %v, want %v", k, body[k], v)
					}
				}
				if chal != "" {
					t.Errorf("WWW-Authenticate %q on success", chal)
				}
			case c.wantChallenge != "":
				if chal != c.wantChallenge {
					t.Errorf("WWW-Authenticate %q, want %q", chal, c.wantChallenge)
				}
				if body["error"] != nil {
					t.Errorf("error %v for a request without credentials (RFC 6750 §3.1)", body["error"])
				}
			default:
				if !strings.HasPrefix(chal, realmOnly+", ") || !strings.Contains(chal, `error="`+c.wantError+`"`) {
					t.Errorf("WWW-Authenticate %q, want error=%q", chal, c.wantError)
				}
				if body["error"] != c.wantError {
					t.Errorf("body error %v, want %s", body["error"], c.wantError)
				}
				if c.wantError == "insufficient_scope" && !strings.Contains(chal, `scope="openid"`) {
					t.Errorf("WWW-Authenticate %q lacks scope=\"openid\"", chal)
				}
			}
		})
	}
}

func checkCommon(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestUserinfoExpiredToken: an access token past exp (and the leeway) is
// invalid_token.
func TestUserinfoExpiredToken(t *testing.T) {
	f := newFixture(t)
	tk := f.userTokens(t, f.alice, "openid")
	f.clock.Advance(accessTTL + keys.MaxLeeway + time.Second)
	rec := f.call("GET", "Bearer "+tk.AccessToken, "")
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired token: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestUserinfoFailsClosed: when the revocation list is stale and the store
// cannot answer, userinfo answers 503, never the user's claims.
func TestUserinfoFailsClosed(t *testing.T) {
	f := newFixture(t)
	tk := f.userTokens(t, f.alice, "openid", "profile")
	if rec := f.call("GET", "Bearer "+tk.AccessToken, ""); rec.Code != 200 {
		t.Fatalf("before the outage: %d %s", rec.Code, rec.Body)
	}
	f.clock.Advance(time.Minute) // the in-process copy is now stale
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	rec := f.call("GET", "Bearer "+tk.AccessToken, "")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("during the outage: %d %s, want 503", rec.Code, rec.Body)
	}
	checkCommon(t, rec)
	if strings.Contains(rec.Body.String(), "alice") {
		t.Fatal("claims released during the outage")
	}
}

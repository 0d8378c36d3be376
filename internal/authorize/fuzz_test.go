package authorize

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/web"
)

// signedOut is a browser with no session.
type signedOut struct{}

func (signedOut) Current(*http.Request) (store.Session, store.User, bool, error) {
	return store.Session{}, store.User{}, false, nil
}

func newFuzzEndpoint(f *testing.F) *Endpoint {
	st, err := sqlite.Open(f.Context(), filepath.Join(f.TempDir(), "gh.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(f.Context()); err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	for _, c := range []store.Client{
		{ID: "web", Name: "Web", TokenEndpointAuthMethod: store.AuthClientSecretBasic, SecretHash: make([]byte, 32),
			RedirectURIs: []string{"https://app.example/cb?x=1"}, GrantTypes: []string{"authorization_code"},
			Scopes: []string{"openid", "profile"}, Audiences: []string{"https://api.example"}, CreatedAt: now, UpdatedAt: now},
		{ID: "spa", Name: "SPA", Public: true, TokenEndpointAuthMethod: store.AuthNone,
			RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"},
			Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateClient(f.Context(), c); err != nil {
			f.Fatal(err)
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := NewSealer(key, time.Minute, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	pages, err := web.New()
	if err != nil {
		f.Fatal(err)
	}
	return New(Config{Issuer: "https://auth.example", CodeTTL: time.Minute, Store: st, Sessions: signedOut{},
		Sealer: sealer, Pages: pages, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
}

// FuzzAuthorizeRequest feeds arbitrary query strings to the authorization
// endpoint: it never panics or answers 5xx, and it only ever redirects to a
// registered redirect URI or to its own login page.
func FuzzAuthorizeRequest(f *testing.F) {
	ep := newFuzzEndpoint(f)
	for _, seed := range []string{
		"client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&response_type=code&scope=openid&state=s",
		"client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"client_id=web&redirect_uri=https%3A%2F%2Fevil.example&response_type=token",
		"resume=AAAA",
		"client_id=web&client_id=spa",
		"client_id=%ff&redirect_uri=%zz",
		"prompt=none+login&max_age=-5&scope=%22&response_mode=fragment",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/oauth/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		ep.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d", query, rec.Code)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			ok := strings.HasPrefix(loc, "https://app.example/cb?x=1&") || strings.HasPrefix(loc, "http://127.0.0.1:") ||
				strings.HasPrefix(loc, "http://127.0.0.1/cb?") || strings.HasPrefix(loc, LoginPath+"?")
			if !ok {
				t.Fatalf("%q: redirect to unregistered %q", query, loc)
			}
		}
	})
}

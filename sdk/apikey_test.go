package sdk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// jtiRevocations revokes by jti, for the API key tests.
type jtiRevocations struct {
	mu  sync.Mutex
	jti map[string]bool
}

func (r *jtiRevocations) Revoked(_ context.Context, c *Claims) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jti[c.ID], nil
}

func (r *jtiRevocations) revoke(jti string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jti[jti] = true
}

const (
	deployKey = "sk_AbCdEfGh0123456789abcdefghijklmnopqrstuvwxyzAB" // deployer role
	readKey   = "sk_ZyXwVuTs0123456789abcdefghijklmnopqrstuvwxyzAB" // viewer role
)

type apiKeyFixture struct {
	iss  *testIssuer
	keys *APIKeyVerifier
	rev  *jtiRevocations
	rt   *Router
}

func newAPIKeyFixture(t *testing.T) *apiKeyFixture {
	t.Helper()
	iss := newTestIssuer(t, esKey())
	exp := iss.clock.Now().Add(time.Hour).Unix()
	iss.apiKeys = map[string]map[string]any{
		deployKey: {"active": true, "token_type": "api_key", "jti": "key-1", "sub": "key-1", "iss": iss.url,
			"roles": []string{"deployer"}, "scope": "deploy", "exp": exp},
		readKey: {"active": true, "token_type": "api_key", "jti": "key-2", "sub": "key-2", "iss": iss.url,
			"roles": []string{"viewer"}, "permissions": []string{"products:read"}},
	}
	rev := &jtiRevocations{jti: map[string]bool{}}
	keys, err := NewAPIKeyVerifier(t.Context(), APIKeyConfig{Issuer: iss.url, ClientID: "rs", ClientSecret: "s3cret",
		Revocation: rev, Now: iss.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := iss.verifier(t, nil)
	rt := NewRouter(v, AcceptAPIKeys(keys))
	ok := func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		w.Write([]byte(c.Subject))
	}
	rt.HandleFunc("POST /deploy", RequireRoles("deployer"), ok)
	rt.HandleFunc("GET /products", RequirePermissions("products:read"), ok)
	rt.HandleFunc("DELETE /products/{id}", RequirePermissions("products:delete"), ok)
	return &apiKeyFixture{iss: iss, keys: keys, rev: rev, rt: rt}
}

func (f *apiKeyFixture) call(method, path string, hdr ...string) result {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return serve(f.rt, r)
}

// KEY-01 at the resource server: a key is accepted from the Authorization
// header or X-API-Key, and its roles and permissions meet policies.
func TestAPIKeyKEY01Accepted(t *testing.T) {
	f := newAPIKeyFixture(t)
	for _, hdr := range [][]string{{"Authorization", "Bearer " + deployKey}, {"X-API-Key", deployKey}} {
		if res := f.call("POST", "/deploy", hdr...); res.code != 200 || res.body != "key-1" {
			t.Errorf("%s: %d %q", hdr[0], res.code, res.body)
		}
	}
	if res := f.call("GET", "/products", "X-API-Key", readKey); res.code != 200 {
		t.Errorf("read key on a read route: %d", res.code)
	}
	c, err := f.keys.Verify(t.Context(), deployKey)
	if err != nil || !c.APIKey || c.ID != "key-1" || !c.HasRole("deployer") || !c.HasScope("deploy") {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if n := f.iss.introspected.Load(); n != 2 {
		t.Errorf("%d introspection calls for two keys used four times, want 2 (cache)", n)
	}
}

// KEY-05 at the resource server: a read-only key on a write route is 403.
func TestAPIKeyKEY05ReadOnlyKeyCannotWrite(t *testing.T) {
	f := newAPIKeyFixture(t)
	for _, tc := range []struct{ method, path, key string }{
		{"DELETE", "/products/1", readKey},
		{"POST", "/deploy", readKey},
		{"GET", "/products", deployKey},
	} {
		res := f.call(tc.method, tc.path, "X-API-Key", tc.key)
		if res.code != http.StatusForbidden || errorCode(t, res) != "insufficient_scope" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, res.code, res.body)
		}
	}
}

// KEY-02 at the resource server: a revoked key fails at once although it
// is cached; an expired or unknown key fails, and is not asked about
// again for a few seconds.
func TestAPIKeyKEY02RevokedAndExpired(t *testing.T) {
	f := newAPIKeyFixture(t)
	if res := f.call("POST", "/deploy", "X-API-Key", deployKey); res.code != 200 {
		t.Fatalf("before revocation: %d", res.code)
	}
	f.rev.revoke("key-1")
	if _, err := f.keys.Verify(t.Context(), deployKey); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked key: %v", err)
	}
	if res := f.call("POST", "/deploy", "X-API-Key", deployKey); res.code != 401 || errorCode(t, res) != "invalid_token" {
		t.Errorf("revoked key: %d %s", res.code, res.body)
	}

	f.iss.clock.Advance(time.Hour) // past the key's exp, and the cache TTL
	f.iss.mu.Lock()
	f.iss.apiKeys[deployKey]["active"] = false
	f.iss.mu.Unlock()
	f.rev = &jtiRevocations{jti: map[string]bool{}}
	before := f.iss.introspected.Load()
	for range 3 {
		if res := f.call("GET", "/products", "X-API-Key", deployKey); res.code != 401 {
			t.Errorf("inactive key: %d", res.code)
		}
	}
	if n := f.iss.introspected.Load() - before; n != 1 {
		t.Errorf("an inactive key used 3 times cost %d introspections, want 1", n)
	}
}

// KEY-04 at the resource server: malformed keys are refused before any
// call to Gatehouse, and keys are never read from the query string.
func TestAPIKeyKEY04Malformed(t *testing.T) {
	f := newAPIKeyFixture(t)
	for name, hdr := range map[string][]string{
		"sk_ alone":          {"X-API-Key", "sk_"},
		"sk_ + 10 KB":        {"X-API-Key", "sk_" + strings.Repeat("a", 10<<10)},
		"non-ASCII":          {"X-API-Key", "sk_AbCdEfGh0123456789abcdefghijklmnopqrstuvwxyzé"},
		"surrounding spaces": {"X-API-Key", " " + deployKey + " "},
		"SK_ prefix":         {"X-API-Key", "SK_" + deployKey[3:]},
		"two X-API-Key":      {"X-API-Key", deployKey, "X-API-Key", readKey},
		"key and token":      {"X-API-Key", deployKey, "Authorization", "Bearer " + deployKey},
		"token in X-API-Key": {"X-API-Key", f.iss.token(esKey(), nil, nil)},
	} {
		if res := f.call("POST", "/deploy", hdr...); res.code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, res.code)
		}
	}
	if res := f.call("POST", "/deploy?api_key="+deployKey+"&access_token="+deployKey); res.code != 401 || res.hdr.Get("WWW-Authenticate") != realm {
		t.Errorf("key in the query string: %d %q, want a bare 401 challenge", res.code, res.hdr.Get("WWW-Authenticate"))
	}
	if n := f.iss.introspected.Load(); n != 0 {
		t.Errorf("malformed keys caused %d introspection calls", n)
	}
	// A router that was not told to accept keys refuses them.
	plain := NewRouter(f.iss.verifier(t, nil))
	plain.HandleFunc("GET /x", Authenticated(), func(http.ResponseWriter, *http.Request) {})
	if res := do(plain, "GET", "/x", "Bearer "+deployKey); res.code != 401 {
		t.Errorf("router without API keys: %d", res.code)
	}
}

// Concurrent first uses of a key cost one introspection; an introspection
// outage is 503, never 401 or 200.
func TestAPIKeySingleFlightAndOutage(t *testing.T) {
	f := newAPIKeyFixture(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := f.keys.Verify(context.Background(), deployKey); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.iss.introspected.Load(); n != 1 {
		t.Errorf("50 concurrent first uses: %d introspections, want 1", n)
	}
	f.iss.mu.Lock()
	f.iss.introStatus = http.StatusInternalServerError
	f.iss.mu.Unlock()
	_, err := f.keys.Verify(t.Context(), readKey)
	if !errors.Is(err, ErrIntrospectionUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("outage: %v", err)
	}
	if res := f.call("GET", "/products", "X-API-Key", readKey); res.code != http.StatusServiceUnavailable {
		t.Errorf("outage: router answered %d", res.code)
	}
}

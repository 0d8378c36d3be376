package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
)

// fakeIssuer is an external OpenID Connect issuer on loopback: discovery
// and a JWKS with an RSA and an EC key, counting JWKS requests.
type fakeIssuer struct {
	srv      *httptest.Server
	rsa      *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	jwksHits atomic.Int64
	// jwks, when set, replaces the JWKS document.
	mu   sync.Mutex
	jwks func(w http.ResponseWriter)
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{rsa: rk, ec: ek}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		f.mu.Lock()
		custom := f.jwks
		f.mu.Unlock()
		if custom != nil {
			custom(w)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: rk.Public(), KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
			{Key: ek.Public(), KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
		}})
	})
	return f
}

func (f *fakeIssuer) setJWKS(h func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jwks = h
}

func b64j(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign signs header and claims (JSON, raw when strings) with key by alg.
func sign(t *testing.T, header, claims any, alg string, key any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		return b64j(v)
	}
	input := enc(header) + "." + enc(claims)
	var sig []byte
	switch alg {
	case "RS256":
		d := sha256.Sum256([]byte(input))
		s, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case "ES256":
		d := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// memStore is the federator's store: policies, and one-time uses.
type memStore struct {
	mu       sync.Mutex
	policies []store.FederationPolicy
	used     map[string]time.Time
}

func (m *memStore) ListFederationPolicies(context.Context) ([]store.FederationPolicy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.FederationPolicy(nil), m.policies...), nil
}

func (m *memStore) UseOnce(_ context.Context, key []byte, exp, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[string]time.Time{}
	}
	if until, ok := m.used[string(key)]; ok && now.Before(until) {
		return store.ErrConflict
	}
	m.used[string(key)] = exp
	return nil
}

type fixture struct {
	iss   *fakeIssuer
	st    *memStore
	fed   *Federator
	now   time.Time
	clock func() time.Time
}

// newFixture trusts iss with one policy (changed by edit).
func newFixture(t *testing.T, edit func(*store.FederationPolicy)) *fixture {
	t.Helper()
	iss := newFakeIssuer(t)
	p := store.FederationPolicy{Name: "gh", Issuer: iss.srv.URL, Audience: "https://gatehouse.example",
		Conditions: map[string]string{"sub": "repo:acme/*:ref:refs/heads/main", "repository_owner": "acme",
			"kubernetes.io/namespace": "ci"},
		Audiences: []string{"https://api.example"}, AllowPrivateNetwork: true}
	if edit != nil {
		edit(&p)
	}
	p, err := Normalize(p)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{iss: iss, st: &memStore{policies: []store.FederationPolicy{p}}, now: time.Now()}
	f.clock = func() time.Time { return f.now }
	f.fed = New(Config{Store: f.st, Now: func() time.Time { return f.clock() }, FetchTimeout: 500 * time.Millisecond})
	return f
}

var jtiSeq atomic.Int64

// claims are a valid token's claims; edit changes them.
func (f *fixture) claims(edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": f.iss.srv.URL, "sub": "repo:acme/app:ref:refs/heads/main", "aud": []string{"https://gatehouse.example"},
		"iat": f.now.Unix(), "nbf": f.now.Unix(), "exp": f.now.Add(5 * time.Minute).Unix(),
		"jti": fmt.Sprint("jti-", jtiSeq.Add(1)), "repository_owner": "acme",
		"kubernetes.io": map[string]any{"namespace": "ci", "serviceaccount": map[string]any{"name": "builder"}},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func (f *fixture) token(t *testing.T, edit func(map[string]any)) string {
	return sign(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}, f.claims(edit), "RS256", f.iss.rsa)
}

func wantRejection(t *testing.T, err error, fragment string) {
	t.Helper()
	var rej *Rejection
	if !errors.As(err, &rej) || !strings.Contains(rej.Reason, fragment) {
		t.Fatalf("err = %v, want a rejection mentioning %q", err, fragment)
	}
	for _, c := range rej.Reason {
		if c < 0x20 || c > 0x7e || c == '\\' {
			t.Fatalf("reason %q leaves the RFC 6749 error_description charset", rej.Reason)
		}
	}
}

func TestValidateMatches(t *testing.T) {
	f := newFixture(t, func(p *store.FederationPolicy) { p.Subject = "ci:{sub}" })
	id, err := f.fed.Validate(t.Context(), f.token(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if id.Policy.Name != "gh" || id.Subject != "repo:acme/app:ref:refs/heads/main" || id.Issuer != f.iss.srv.URL {
		t.Fatalf("identity %+v", id)
	}
	if got := SubjectFor(id.Policy, id.Subject); got != "ci:repo:acme/app:ref:refs/heads/main" {
		t.Fatalf("SubjectFor = %q", got)
	}
	// ES256 with the EC key; aud as a string.
	es := sign(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, f.claims(func(c map[string]any) { c["aud"] = "https://gatehouse.example" }), "ES256", f.iss.ec)
	if _, err := f.fed.Validate(t.Context(), es); err != nil {
		t.Fatalf("ES256 token: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	f := newFixture(t, nil)
	pemKey := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(f.iss.rsa.Public())
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	jwkJSON, _ := json.Marshal(jose.JSONWebKey{Key: f.iss.rsa.Public(), KeyID: "rsa-1"})
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaHeader := map[string]any{"alg": "RS256", "kid": "rsa-1"}
	cases := []struct {
		name, token, reason string
	}{
		{"condition on sub", f.token(t, func(c map[string]any) { c["sub"] = "repo:acme/app:ref:refs/heads/feature" }), "condition on"},
		{"condition on another repository owner", f.token(t, func(c map[string]any) { c["repository_owner"] = "evil" }), "condition on"},
		{"condition on a nested claim", f.token(t, func(c map[string]any) { c["kubernetes.io"] = map[string]any{"namespace": "prod"} }), "condition on"},
		{"condition claim missing", f.token(t, func(c map[string]any) { delete(c, "repository_owner") }), "condition on"},
		{"condition claim not a string", f.token(t, func(c map[string]any) { c["repository_owner"] = []string{"acme"} }), "condition on"},
		{"wrong aud", f.token(t, func(c map[string]any) { c["aud"] = "https://other.example" }), "audience"},
		{"no aud", f.token(t, func(c map[string]any) { delete(c, "aud") }), "audience"},
		{"expired", f.token(t, func(c map[string]any) { c["exp"] = f.now.Add(-2 * time.Minute).Unix() }), "expired"},
		{"no exp", f.token(t, func(c map[string]any) { delete(c, "exp") }), "exp"},
		{"exp a string", f.token(t, func(c map[string]any) { c["exp"] = "tomorrow" }), "exp"},
		{"future nbf", f.token(t, func(c map[string]any) { c["nbf"] = f.now.Add(10 * time.Minute).Unix() }), "nbf"},
		{"future iat", f.token(t, func(c map[string]any) { c["iat"] = f.now.Add(10 * time.Minute).Unix() }), "iat"},
		{"no iat", f.token(t, func(c map[string]any) { delete(c, "iat") }), "iat"},
		{"too long lifetime", f.token(t, func(c map[string]any) { c["exp"] = f.now.Add(25 * time.Hour).Unix() }), "longer than the policy allows"},
		{"no sub", f.token(t, func(c map[string]any) { delete(c, "sub") }), "sub"},
		{"no iss", f.token(t, func(c map[string]any) { delete(c, "iss") }), "iss"},
		{"untrusted issuer", f.token(t, func(c map[string]any) { c["iss"] = "https://evil.example" }), "no federation policy"},
		{"alg none", sign(t, map[string]any{"alg": "none", "kid": "rsa-1"}, f.claims(nil), "none", nil), "not a signed JWT"},
		{"alg none with a signature", strings.TrimSuffix(sign(t, map[string]any{"alg": "none", "kid": "rsa-1"}, f.claims(nil), "none", nil), ".") + ".c2ln", "algorithm"},
		{"alg NONE", sign(t, map[string]any{"alg": "NONE", "kid": "rsa-1"}, f.claims(nil), "HS256", []byte("x")), "algorithm"},
		{"HS256 keyed with the public key (PEM)", sign(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, f.claims(nil), "HS256", pemKey), "algorithm"},
		{"HS256 keyed with the public key (JWK)", sign(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, f.claims(nil), "HS256", jwkJSON), "algorithm"},
		{"embedded jwk", sign(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "jwk": jose.JSONWebKey{Key: attacker.Public()}}, f.claims(nil), "RS256", attacker), "own key"},
		{"jku", sign(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "jku": f.iss.srv.URL + "/evil"}, f.claims(nil), "RS256", attacker), "own key"},
		{"x5u", sign(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "x5u": f.iss.srv.URL + "/evil"}, f.claims(nil), "RS256", attacker), "own key"},
		{"crit", sign(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "crit": []string{"exp"}}, f.claims(nil), "RS256", f.iss.rsa), "own key"},
		{"signed by another key", sign(t, rsaHeader, f.claims(nil), "RS256", attacker), "signature"},
		{"RS256 token on the EC key", sign(t, map[string]any{"alg": "RS256", "kid": "ec-1"}, f.claims(nil), "RS256", f.iss.rsa), "algorithm is not its key's"},
		{"duplicate alg", sign(t, `{"alg":"HS256","alg":"RS256","kid":"rsa-1"}`, f.claims(nil), "RS256", f.iss.rsa), "twice"},
		{"duplicate claim", sign(t, rsaHeader, `{"iss":"`+f.iss.srv.URL+`","sub":"x","sub":"repo:acme/app:ref:refs/heads/main"}`, "RS256", f.iss.rsa), "unique claims"},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "not a signed JWT"},
		{"not base64", "%%%.e30.c2ln", "base64url"},
		{"header array", sign(t, `["alg"]`, f.claims(nil), "RS256", f.iss.rsa), "JSON object"},
		{"payload array", sign(t, rsaHeader, `[1]`, "RS256", f.iss.rsa), "JSON object"},
		{"too large", f.token(t, func(c map[string]any) { c["pad"] = strings.Repeat("x", MaxTokenSize) }), "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.fed.Validate(t.Context(), tc.token)
			wantRejection(t, err, tc.reason)
		})
	}
}

func TestReplayedJTI(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, nil)
	if _, err := f.fed.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	_, err := f.fed.Validate(t.Context(), tok)
	wantRejection(t, err, "already exchanged")
	_, err = f.fed.Validate(t.Context(), f.token(t, func(c map[string]any) { delete(c, "jti") }))
	wantRejection(t, err, "no jti")

	// A policy for pods that reuse their projected token.
	g := newFixture(t, func(p *store.FederationPolicy) { p.AllowReuse = true })
	tok = g.token(t, func(c map[string]any) { delete(c, "jti") })
	for range 2 {
		if _, err := g.fed.Validate(t.Context(), tok); err != nil {
			t.Fatalf("reuse allowed: %v", err)
		}
	}
}

// TestUnknownKidFloodIsRateLimited: tokens naming unknown key ids make the
// issuer's JWKS be fetched at most once per RefetchCooldown.
func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.fed.Validate(t.Context(), f.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	before := f.iss.jwksHits.Load()
	for i := range 100 {
		tok := sign(t, map[string]any{"alg": "RS256", "kid": fmt.Sprint("unknown-", i)}, f.claims(nil), "RS256", f.iss.rsa)
		_, err := f.fed.Validate(t.Context(), tok)
		wantRejection(t, err, "no key with the token's kid")
	}
	if n := f.iss.jwksHits.Load() - before; n > 1 {
		t.Fatalf("100 unknown kids fetched the JWKS %d times, want at most 1", n)
	}
	// After the cooldown, a rotated-in key is found.
	f.now = f.now.Add(RefetchCooldown + time.Second)
	if _, err := f.fed.Validate(t.Context(), f.token(t, nil)); err != nil {
		t.Fatal(err)
	}
}

// TestKeyFetchingIsGuarded: keys on a private address are refused unless
// the policy allows them, a JWKS over 1 MiB is refused, and one that never
// answers fails within the timeout as an outage, not a verdict.
func TestKeyFetchingIsGuarded(t *testing.T) {
	t.Run("private address", func(t *testing.T) {
		f := newFixture(t, nil)
		// The same loopback issuer, over https, without allow_private_network.
		p, err := Normalize(store.FederationPolicy{Name: "blocked", Issuer: "https://" + f.iss.srv.Listener.Addr().String(),
			Audience: "https://gatehouse.example", JWKSURI: "https://localhost:1/jwks", Audiences: []string{"a"}})
		if err != nil {
			t.Fatal(err)
		}
		f.st.policies = []store.FederationPolicy{p}
		_, err = f.fed.Validate(t.Context(), f.token(t, func(c map[string]any) { c["iss"] = p.Issuer }))
		wantRejection(t, err, "address the policy does not allow")
	})
	t.Run("too large", func(t *testing.T) {
		f := newFixture(t, nil)
		f.iss.setJWKS(func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxDocumentSize) + `"}`))
		})
		_, err := f.fed.Validate(t.Context(), f.token(t, nil))
		wantRejection(t, err, "larger than 1 MiB")
	})
	t.Run("never answers", func(t *testing.T) {
		f := newFixture(t, nil)
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f.iss.setJWKS(func(http.ResponseWriter) { <-release })
		start := time.Now()
		_, err := f.fed.Validate(t.Context(), f.token(t, nil))
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("a silent JWKS held the exchange %s", d)
		}
	})
	t.Run("outage after a good fetch", func(t *testing.T) {
		f := newFixture(t, nil)
		if _, err := f.fed.Validate(t.Context(), f.token(t, nil)); err != nil {
			t.Fatal(err)
		}
		f.iss.setJWKS(func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
		f.now = f.now.Add(2 * KeysFreshFor)
		if _, err := f.fed.Validate(t.Context(), f.token(t, nil)); err != nil {
			t.Fatalf("stale keys during an outage: %v", err)
		}
		f.now = f.now.Add(StaleKeysFor)
		if _, err := f.fed.Validate(t.Context(), f.token(t, nil)); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("keys older than StaleKeysFor: %v, want ErrKeysUnavailable", err)
		}
	})
}

func TestStaticJWKS(t *testing.T) {
	f := newFixture(t, nil)
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.iss.rsa.Public(), KeyID: "rsa-1", Algorithm: "RS256"}}})
	p, err := Normalize(store.FederationPolicy{Name: "k8s", Issuer: "https://kubernetes.default.svc", Audience: "https://gatehouse.example",
		JWKS: doc, Audiences: []string{"a"}, AllowReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	f.st.policies = []store.FederationPolicy{p}
	if _, err := f.fed.Validate(t.Context(), f.token(t, func(c map[string]any) { c["iss"] = p.Issuer })); err != nil {
		t.Fatal(err)
	}
	if f.iss.jwksHits.Load() != 0 {
		t.Fatal("a static JWKS policy fetched keys")
	}
}

func TestNormalize(t *testing.T) {
	ok := store.FederationPolicy{Name: "gh", Issuer: "https://token.actions.githubusercontent.com", Audience: "x", Audiences: []string{"a"}}
	p, err := Normalize(ok)
	if err != nil || p.Subject != "gh:{sub}" || len(p.Algorithms) != 2 || p.MaxLifetime != DefaultMaxLifetime {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
	for name, edit := range map[string]func(*store.FederationPolicy){
		"no name":              func(p *store.FederationPolicy) { p.Name = "" },
		"bad name":             func(p *store.FederationPolicy) { p.Name = "a b" },
		"http issuer":          func(p *store.FederationPolicy) { p.Issuer = "http://token.example" },
		"http loopback issuer": func(p *store.FederationPolicy) { p.Issuer = "http://127.0.0.1:1" },
		"no audience":          func(p *store.FederationPolicy) { p.Audience = "" },
		"HS256":                func(p *store.FederationPolicy) { p.Algorithms = []string{"HS256"} },
		"none":                 func(p *store.FederationPolicy) { p.Algorithms = []string{"none"} },
		"both key sources":     func(p *store.FederationPolicy) { p.JWKSURI, p.JWKS = "https://x.example/j", []byte(`{"keys":[]}`) },
		"private jwks":         func(p *store.FederationPolicy) { p.JWKS = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) },
		"long ttl":             func(p *store.FederationPolicy) { p.TokenTTL = 13 * time.Hour },
		"spaced role":          func(p *store.FederationPolicy) { p.Roles = []string{"a b"} },
		"no audiences":         func(p *store.FederationPolicy) { p.Audiences = nil },
	} {
		p := ok
		edit(&p)
		if _, err := Normalize(p); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: %v, want ErrInvalidPolicy", name, err)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"repo:acme/*", "repo:acme/app:ref:refs/heads/main", true},
		{"repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main", true},
		{"repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/mainx", false},
		{"repo:acme/app", "repo:acme/app", true},
		{"repo:acme/app", "repo:acme/app2", false},
		{"ci-?", "ci-1", true},
		{"ci-?", "ci-12", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[abc]", "a", false},
	} {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

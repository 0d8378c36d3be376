package sdk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file is a fake Gatehouse issuer for the tests: discovery, a JWKS
// endpoint that counts its requests, and ES256/RS256/EdDSA signers.

// testKey is a signing key published (or not) by the fake issuer.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	ecPriv = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	rsaPriv = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	edPriv = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func esKey() testKey     { return testKey{kid: "es-1", alg: "ES256", priv: ecPriv()} }
func rsKey() testKey     { return testKey{kid: "rs-1", alg: "RS256", priv: rsaPriv()} }
func edKey() testKey     { return testKey{kid: "ed-1", alg: "EdDSA", priv: edPriv()} }
func allKeys() []testKey { return []testKey{esKey(), rsKey(), edKey()} }

func newEdKey(kid string) testKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKey{kid: kid, alg: "EdDSA", priv: k}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns k's public JWK as Gatehouse publishes it.
func jwkOf(k testKey) map[string]any {
	m := map[string]any{"kid": k.kid, "alg": k.alg, "use": "sig"}
	switch pub := k.priv.Public().(type) {
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64url(b[1:33]), b64url(b[33:])
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64url(pub.N.Bytes()), "AQAB"
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64url(pub)
	}
	return m
}

// signWith signs input with k's algorithm (JWS encoding of the signature).
func signWith(k testKey, input string) []byte {
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, p, d[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(nil, p, crypto.SHA256, d[:])
		if err != nil {
			panic(err)
		}
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(p, []byte(input))
	}
	panic("unknown key type")
}

// encodeToken returns header.payload.signature with sign computing the
// signature over the first two segments.
func encodeToken(header map[string]any, payload []byte, sign func(string) []byte) string {
	hb, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	input := b64url(hb) + "." + b64url(payload)
	return input + "." + b64url(sign(input))
}

// testIssuer is an httptest OpenID provider.
type testIssuer struct {
	srv      *httptest.Server
	url      string
	clock    *fakeClock
	jwksHits atomic.Int64
	jwksDown atomic.Bool // answer the JWKS with 503

	mu         sync.Mutex
	published  []testKey
	discIssuer string // issuer claimed by discovery; url when empty

	// The introspection endpoint, for API keys: the answer for each key
	// (inactive when absent), the number of calls, and a forced status.
	introspected atomic.Int64
	apiKeys      map[string]map[string]any
	introStatus  int
}

func newTestIssuer(t testing.TB, keys ...testKey) *testIssuer {
	t.Helper()
	iss := &testIssuer{published: keys, clock: &fakeClock{t: time.Unix(1_800_000_000, 0)}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		claimed := iss.discIssuer
		iss.mu.Unlock()
		if claimed == "" {
			claimed = iss.url
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": claimed, "jwks_uri": iss.url + "/jwks",
			"introspection_endpoint": iss.url + "/introspect"})
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		iss.introspected.Add(1)
		if id, secret, _ := r.BasicAuth(); id != "rs" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		iss.mu.Lock()
		status, ans := iss.introStatus, iss.apiKeys[r.PostFormValue("token")]
		iss.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if ans == nil {
			ans = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(ans)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksHits.Add(1)
		if iss.jwksDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss.mu.Lock()
		var set []map[string]any
		for _, k := range iss.published {
			set = append(set, jwkOf(k))
		}
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": set})
	})
	iss.srv = httptest.NewServer(mux)
	iss.url = iss.srv.URL
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *testIssuer) publish(k testKey) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.published = append(iss.published, k)
}

const testAudience = "https://api.example.com"

// claims returns a valid access-token claim set for iss at its clock.
func (iss *testIssuer) claims() map[string]any {
	now := iss.clock.Now().Unix()
	return map[string]any{
		"iss":       iss.url,
		"sub":       "user-42",
		"aud":       []string{"https://other.example.com", testAudience},
		"exp":       now + 300,
		"iat":       now,
		"jti":       "jti-" + b64url([]byte(iss.clock.Now().String())),
		"client_id": "client-7",
		"scope":     "openid items:read items:write",
		"roles":     []string{"admin", "editor"},
		"sid":       "sess-1",
		"email":     "ada@example.com",
		"auth_time": now - 60,
	}
}

// token signs claims with k under a standard at+jwt header; header entries
// override (a nil value removes the parameter), claim entries likewise.
func (iss *testIssuer) token(k testKey, header, claims map[string]any) string {
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	merge(h, header)
	c := iss.claims()
	merge(c, claims)
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return encodeToken(h, payload, func(in string) []byte { return signWith(k, in) })
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// verifier builds a Verifier for iss accepting all three algorithms.
func (iss *testIssuer) verifier(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := iss.config()
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func (iss *testIssuer) config() Config {
	return Config{
		Issuer:     iss.url,
		Audience:   testAudience,
		Algorithms: []string{"ES256", "RS256", "EdDSA"},
		Revocation: InsecureNoRevocation,
		Now:        iss.clock.Now,
	}
}

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

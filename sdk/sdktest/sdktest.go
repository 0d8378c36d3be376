// Package sdktest is a fake Gatehouse issuer for the tests of services
// that use the SDK, in the manner of go-oidc's oidctest.
//
// NewIssuer starts an httptest server that serves OpenID Connect Discovery
// at /.well-known/openid-configuration (its "issuer" is the server URL)
// and the key set at /.well-known/jwks.json, and signs with an ES256 key.
// Mint signs access tokens in Gatehouse's RFC 9068 profile, Revoke and its
// siblings stand in for Gatehouse's revocation list, and Config returns an
// sdk.Config that sdk.NewVerifier accepts for this issuer:
//
//	iss := sdktest.NewIssuer(t)
//	v, err := sdk.NewVerifier(ctx, iss.Config("https://api.example"))
//	tok := iss.Mint(sdktest.Claims{Subject: "user-1", Audience: "https://api.example", Roles: []string{"admin"}})
//
// The package imports only the standard library and the SDK. It is for
// tests only: its keys live in memory and it checks nothing.
package sdktest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
)

// DefaultTTL is the lifetime of a minted token when Claims.TTL is zero.
const DefaultTTL = 5 * time.Minute

// Claims describes a token to Mint. Every field is optional; a claim whose
// field is empty is left out of the token.
type Claims struct {
	Subject string // sub
	// ID is the "jti"; empty means a random one. Set it to Revoke the
	// token later.
	ID string
	// Audience is the "aud" claim: a string or a []string. Leave it empty
	// and the token has no "aud", so every Verifier refuses it. Mint
	// panics on any other type.
	Audience    any
	Scope       []string // joined with spaces into "scope"
	Roles       []string // roles
	Permissions []string // permissions
	ClientID    string   // client_id
	SID         string   // sid
	Email       string   // email
	// TTL is the time from "iat" to "exp"; zero means DefaultTTL. A
	// negative TTL mints a token that has already expired.
	TTL time.Duration
	// Extra claims are set last and override the ones above and those Mint
	// fills in (set "iss" to mint a token from another issuer, for
	// example); a nil value removes the claim.
	Extra map[string]any
}

// Issuer is a fake Gatehouse issuer. It is safe for concurrent use.
type Issuer struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    []*signingKey // every key ever used, all published; the last signs
	jwks    []byte        // the rendered key set
	revJTI  map[string]bool
	revSID  map[string]bool
	revSubs map[string]time.Time      // subject -> not-before
	apiKeys map[string]map[string]any // key -> introspection answer
}

type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
	jwk  map[string]string
}

// NewIssuer starts a fake issuer with one ES256 key. The server is closed
// by t.Cleanup. It calls t.Fatal if no key can be generated.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{revJTI: map[string]bool{}, revSID: map[string]bool{}, revSubs: map[string]time.Time{},
		apiKeys: map[string]map[string]any{}}
	if err := iss.addKey(); err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{ // a test server: a failed write fails the client
			"issuer":                                iss.URL(),
			"jwks_uri":                              iss.URL() + "/.well-known/jwks.json",
			"introspection_endpoint":                iss.URL() + "/oauth/introspect",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		body := iss.jwks
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("POST /oauth/introspect", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		ans, ok := iss.apiKeys[r.PostFormValue("token")]
		iss.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

// URL returns the issuer URL: the server's base URL, with no trailing
// slash. It is the "iss" of every minted token.
func (iss *Issuer) URL() string { return iss.srv.URL }

// Config returns a Config for sdk.NewVerifier that trusts this issuer
// for audience: Issuer is URL(), Algorithms is ES256, HTTPClient is the
// test server's client and Revocation is the issuer itself (see Revoke).
// RefreshCooldown is left at its default; see Rotate.
func (iss *Issuer) Config(audience string) sdk.Config {
	return sdk.Config{
		Issuer:     iss.URL(),
		Audience:   audience,
		Algorithms: []string{"ES256"},
		HTTPClient: iss.srv.Client(),
		Revocation: iss,
	}
}

// APIKeyConfig returns an sdk.APIKeyConfig for sdk.NewAPIKeyVerifier that
// asks this issuer about the keys made by APIKey, with the issuer itself as
// the revocation checker.
func (iss *Issuer) APIKeyConfig() sdk.APIKeyConfig {
	return sdk.APIKeyConfig{Issuer: iss.URL(), ClientID: "sdktest", ClientSecret: "sdktest",
		HTTPClient: iss.srv.Client(), Revocation: iss}
}

// APIKey makes a Gatehouse API key ("sk_" and 43 random characters) that
// the issuer's introspection endpoint reports active with c's Subject
// (also its id, the "jti" that Revoke takes), Roles, Scope and
// Permissions; Audience, TTL and Extra are ignored. It returns the key.
func (iss *Issuer) APIKey(c Claims) string {
	b := make([]byte, 32)
	rand.Read(b)
	key := "sk_" + b64(b)
	id := c.Subject
	if id == "" {
		id = "key-" + b64(b[:6])
	}
	ans := map[string]any{"active": true, "token_type": "api_key", "jti": id, "sub": id, "iss": iss.URL(),
		"scope": strings.Join(c.Scope, " ")}
	if len(c.Roles) > 0 {
		ans["roles"] = c.Roles
	}
	if len(c.Permissions) > 0 {
		ans["permissions"] = c.Permissions
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.apiKeys[key] = ans
	return key
}

// Revoke revokes the token whose "jti" is jti, as Gatehouse's /oauth/revoke
// would: Verifiers using this issuer as their sdk.Config.Revocation refuse
// it with sdk.ErrRevoked from the next call on.
func (iss *Issuer) Revoke(jti string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.revJTI[jti] = true
}

// RevokeSession revokes every token carrying "sid" sid, as a logout does.
func (iss *Issuer) RevokeSession(sid string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.revSID[sid] = true
}

// RevokeSubject revokes every token of subject sub issued before
// notBefore, as disabling a user does.
func (iss *Issuer) RevokeSubject(sub string, notBefore time.Time) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.revSubs[sub] = notBefore
}

// Revoked implements sdk.RevocationChecker with the entries made by
// Revoke, RevokeSession and RevokeSubject.
func (iss *Issuer) Revoked(_ context.Context, c *sdk.Claims) (bool, error) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	nb, sub := iss.revSubs[c.Subject]
	return iss.revJTI[c.ID] || (c.SID != "" && iss.revSID[c.SID]) || (sub && c.IssuedAt.Before(nb)), nil
}

// Rotate replaces the signing key with a new ES256 key: tokens minted
// afterwards carry the new kid. The old keys stay published, so tokens
// minted before Rotate keep verifying. A Verifier created before Rotate
// picks the new key up by refetching the JWKS when it first sees the new
// kid, which it does at most once per sdk.Config.RefreshCooldown (10 s by
// default, counted from NewVerifier): set RefreshCooldown to a small value
// in tests that rotate. Rotate panics if no key can be generated.
func (iss *Issuer) Rotate() {
	if err := iss.addKey(); err != nil {
		panic("sdktest: " + err.Error())
	}
}

// Mint returns a signed access token for c, in the RFC 9068 profile that
// Gatehouse issues: header {"alg":"ES256","kid":...,"typ":"at+jwt"}, and
// the claims of c plus "iss" (URL()), "iat" (now), "exp" (now + TTL) and a
// random "jti". It panics if c.Audience is neither a string nor a
// []string, or if c.Extra does not encode as JSON.
func (iss *Issuer) Mint(c Claims) string {
	now := time.Now()
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	jti := c.ID
	if jti == "" {
		b := make([]byte, 16)
		rand.Read(b)
		jti = b64(b)
	}
	m := map[string]any{
		"iss": iss.URL(),
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"jti": jti,
	}
	switch aud := c.Audience.(type) {
	case nil:
	case string:
		if aud != "" {
			m["aud"] = aud
		}
	case []string:
		if len(aud) > 0 {
			m["aud"] = aud
		}
	default:
		panic(fmt.Sprintf("sdktest: Claims.Audience must be a string or a []string, not %T", c.Audience))
	}
	set := func(name, v string) {
		if v != "" {
			m[name] = v
		}
	}
	set("sub", c.Subject)
	set("scope", strings.Join(c.Scope, " "))
	set("client_id", c.ClientID)
	set("sid", c.SID)
	set("email", c.Email)
	if len(c.Roles) > 0 {
		m["roles"] = c.Roles
	}
	if len(c.Permissions) > 0 {
		m["permissions"] = c.Permissions
	}
	for k, v := range c.Extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	payload, err := json.Marshal(m)
	if err != nil {
		panic("sdktest: claims: " + err.Error())
	}

	iss.mu.Lock()
	key := iss.keys[len(iss.keys)-1]
	iss.mu.Unlock()
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": key.kid, "typ": "at+jwt"})
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key.priv, digest[:])
	if err != nil {
		panic("sdktest: sign: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

// addKey generates a P-256 key, makes it the signing key and republishes
// the key set. Its kid is its RFC 7638 JWK thumbprint.
func (iss *Issuer) addKey() error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pt, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return err
	}
	x, y := b64(pt[1:33]), b64(pt[33:])
	// RFC 7638 §3.2: the required members in lexicographic order, no
	// whitespace.
	tp := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	k := &signingKey{kid: b64(tp[:]), priv: priv}
	k.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": k.kid, "alg": "ES256", "use": "sig"}

	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys = append(iss.keys, k)
	set := make([]map[string]string, 0, len(iss.keys))
	for i := len(iss.keys) - 1; i >= 0; i-- { // the current key first
		set = append(set, iss.keys[i].jwk)
	}
	iss.jwks, err = json.Marshal(map[string]any{"keys": set})
	return err
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

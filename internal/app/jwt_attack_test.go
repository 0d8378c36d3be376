package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

var b64 = base64.RawURLEncoding

func segments(t *testing.T, tok string) (hdr, payload map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&hdr, &payload} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, payload, parts[2]
}

func encodeSeg(v any) string {
	b, _ := json.Marshal(v)
	return b64.EncodeToString(b)
}

func hs256(signingInput string, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signingInput))
	return b64.EncodeToString(m.Sum(nil))
}

// rejected asserts a token is refused at introspection (active:false) and
// at userinfo (401 invalid_token).
func rejected(t *testing.T, f *ccFixture, name, tok string) {
	t.Helper()
	if m := f.introspect(t, tok, f.cc1, f.cc1Sec); len(m) != 1 || m["active"] != false {
		t.Errorf("%s: introspection %v, want only active:false", name, m)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("%s: userinfo %d %q, want 401 invalid_token", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestJWTAttacksAreRejected covers JWT-01, JWT-02, JWT-03, JWT-04, JWT-05,
// JWT-06 and DOS-05 against the server's own token checks (introspection
// and userinfo).
func TestJWTAttacksAreRejected(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	at := f.ccToken(t)
	other := f.ccToken(t, "items:write")
	hdr, payload, sig := segments(t, at)
	_, _, otherSig := segments(t, other)
	if m := f.introspect(t, at, f.cc1, f.cc1Sec); m["active"] != true {
		t.Fatal("the genuine token is not active")
	}

	cases := map[string]string{}
	// JWT-01: alg none in every spelling, with and without the signature.
	for _, alg := range []string{"none", "None", "NONE", "nOnE", ""} {
		h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": hdr["kid"]}
		input := encodeSeg(h) + "." + encodeSeg(payload)
		cases["alg="+alg+" unsigned"] = input + "."
		cases["alg="+alg+" with signature"] = input + "." + sig
	}
	// JWT-02: HS256/384/512 keyed with the public key in every encoding.
	var set jose.JSONWebKeySet
	resp, err := http.Get(f.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	keyset := set.Key(hdr["kid"].(string))
	if len(keyset) != 1 {
		t.Fatal("signing key not in JWKS")
	}
	pub := keyset[0].Key.(*ecdsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(keyset[0])
	raw, _ := pub.Bytes()
	for name, key := range map[string][]byte{"PEM": pemKey, "DER": der, "JWK": jwkJSON, "raw point": raw} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": hdr["kid"]}
			input := encodeSeg(h) + "." + encodeSeg(payload)
			cases[alg+" with public key as "+name] = input + "." + hs256(input, key)
		}
	}
	// JWT-03: changed claims keeping the signature, stripped and spliced
	// signatures.
	evil := map[string]any{}
	for k, v := range payload {
		evil[k] = v
	}
	evil["sub"], evil["roles"] = "admin", []string{"admin"}
	cases["claims changed"] = encodeSeg(hdr) + "." + encodeSeg(evil) + "." + sig
	cases["signature stripped"] = encodeSeg(hdr) + "." + encodeSeg(payload) + "."
	cases["signature spliced"] = encodeSeg(hdr) + "." + encodeSeg(payload) + "." + otherSig
	// JWT-04/JWT-03: expired beyond the leeway, and expired plus badly signed.
	now := time.Now()
	expired := jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "aud": "https://api.example", "client_id": "cc1",
		"jti": "expired-1", "iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}
	expiredTok, err := f.srv.App.keys.Sign("ES256", "at+jwt", expired)
	if err != nil {
		t.Fatal(err)
	}
	cases["expired beyond leeway"] = expiredTok
	eh, ep, _ := segments(t, expiredTok)
	cases["expired and badly signed"] = encodeSeg(eh) + "." + encodeSeg(ep) + "." + otherSig
	notYet := jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "client_id": "cc1", "jti": "nbf-1", "iat": now.Unix(),
		"nbf": now.Add(10 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
	if cases["nbf in the future"], err = f.srv.App.keys.Sign("ES256", "at+jwt", notYet); err != nil {
		t.Fatal(err)
	}
	// JWT-05: an id_token-shaped token (RS256, typ JWT) and a wrong typ.
	idLike := jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "aud": "cc1", "client_id": "cc1", "jti": "id-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if cases["id token as access token"], err = f.srv.App.keys.Sign("RS256", "JWT", idLike); err != nil {
		t.Fatal(err)
	}
	if cases["ES256 token with typ JWT"], err = f.srv.App.keys.Sign("ES256", "JWT", idLike); err != nil {
		t.Fatal(err)
	}
	// DOS-05: claims of the wrong type, signed with our own key.
	for name, bad := range map[string]any{"exp as string": "tomorrow", "exp as array": []int{1}, "exp negative": -1, "exp huge": 1e300} {
		c := jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "client_id": "cc1", "jti": "t", "iat": now.Unix(), "exp": bad}
		if tok, err := f.srv.App.keys.Sign("ES256", "at+jwt", c); err == nil {
			cases[name] = tok
		}
	}
	cases["aud as object"] = mustSign(t, f, jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "client_id": "cc1", "jti": "o",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "aud": map[string]any{"x": 1}})
	// DOS-03: a JWE (five segments) with a PBES2 count of 2^31 and a
	// DEFLATE bomb header is never decrypted, only refused.
	jwe := map[string]any{"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2147483647, "p2s": "c2FsdA", "zip": "DEF"}
	cases["JWE with huge p2c"] = encodeSeg(jwe) + ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
	cases["empty segments"] = ".."
	cases["invalid base64"] = "!!!.???.***"
	cases["100k segments"] = strings.Repeat("a.", 100_000) + "a"
	cases["deep JSON nesting"] = b64.EncodeToString([]byte(strings.Repeat("[", 100_000))) + "." + encodeSeg(payload) + "." + sig

	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if len(tok) > 60_000 {
				rejectedOversized(t, f, tok)
				return
			}
			rejected(t, f, name, tok)
		})
	}
	if m := f.introspect(t, at, f.cc1, f.cc1Sec); m["active"] != true {
		t.Fatal("the genuine token stopped working")
	}
}

// rejectedOversized asserts a token too big to read is refused before any
// parsing: 413 at introspection (body limit), 431 at userinfo (header limit).
func rejectedOversized(t *testing.T, f *ccFixture, tok string) {
	t.Helper()
	resp, body := f.post(t, "/oauth/introspect", url.Values{"token": {tok}}, f.cc1, f.cc1Sec)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "invalid_request") {
		t.Errorf("introspection: %d %s, want 413 invalid_request", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("userinfo: %d, want 431", r.StatusCode)
	}
}

func mustSign(t *testing.T, f *ccFixture, c jwt.MapClaims) string {
	t.Helper()
	tok, err := f.srv.App.keys.Sign("ES256", "at+jwt", c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWT06KeyHeadersAreNeverFetched signs with an attacker key and points
// jku/x5u at a canary: the token is refused and the canary never called.
func TestJWT06KeyHeadersAreNeverFetched(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	var hits atomic.Int32
	canary := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer canary.Close()
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: attacker.Public(), Algorithm: "ES256", Use: "sig"})
	now := time.Now()
	claims := jwt.MapClaims{"iss": f.srv.URL, "sub": "cc1", "client_id": "cc1", "jti": "atk", "aud": "https://api.example",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for name, hdr := range map[string]map[string]any{
		"jku": {"jku": canary.URL + "/jwks"},
		"x5u": {"x5u": canary.URL + "/cert"},
		"jwk": {"jwk": json.RawMessage(jwk)},
		"x5c": {"x5c": []string{"MIIB"}},
	} {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["typ"] = "at+jwt"
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(attacker)
		if err != nil {
			t.Fatal(err)
		}
		rejected(t, f, name, s)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the canary received %d requests", n)
	}
}

// TestDOS01OversizedBearer: a megabyte bearer header is refused at once
// (431), and an oversized token parameter is simply inactive.
func TestDOS01OversizedBearer(t *testing.T) {
	f := newCCFixture(t, "sqlite")
	req, _ := http.NewRequest("GET", f.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat(".", 1<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("1 MB bearer: %d, want 431", resp.StatusCode)
	}
	if m := f.introspect(t, strings.Repeat("a.", 20_000), f.cc1, f.cc1Sec); m["active"] != false {
		t.Fatalf("oversized token: %v", m)
	}
}

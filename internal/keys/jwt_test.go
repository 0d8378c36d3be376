package keys

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func headerKID(t testing.TB, token string) string {
	t.Helper()
	h := decodeHeader(t, token)
	kid, _ := h["kid"].(string)
	return kid
}

func decodeHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge assembles a token from any header and claims, signed by sign over
// the signing input (nil sign: empty signature).
func forge(header map[string]any, claims map[string]any, sign func(input string) []byte) string {
	input := b64(header) + "." + b64(claims)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// rawHeader is forge with the header given as raw JSON.
func rawHeader(header string, claims map[string]any, sign func(input string) []byte) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + b64(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

func hs256(key []byte) func(string) []byte {
	return func(input string) []byte {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(input))
		return mac.Sum(nil)
	}
}

// withKey signs with a key of the manager's snapshot through golang-jwt's
// method, so tests can put any header on a correctly signed token.
func withKey(t testing.TB, m *Manager, alg string) func(string) []byte {
	k := m.snap.Load().signers[alg]
	return func(input string) []byte {
		sig, err := k.method.Sign(input, k.private)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	clock := newFakeClock()
	secret := bytes.Repeat([]byte("s"), 32)
	asym := newTestManager(t, &memStore{}, clock, func(c *Config) { c.AccessTokenAlg = EdDSA })
	sym := newTestManager(t, &memStore{}, clock, func(c *Config) { c.AccessTokenAlg = HS256; c.HMACSecret = secret })
	es := newTestManager(t, &memStore{}, clock, nil)
	tests := []struct {
		name    string
		m       *Manager
		alg     string
		typ     string
		wantTyp string
	}{
		{"ES256 at+jwt", es, ES256, "at+jwt", "at+jwt"},
		{"RS256 id_token", es, RS256, "JWT", "JWT"},
		{"EdDSA", asym, EdDSA, "at+jwt", "at+jwt"},
		{"HS256", sym, HS256, "at+jwt", "at+jwt"},
		{"typ case-insensitive", es, ES256, "AT+JWT", "at+jwt"},
		{"typ application/ prefix on token", es, ES256, "application/at+jwt", "at+jwt"},
		{"typ application/ prefix expected", es, ES256, "at+jwt", "Application/AT+JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.m.Sign(tt.alg, tt.typ, accessClaims(clock.Now(), "jti-1"))
			if err != nil {
				t.Fatal(err)
			}
			h := decodeHeader(t, tok)
			if h["alg"] != tt.alg || h["typ"] != tt.typ {
				t.Fatalf("header = %v", h)
			}
			if tt.alg == HS256 {
				if _, ok := h["kid"]; ok {
					t.Fatalf("HS256 token has a kid: %v", h)
				}
			} else if h["kid"] != tt.m.snap.Load().signers[tt.alg].id {
				t.Fatalf("kid = %v", h["kid"])
			}
			opts := VerifyOptions{Algorithms: []string{tt.alg}, Typ: tt.wantTyp, Issuer: testIssuer, Audience: "api"}
			claims, err := tt.m.Verify(tok, opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if claims["jti"] != "jti-1" || claims["client_id"] != "web" {
				t.Fatalf("claims = %v", claims)
			}
			var typed testAccessClaims
			if err := tt.m.VerifyClaims(tok, opts, &typed); err != nil {
				t.Fatalf("VerifyClaims: %v", err)
			}
			if typed.ID != "jti-1" || typed.ClientID != "web" || typed.Subject != "user-1" {
				t.Fatalf("typed claims = %+v", typed)
			}
		})
	}
}

type testAccessClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	SID      string   `json:"sid,omitempty"`
}

func (c *testAccessClaims) GetID() string { return c.ID }

func TestSignErrors(t *testing.T) {
	m := newTestManager(t, &memStore{}, newFakeClock(), nil)
	claims := accessClaims(time.Now(), "j")
	if _, err := m.Sign(EdDSA, "at+jwt", claims); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("EdDSA without key: err = %v", err)
	}
	if _, err := m.Sign(HS256, "at+jwt", claims); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("HS256 without secret: err = %v", err)
	}
	if _, err := m.Sign("none", "at+jwt", claims); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("none: err = %v", err)
	}
	if _, err := m.Sign(ES256, "", claims); err == nil {
		t.Errorf("empty typ accepted")
	}
}

func TestVerifyRejects(t *testing.T) {
	clock := newFakeClock()
	st := &memStore{}
	m := newTestManager(t, st, clock, nil)
	now := clock.Now()
	es := m.snap.Load().signers[ES256]
	rs := m.snap.Load().signers[RS256]
	signES := withKey(t, m, ES256)

	hdr := func(extra ...any) map[string]any {
		h := map[string]any{"alg": ES256, "typ": "at+jwt", "kid": es.id}
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(h, extra[i].(string))
			} else {
				h[extra[i].(string)] = extra[i+1]
			}
		}
		return h
	}
	claims := func(extra ...any) map[string]any {
		c := map[string]any(accessClaims(now, "jti-1"))
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(c, extra[i].(string))
			} else {
				c[extra[i].(string)] = extra[i+1]
			}
		}
		return c
	}

	// Public keys in every form an attacker could feed to HMAC.
	pemOf := func(pub crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	derOf := func(pub crypto.PublicKey) []byte {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		return der
	}
	jwkOf := func(kid string) []byte {
		b, _ := json.Marshal(publicJWK(m.snap.Load().byKID[kid].public, kid, m.snap.Load().byKID[kid].alg))
		return b
	}
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rs.public.(*rsa.PublicKey))})

	good := forge(hdr(), claims(), signES)
	if _, err := m.Verify(good, accessOpts(ES256)); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	tampered := func() string {
		parts := strings.Split(good, ".")
		parts[1] = b64(claims("sub", "admin"))
		return strings.Join(parts, ".")
	}()
	big := forge(hdr(), claims("pad", strings.Repeat("x", MaxTokenSize)), signES)
	bothAlgs := func(o VerifyOptions) VerifyOptions { o.Algorithms = []string{ES256, RS256, HS256}; return o }
	withAud := func(aud string) VerifyOptions { o := accessOpts(ES256); o.Audience = aud; return o }
	withTyp := func(typ string) VerifyOptions { o := accessOpts(ES256); o.Typ = typ; return o }

	tests := []struct {
		name  string
		token string
		opts  VerifyOptions
		err   error
		// typedErr, when set, is VerifyClaims' error: a claim of the wrong
		// JSON type fails decoding into a struct before validation.
		typedErr error
	}{
		{"alg none", forge(hdr("alg", "none"), claims(), nil), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg None", forge(hdr("alg", "None"), claims(), nil), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg NONE", forge(hdr("alg", "NONE"), claims(), nil), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg nOnE", forge(hdr("alg", "nOnE"), claims(), nil), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg none no kid", forge(hdr("alg", "none", "kid", nil), claims(), nil), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg none with signature", forge(hdr("alg", "none"), claims(), signES), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg missing", forge(hdr("alg", nil), claims(), signES), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg lower case", forge(hdr("alg", "es256"), claims(), signES), accessOpts(ES256), ErrAlgorithm, nil},
		{"alg not allowed", good, accessOpts(RS256), ErrAlgorithm, nil},

		{"HS256 with ES256 PEM, alg not allowed", forge(hdr("alg", HS256), claims(), hs256(pemOf(es.public))), accessOpts(ES256), ErrAlgorithm, nil},
		{"HS256 with ES256 PEM", forge(hdr("alg", HS256), claims(), hs256(pemOf(es.public))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with ES256 DER", forge(hdr("alg", HS256), claims(), hs256(derOf(es.public))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with ES256 JWK", forge(hdr("alg", HS256), claims(), hs256(jwkOf(es.id))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with RS256 PEM", forge(hdr("alg", HS256, "kid", rs.id), claims(), hs256(pemOf(rs.public))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with RS256 PKCS1 PEM", forge(hdr("alg", HS256, "kid", rs.id), claims(), hs256(rsaPKCS1)), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with RS256 DER", forge(hdr("alg", HS256, "kid", rs.id), claims(), hs256(derOf(rs.public))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with RS256 JWK", forge(hdr("alg", HS256, "kid", rs.id), claims(), hs256(jwkOf(rs.id))), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},
		{"HS256 with JWKS document", forge(hdr("alg", HS256, "kid", nil), claims(), hs256(m.JWKS())), bothAlgs(accessOpts(ES256)), ErrUnknownKey, nil},
		{"RS256 token with ES256 kid", forge(hdr("alg", RS256), claims(), withKey(t, m, RS256)), bothAlgs(accessOpts(ES256)), ErrAlgorithm, nil},

		{"typ JWT", forge(hdr("typ", "JWT"), claims(), signES), accessOpts(ES256), ErrType, nil},
		{"typ missing", forge(hdr("typ", nil), claims(), signES), accessOpts(ES256), ErrType, nil},
		{"typ not a string", forge(hdr("typ", 1), claims(), signES), accessOpts(ES256), ErrType, nil},
		{"typ with suffix", forge(hdr("typ", "at+jwt2"), claims(), signES), accessOpts(ES256), ErrType, nil},
		{"typ id_token expected", good, withTyp("JWT"), ErrType, nil},

		{"jku header", forge(hdr("jku", "https://evil.example/jwks"), claims(), signES), accessOpts(ES256), ErrHeader, nil},
		{"jwk header", forge(hdr("jwk", json.RawMessage(jwkOf(es.id))), claims(), signES), accessOpts(ES256), ErrHeader, nil},
		{"x5u header", forge(hdr("x5u", "https://evil.example/cert"), claims(), signES), accessOpts(ES256), ErrHeader, nil},
		{"x5c header", forge(hdr("x5c", []string{"MIIB"}), claims(), signES), accessOpts(ES256), ErrHeader, nil},
		{"crit header", forge(hdr("crit", []string{"exp"}, "exp", 1), claims(), signES), accessOpts(ES256), ErrHeader, nil},

		{"missing exp", forge(hdr(), claims("exp", nil), signES), accessOpts(ES256), ErrClaims, nil},
		{"exp not a number", forge(hdr(), claims("exp", "tomorrow"), signES), accessOpts(ES256), ErrClaims, ErrMalformed},
		{"expired", forge(hdr(), claims("exp", now.Add(-time.Minute).Unix()), signES), accessOpts(ES256), ErrExpired, nil},
		{"expired beyond leeway", forge(hdr(), claims("exp", now.Add(-time.Minute).Unix()), signES), func() VerifyOptions { o := accessOpts(ES256); o.Leeway = 30 * time.Second; return o }(), ErrExpired, nil},
		{"expired beyond capped leeway", forge(hdr(), claims("exp", now.Add(-2*time.Minute).Unix()), signES), func() VerifyOptions { o := accessOpts(ES256); o.Leeway = time.Hour; return o }(), ErrExpired, nil},
		{"iat in the future", forge(hdr(), claims("iat", now.Add(time.Hour).Unix()), signES), accessOpts(ES256), ErrClaims, nil},
		{"missing iat", forge(hdr(), claims("iat", nil), signES), accessOpts(ES256), ErrClaims, nil},
		{"nbf in the future", forge(hdr(), claims("nbf", now.Add(time.Hour).Unix()), signES), accessOpts(ES256), ErrClaims, nil},
		{"wrong iss", forge(hdr(), claims("iss", "https://evil.example"), signES), accessOpts(ES256), ErrClaims, nil},
		{"missing iss", forge(hdr(), claims("iss", nil), signES), accessOpts(ES256), ErrClaims, nil},
		{"wrong aud", good, withAud("other-api"), ErrClaims, nil},
		{"missing aud", forge(hdr(), claims("aud", nil), signES), accessOpts(ES256), ErrClaims, nil},
		{"missing jti", forge(hdr(), claims("jti", nil), signES), accessOpts(ES256), ErrClaims, nil},
		{"empty jti", forge(hdr(), claims("jti", ""), signES), accessOpts(ES256), ErrClaims, nil},
		{"jti not a string", forge(hdr(), claims("jti", 7), signES), accessOpts(ES256), ErrClaims, ErrMalformed},

		{"oversized", big, accessOpts(ES256), ErrTooLarge, nil},
		{"unknown kid", forge(hdr("kid", "not-a-key"), claims(), signES), accessOpts(ES256), ErrUnknownKey, nil},
		{"no kid", forge(hdr("kid", nil), claims(), signES), accessOpts(ES256), ErrUnknownKey, nil},
		{"kid not a string", forge(hdr("kid", 5), claims(), signES), accessOpts(ES256), ErrMalformed, nil},
		{"tampered payload", tampered, accessOpts(ES256), ErrSignature, nil},
		{"signature of another key", forge(hdr(), claims(), func(in string) []byte {
			k, _ := generatePrivateKey(ES256)
			sig, _ := jwt.SigningMethodES256.Sign(in, k)
			return sig
		}), accessOpts(ES256), ErrSignature, nil},
		{"short signature", func() string {
			i := strings.LastIndexByte(good, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(good[i+1:])
			return good[:i+1] + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1])
		}(), accessOpts(ES256), ErrSignature, nil},
		{"two segments", good[:strings.LastIndexByte(good, '.')], accessOpts(ES256), ErrMalformed, nil},
		{"four segments", good + ".x", accessOpts(ES256), ErrMalformed, nil},
		{"padded base64", strings.Replace(good, ".", "=.", 1), accessOpts(ES256), ErrMalformed, nil},
		{"empty", "", accessOpts(ES256), ErrMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := m.Verify(tt.token, tt.opts)
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if claims != nil {
				t.Fatalf("claims returned with an error: %v", claims)
			}
			want := tt.err
			if tt.typedErr != nil {
				want = tt.typedErr
			}
			var typed testAccessClaims
			if err := m.VerifyClaims(tt.token, tt.opts, &typed); !errors.Is(err, want) {
				t.Fatalf("VerifyClaims err = %v, want %v", err, want)
			}
		})
	}
}

func TestVerifyHS256Mode(t *testing.T) {
	clock := newFakeClock()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	m := newTestManager(t, &memStore{}, clock, func(c *Config) { c.AccessTokenAlg = HS256; c.HMACSecret = secret })
	rs := m.snap.Load().signers[RS256]
	opts := VerifyOptions{Algorithms: []string{HS256}, Typ: "at+jwt", Issuer: testIssuer}
	h := map[string]any{"alg": HS256, "typ": "at+jwt"}
	tests := []struct {
		name  string
		token string
		err   error
	}{
		{"right secret", forge(h, accessClaims(clock.Now(), "j"), hs256(secret)), nil},
		{"wrong secret", forge(h, accessClaims(clock.Now(), "j"), hs256(bytes.Repeat([]byte{1}, 32))), ErrSignature},
		{"RS256 JWK as secret", forge(h, accessClaims(clock.Now(), "j"), hs256(m.JWKS())), ErrSignature},
		{"secret but RS256 kid", forge(map[string]any{"alg": HS256, "typ": "at+jwt", "kid": rs.id}, accessClaims(clock.Now(), "j"), hs256(secret)), ErrAlgorithm},
		// RFC 7515 §4: a header naming a member twice is refused even
		// when MACed with the right secret (issue 9, item 11).
		{"duplicate alg", rawHeader(`{"alg":"none","alg":"HS256","typ":"at+jwt"}`, accessClaims(clock.Now(), "j"), hs256(secret)), ErrMalformed},
		{"duplicate typ", rawHeader(`{"alg":"HS256","typ":"JWT","typ":"at+jwt"}`, accessClaims(clock.Now(), "j"), hs256(secret)), ErrMalformed},
		{"alg and ALG", rawHeader(`{"alg":"HS256","ALG":"HS256","typ":"at+jwt"}`, accessClaims(clock.Now(), "j"), hs256(secret)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Verify(tt.token, opts); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestVerifyOptionsRequired(t *testing.T) {
	clock := newFakeClock()
	m := newTestManager(t, &memStore{}, clock, nil)
	tok, err := m.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "j"))
	if err != nil {
		t.Fatal(err)
	}
	base := accessOpts(ES256)
	tests := []struct {
		name string
		edit func(*VerifyOptions)
	}{
		{"no algorithms", func(o *VerifyOptions) { o.Algorithms = nil }},
		{"none allowed", func(o *VerifyOptions) { o.Algorithms = []string{ES256, "none"} }},
		{"unknown algorithm", func(o *VerifyOptions) { o.Algorithms = []string{"PS256"} }},
		{"no typ", func(o *VerifyOptions) { o.Typ = "" }},
		{"no issuer", func(o *VerifyOptions) { o.Issuer = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.Algorithms = append([]string(nil), base.Algorithms...)
			tt.edit(&o)
			_, err := m.Verify(tok, o)
			if !errors.Is(err, ErrInvalidOptions) || errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalidOptions only", err)
			}
		})
	}
}

func TestVerifyLeewayAccepts(t *testing.T) {
	clock := newFakeClock()
	m := newTestManager(t, &memStore{}, clock, nil)
	tok, err := m.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "j"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(15*time.Minute + 30*time.Second)
	o := accessOpts(ES256)
	if _, err := m.Verify(tok, o); !errors.Is(err, ErrExpired) {
		t.Fatalf("without leeway: err = %v, want ErrExpired", err)
	}
	o.Leeway = time.Minute
	if _, err := m.Verify(tok, o); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	clock := newFakeClock()
	m := newTestManager(f, &memStore{}, clock, nil)
	tok, err := m.Sign(ES256, "at+jwt", accessClaims(clock.Now(), "j"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(forge(map[string]any{"alg": "none"}, map[string]any{}, nil))
	f.Add("a.b.c")
	f.Add("")
	opts := accessOpts(ES256)
	f.Fuzz(func(t *testing.T, s string) {
		claims, err := m.Verify(s, opts)
		// Only the issued claims can verify (the token text itself may
		// vary: ECDSA signatures are malleable).
		if err == nil && claims["jti"] != "j" {
			t.Fatalf("accepted claims that were not issued: %q (%v)", s, claims)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error without ErrInvalid: %v", err)
		}
	})
}

// TestSignWritesWhatGolangJWTWrites: Sign renders each key's header once
// and writes the compact serialization itself; the bytes must be the ones
// golang-jwt writes (checked where the signature is deterministic, HS256,
// and for the signing input of every algorithm), with each typ's header
// kept apart.
func TestSignWritesWhatGolangJWTWrites(t *testing.T) {
	clock := newFakeClock()
	secret := bytes.Repeat([]byte{7}, 32)
	m := newTestManager(t, &memStore{}, clock, func(c *Config) { c.AccessTokenAlg = HS256; c.HMACSecret = secret })
	claims := jwt.MapClaims{"iss": testIssuer, "sub": "<alice&bob>", "jti": "j1", "iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Minute).Unix()}
	for _, alg := range []string{HS256, ES256, RS256} {
		for _, typ := range []string{"at+jwt", "JWT", "at+jwt"} {
			got, err := m.Sign(alg, typ, claims)
			if err != nil {
				t.Fatalf("Sign(%s, %s): %v", alg, typ, err)
			}
			want := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
			want.Header["typ"] = typ
			var key any = secret
			if alg != HS256 {
				k := m.snap.Load().signers[alg]
				want.Header["kid"] = k.id
				key = k.private
			}
			input, err := want.SigningString()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, input+".") {
				t.Errorf("Sign(%s, %s) = %s, want the signing input %s", alg, typ, got, input)
			}
			if alg == HS256 {
				if w, _ := want.SignedString(key); got != w {
					t.Errorf("Sign(HS256, %s) = %s, golang-jwt %s", typ, got, w)
				}
			}
			if _, err := m.Verify(got, VerifyOptions{Algorithms: []string{alg}, Typ: typ, Issuer: testIssuer}); err != nil {
				t.Errorf("Verify(Sign(%s, %s)): %v", alg, typ, err)
			}
		}
	}
}

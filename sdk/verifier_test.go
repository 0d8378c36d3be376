package sdk

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestVerifyValid(t *testing.T) {
	iss := newTestIssuer(t, allKeys()...)
	v := iss.verifier(t, nil)
	now := iss.clock.Now()
	for _, tc := range []struct {
		name   string
		key    testKey
		header map[string]any
		claims map[string]any
	}{
		{name: "ES256", key: esKey()},
		{name: "RS256", key: rsKey()},
		{name: "EdDSA", key: edKey()},
		{name: "typ application/at+jwt", key: edKey(), header: map[string]any{"typ": "application/at+jwt"}},
		{name: "typ AT+JWT", key: edKey(), header: map[string]any{"typ": "Application/AT+JWT"}},
		{name: "aud string", key: edKey(), claims: map[string]any{"aud": testAudience}},
		{name: "expired within leeway", key: edKey(), claims: map[string]any{"exp": now.Add(-29 * time.Second).Unix()}},
		{name: "nbf within leeway", key: edKey(), claims: map[string]any{"nbf": now.Add(29 * time.Second).Unix()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), iss.token(tc.key, tc.header, tc.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Issuer != iss.url || c.Subject != "user-42" || c.ClientID != "client-7" || c.SID != "sess-1" ||
				c.Email != "ada@example.com" || !strings.HasPrefix(c.ID, "jti-") {
				t.Errorf("claims = %+v", c)
			}
			if !c.HasScope("items:read") || c.HasScope("items") || !c.HasRole("editor") || c.HasRole("root") {
				t.Errorf("scope %q roles %q", c.Scope, c.Roles)
			}
			if !slices.Contains(c.Audience, testAudience) || !c.IssuedAt.Equal(now) || !c.AuthTime.Equal(now.Add(-time.Minute)) {
				t.Errorf("aud %q iat %v auth_time %v", c.Audience, c.IssuedAt, c.AuthTime)
			}
		})
	}
}

// hmacToken forges an HS* token whose secret is some encoding of the
// issuer's public key (RFC 8725 §2.1, CVE-2015-9235).
func hmacToken(iss *testIssuer, alg, kid string, secret []byte) string {
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	payload, _ := json.Marshal(iss.claims())
	return encodeToken(map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"}, payload, func(in string) []byte {
		m := hmac.New(h, secret)
		m.Write([]byte(in))
		return m.Sum(nil)
	})
}

// rawToken signs an arbitrary payload with k under the standard header.
func rawToken(k testKey, payload string) string {
	return encodeToken(map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}, []byte(payload),
		func(in string) []byte { return signWith(k, in) })
}

// signedHeader signs a raw header (which a map cannot express, such as
// one with duplicate members) and an encoded payload with k.
func signedHeader(k testKey, header, payload64 string) string {
	input := b64url([]byte(header)) + "." + payload64
	return input + "." + b64url(signWith(k, input))
}

func replaceSegment(tok string, i int, seg string) string {
	parts := strings.Split(tok, ".")
	parts[i] = seg
	return strings.Join(parts, ".")
}

// rejectCases are the tokens Verify must refuse, each with its sentinel.
// canary receives any request a header URL would cause.
func rejectCases(t testing.TB, iss *testIssuer, canary string) []struct {
	name  string
	token string
	want  error
} {
	type tc = struct {
		name  string
		token string
		want  error
	}
	es, rs, ed := esKey(), rsKey(), edKey()
	now := iss.clock.Now()
	good := iss.token(es, nil, nil)
	parts := strings.Split(good, ".")
	claims := iss.claims()
	var cases []tc

	// JWT-01: alg none in every spelling, with and without a signature.
	for _, alg := range []string{"none", "None", "NONE", "nOnE", ""} {
		hb, _ := json.Marshal(map[string]any{"alg": alg, "kid": es.kid, "typ": "at+jwt"})
		unsigned := b64url(hb) + "." + parts[1]
		cases = append(cases,
			tc{fmt.Sprintf("JWT-01 alg %q unsigned", alg), unsigned + ".", ErrAlgorithm},
			tc{fmt.Sprintf("JWT-01 alg %q with signature", alg), unsigned + "." + parts[2], ErrAlgorithm},
		)
	}
	cases = append(cases, tc{"JWT-01 no alg", iss.token(es, map[string]any{"alg": nil}, nil), ErrAlgorithm})

	// JWT-02: HMAC keyed with the public key in every encoding, real kid.
	der, _ := x509.MarshalPKIXPublicKey(rs.priv.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(jwkOf(rs))
	ecDER, _ := x509.MarshalPKIXPublicKey(es.priv.Public())
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for name, secret := range map[string][]byte{
			"RSA PEM": pemKey, "RSA DER": der, "RSA JWK": jwkJSON, "RSA modulus": rsaPriv().N.Bytes(),
			"EC DER": ecDER, "Ed25519 raw": edPriv().Public().(ed25519.PublicKey),
		} {
			kid := rs.kid
			if strings.HasPrefix(name, "EC") {
				kid = es.kid
			} else if strings.HasPrefix(name, "Ed") {
				kid = ed.kid
			}
			cases = append(cases, tc{"JWT-02 " + alg + " " + name, hmacToken(iss, alg, kid, secret), ErrAlgorithm})
		}
	}
	cases = append(cases,
		tc{"alg of another key", iss.token(es, map[string]any{"kid": rs.kid}, nil), ErrAlgorithm},
		tc{"RS256 header on EC key", iss.token(rs, map[string]any{"kid": es.kid}, nil), ErrAlgorithm},
	)

	// JWT-03: tampering.
	adminClaims := iss.claims()
	adminClaims["sub"], adminClaims["roles"] = "root", []string{"superadmin"}
	adminPayload, _ := json.Marshal(adminClaims)
	other := iss.token(es, nil, map[string]any{"sub": "someone-else"})
	cases = append(cases,
		tc{"JWT-03 tampered payload", replaceSegment(good, 1, b64url(adminPayload)), ErrSignature},
		tc{"JWT-03 stripped signature", replaceSegment(good, 2, ""), ErrSignature},
		tc{"JWT-03 spliced signature", replaceSegment(good, 2, strings.Split(other, ".")[2]), ErrSignature},
		tc{"JWT-03 RS256 spliced signature", replaceSegment(iss.token(rs, nil, nil), 2,
			strings.Split(iss.token(rs, nil, map[string]any{"sub": "x"}), ".")[2]), ErrSignature},
		tc{"JWT-03 EdDSA tampered", replaceSegment(iss.token(ed, nil, nil), 1, b64url(adminPayload)), ErrSignature},
		tc{"JWT-03 expired and badly signed", replaceSegment(
			iss.token(es, nil, map[string]any{"exp": now.Add(-time.Hour).Unix()}), 2, parts[2]), ErrSignature},
		tc{"JWT-03 signed by an unpublished key with a real kid",
			iss.token(testKey{kid: ed.kid, alg: "EdDSA", priv: newEdKey("x").priv}, nil, nil), ErrSignature},
	)

	// JWT-04: time.
	cases = append(cases,
		tc{"JWT-04 expired beyond leeway", iss.token(es, nil, map[string]any{"exp": now.Add(-31 * time.Second).Unix()}), ErrExpired},
		tc{"JWT-04 nbf in 10 min", iss.token(es, nil, map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), ErrNotYetValid},
		tc{"iat in the future", iss.token(es, nil, map[string]any{"iat": now.Add(time.Hour).Unix()}), ErrNotYetValid},
	)

	// JWT-05: wrong audience, issuer or token type.
	cases = append(cases,
		tc{"JWT-05 aud of another API", iss.token(es, nil, map[string]any{"aud": "https://api-a.example.com"}), ErrInvalidAudience},
		tc{"JWT-05 no aud", iss.token(es, nil, map[string]any{"aud": nil}), ErrInvalidAudience},
		tc{"JWT-05 empty aud array", iss.token(es, nil, map[string]any{"aud": []string{}}), ErrInvalidAudience},
		tc{"JWT-05 id_token typ JWT", iss.token(es, map[string]any{"typ": "JWT"}, map[string]any{"aud": testAudience}), ErrType},
		tc{"JWT-05 missing typ", iss.token(es, map[string]any{"typ": nil}, nil), ErrType},
		tc{"JWT-05 typ at+jwt suffix trick", iss.token(es, map[string]any{"typ": "application/xat+jwt"}, nil), ErrType},
		tc{"wrong issuer", iss.token(es, nil, map[string]any{"iss": "https://evil.example.com"}), ErrInvalidIssuer},
		tc{"issuer with trailing slash", iss.token(es, nil, map[string]any{"iss": iss.url + "/"}), ErrInvalidIssuer},
		tc{"no issuer", iss.token(es, nil, map[string]any{"iss": nil}), ErrInvalidIssuer},
	)

	// JWT-06: key-carrying headers, signed by an attacker key they point to.
	attacker := newEdKey("attacker")
	attackerJWK := jwkOf(attacker)
	for _, kid := range []string{attacker.kid, ed.kid} {
		for name, h := range map[string]map[string]any{
			"jku":  {"jku": canary + "/jwks"},
			"x5u":  {"x5u": canary + "/cert.pem"},
			"jwk":  {"jwk": attackerJWK},
			"x5c":  {"x5c": []string{b64url([]byte("not a cert"))}},
			"crit": {"crit": []string{"exp"}},
		} {
			h["kid"] = kid
			cases = append(cases, tc{"JWT-06 " + name + " kid " + kid, iss.token(attacker, h, nil), ErrHeader})
		}
	}

	// Keys.
	cases = append(cases,
		tc{"no kid", iss.token(es, map[string]any{"kid": nil}, nil), ErrUnknownKey},
		tc{"empty kid", iss.token(es, map[string]any{"kid": ""}, nil), ErrUnknownKey},
		tc{"unknown kid", iss.token(es, map[string]any{"kid": "nope"}, nil), ErrUnknownKey},
	)

	// Required claims.
	cases = append(cases,
		tc{"no exp", iss.token(es, nil, map[string]any{"exp": nil}), ErrMalformed},
		tc{"no jti", iss.token(es, nil, map[string]any{"jti": nil}), ErrMalformed},
		tc{"empty jti", iss.token(es, nil, map[string]any{"jti": ""}), ErrMalformed},
	)

	// DOS-01 and DOS-05: hostile encodings.
	withClaim := func(name, raw string) string {
		c := map[string]json.RawMessage{}
		for k, v := range claims {
			b, _ := json.Marshal(v)
			c[k] = b
		}
		c[name] = json.RawMessage(raw)
		b, _ := json.Marshal(c)
		return rawToken(es, string(b))
	}
	cases = append(cases,
		tc{"DOS-01 1 MB of dots", strings.Repeat(".", 1<<20), ErrTooLarge},
		tc{"DOS-01 just over the limit", good + strings.Repeat("A", MaxTokenSize-len(good)+1), ErrTooLarge},
		tc{"DOS-05 exp string", withClaim("exp", `"9999999999"`), ErrMalformed},
		tc{"DOS-05 exp array", withClaim("exp", `[9999999999]`), ErrMalformed},
		tc{"DOS-05 exp 1e309", withClaim("exp", `1e309`), ErrMalformed},
		tc{"DOS-05 exp 1e300", withClaim("exp", `1e300`), ErrMalformed},
		tc{"DOS-05 exp negative", withClaim("exp", `-1`), ErrMalformed},
		tc{"DOS-05 nbf object", withClaim("nbf", `{}`), ErrMalformed},
		tc{"DOS-05 aud object", withClaim("aud", `{"a":"`+testAudience+`"}`), ErrMalformed},
		tc{"DOS-05 aud mixed array", withClaim("aud", `["`+testAudience+`",1]`), ErrMalformed},
		tc{"DOS-05 sub number", withClaim("sub", `1`), ErrMalformed},
		tc{"DOS-05 scope array", withClaim("scope", `["a"]`), ErrMalformed},
		tc{"DOS-05 payload not JSON", rawToken(es, "not json"), ErrMalformed},
		tc{"DOS-05 payload array", rawToken(es, "[1]"), ErrMalformed},
		tc{"DOS-05 payload null", rawToken(es, "null"), ErrMalformed},
		tc{"DOS-05 empty", "", ErrMalformed},
		tc{"DOS-05 two dots", "..", ErrMalformed},
		tc{"DOS-05 empty header", replaceSegment(good, 0, ""), ErrMalformed},
		tc{"DOS-05 empty payload", replaceSegment(good, 1, ""), ErrMalformed},
		tc{"DOS-05 two segments", parts[0] + "." + parts[1], ErrMalformed},
		tc{"DOS-05 four segments", good + ".x", ErrMalformed},
		tc{"DOS-05 header bad base64", replaceSegment(good, 0, "!!!"), ErrMalformed},
		tc{"DOS-05 header padded base64", replaceSegment(good, 0, parts[0]+"="), ErrMalformed},
		tc{"DOS-05 header not JSON", replaceSegment(good, 0, b64url([]byte("{"))), ErrMalformed},
		tc{"DOS-05 header array", replaceSegment(good, 0, b64url([]byte(`["alg"]`))), ErrMalformed},
		tc{"DOS-05 alg number", replaceSegment(good, 0, b64url([]byte(`{"alg":256,"kid":"es-1","typ":"at+jwt"}`))), ErrMalformed},
		tc{"DOS-05 payload bad base64", replaceSegment(good, 1, "@@"), ErrSignature},
		// RFC 7515 §4: duplicate header members are refused, even when
		// the token is correctly signed over that header (issue 9, item 11).
		tc{"duplicate alg, signed", signedHeader(es, `{"alg":"HS256","alg":"`+es.alg+`","kid":"`+es.kid+`","typ":"at+jwt"}`, parts[1]), ErrMalformed},
		tc{"duplicate kid, signed", signedHeader(es, `{"alg":"`+es.alg+`","kid":"other","kid":"`+es.kid+`","typ":"at+jwt"}`, parts[1]), ErrMalformed},
		tc{"alg and ALG, signed", signedHeader(es, `{"alg":"`+es.alg+`","ALG":"`+es.alg+`","kid":"`+es.kid+`","typ":"at+jwt"}`, parts[1]), ErrMalformed},
		tc{"DOS-05 signature bad base64", replaceSegment(good, 2, "%%"), ErrSignature},
	)
	return cases
}

func TestVerifyRejects(t *testing.T) {
	var canaryHits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { canaryHits.Add(1) }))
	defer canary.Close()
	iss := newTestIssuer(t, allKeys()...)
	v := iss.verifier(t, nil)
	for _, tc := range rejectCases(t, iss, canary.URL) {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tc.token)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidToken) || c != nil {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
		})
	}
	if n := canaryHits.Load(); n != 0 {
		t.Errorf("canary got %d requests; header URLs must never be fetched", n)
	}
	if n := iss.jwksHits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times; only the unknown kid may refetch, and the cooldown had not passed", n)
	}
}

func TestTooLargeIsNotParsed(t *testing.T) {
	iss := newTestIssuer(t, edKey())
	v := iss.verifier(t, nil)
	huge := strings.Repeat(".", 1<<20)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(context.Background(), huge); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("rejecting an oversized token allocated %v times; it must not be parsed", allocs)
	}
}

func TestLeewayIsCapped(t *testing.T) {
	iss := newTestIssuer(t, edKey())
	now := iss.clock.Now()
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		exp    time.Duration
		want   error
	}{
		{"default 30s accepts 29s", 0, -29 * time.Second, nil},
		{"default 30s rejects 31s", 0, -31 * time.Second, ErrExpired},
		{"1h capped to 60s rejects 61s", time.Hour, -61 * time.Second, ErrExpired},
		{"1h capped to 60s accepts 59s", time.Hour, -59 * time.Second, nil},
		{"negative means none", -1, -time.Second, ErrExpired},
		{"exp == now without leeway", -1, 0, ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := iss.verifier(t, func(c *Config) { c.Leeway = tc.leeway })
			_, err := v.Verify(t.Context(), iss.token(edKey(), nil, map[string]any{"exp": now.Add(tc.exp).Unix()}))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnknownKidRefetchIsSingleFlight(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, nil)
	stranger := newEdKey("")
	storm := func() {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				k := stranger
				k.kid = rand.Text()
				if _, err := v.Verify(t.Context(), iss.token(k, nil, nil)); !errors.Is(err, ErrUnknownKey) {
					t.Errorf("Verify: %v, want ErrUnknownKey", err)
				}
			})
		}
		wg.Wait()
	}
	if n := iss.jwksHits.Load(); n != 1 {
		t.Fatalf("NewVerifier fetched the JWKS %d times", n)
	}
	storm() // within the cooldown of the initial fetch
	if n := iss.jwksHits.Load(); n != 1 {
		t.Fatalf("after a storm inside the cooldown: %d JWKS fetches, want 1", n)
	}
	iss.clock.Advance(DefaultRefreshCooldown + time.Second)
	storm()
	if n := iss.jwksHits.Load(); n != 2 {
		t.Fatalf("after a storm past the cooldown: %d JWKS fetches, want 2", n)
	}
	iss.clock.Advance(DefaultRefreshCooldown / 2)
	storm()
	if n := iss.jwksHits.Load(); n != 2 {
		t.Fatalf("after a second storm inside the cooldown: %d JWKS fetches, want 2", n)
	}
}

func TestRotatedKeyIsPickedUp(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, func(c *Config) { c.RefreshCooldown = time.Minute })
	next := newEdKey("ed-2")
	iss.publish(next)
	iss.clock.Advance(time.Minute)
	tok := iss.token(next, nil, nil)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if _, err := v.Verify(t.Context(), iss.token(esKey(), nil, nil)); err != nil {
		t.Fatalf("token of the old key: %v", err)
	}
	if n := iss.jwksHits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

func TestCache(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, nil)
	tok := iss.token(esKey(), nil, nil)
	c1, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c1.Roles[0] = "mutated by the caller"
	// Drop every key: only the cache can answer now.
	empty := map[string]publicKey{}
	v.keys.keys.Store(&empty)
	c2, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if c2.Roles[0] != "admin" || c2.ID != c1.ID {
		t.Errorf("cached claims = %+v", c2)
	}
	if _, err := v.Verify(t.Context(), tok+"x"); !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrSignature) {
		t.Errorf("a different token hit the cache: %v", err)
	}
	iss.clock.Advance(5*time.Minute + DefaultLeeway)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("cached token after exp: %v, want ErrExpired", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("expired entry still cached (%d entries)", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	tc := newTokenCache(2)
	now := time.Unix(1000, 0)
	keys := []string{"a.b.1", "a.b.2", "a.b.3"}
	for _, k := range keys {
		tc.put(k, &Claims{ID: k}, now.Add(time.Hour), now)
	}
	tc.put("a.b.4", &Claims{}, now, now) // already expired: not stored
	if n := tc.len(); n != 2 {
		t.Fatalf("len = %d, want 2", n)
	}
	if tc.get(keys[0], now) != nil || tc.get(keys[1], now) == nil || tc.get(keys[2], now) == nil {
		t.Error("the oldest entry was not the one evicted")
	}
	if tc.get(keys[2], now.Add(time.Hour)) != nil {
		t.Error("expired entry returned")
	}
}

func TestNewVerifierConfig(t *testing.T) {
	iss := newTestIssuer(t, allKeys()...)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"no audience", func(c *Config) { c.Audience = "" }},
		{"no algorithms", func(c *Config) { c.Algorithms = nil }},
		{"alg none", func(c *Config) { c.Algorithms = []string{"ES256", "none"} }},
		{"HS256", func(c *Config) { c.Algorithms = []string{"HS256"} }},
		{"PS256", func(c *Config) { c.Algorithms = []string{"PS256"} }},
		{"relative issuer", func(c *Config) { c.Issuer = "/issuer" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := iss.config()
			tc.edit(&cfg)
			if _, err := NewVerifier(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewVerifier: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewVerifierDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(iss *testIssuer, cfg *Config)
	}{
		{"discovery names another issuer", func(iss *testIssuer, cfg *Config) { iss.discIssuer = "https://evil.example.com" }},
		{"discovery issuer with trailing slash", func(iss *testIssuer, cfg *Config) { iss.discIssuer = iss.url + "/" }},
		{"configured issuer with trailing slash", func(iss *testIssuer, cfg *Config) { cfg.Issuer = iss.url + "/" }},
		{"no usable key for the allowlist", func(iss *testIssuer, cfg *Config) { cfg.Algorithms = []string{"RS256"} }},
		{"unreachable", func(iss *testIssuer, cfg *Config) { cfg.Issuer = "http://127.0.0.1:1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := newTestIssuer(t, esKey(), edKey())
			cfg := iss.config()
			tc.setup(iss, &cfg)
			if v, err := NewVerifier(t.Context(), cfg); err == nil {
				t.Fatalf("NewVerifier succeeded: %v", v)
			}
		})
	}
}

func TestFetchLimits(t *testing.T) {
	var url string
	mux := http.NewServeMux()
	mux.HandleFunc("/big/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"pad":"%s"}`, url+"/big", url+"/jwks", strings.Repeat("a", maxBodySize))
	})
	mux.HandleFunc("/500/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, url+"/500", url+"/jwks")
	})
	mux.HandleFunc("/jwks404/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, url+"/jwks404", url+"/missing")
	})
	mux.HandleFunc("/badjwks/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, url+"/badjwks", url+"/badjwks/jwks")
	})
	mux.HandleFunc("/badjwks/jwks", func(w http.ResponseWriter, r *http.Request) {
		// Unusable keys only: no alg, wrong use, private part, short RSA.
		ed := jwkOf(edKey())
		noAlg := jwkOf(edKey())
		delete(noAlg, "alg")
		enc := jwkOf(edKey())
		enc["use"] = "enc"
		priv := jwkOf(edKey())
		priv["d"] = "AAAA"
		mismatch := jwkOf(edKey())
		mismatch["alg"] = "ES256"
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{noAlg, enc, priv, mismatch, ed, ed}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url = srv.URL
	for _, path := range []string{"/big", "/500", "/jwks404", "/badjwks"} {
		t.Run(path, func(t *testing.T) {
			_, err := NewVerifier(t.Context(), Config{Issuer: url + path, Audience: "a", Algorithms: []string{"EdDSA", "ES256"}})
			if err == nil {
				t.Fatal("NewVerifier succeeded")
			}
		})
	}
}

func TestJWKParsing(t *testing.T) {
	ecJWK := jwkOf(esKey())
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"EC point not on curve", func(m map[string]any) { m["y"] = m["x"] }},
		{"EC wrong curve", func(m map[string]any) { m["crv"] = "P-384" }},
		{"EC short x", func(m map[string]any) { m["x"] = "AAAA" }},
		{"kty mismatch", func(m map[string]any) { m["kty"] = "RSA" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range ecJWK {
				m[k] = v
			}
			tc.edit(m)
			b, _ := json.Marshal(m)
			var j jwk
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if _, err := j.publicKey(); err == nil {
				t.Fatal("unusable JWK accepted")
			}
		})
	}
	small, _ := json.Marshal(map[string]any{"kty": "RSA", "alg": "RS256", "n": b64url(make([]byte, 128)), "e": "AQAB"})
	var j jwk
	json.Unmarshal(small, &j)
	if _, err := j.publicKey(); err == nil {
		t.Error("1024-bit RSA key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	iss := newTestIssuer(f, allKeys()...)
	v := iss.verifier(f, nil)
	genuine := map[string]bool{}
	for _, k := range allKeys() {
		tok := iss.token(k, nil, nil)
		genuine[tok] = true
		f.Add(tok)
	}
	for _, tc := range rejectCases(f, iss, "http://127.0.0.1:1") {
		if len(tc.token) <= 2*MaxTokenSize {
			f.Add(tc.token)
		}
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.verify(context.Background(), tok, false)
		if err == nil {
			if !genuine[tok] {
				t.Fatalf("forged token verified: %q -> %+v", tok, c)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("rejection does not wrap ErrInvalidToken: %v", err)
		}
	})
}

// Headers that pass are cached by their encoded form, boundedly; headers
// that fail never are, and still fail every time.
func TestHeaderCache(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, nil)
	bad := iss.token(esKey(), map[string]any{"jku": "https://evil.example/jwks"}, nil)
	for range 2 {
		if _, err := v.Verify(t.Context(), bad); !errors.Is(err, ErrHeader) {
			t.Fatalf("jku header: %v", err)
		}
	}
	if _, err := v.Verify(t.Context(), iss.token(esKey(), nil, nil)); err != nil {
		t.Fatal(err)
	}
	if n := len(v.headers); n != 1 {
		t.Fatalf("%d cached headers, want 1", n)
	}
	for i := range 3 * maxHeaders {
		v.Verify(t.Context(), iss.token(esKey(), map[string]any{"x": i}, nil))
	}
	if n := len(v.headers); n > maxHeaders {
		t.Fatalf("%d cached headers, more than %d", n, maxHeaders)
	}
}

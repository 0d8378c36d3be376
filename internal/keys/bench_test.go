package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchAlgs lists the algorithms every benchmark covers.
func benchAlgs() []string { return []string{ES256, RS256, EdDSA, HS256} }

// benchManagers returns a manager able to sign each algorithm, on the real
// clock so the measured cost includes reading it.
func benchManagers(b *testing.B) map[string]*Manager {
	b.Helper()
	mk := func(alg string, secret []byte) *Manager {
		m, err := NewManager(b.Context(), Config{
			Store: &memStore{}, MasterKey: testMasterKey(), MaxTokenTTL: time.Hour,
			AccessTokenAlg: alg, HMACSecret: secret,
		})
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	es := mk(ES256, nil) // also holds the RS256 key
	return map[string]*Manager{
		ES256: es,
		RS256: es,
		EdDSA: mk(EdDSA, nil),
		HS256: mk(HS256, bytes.Repeat([]byte{0x5a}, 32)),
	}
}

// benchClaims is a realistic RFC 9068 access token: a user token issued to a
// web client, with scopes, roles and a session id.
func benchClaims(now time.Time) *testAccessClaims {
	return &testAccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://auth.example.com",
			Subject:   "3f1b6a2e-8c4d-4e57-9a0b-6f2d1c7e5a90",
			Audience:  jwt.ClaimStrings{"https://api.example.com"},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        "kq3Vx9sTn4bYw2LmPz7RcA",
		},
		ClientID: "web-frontend",
		Scope:    "openid profile email products:read products:write",
		Roles:    []string{"admin", "product_manager"},
		SID:      "s_9Jd2kQ7xLm4Np8Rt",
	}
}

func benchOpts(alg string) VerifyOptions {
	return VerifyOptions{
		Algorithms: []string{alg}, Typ: "at+jwt",
		Issuer: "https://auth.example.com", Audience: "https://api.example.com",
	}
}

func BenchmarkSign(b *testing.B) {
	ms := benchManagers(b)
	for _, alg := range benchAlgs() {
		b.Run(alg, func(b *testing.B) {
			m, claims := ms[alg], benchClaims(time.Now())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(alg, "at+jwt", claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	ms := benchManagers(b)
	for _, alg := range benchAlgs() {
		b.Run(alg, func(b *testing.B) {
			m := ms[alg]
			tok, err := m.Sign(alg, "at+jwt", benchClaims(time.Now()))
			if err != nil {
				b.Fatal(err)
			}
			opts := benchOpts(alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(tok, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyTyped is Verify decoding into a struct instead of a map.
func BenchmarkVerifyTyped(b *testing.B) {
	ms := benchManagers(b)
	for _, alg := range benchAlgs() {
		b.Run(alg, func(b *testing.B) {
			m := ms[alg]
			tok, err := m.Sign(alg, "at+jwt", benchClaims(time.Now()))
			if err != nil {
				b.Fatal(err)
			}
			opts := benchOpts(alg)
			b.ReportAllocs()
			for b.Loop() {
				var c testAccessClaims
				if err := m.VerifyClaims(tok, opts, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRaw measures the bare primitives over the same signing input, so
// the wrapper's overhead (JSON, base64, header and claim checks) is the
// difference from BenchmarkSign and BenchmarkVerify.
func BenchmarkRaw(b *testing.B) {
	ms := benchManagers(b)
	for _, alg := range benchAlgs() {
		m := ms[alg]
		tok, err := m.Sign(alg, "at+jwt", benchClaims(time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		input := []byte(tok[:strings.LastIndexByte(tok, '.')])
		var sign func() []byte
		var verify func(sig []byte) bool
		switch alg {
		case ES256:
			k := m.snap.Load().signers[ES256].private.(*ecdsa.PrivateKey)
			sign = func() []byte {
				d := sha256.Sum256(input)
				sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
				if err != nil {
					b.Fatal(err)
				}
				return sig
			}
			verify = func(sig []byte) bool {
				d := sha256.Sum256(input)
				return ecdsa.VerifyASN1(&k.PublicKey, d[:], sig)
			}
		case RS256:
			k := m.snap.Load().signers[RS256].private.(*rsa.PrivateKey)
			sign = func() []byte {
				d := sha256.Sum256(input)
				sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
				if err != nil {
					b.Fatal(err)
				}
				return sig
			}
			verify = func(sig []byte) bool {
				d := sha256.Sum256(input)
				return rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d[:], sig) == nil
			}
		case EdDSA:
			k := m.snap.Load().signers[EdDSA].private.(ed25519.PrivateKey)
			pub := k.Public().(ed25519.PublicKey)
			sign = func() []byte { return ed25519.Sign(k, input) }
			verify = func(sig []byte) bool { return ed25519.Verify(pub, input, sig) }
		case HS256:
			key := m.hmacSecret
			sign = func() []byte {
				mac := hmac.New(sha256.New, key)
				mac.Write(input)
				return mac.Sum(nil)
			}
			verify = func(sig []byte) bool {
				mac := hmac.New(sha256.New, key)
				mac.Write(input)
				return hmac.Equal(mac.Sum(nil), sig)
			}
		}
		b.Run(alg+"/sign", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sign()
			}
		})
		b.Run(alg+"/verify", func(b *testing.B) {
			sig := sign()
			b.ReportAllocs()
			for b.Loop() {
				if !verify(sig) {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

// BenchmarkJWKS is the cost of serving the JWK Set: one atomic load.
func BenchmarkJWKS(b *testing.B) {
	m := benchManagers(b)[ES256]
	b.ReportAllocs()
	for b.Loop() {
		if len(m.JWKS()) == 0 {
			b.Fatal("empty JWKS")
		}
	}
}

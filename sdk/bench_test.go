package sdk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify measures a full uncached verification per algorithm.
func BenchmarkVerify(b *testing.B) {
	iss := newTestIssuer(b, allKeys()...)
	v := iss.verifier(b, nil)
	ctx := context.Background()
	for _, k := range allKeys() {
		tok := iss.token(k, nil, nil)
		b.Run(k.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.verify(ctx, tok, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached measures Verify of a token seen before.
func BenchmarkVerifyCached(b *testing.B) {
	iss := newTestIssuer(b, esKey())
	v := iss.verifier(b, nil)
	ctx := context.Background()
	tok := iss.token(esKey(), nil, nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawVerify is the bare signature check over the same signing
// input, for comparison with BenchmarkVerify.
func BenchmarkRawVerify(b *testing.B) {
	iss := newTestIssuer(b, allKeys()...)
	for _, k := range allKeys() {
		tok := iss.token(k, nil, nil)
		i := strings.LastIndexByte(tok, '.')
		input := []byte(tok[:i])
		sig, err := b64(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		var verify func() bool
		switch pub := k.priv.Public().(type) {
		case *ecdsa.PublicKey:
			verify = func() bool {
				d := sha256.Sum256(input)
				return ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
			}
		case *rsa.PublicKey:
			verify = func() bool {
				d := sha256.Sum256(input)
				return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
			}
		case ed25519.PublicKey:
			verify = func() bool { return ed25519.Verify(pub, input, sig) }
		}
		b.Run(k.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("signature does not verify")
				}
			}
		})
	}
}

// benchRevocation is a FeedChecker holding 10,000 entries, as a busy
// deployment's would, without a feed behind it.
func benchRevocation() *FeedChecker {
	now := time.Now()
	s := newRevocationSet()
	var es []RevocationEntry
	for i := range 10_000 {
		kind := []string{RevokeJTI, RevokeSession, RevokeSubject}[i%3]
		es = append(es, RevocationEntry{Kind: kind, Value: fmt.Sprint(i), NotBefore: now, ExpiresAt: now.Add(time.Hour)})
	}
	s.add(es)
	fc := &FeedChecker{cfg: FeedConfig{Now: time.Now, StaleAfter: time.Hour}, set: s}
	fc.lastSync.Store(now.UnixNano())
	return fc
}

// uncached verifies every token in full, for BenchmarkMiddlewareUncached.
type uncached struct{ v *Verifier }

func (u uncached) Verify(ctx context.Context, tok string) (*Claims, error) {
	return u.v.verify(ctx, tok, false)
}

// BenchmarkMiddleware measures a request through the whole Router (path
// check, ServeMux, bearer parsing, verification, revocation check against
// 10,000 entries, policy) to a trivial handler: "cached" for a token seen
// before, "ES256" with the signature checked on every request.
func BenchmarkMiddleware(b *testing.B) {
	iss := newTestIssuer(b, esKey())
	v := iss.verifier(b, func(c *Config) { c.Now, c.Revocation = time.Now, benchRevocation() })
	tok := iss.token(esKey(), nil, map[string]any{"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	for _, bc := range []struct {
		name string
		v    TokenVerifier
	}{{"cached", v}, {"ES256", uncached{v}}} {
		rt := sampleRouter(bc.v)
		r := httptest.NewRequest("GET", "/api/admin/users", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				rt.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}

package sdk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

// BenchmarkMiddleware measures a request through the whole Router (path
// check, ServeMux, bearer parsing, cached verification, policy) to a
// trivial handler.
func BenchmarkMiddleware(b *testing.B) {
	f := newRBACFixture(b)
	if _, err := f.rt.v.Verify(context.Background(), f.admin); err != nil {
		b.Fatal(err) // warms the cache
	}
	r := httptest.NewRequest("GET", "/api/admin/users", nil)
	r.Header.Set("Authorization", "Bearer "+f.admin)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		f.rt.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

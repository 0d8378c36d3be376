package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

func mustSealer(t testing.TB, key []byte) *sealer {
	t.Helper()
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := mustSealer(t, testMasterKey())
	other := bytes.Clone(testMasterKey())
	other[0] ^= 1
	wrong := mustSealer(t, other)

	plain := []byte("pkcs#8 der goes here")
	const kid, alg = "kid-1", ES256
	sealed := s.seal(plain, kid, alg)

	if again := s.seal(plain, kid, alg); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one plaintext are equal: nonce reused")
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed blob contains the plaintext")
	}
	if sealed[0] != sealVersion {
		t.Fatalf("version byte = %d", sealed[0])
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x80
		return b
	}
	tests := []struct {
		name   string
		s      *sealer
		blob   []byte
		kid    string
		alg    string
		err    error
		expect []byte
	}{
		{"round trip", s, sealed, kid, alg, nil, plain},
		{"flipped version", s, flip(0), kid, alg, ErrSealedKey, nil},
		{"flipped nonce", s, flip(1), kid, alg, ErrSealedKey, nil},
		{"flipped ciphertext", s, flip(13), kid, alg, ErrSealedKey, nil},
		{"flipped tag", s, flip(len(sealed) - 1), kid, alg, ErrSealedKey, nil},
		{"truncated", s, sealed[:len(sealed)-1], kid, alg, ErrSealedKey, nil},
		{"too short", s, sealed[:10], kid, alg, ErrSealedKey, nil},
		{"empty", s, nil, kid, alg, ErrSealedKey, nil},
		{"moved to another kid", s, sealed, "kid-2", alg, ErrSealedKey, nil},
		{"moved to another alg", s, sealed, kid, RS256, ErrSealedKey, nil},
		{"kid/alg boundary shifted", s, sealed, "kid-1E", "S256", ErrSealedKey, nil},
		{"wrong master key", wrong, sealed, kid, alg, ErrSealedKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.open(tt.blob, tt.kid, tt.alg)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, tt.expect) {
				t.Fatalf("plaintext = %q, want %q", got, tt.expect)
			}
		})
	}
}

func TestNewSealerRejectsBadKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := newSealer(make([]byte, n)); !errors.Is(err, ErrInvalidMasterKey) {
			t.Errorf("%d-byte key: err = %v, want ErrInvalidMasterKey", n, err)
		}
	}
}

// TestThumbprintRFC7638 checks kid derivation against the example of RFC
// 7638 section 3.1.
func TestThumbprintRFC7638(t *testing.T) {
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	got, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}

func TestNewSigningKey(t *testing.T) {
	s := mustSealer(t, testMasterKey())
	now := time.Date(2025, 1, 2, 3, 4, 5, 6789, time.UTC)
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			row, err := s.newSigningKey(alg, now)
			if err != nil {
				t.Fatal(err)
			}
			if row.Algorithm != alg || row.State != store.KeyActive || !row.CreatedAt.Equal(now.Truncate(time.Microsecond)) {
				t.Fatalf("row = %+v", row)
			}
			priv, err := s.openSigningKey(row)
			if err != nil {
				t.Fatalf("openSigningKey: %v", err)
			}
			kid, err := Thumbprint(priv.Public())
			if err != nil || kid != row.ID {
				t.Fatalf("kid %s is not the thumbprint %s (%v)", row.ID, kid, err)
			}
			var jwk map[string]any
			if err := json.Unmarshal(row.PublicJWK, &jwk); err != nil {
				t.Fatal(err)
			}
			checkPublicJWK(t, jwk, alg)
			if jwk["kid"] != row.ID {
				t.Fatalf("JWK kid = %v, want %s", jwk["kid"], row.ID)
			}
			switch k := priv.(type) {
			case *ecdsa.PrivateKey:
				if k.Curve != elliptic.P256() {
					t.Fatal("not P-256")
				}
			case *rsa.PrivateKey:
				if k.N.BitLen() != 2048 {
					t.Fatalf("RSA %d bits", k.N.BitLen())
				}
			case ed25519.PrivateKey:
			default:
				t.Fatalf("unexpected key type %T", priv)
			}
		})
	}
	if _, err := s.newSigningKey(HS256, now); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Fatalf("HS256 key generation: err = %v, want ErrUnsupportedAlgorithm", err)
	}
}

// TestOpenSigningKeyRejectsInconsistentRows checks that a row whose parts do
// not belong together is refused rather than used.
func TestOpenSigningKeyRejectsInconsistentRows(t *testing.T) {
	s := mustSealer(t, testMasterKey())
	now := time.Now()
	es, err := s.newSigningKey(ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := s.newSigningKey(EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(r *store.SigningKey)
		err  error
	}{
		{"intact", func(*store.SigningKey) {}, nil},
		{"sealed part of another row", func(r *store.SigningKey) { r.SealedPrivate = ed.SealedPrivate }, ErrSealedKey},
		{"public JWK of another key", func(r *store.SigningKey) { r.PublicJWK = ed.PublicJWK }, ErrCorruptKey},
		{"public JWK not JSON", func(r *store.SigningKey) { r.PublicJWK = []byte("{") }, ErrCorruptKey},
		{"unknown algorithm", func(r *store.SigningKey) { r.Algorithm = "PS256" }, ErrUnsupportedAlgorithm},
		{"HS256 row", func(r *store.SigningKey) { r.Algorithm = HS256 }, ErrUnsupportedAlgorithm},
		{
			// Re-sealed under the right kid but claiming another algorithm:
			// the type check catches it.
			"key of another algorithm",
			func(r *store.SigningKey) {
				r.Algorithm = RS256
				der, _ := s.open(es.SealedPrivate, es.ID, ES256)
				r.SealedPrivate = s.seal(der, r.ID, RS256)
			},
			ErrCorruptKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := cloneKey(es)
			tt.edit(&row)
			if _, err := s.openSigningKey(row); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

// checkPublicJWK asserts the members of a published JWK: kid, kty, use=sig
// and alg present, nothing private or symmetric.
func checkPublicJWK(t *testing.T, jwk map[string]any, alg string) {
	t.Helper()
	for _, m := range []string{"kid", "kty", "use", "alg"} {
		if s, _ := jwk[m].(string); s == "" {
			t.Errorf("JWK lacks %q: %v", m, jwk)
		}
	}
	if jwk["use"] != "sig" {
		t.Errorf("use = %v, want sig", jwk["use"])
	}
	if jwk["alg"] != alg {
		t.Errorf("alg = %v, want %s", jwk["alg"], alg)
	}
	wantKty := map[string]string{ES256: "EC", RS256: "RSA", EdDSA: "OKP"}[alg]
	if jwk["kty"] != wantKty {
		t.Errorf("kty = %v, want %s", jwk["kty"], wantKty)
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"} {
		if _, ok := jwk[m]; ok {
			t.Errorf("JWK has private or symmetric member %q", m)
		}
	}
}

package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestSignES256VerifiesWithGolangJWT signs enough inputs that R or S is
// shorter than 32 bytes several times (1 in 128 signatures) and checks
// each signature with golang-jwt's ES256 verification.
func TestSignES256VerifiesWithGolangJWT(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		input := "header." + string(rune('a'+i%26)) + string(rune(i))
		sig, err := signES256(input, priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := jwt.SigningMethodES256.Verify(input, sig, &priv.PublicKey); err != nil {
			t.Fatalf("signature %d (%x) does not verify: %v", i, sig, err)
		}
	}
	if _, err := signES256("x", "not a key"); err == nil {
		t.Error("signES256 accepted a string as its key")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := signES256("x", p384); err == nil {
		t.Error("signES256 accepted a P-384 key")
	}
}

func TestRawSignature(t *testing.T) {
	der := func(r, s []byte) []byte {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, v := range [][]byte{r, s} {
				b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(v) })
			}
		})
		return b.BytesOrPanic()
	}
	long := append([]byte{0}, bytes.Repeat([]byte{0xff}, 32)...) // 33 bytes, the sign byte first
	got, err := rawSignature(der([]byte{5}, long), 32)
	want := append(append(bytes.Repeat([]byte{0}, 31), 5), bytes.Repeat([]byte{0xff}, 32)...)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("rawSignature(short R, padded S) = %x, %v; want %x", got, err, want)
	}
	for name, in := range map[string][]byte{
		"empty":           nil,
		"R too long":      der(append([]byte{1}, make([]byte, 32)...), []byte{1}),
		"negative S":      der([]byte{1}, []byte{0x80}),
		"trailing bytes":  append(der([]byte{1}, []byte{1}), 0),
		"one integer":     {0x30, 0x03, 0x02, 0x01, 0x01},
		"not a sequence":  {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"truncated":       der([]byte{1}, []byte{1})[:5],
		"extra integer":   {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"non-minimal int": der([]byte{0, 1}, []byte{1}),
	} {
		if got, err := rawSignature(in, 32); err == nil {
			t.Errorf("%s: rawSignature = %x, want an error", name, got)
		}
	}
}

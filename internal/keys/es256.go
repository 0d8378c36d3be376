package keys

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// signES256 returns the JWS signature of input (RFC 7518 §3.4: R and S as
// 32-byte big-endian halves). It signs with crypto/ecdsa as golang-jwt
// does, but takes R and S from the DER signature as bytes instead of
// through big.Int, which golang-jwt's method does for every token.
func signES256(input string, key any) ([]byte, error) {
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve.Params().BitSize != 256 {
		return nil, errors.New("ES256 needs a P-256 private key")
	}
	digest := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		return nil, err
	}
	return rawSignature(der, 32)
}

// rawSignature converts an ASN.1 ECDSA signature to R || S, each padded
// to size bytes.
func rawSignature(der []byte, size int) ([]byte, error) {
	var (
		seq  cryptobyte.String
		r, s []byte
	)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, v := range [][]byte{r, s} {
		// ReadASN1Integer refuses negative values and keeps the leading
		// zero a positive value may need; only the value's bytes count.
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, fmt.Errorf("ECDSA signature value of %d bytes, want at most %d", len(v), size)
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}

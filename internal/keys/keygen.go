package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

// JWS algorithms (RFC 7518 section 3.1, RFC 8037 section 3.1) Gatehouse signs
// with.
const (
	// ES256 is ECDSA on P-256 with SHA-256: the default for access tokens,
	// cheapest to sign.
	ES256 = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 on RSA-2048: always available,
	// because it is the one algorithm every OpenID Connect relying party
	// must accept for id_tokens.
	RS256 = "RS256"
	// EdDSA is Ed25519.
	EdDSA = "EdDSA"
	// HS256 is HMAC-SHA-256 with a shared secret; single-service mode only.
	// Its secret lives in configuration, never in the store or the JWKS.
	HS256 = "HS256"
)

// rsaBits is the size of generated RSA keys, and the minimum accepted when
// loading one.
const rsaBits = 2048

// Key errors.
var (
	// ErrUnsupportedAlgorithm reports an algorithm this package cannot
	// generate, store or sign with.
	ErrUnsupportedAlgorithm = errors.New("keys: unsupported algorithm")
	// ErrCorruptKey reports a stored key row that opens but does not hold
	// what the row claims (another algorithm, or a kid that is not the
	// thumbprint of its key).
	ErrCorruptKey = errors.New("keys: stored signing key is inconsistent")
)

// asymmetric reports whether alg is one of the stored, published algorithms.
func asymmetric(alg string) bool {
	return alg == ES256 || alg == RS256 || alg == EdDSA
}

// signingMethod returns golang-jwt's method for alg, or nil.
func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case ES256:
		return jwt.SigningMethodES256
	case RS256:
		return jwt.SigningMethodRS256
	case EdDSA:
		return jwt.SigningMethodEdDSA
	case HS256:
		return jwt.SigningMethodHS256
	}
	return nil
}

// generatePrivateKey returns a new private key for alg.
func generatePrivateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("%w: cannot generate %q", ErrUnsupportedAlgorithm, alg)
}

// checkKeyType verifies that priv is a key of the kind alg signs with, so a
// row cannot make, say, an RSA key sign as ES256.
func checkKeyType(alg string, priv crypto.Signer) error {
	ok := false
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		ok = alg == RS256 && k.N.BitLen() >= rsaBits
	case ed25519.PrivateKey:
		ok = alg == EdDSA
	}
	if !ok {
		return fmt.Errorf("%w: a %T is not a %s key", ErrCorruptKey, priv, alg)
	}
	return nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub (SHA-256,
// base64url without padding), which Gatehouse uses as the key's "kid".
// pub is an *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// publicJWK is the published form of a key: public parameters plus kid,
// alg and use "sig" (RFC 7517 section 4).
func publicJWK(pub crypto.PublicKey, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// newSigningKey generates a key for alg and returns it as a store row: kid
// is its thumbprint and the private half is sealed PKCS#8 DER bound to the
// row. The row is active and created at now.
func (s *sealer) newSigningKey(alg string, now time.Time) (store.SigningKey, error) {
	priv, err := generatePrivateKey(alg)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: generating %s key: %w", alg, err)
	}
	return s.signingKeyRow(alg, priv, now)
}

// signingKeyRow builds the store row for an existing private key.
func (s *sealer) signingKeyRow(alg string, priv crypto.Signer, now time.Time) (store.SigningKey, error) {
	if err := checkKeyType(alg, priv); err != nil {
		return store.SigningKey{}, err
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	pubJSON, err := json.Marshal(publicJWK(priv.Public(), kid, alg))
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encoding public JWK: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encoding private key: %w", err)
	}
	sealed := s.seal(der, kid, alg)
	clear(der)
	return store.SigningKey{
		ID:            kid,
		Algorithm:     alg,
		State:         store.KeyActive,
		PublicJWK:     pubJSON,
		SealedPrivate: sealed,
		// The store keeps microseconds; truncating here makes the value
		// we hold equal to the value read back.
		CreatedAt: now.UTC().Truncate(time.Microsecond),
	}, nil
}

// openSigningKey opens a stored row and checks it: the private key is of
// the row's algorithm, the row's kid is the thumbprint of that key, and the
// stored public JWK is that same key. Only then can the published JWK and
// the signer be trusted to match the kid tokens carry.
func (s *sealer) openSigningKey(row store.SigningKey) (crypto.Signer, error) {
	if !asymmetric(row.Algorithm) {
		return nil, fmt.Errorf("%w: key %s has algorithm %q", ErrUnsupportedAlgorithm, row.ID, row.Algorithm)
	}
	der, err := s.open(row.SealedPrivate, row.ID, row.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("keys: stored key %s (%s): %w", row.ID, row.Algorithm, err)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrCorruptKey, row.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key %s: %T is not a signer", ErrCorruptKey, row.ID, parsed)
	}
	if err := checkKeyType(row.Algorithm, priv); err != nil {
		return nil, fmt.Errorf("keys: stored key %s: %w", row.ID, err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	if kid != row.ID {
		return nil, fmt.Errorf("%w: key %s has thumbprint %s", ErrCorruptKey, row.ID, kid)
	}
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(row.PublicJWK); err != nil {
		return nil, fmt.Errorf("%w: key %s: public JWK: %w", ErrCorruptKey, row.ID, err)
	}
	if !stored.IsPublic() {
		return nil, fmt.Errorf("%w: key %s: stored public JWK is not a public key", ErrCorruptKey, row.ID)
	}
	if pkid, err := Thumbprint(stored.Key); err != nil || pkid != row.ID {
		return nil, fmt.Errorf("%w: key %s: stored public JWK is another key", ErrCorruptKey, row.ID)
	}
	return priv, nil
}

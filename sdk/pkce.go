package sdk

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
)

// PKCE is an RFC 7636 verifier and its S256 challenge. Keep Verifier secret
// (server side, or in an encrypted cookie) until the token request; send
// Challenge and ChallengeMethod in the authorization request.
type PKCE struct {
	Verifier        string
	Challenge       string
	ChallengeMethod string
}

// NewPKCE returns a fresh verifier of 43 characters (256 bits of entropy,
// RFC 7636 §4.1) with its S256 challenge. The "plain" method is never used:
// it gives no protection if the authorization request leaks.
func NewPKCE() (PKCE, error) {
	v, err := randomString(32)
	if err != nil {
		return PKCE{}, err
	}
	return PKCE{Verifier: v, Challenge: S256Challenge(v), ChallengeMethod: "S256"}, nil
}

// S256Challenge returns BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ErrBadVerifier reports a code_verifier outside RFC 7636 §4.1's syntax.
var ErrBadVerifier = errors.New("sdk: code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")

// VerifyS256 reports whether verifier matches challenge, in constant time.
// It rejects verifiers that break RFC 7636 §4.1 (length 43 to 128, unreserved
// characters only) so a challenge string replayed as its own verifier, or a
// truncated value, never matches by accident.
func VerifyS256(verifier, challenge string) (bool, error) {
	if !ValidVerifier(verifier) {
		return false, ErrBadVerifier
	}
	got := S256Challenge(verifier)
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1, nil
}

// ValidVerifier reports whether v has RFC 7636 §4.1 syntax.
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

// NewState returns an unguessable "state" value (256 bits) to bind an
// authorization response to the browser that started it (RFC 6749 §10.12).
func NewState() (string, error) { return randomString(32) }

// NewNonce returns an unguessable id_token "nonce" (256 bits) to bind an
// id_token to the browser session (OpenID Connect Core §15.5.2).
func NewNonce() (string, error) { return randomString(32) }

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

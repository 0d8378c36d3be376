package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// ValidPKCEValue reports whether v has the syntax RFC 7636 §4.1 gives
// code_verifier (and §4.2 gives an S256 code_challenge): 43 to 128
// characters of [A-Za-z0-9-._~].
func ValidPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

// VerifyPKCE reports whether verifier matches an S256 challenge (RFC 7636
// §4.6), in constant time. A malformed verifier never matches.
func VerifyPKCE(verifier, challenge string) bool {
	if !ValidPKCEValue(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

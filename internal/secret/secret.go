// Package secret generates and compares the random secrets Gatehouse hands
// out: client secrets, authorization codes, refresh tokens, session cookies
// and identifiers.
//
// Every generated secret carries 256 bits from crypto/rand. Because such
// values cannot be guessed or brute-forced, storing their SHA-256 is enough
// (no salt, no slow hash): a stolen database reveals nothing usable, and a
// lookup by hash stays one indexed query. Human-chosen passwords are a
// different matter: Argon2 hashes them with argon2id (package login adds
// the password policy), and API keys too when no pepper is configured.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// TokenBytes is the entropy of every generated secret.
const TokenBytes = 32

// Token returns a new 256-bit random secret as 43 base64url characters.
func Token() string { return encode(TokenBytes) }

// ID returns a new 128-bit random identifier as 22 base64url characters:
// unguessable but not a credential (client ids, session ids, jti).
func ID() string { return encode(16) }

func encode(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// Hash returns the SHA-256 of a generated secret, the form in which it is
// stored and looked up.
func Hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Matches reports whether presented hashes to stored, in constant time with
// respect to the contents.
func Matches(presented string, stored []byte) bool {
	return len(stored) == sha256.Size && Equal(Hash(presented), stored)
}

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
	"time"
)

// TokenBytes is the entropy of every generated secret.
const TokenBytes = 32

// Token returns a new 256-bit random secret as 43 base64url characters.
func Token() string { return encode(TokenBytes) }

// ID returns a new 128-bit random identifier as 22 base64url characters:
// unguessable but not a credential (client ids, session ids, jti).
func ID() string { return encode(16) }

func encode(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// orderedEncoding is base64 with its alphabet in ASCII order, so that
// encoded strings sort as the bytes they encode. Its characters are RFC
// 3986's unreserved ones less "-" and ".": a value never starts with "-"
// (which command lines take for a flag), and for the next decades every
// ordered value starts with "0".
var orderedEncoding = base64.NewEncoding("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~").WithPadding(base64.NoPadding)

// OrderedID returns a new 128-bit identifier, 22 URL-safe characters,
// that sorts by creation time: 48 bits of Unix milliseconds, then 80
// random bits. It is for rows written at a high rate and keyed by their
// id (jti): consecutive ids land in the same index pages, so each group
// commit writes a few pages instead of one per row. It is unique, not
// unguessable, and tells when it was made.
func OrderedID() string {
	return orderedEncoding.EncodeToString(orderedBytes(16, time.Now()))
}

// orderedPrefixLen is the length of OrderedToken's time prefix: 48 bits
// in orderedEncoding.
const orderedPrefixLen = 8

// OrderedToken returns a new 256-bit random secret behind a prefix that
// tells when it was made (Unix milliseconds, 8 characters): 51 URL-safe
// characters. Its stored form is OrderedHash, not Hash.
func OrderedToken() string {
	return orderedEncoding.EncodeToString(orderedBytes(6, time.Now())) + Token()
}

// OrderedHash returns the form in which a token of OrderedToken is stored
// and looked up: its 6-byte time prefix, then its SHA-256. Rows keyed by it
// are appended in time order, so a group commit that writes many of them
// writes a few index pages, not one per token (SHA-256 alone scatters them
// over the whole index). Any other string, such as a token of Token made
// before OrderedToken existed, gets its plain Hash, so both kinds are found
// by the one lookup. The prefix reveals only when the token was made.
func OrderedHash(s string) []byte {
	if len(s) != orderedPrefixLen+encodedTokenLen {
		return Hash(s)
	}
	prefix, err := orderedEncoding.DecodeString(s[:orderedPrefixLen])
	if err != nil {
		return Hash(s)
	}
	sum := sha256.Sum256([]byte(s))
	return append(prefix, sum[:]...)
}

// encodedTokenLen is the length of Token's result.
var encodedTokenLen = base64.RawURLEncoding.EncodedLen(TokenBytes)

// orderedBytes returns n bytes: t's Unix milliseconds as a 48-bit
// big-endian number, then n-6 random bytes.
func orderedBytes(n int, t time.Time) []byte {
	b := randomBytes(n)
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return b
}

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

// Package apikey issues and verifies API keys: long-lived credentials for
// machines, presented as "sk_" followed by at least 32 random bytes in
// base64url (no padding).
//
// A key is shown once, when created. The store keeps a lookup prefix (the
// first PrefixLen characters of the random part) and a hash of the whole
// key, never the key (RFC 6819 §5.1.4.1.3; OWASP ASVS 11.4): argon2id by
// default, or HMAC-SHA-256 under a pepper the server holds outside the
// database, which costs microseconds instead of tens of milliseconds and,
// since the key carries 256 random bits, is no easier to brute-force.
//
// Verification looks the prefix up, compares hashes in constant time, and
// answers every failure (malformed, unknown, wrong secret, expired,
// revoked) with the one error ErrInvalidKey, after the same work for an
// unknown prefix as for a wrong secret. Failures are throttled per prefix
// and per client address; successes are cached for at most one second so
// that a busy key costs a map lookup rather than a hash and a query, while
// a revocation on any node still takes effect everywhere within a second.
//
// Where a key is accepted on the wire (the Authorization header, never a
// query string) is the HTTP layer's concern.
package apikey

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Key format.
const (
	// KeyPrefix starts every key; it lets secret scanners spot leaked keys.
	KeyPrefix = "sk_"
	// RandomBytes is the entropy of a generated key.
	RandomBytes = 32
	// PrefixLen is how many characters of the random part are stored in
	// clear to find the key (48 bits; the remaining 208 bits are secret).
	PrefixLen = 8

	minRandomLen = (RandomBytes*8 + 5) / 6 // 43 base64url characters
	maxRandomLen = (64*8 + 5) / 6          // keys of up to 64 random bytes
)

// generate returns a new key and its lookup prefix.
func generate() (key, prefix string) {
	b := make([]byte, RandomBytes)
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b)
	r := base64.RawURLEncoding.EncodeToString(b)
	return KeyPrefix + r, r[:PrefixLen]
}

// parse returns the lookup prefix of a well-formed key: "sk_" (exactly,
// case-sensitively) and 43 to 86 characters of the base64url alphabet,
// nothing around them.
func parse(key string) (prefix string, ok bool) {
	r, found := strings.CutPrefix(key, KeyPrefix)
	if !found || len(r) < minRandomLen || len(r) > maxRandomLen {
		return "", false
	}
	for i := range len(r) {
		c := r[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return r[:PrefixLen], true
}

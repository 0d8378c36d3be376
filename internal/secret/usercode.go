package secret

import (
	"crypto/rand"
	"strings"
)

// UserCodeAlphabet is the 20 consonants of user codes: no vowels (no
// words), and none of the letters easily mistaken for another or for a
// digit (RFC 8628 §6.1).
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the number of characters of a user code: 20^8, about
// 2^34.6 codes, which with throttled entry and a short lifetime resists
// guessing (RFC 8628 §5.1).
const UserCodeLen = 8

// UserCode returns a new user code as the user types it: XXXX-XXXX.
func UserCode() string {
	var b [UserCodeLen]byte
	for i := 0; i < UserCodeLen; {
		var r [16]byte
		_, _ = rand.Read(r[:])
		for _, x := range r {
			// 240 is the largest multiple of 20 below 256: rejecting the
			// rest keeps every letter equally likely.
			if x < 240 && i < UserCodeLen {
				b[i] = UserCodeAlphabet[x%20]
				i++
			}
		}
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// NormalizeUserCode returns the canonical form of a user code as typed:
// upper case, without dashes or spaces. ok is false when the result is not
// UserCodeLen letters of UserCodeAlphabet, so that no lookup is made for it.
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

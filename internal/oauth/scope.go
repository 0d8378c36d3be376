package oauth

import (
	"slices"
	"strings"
)

// ValidScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// one or more of %x21 / %x23-5B / %x5D-7E.
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// ParseScope splits a space-delimited scope parameter (RFC 6749 §3.3) into
// distinct tokens in order. It returns an invalid_scope error for a token
// outside the allowed characters.
func ParseScope(s string) ([]string, error) {
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		if !ValidScopeToken(tok) {
			return nil, NewError(CodeInvalidScope, "the scope parameter is malformed")
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// JoinScope renders scopes as a space-delimited parameter.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }

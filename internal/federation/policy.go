// Package federation implements workload identity federation: a workload
// (a CI job, a Kubernetes pod, a service of another Gatehouse) proves who it
// is with the OpenID Connect token its platform gives it, and gets a
// short-lived Gatehouse access token, with no secret stored anywhere (RFC
// 8693 token exchange, RFC 7523 JWT bearer grant).
//
// A trust policy (store.FederationPolicy) names an external issuer, how its
// keys are found, the audience its tokens must carry and the claim
// conditions they must meet, and what a matching token gets. Validation is
// strict (RFC 8725): an algorithm allowlist per policy (asymmetric only, so
// never "none" and never an HMAC keyed with a public key), exp required and
// bounded by the policy's maximum lifetime, nbf and iat within a minute of
// skew, single use of each jti unless the policy allows reuse, and no key
// ever taken from the token itself (jwk, jku, x5u, x5c). Keys are fetched
// through an SSRF guard: https only (plain http to loopback when the policy
// allows private addresses), no connection to loopback, private or
// link-local addresses unless allowed, bodies of at most 1 MiB, 5 s per
// request, refetches for unknown key ids at most once per 10 s per issuer,
// and the last good keys kept through an outage of up to a day.
package federation

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Limits and defaults of policies.
const (
	// DefaultMaxLifetime bounds exp - iat of external tokens when a policy
	// sets none: a day covers Kubernetes' and CI platforms' tokens, which
	// live from minutes to an hour.
	DefaultMaxLifetime = 24 * time.Hour
	// MaxMaxLifetime is the most a policy may allow.
	MaxMaxLifetime = 366 * 24 * time.Hour
	// MaxTokenTTL caps what a policy may give issued tokens.
	MaxTokenTTL = 12 * time.Hour
)

// DefaultAlgorithms is the allowlist of a policy that names none.
func DefaultAlgorithms() []string { return []string{"RS256", "ES256"} }

// SupportedAlgorithms are the asymmetric JWS algorithms a policy may allow.
func SupportedAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// ErrInvalidPolicy reports a policy that Validate refuses.
var ErrInvalidPolicy = errors.New("federation: invalid policy")

// Normalize fills a policy's defaults and reports every problem at once,
// wrapped in ErrInvalidPolicy.
func Normalize(p store.FederationPolicy) (store.FederationPolicy, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	p.Name = strings.TrimSpace(p.Name)
	if !validName(p.Name) {
		bad("name must be 1-64 letters, digits, '.', '_' or '-', got %q", p.Name)
	}
	if err := validIssuerURL(p.Issuer, p.AllowPrivateNetwork); err != nil {
		bad("issuer: %v", err)
	}
	if p.JWKSURI != "" && len(p.JWKS) > 0 {
		bad("set jwks_uri or jwks, not both")
	}
	if p.JWKSURI != "" {
		if err := validFetchURL(p.JWKSURI, p.AllowPrivateNetwork); err != nil {
			bad("jwks_uri: %v", err)
		}
	}
	if len(p.JWKS) > 0 {
		if _, err := parseKeySet(p.JWKS); err != nil {
			bad("jwks: %v", err)
		}
	}
	if p.Audience == "" || !store.ValidText(p.Audience) {
		bad("audience is required: the aud the external tokens must carry")
	}
	if len(p.Algorithms) == 0 {
		p.Algorithms = DefaultAlgorithms()
	}
	for _, a := range p.Algorithms {
		if !slices.Contains(SupportedAlgorithms(), a) {
			bad("algorithm %q is not allowed (asymmetric only: %s)", a, strings.Join(SupportedAlgorithms(), ", "))
		}
	}
	for claim, pattern := range p.Conditions {
		if claim == "" || !store.ValidText(claim) || !store.ValidText(pattern) {
			bad("conditions: claim names and values must be non-empty text")
			continue
		}
	}
	if p.Subject == "" {
		p.Subject = p.Name + ":{sub}"
	}
	if !store.ValidText(p.Subject) || len(p.Subject) > 255 {
		bad("subject must be text of at most 255 characters")
	}
	if len(p.Audiences) == 0 {
		bad("audiences is required: the APIs the issued tokens are for")
	}
	for _, list := range [][]string{p.Roles, p.Scopes, p.Audiences} {
		for _, v := range list {
			if v == "" || strings.ContainsAny(v, " \"\\") || !store.ValidText(v) {
				bad("roles, scopes and audiences must be non-empty and without spaces, quotes or backslashes, got %q", v)
			}
		}
	}
	if p.TokenTTL < 0 || p.TokenTTL > MaxTokenTTL {
		bad("token_ttl must be between 0 (the access-token lifetime) and %s", MaxTokenTTL)
	}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = DefaultMaxLifetime
	}
	if p.MaxLifetime < 0 || p.MaxLifetime > MaxMaxLifetime {
		bad("max_lifetime must be between 0 (default %s) and %s", DefaultMaxLifetime, MaxMaxLifetime)
	}
	if len(problems) > 0 {
		return p, fmt.Errorf("%w: %s", ErrInvalidPolicy, strings.Join(problems, "; "))
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// validIssuerURL accepts an https URL, or http to a loopback host when
// private addresses are allowed (dev and tests), without query or
// fragment.
func validIssuerURL(s string, allowPrivate bool) error {
	if err := validFetchURL(s, allowPrivate); err != nil {
		return err
	}
	if u, _ := url.Parse(s); u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// validFetchURL is what keys may be fetched from: https, or plain http to
// a loopback host when the policy allows private addresses.
func validFetchURL(s string, allowPrivate bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || !store.ValidText(s):
		return fmt.Errorf("not an absolute URL: %q", s)
	case u.User != nil:
		return errors.New("must not contain user info")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowPrivate && isLoopbackName(u.Hostname()):
		return nil
	}
	return fmt.Errorf("must be https (plain http only to loopback with allow_private_network), got %q", s)
}

// SubjectFor is the sub of a token issued under p for external subject sub.
func SubjectFor(p store.FederationPolicy, sub string) string {
	return strings.ReplaceAll(p.Subject, "{sub}", sub)
}

// conditionsMet reports whether claims meet every condition of p, and
// names the first that fails.
func conditionsMet(p store.FederationPolicy, claims map[string]any) (bool, string) {
	names := make([]string, 0, len(p.Conditions))
	for n := range p.Conditions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		v, ok := claimValue(claims, name)
		if !ok {
			return false, name
		}
		if !globMatch(p.Conditions[name], v) {
			return false, name
		}
	}
	return true, ""
}

// claimValue returns the string value of a claim by name, or by a path of
// /-separated names into nested objects (kubernetes.io/namespace), or ""
// and false when there is no such string. Numbers and booleans are not
// conditions' business: a condition is on text.
func claimValue(claims map[string]any, name string) (string, bool) {
	if v, ok := claims[name]; ok {
		s, isString := v.(string)
		return s, isString
	}
	var cur any = claims
	for _, seg := range strings.Split(name, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[seg]; !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok
}

// globMatch reports whether s matches pattern, where * stands for any run
// of characters (slashes included: "repo:acme/*" matches every ref of every
// acme repository) and ? for exactly one; every other character stands for
// itself. A pattern without * or ? is an exact comparison.
func globMatch(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the verified claims of a Gatehouse access token (RFC 9068 §2.2
// plus Gatehouse's client_id, scope, roles, permissions, sid, email and
// auth_time).
// Zero time values mean the claim was absent.
type Claims struct {
	Issuer      string    // iss
	Subject     string    // sub: the user id, or the client id for client_credentials
	Audience    []string  // aud
	ExpiresAt   time.Time // exp
	IssuedAt    time.Time // iat
	NotBefore   time.Time // nbf
	ID          string    // jti
	ClientID    string    // client_id
	Scope       []string  // scope, split on spaces
	Roles       []string  // roles
	Permissions []string  // permissions: an array of strings
	SID         string    // sid: the browser session (user grants only)
	Email       string    // email, when the email scope was granted
	AuthTime    time.Time // auth_time
	// APIKey is set when the caller authenticated with an API key
	// (AcceptAPIKeys) rather than an access token; ID and Subject are
	// then the key's id.
	APIKey bool
}

// HasScope reports whether the token was granted scope s.
func (c *Claims) HasScope(s string) bool { return c != nil && slices.Contains(c.Scope, s) }

// HasRole reports whether the token carries role r.
func (c *Claims) HasRole(r string) bool { return c != nil && slices.Contains(c.Roles, r) }

// HasPermission reports whether the token's "permissions" claim grants p:
// it holds p itself, or a "resource:action" permission whose "*" segment
// stands for that whole segment of p ("products:*", "*:read", "*:*"). A
// wildcard only ever matches a whole segment, and p itself must not
// contain one.
func (c *Claims) HasPermission(p string) bool {
	if c == nil || p == "" || strings.Contains(p, "*") {
		return false
	}
	return slices.ContainsFunc(c.Permissions, func(g string) bool { return permissionGrants(g, p) })
}

func permissionGrants(granted, wanted string) bool {
	if granted == wanted {
		return true
	}
	gr, ga, ok1 := strings.Cut(granted, ":")
	wr, wa, ok2 := strings.Cut(wanted, ":")
	if !ok1 || !ok2 || gr == "" || ga == "" || wr == "" || wa == "" || strings.Contains(ga, ":") || strings.Contains(wa, ":") {
		return false
	}
	return (gr == "*" || gr == wr) && (ga == "*" || ga == wa)
}

// clone returns a copy whose slices the caller may modify without touching
// the cached original.
func (c *Claims) clone() *Claims {
	d := *c
	d.Audience = slices.Clone(c.Audience)
	d.Scope = slices.Clone(c.Scope)
	d.Roles = slices.Clone(c.Roles)
	d.Permissions = slices.Clone(c.Permissions)
	return &d
}

// rawClaims is the wire form. Strings decode strictly (a number where a
// string belongs is an error); times and aud are decoded by hand.
type rawClaims struct {
	Iss      *string     `json:"iss"`
	Sub      string      `json:"sub"`
	Aud      audience    `json:"aud"`
	Exp      numericDate `json:"exp"`
	Iat      numericDate `json:"iat"`
	Nbf      numericDate `json:"nbf"`
	Jti      string      `json:"jti"`
	ClientID string      `json:"client_id"`
	Scope    string      `json:"scope"`
	Roles    []string    `json:"roles"`
	Perms    []string    `json:"permissions"`
	SID      string      `json:"sid"`
	Email    string      `json:"email"`
	AuthTime numericDate `json:"auth_time"`
}

// audience and numericDate decode in place, during the one pass over the
// claims, instead of being copied out as raw JSON and decoded again.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	v, err := parseAudience(b)
	*a = v
	return err
}

type numericDate time.Time

func (d *numericDate) UnmarshalJSON(b []byte) error {
	t, err := parseNumericDate(b)
	if err != nil {
		return fmt.Errorf("not a NumericDate: %w", err)
	}
	*d = numericDate(t)
	return nil
}

// maxNumericDate is 9999-12-31T23:59:59Z; larger values are not dates.
const maxNumericDate = 253402300799

// parseClaims decodes a payload into Claims, checking types only; the
// values are checked by Verifier.checkClaims.
func parseClaims(payload []byte) (*Claims, error) {
	if p := bytes.TrimSpace(payload); len(p) == 0 || p[0] != '{' {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	}
	var r rawClaims
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	c := &Claims{
		Subject:     r.Sub,
		ID:          r.Jti,
		ClientID:    r.ClientID,
		Scope:       strings.Fields(r.Scope),
		Roles:       r.Roles,
		Permissions: r.Perms,
		SID:         r.SID,
		Email:       r.Email,
	}
	if r.Iss != nil {
		c.Issuer = *r.Iss
	}
	c.Audience = r.Aud
	c.ExpiresAt, c.IssuedAt = time.Time(r.Exp), time.Time(r.Iat)
	c.NotBefore, c.AuthTime = time.Time(r.Nbf), time.Time(r.AuthTime)
	return c, nil
}

// parseAudience accepts a string or an array of strings (RFC 7519 §4.1.3).
func parseAudience(raw []byte) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("%w: aud: %w", ErrMalformed, err)
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%w: aud is neither a string nor an array of strings", ErrMalformed)
	}
	return many, nil
}

// parseNumericDate accepts a JSON number of seconds since the epoch between
// 0 and year 9999 (RFC 7519 §2 NumericDate). Absent or null is the zero
// time; strings, arrays, negative and huge values are errors.
func parseNumericDate(raw []byte) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	// The raw bytes are a valid JSON value (the decoder checked); a JSON
	// number is all strconv needs, and strings, arrays and objects fail
	// it. (ParseFloat alone would also take "Inf", "NaN" and hex, which
	// are not JSON numbers.)
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return time.Time{}, fmt.Errorf("not a number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

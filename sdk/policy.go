package sdk

import (
	"fmt"
	"slices"
	"strings"
)

// Policy is the authorisation rule of one route. It is built only by the
// constructors below; the zero Policy is invalid and Router.Handle panics
// on it, so a route cannot be registered without a decision about who may
// call it. Policies are immutable and safe for concurrent use.
//
// Every policy other than Public first requires a bearer token that the
// router's TokenVerifier accepts (401 otherwise); the policy then decides
// whether the verified claims may use the route (403 otherwise).
type Policy struct {
	n *policyNode
}

type policyKind int

const (
	kindPublic policyKind = iota + 1
	kindAuthenticated
	kindRoles
	kindScopes
	kindPermissions
	kindAllOf
	kindAnyOf
)

type policyNode struct {
	kind   policyKind
	values []string // roles, scopes or permissions
	subs   []Policy // AllOf and AnyOf
	scopes []string // every scope named in the tree, for the 403 challenge
}

// Public lets anyone call the route: no token is read or checked and
// ClaimsFrom reports false in its handler. Public cannot be combined with
// AllOf or AnyOf (they panic), since a combination containing it would
// either mean Public or be misleading.
func Public() Policy { return Policy{&policyNode{kind: kindPublic}} }

// Authenticated requires a valid access token and nothing more.
func Authenticated() Policy { return Policy{&policyNode{kind: kindAuthenticated}} }

// RequireRoles requires a valid access token whose "roles" claim holds at
// least one of roles. It panics if roles is empty or holds "".
func RequireRoles(roles ...string) Policy {
	return Policy{&policyNode{kind: kindRoles, values: checkNames("RequireRoles", roles)}}
}

// RequireScopes requires a valid access token granted every one of scopes
// (the space-separated "scope" claim). The 403 challenge names them in its
// scope attribute (RFC 6750 §3). It panics if scopes is empty or holds ""
// or a value with a space.
func RequireScopes(scopes ...string) Policy {
	s := checkNames("RequireScopes", scopes)
	for _, v := range s {
		if strings.ContainsAny(v, " \t\"\\") {
			panic(fmt.Sprintf("sdk: RequireScopes: invalid scope %q", v))
		}
	}
	return Policy{&policyNode{kind: kindScopes, values: s, scopes: s}}
}

// RequirePermissions requires a valid access token whose "permissions"
// claim grants every one of perms (see Claims.HasPermission for
// wildcards). It panics if perms is empty, or holds "" or a "*".
func RequirePermissions(perms ...string) Policy {
	ps := checkNames("RequirePermissions", perms)
	for _, p := range ps {
		if strings.Contains(p, "*") {
			panic(fmt.Sprintf("sdk: RequirePermissions: %q: a required permission cannot be a wildcard", p))
		}
	}
	return Policy{&policyNode{kind: kindPermissions, values: ps}}
}

// AllOf requires a valid access token that satisfies every one of ps. It
// panics if ps is empty or holds the zero Policy or Public.
func AllOf(ps ...Policy) Policy { return combine(kindAllOf, "AllOf", ps) }

// AnyOf requires a valid access token that satisfies at least one of ps.
// It panics if ps is empty or holds the zero Policy or Public.
func AnyOf(ps ...Policy) Policy { return combine(kindAnyOf, "AnyOf", ps) }

func checkNames(fn string, names []string) []string {
	if len(names) == 0 {
		panic("sdk: " + fn + " needs at least one value")
	}
	if slices.Contains(names, "") {
		panic("sdk: " + fn + ": empty value")
	}
	return slices.Clone(names)
}

func combine(kind policyKind, fn string, ps []Policy) Policy {
	if len(ps) == 0 {
		panic("sdk: " + fn + " needs at least one policy")
	}
	n := &policyNode{kind: kind, subs: slices.Clone(ps)}
	for _, p := range ps {
		if p.n == nil {
			panic("sdk: " + fn + ": zero Policy (use a constructor such as Authenticated)")
		}
		if p.n.kind == kindPublic {
			panic("sdk: " + fn + ": Public cannot be combined with other policies")
		}
		for _, s := range p.n.scopes {
			if !slices.Contains(n.scopes, s) {
				n.scopes = append(n.scopes, s)
			}
		}
	}
	return Policy{n}
}

// IsZero reports whether p is the zero Policy, which cannot be registered.
func (p Policy) IsZero() bool { return p.n == nil }

// public reports whether p lets unauthenticated requests through.
func (p Policy) public() bool { return p.n != nil && p.n.kind == kindPublic }

// allows reports whether verified claims c satisfy p. The zero Policy
// allows nothing.
func (p Policy) allows(c *Claims) bool {
	if p.n == nil || c == nil {
		return false
	}
	switch p.n.kind {
	case kindPublic, kindAuthenticated:
		return true
	case kindRoles:
		return slices.ContainsFunc(p.n.values, c.HasRole)
	case kindScopes:
		for _, s := range p.n.values {
			if !c.HasScope(s) {
				return false
			}
		}
		return true
	case kindPermissions:
		for _, s := range p.n.values {
			if !c.HasPermission(s) {
				return false
			}
		}
		return true
	case kindAllOf:
		for _, q := range p.n.subs {
			if !q.allows(c) {
				return false
			}
		}
		return true
	case kindAnyOf:
		return slices.ContainsFunc(p.n.subs, func(q Policy) bool { return q.allows(c) })
	}
	return false
}

// maxRequirement bounds the 403 error_description, which also travels in
// the WWW-Authenticate header.
const maxRequirement = 300

// requirement describes, for the error_description of a 403, what p asks
// of a token: "requires the permission 'clients:write'", "requires one of
// the roles 'admin', 'product_manager'". The text stays in the RFC 6749
// error_description charset (printable ASCII without '"' and '\'), so it
// may be quoted in a WWW-Authenticate challenge (RFC 6750 §3).
func (p Policy) requirement() string {
	d := "requires " + p.phrase(false)
	if len(d) > maxRequirement {
		d = d[:maxRequirement-3] + "..."
	}
	return d
}

// phrase names what p requires; nested marks a part of AllOf or AnyOf,
// which is parenthesised when it is itself a combination.
func (p Policy) phrase(nested bool) string {
	if p.n == nil {
		return "nothing it can meet"
	}
	list := func(one, many string) string {
		q := make([]string, len(p.n.values))
		for i, v := range p.n.values {
			q[i] = "'" + descriptionSafe(v) + "'"
		}
		if len(q) == 1 {
			return one + " " + q[0]
		}
		return many + " " + strings.Join(q, ", ")
	}
	switch p.n.kind {
	case kindPublic, kindAuthenticated:
		return "a valid access token"
	case kindRoles:
		return list("the role", "one of the roles")
	case kindScopes:
		return list("the scope", "the scopes")
	case kindPermissions:
		return list("the permission", "the permissions")
	case kindAllOf, kindAnyOf:
		sep := " and "
		if p.n.kind == kindAnyOf {
			sep = " or "
		}
		parts := make([]string, len(p.n.subs))
		for i, q := range p.n.subs {
			parts[i] = q.phrase(true)
		}
		s := strings.Join(parts, sep)
		if nested && len(parts) > 1 {
			s = "(" + s + ")"
		}
		return s
	}
	return "nothing it can meet"
}

// descriptionSafe replaces every byte outside the RFC 6749
// error_description charset (%x20-21 / %x23-5B / %x5D-7E) with '?'.
func descriptionSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}

// String describes p for audits, for example
// `anyOf(roles(admin|product_manager), scopes(products:write))`.
func (p Policy) String() string {
	if p.n == nil {
		return "<none>"
	}
	switch p.n.kind {
	case kindPublic:
		return "public"
	case kindAuthenticated:
		return "authenticated"
	case kindRoles:
		return "roles(" + strings.Join(p.n.values, "|") + ")"
	case kindScopes:
		return "scopes(" + strings.Join(p.n.values, "&") + ")"
	case kindPermissions:
		return "permissions(" + strings.Join(p.n.values, "&") + ")"
	case kindAllOf, kindAnyOf:
		name := "allOf("
		if p.n.kind == kindAnyOf {
			name = "anyOf("
		}
		parts := make([]string, len(p.n.subs))
		for i, q := range p.n.subs {
			parts[i] = q.String()
		}
		return name + strings.Join(parts, ", ") + ")"
	}
	return "<invalid>"
}

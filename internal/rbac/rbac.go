// Package rbac is Gatehouse's role-based access control vocabulary: the
// syntax of permissions and role names, wildcard matching, and the
// expansion of the roles a user, client or API key holds into the
// permissions they grant.
//
// A permission is "resource:action". Each segment is one or more of
// [a-z0-9_.-], or exactly "*", which matches any value of that segment:
// "clients:*" grants every action on clients, "*:read" reading anything,
// "*:*" everything. Wildcards are whole segments only ("clients*" and
// "cl*:read" are invalid), and only granted permissions may hold them:
// what a route requires is always concrete. Everything is case-sensitive
// and ASCII; anything else is rejected rather than normalised, so two
// spellings can never name one permission (OWASP ASVS 8.2.1).
package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Wildcard matches any value of a whole segment.
const Wildcard = "*"

// MaxRoleNameLen and MaxSegmentLen bound names so they stay readable and
// fit in tokens.
const (
	MaxRoleNameLen = 64
	MaxSegmentLen  = 64
)

// Errors returned by the validators; test with errors.Is.
var (
	ErrInvalidPermission = errors.New("rbac: invalid permission")
	ErrInvalidRoleName   = errors.New("rbac: invalid role name")
)

// ValidatePermission reports whether p is "resource:action" with each
// segment either "*" or 1 to MaxSegmentLen characters of [a-z0-9_.-].
func ValidatePermission(p string) error {
	res, act, ok := strings.Cut(p, ":")
	if !ok || !validSegment(res) || !validSegment(act) {
		return fmt.Errorf("%w: %q: want resource:action, each [a-z0-9_.-]+ or *", ErrInvalidPermission, p)
	}
	return nil
}

// ValidateRoleName reports whether name is 1 to MaxRoleNameLen characters
// of [a-z0-9_.-].
func ValidateRoleName(name string) error {
	if len(name) == 0 || len(name) > MaxRoleNameLen || !validChars(name) {
		return fmt.Errorf("%w: %q: want 1 to %d characters of [a-z0-9_.-]", ErrInvalidRoleName, name, MaxRoleNameLen)
	}
	return nil
}

// ValidateRole checks r's name and every permission, reporting every
// problem at once.
func ValidateRole(r store.Role) error {
	var errs []error
	if err := ValidateRoleName(r.Name); err != nil {
		errs = append(errs, err)
	}
	for _, p := range r.Permissions {
		if err := ValidatePermission(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validSegment is "*" or a concrete segment. A colon inside a segment is
// not in the alphabet, so "a:b:c" fails here.
func validSegment(s string) bool {
	return s == Wildcard || (len(s) > 0 && len(s) <= MaxSegmentLen && validChars(s))
}

func validChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Match reports whether the granted permission allows the wanted one.
// wanted must be concrete (no wildcard); an invalid granted or wanted
// permission never matches, so a typo fails closed.
func Match(granted, wanted string) bool {
	gr, ga, ok := strings.Cut(granted, ":")
	if !ok || !validSegment(gr) || !validSegment(ga) {
		return false
	}
	wr, wa, ok := strings.Cut(wanted, ":")
	if !ok || !concrete(wr) || !concrete(wa) {
		return false
	}
	return (gr == Wildcard || gr == wr) && (ga == Wildcard || ga == wa)
}

func concrete(s string) bool { return s != Wildcard && validSegment(s) }

// Set is the permissions some holder has. The zero Set allows nothing.
type Set struct {
	perms []string
}

// Expand returns the permissions granted by the roles named in held,
// looked up in roles (as read from the store). Names with no role, and
// stored permissions that are not valid, grant nothing: a role deleted or
// mistyped must never widen access.
func Expand(held []string, roles []store.Role) Set {
	byName := make(map[string]store.Role, len(roles))
	for _, r := range roles {
		byName[r.Name] = r
	}
	var perms []string
	for _, name := range held {
		r, ok := byName[name]
		if !ok {
			continue
		}
		for _, p := range r.Permissions {
			if ValidatePermission(p) == nil {
				perms = append(perms, p)
			}
		}
	}
	slices.Sort(perms)
	return Set{perms: slices.Compact(perms)}
}

// Allows reports whether any permission in s matches wanted.
func (s Set) Allows(wanted string) bool {
	for _, g := range s.perms {
		if Match(g, wanted) {
			return true
		}
	}
	return false
}

// Permissions returns the permissions in s, sorted and without duplicates.
func (s Set) Permissions() []string { return slices.Clone(s.perms) }

// Covers reports whether s grants everything wanted grants, wildcards
// included: "clients:*" is covered by "clients:*" or "*:*", not by
// "clients:read". It is the check that stops a holder from handing out a
// role (or an API key) with more power than its own.
func (s Set) Covers(wanted string) bool {
	wr, wa, ok := strings.Cut(wanted, ":")
	if !ok || !validSegment(wr) || !validSegment(wa) {
		return false
	}
	for _, g := range s.perms {
		gr, ga, _ := strings.Cut(g, ":")
		if (gr == Wildcard || gr == wr) && (ga == Wildcard || ga == wa) {
			return true
		}
	}
	return false
}

// RoleLister reads every role (the store).
type RoleLister interface {
	ListRoles(ctx context.Context) ([]store.Role, error)
}

// Resolver expands role names with the store's role definitions, read
// again at most once per TTL, so a permission change reaches every node
// within the TTL without a store query per request.
type Resolver struct {
	store RoleLister
	ttl   time.Duration
	now   func() time.Time

	fetch sync.Mutex // held while reading the store
	mu    sync.Mutex
	roles []store.Role
	at    time.Time
}

// NewResolver returns a Resolver; ttl 0 means one second, now nil means
// time.Now.
func NewResolver(st RoleLister, ttl time.Duration, now func() time.Time) *Resolver {
	if ttl <= 0 {
		ttl = time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Resolver{store: st, ttl: ttl, now: now}
}

// Expand is Expand with the current role definitions.
func (r *Resolver) Expand(ctx context.Context, held []string) (Set, error) {
	if len(held) == 0 {
		return Set{}, nil
	}
	roles, ok := r.cached(r.now())
	if !ok {
		// One reader at a time: the others wait for its answer instead of
		// all asking the store when the TTL ends.
		r.fetch.Lock()
		defer r.fetch.Unlock()
		now := r.now()
		if roles, ok = r.cached(now); !ok {
			var err error
			if roles, err = r.store.ListRoles(ctx); err != nil {
				return Set{}, fmt.Errorf("rbac: read roles: %w", err)
			}
			r.mu.Lock()
			r.roles, r.at = roles, now
			r.mu.Unlock()
		}
	}
	return Expand(held, roles), nil
}

func (r *Resolver) cached(now time.Time) ([]store.Role, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roles, !r.at.IsZero() && now.Sub(r.at) < r.ttl && now.Sub(r.at) >= 0
}

// NewSet is the Set of the valid permissions in perms (invalid ones grant
// nothing).
func NewSet(perms []string) Set {
	var out []string
	for _, p := range perms {
		if ValidatePermission(p) == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return Set{perms: slices.Compact(out)}
}

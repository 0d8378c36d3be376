package rbac

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

var permissionCases = []struct {
	name string
	p    string
	ok   bool
}{
	{"plain", "clients:read", true},
	{"all punctuation allowed", "api.v2_x-y:re-ad.all_1", true},
	{"digits", "0:9", true},
	{"wildcard action", "clients:*", true},
	{"wildcard resource", "*:read", true},
	{"wildcard both", "*:*", true},
	{"max segment", strings.Repeat("a", MaxSegmentLen) + ":b", true},
	{"segment too long", strings.Repeat("a", MaxSegmentLen+1) + ":b", false},
	{"empty", "", false},
	{"no colon", "clients", false},
	{"lone wildcard", "*", false},
	{"only colon", ":", false},
	{"empty resource", ":read", false},
	{"empty action", "clients:", false},
	{"extra colon", "clients:read:all", false},
	{"trailing colon", "clients:read:", false},
	{"double colon", "clients::read", false},
	{"partial wildcard suffix", "clients*:read", false},
	{"partial wildcard action", "clients:re*", false},
	{"partial wildcard prefix", "*s:read", false},
	{"double wildcard", "**:read", false},
	{"upper case", "Clients:read", false},
	{"upper case action", "clients:READ", false},
	{"space", "clients: read", false},
	{"surrounding space", " clients:read ", false},
	{"tab", "clients:\tread", false},
	{"slash", "clients/x:read", false},
	{"unicode letter", "clïents:read", false},
	{"unicode lookalike colon", "clients\uff1aread", false},
	{"fullwidth asterisk", "clients:\uff0a", false},
	{"nul", "clients:read\x00", false},
	{"invalid utf-8", "clients:\xffread", false},
	{"question mark", "clients:?", false},
}

func TestValidatePermission(t *testing.T) {
	for _, tc := range permissionCases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePermission(tc.p)
			if tc.ok && err != nil {
				t.Errorf("ValidatePermission(%q) = %v, want nil", tc.p, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidPermission) {
				t.Errorf("ValidatePermission(%q) = %v, want ErrInvalidPermission", tc.p, err)
			}
		})
	}
}

func TestValidateRoleName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"admin", true},
		{"product_manager", true},
		{"ci.deployer-2", true},
		{strings.Repeat("a", MaxRoleNameLen), true},
		{strings.Repeat("a", MaxRoleNameLen+1), false},
		{"", false},
		{"Admin", false},
		{"ad min", false},
		{"admin:read", false},
		{"*", false},
		{"rôle", false},
		{"admin\n", false},
		{"a/b", false},
	} {
		err := ValidateRoleName(tc.name)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalidRoleName)) {
			t.Errorf("ValidateRoleName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateRoleReportsEveryProblem(t *testing.T) {
	err := ValidateRole(store.Role{Name: "Bad", Permissions: []string{"ok:read", "x*:y", "a:b:c"}})
	if !errors.Is(err, ErrInvalidRoleName) || !errors.Is(err, ErrInvalidPermission) {
		t.Fatalf("ValidateRole = %v, want both ErrInvalidRoleName and ErrInvalidPermission", err)
	}
	if n := strings.Count(err.Error(), "invalid permission"); n != 2 {
		t.Errorf("ValidateRole reported %d bad permissions, want 2: %v", n, err)
	}
	if err := ValidateRole(store.Role{Name: "ops", Permissions: []string{"*:*"}}); err != nil {
		t.Errorf("ValidateRole(valid) = %v", err)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name            string
		granted, wanted string
		want            bool
	}{
		{"exact", "clients:read", "clients:read", true},
		{"other action", "clients:read", "clients:write", false},
		{"other resource", "clients:read", "users:read", false},
		{"wildcard action", "clients:*", "clients:delete", true},
		{"wildcard action other resource", "clients:*", "users:delete", false},
		{"wildcard resource", "*:read", "users:read", true},
		{"wildcard resource other action", "*:read", "users:write", false},
		{"all", "*:*", "anything:at-all", true},
		{"segments are not prefixes", "client:read", "clients:read", false},
		{"segments are not prefixes (action)", "clients:rea", "clients:read", false},
		{"no prefix wildcard", "clients*:read", "clients2:read", false},
		{"no partial wildcard action", "clients:re*", "clients:read", false},
		{"dots are literal", "a.b:read", "axb:read", false},
		{"case sensitive granted", "Clients:read", "clients:read", false},
		{"case sensitive wanted", "clients:read", "Clients:read", false},
		{"wanted wildcard is not a request for everything", "clients:read", "clients:*", false},
		{"wanted wildcard even against a wildcard", "*:*", "*:*", false},
		{"wanted wildcard resource", "*:read", "*:read", false},
		{"invalid granted never matches", "*", "clients:read", false},
		{"granted extra colon", "*:*:*", "a:b", false},
		{"wanted extra colon", "*:*", "a:b:c", false},
		{"wanted empty action", "*:*", "clients:", false},
		{"wanted empty", "*:*", "", false},
		{"granted empty", "", "clients:read", false},
		{"unicode wanted", "*:*", "clïents:read", false},
		{"unicode lookalike", "clients:read", "clients\uff1aread", false},
		{"surrounding space", "clients:read", " clients:read", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match(tc.granted, tc.wanted); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.granted, tc.wanted, got, tc.want)
			}
		})
	}
}

// TestExpand also backs RBAC-05 at this layer: a role that is gone (or
// never existed) grants nothing, and neither does a stored permission that
// is not valid.
func TestExpand(t *testing.T) {
	roles := []store.Role{
		{Name: "reader", Permissions: []string{"items:read", "clients:read"}},
		{Name: "writer", Permissions: []string{"items:write", "items:read"}},
		{Name: "broken", Permissions: []string{"items*:delete", "", "ITEMS:delete", "ok:list"}},
		{Name: "admin", Permissions: []string{"*:*"}},
	}
	for _, tc := range []struct {
		name    string
		held    []string
		perms   []string
		allowed []string
		denied  []string
	}{
		{"nothing held", nil, nil, nil, []string{"items:read"}},
		{"unknown role", []string{"ghost"}, nil, nil, []string{"items:read"}},
		{"role names are case-sensitive", []string{"Reader", "ADMIN"}, nil, nil, []string{"items:read"}},
		{"one role", []string{"reader"}, []string{"clients:read", "items:read"},
			[]string{"items:read", "clients:read"}, []string{"items:write", "users:read"}},
		{"union, deduplicated", []string{"reader", "writer", "reader", "ghost"},
			[]string{"clients:read", "items:read", "items:write"},
			[]string{"items:write"}, []string{"items:delete"}},
		{"invalid stored permissions dropped", []string{"broken"}, []string{"ok:list"},
			[]string{"ok:list"}, []string{"items2:delete", "items:delete"}},
		{"admin", []string{"admin"}, []string{"*:*"}, []string{"users:delete", "x:y"}, []string{"*:*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Expand(tc.held, roles)
			if got := s.Permissions(); !slices.Equal(got, tc.perms) {
				t.Errorf("Permissions = %q, want %q", got, tc.perms)
			}
			for _, w := range tc.allowed {
				if !s.Allows(w) {
					t.Errorf("Allows(%q) = false, want true", w)
				}
			}
			for _, w := range tc.denied {
				if s.Allows(w) {
					t.Errorf("Allows(%q) = true, want false", w)
				}
			}
		})
	}
	var zero Set
	if zero.Allows("a:b") {
		t.Error("the zero Set allows something")
	}
}

// FuzzMatch checks the invariants of Match on arbitrary input: nothing
// matches unless both sides are valid, the wanted side is concrete, and a
// grant without wildcards matches only itself.
func FuzzMatch(f *testing.F) {
	for _, tc := range permissionCases {
		f.Add(tc.p, "clients:read")
		f.Add("*:*", tc.p)
	}
	f.Fuzz(func(t *testing.T, granted, wanted string) {
		if !Match(granted, wanted) {
			return
		}
		if ValidatePermission(granted) != nil || ValidatePermission(wanted) != nil {
			t.Fatalf("Match(%q, %q) with an invalid side", granted, wanted)
		}
		if strings.Contains(wanted, Wildcard) {
			t.Fatalf("Match(%q, %q) with a wildcard wanted", granted, wanted)
		}
		if !strings.Contains(granted, Wildcard) && granted != wanted {
			t.Fatalf("Match(%q, %q): a concrete grant matched something else", granted, wanted)
		}
	})
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		held   []string
		wanted string
		want   bool
	}{
		{[]string{"*:*"}, "clients:*", true},
		{[]string{"*:*"}, "*:*", true},
		{[]string{"clients:*"}, "clients:*", true},
		{[]string{"clients:*"}, "clients:read", true},
		{[]string{"clients:read"}, "clients:*", false},
		{[]string{"clients:*"}, "*:*", false},
		{[]string{"*:read"}, "*:*", false},
		{[]string{"*:read"}, "users:read", true},
		{[]string{"*:*"}, "bad", false},
	} {
		s := Expand([]string{"r"}, []store.Role{{Name: "r", Permissions: tc.held}})
		if got := s.Covers(tc.wanted); got != tc.want {
			t.Errorf("%v covers %q = %v, want %v", tc.held, tc.wanted, got, tc.want)
		}
	}
}

type countingRoles struct {
	n     int
	roles []store.Role
}

func (c *countingRoles) ListRoles(context.Context) ([]store.Role, error) {
	c.n++
	return c.roles, nil
}

func TestResolverRereadsAfterTTL(t *testing.T) {
	st := &countingRoles{roles: []store.Role{{Name: "admin", Permissions: []string{"*:*"}}}}
	now := time.Unix(1000, 0)
	r := NewResolver(st, time.Second, func() time.Time { return now })
	for range 3 {
		s, err := r.Expand(t.Context(), []string{"admin"})
		if err != nil || !s.Allows("clients:write") {
			t.Fatalf("Expand = %v, %v", s, err)
		}
	}
	if st.n != 1 {
		t.Fatalf("%d reads within the TTL, want 1", st.n)
	}
	st.roles = nil // the role was deleted
	now = now.Add(time.Second)
	if s, _ := r.Expand(t.Context(), []string{"admin"}); s.Allows("clients:write") || st.n != 2 {
		t.Fatalf("after the TTL: allows=%v reads=%d", s.Allows("clients:write"), st.n)
	}
}

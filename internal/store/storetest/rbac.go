package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// rbacTests cover Roles and APIKeys.
var rbacTests = []namedTest{
	{"RoleRoundTrip", testRoleRoundTrip},
	{"RoleNotFound", testRoleNotFound},
	{"RoleDuplicate", testRoleDuplicate},
	{"RoleList", testRoleList},
	{"RoleUpdate", testRoleUpdate},
	{"RoleDeleteRefusedWhileHeld", testRoleDeleteRefusedWhileHeld},
	{"RoleDeleteExactNameMatch", testRoleDeleteExactNameMatch},
	{"APIKeyRoundTrip", testAPIKeyRoundTrip},
	{"APIKeyNotFound", testAPIKeyNotFound},
	{"APIKeyDuplicate", testAPIKeyDuplicate},
	{"APIKeyList", testAPIKeyList},
	{"APIKeyRevoke", testAPIKeyRevoke},
	{"APIKeySetExpiry", testAPIKeySetExpiry},
	{"APIKeyRotate", testAPIKeyRotate},
	{"APIKeyRotateRefused", testAPIKeyRotateRefused},
	{"APIKeyTouch", testAPIKeyTouch},
	{"ConcurrentAPIKeySamePrefix", testConcurrentAPIKeySamePrefix},
}

func fullRole(name string) store.Role {
	return store.Role{
		Name:        name,
		Description: "Role " + name + " \u00e9\n\"quoted\"",
		Permissions: []string{"clients:read", "users:*", "*:list"},
		CreatedAt:   at(-time.Hour),
		UpdatedAt:   at(-time.Minute),
	}
}

func mustCreateRole(t *testing.T, s store.Store, r store.Role) {
	t.Helper()
	if err := s.CreateRole(t.Context(), r); err != nil {
		t.Fatalf("CreateRole(%q): %v", r.Name, err)
	}
}

func mustGetRole(t *testing.T, s store.Store, name string) store.Role {
	t.Helper()
	r, err := s.GetRole(t.Context(), name)
	if err != nil {
		t.Fatalf("GetRole(%q): %v", name, err)
	}
	return r
}

func testRoleRoundTrip(t *testing.T, s store.Store) {
	r := fullRole("admin")
	mustCreateRole(t, s, r)
	assertEqual(t, "GetRole(admin)", mustGetRole(t, s, "admin"), r)

	// No permissions, no description, zero times.
	e := store.Role{Name: "empty"}
	mustCreateRole(t, s, e)
	assertEqual(t, "GetRole(empty)", mustGetRole(t, s, "empty"), e)
}

func testRoleNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetRole(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRole(missing) = %v, want ErrNotFound", err)
	}
	_, err := s.UpdateRole(ctx, "missing", func(r store.Role) (store.Role, error) { return r, nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRole(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteRole(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRole(missing) = %v, want ErrNotFound", err)
	}
}

func testRoleDuplicate(t *testing.T, s store.Store) {
	orig := fullRole("ops")
	mustCreateRole(t, s, orig)
	again := store.Role{Name: "ops", Description: "other"}
	if err := s.CreateRole(t.Context(), again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateRole(duplicate) = %v, want ErrConflict", err)
	}
	assertEqual(t, "GetRole(ops)", mustGetRole(t, s, "ops"), orig)
}

func testRoleList(t *testing.T, s store.Store) {
	roles, err := s.ListRoles(t.Context())
	if err != nil || len(roles) != 0 {
		t.Fatalf("ListRoles on an empty store = %v, %v; want none", roles, err)
	}
	// Bytewise order: "B" < "a" < "a.b" < "a_b" < "b".
	names := []string{"b", "a_b", "B", "a", "a.b"}
	for _, n := range names {
		mustCreateRole(t, s, fullRole(n))
	}
	roles, err = s.ListRoles(t.Context())
	if err != nil {
		t.Fatalf("ListRoles: %v", err)
	}
	var got []string
	for _, r := range roles {
		got = append(got, r.Name)
	}
	if want := []string{"B", "a", "a.b", "a_b", "b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListRoles = %v, want %v", got, want)
	}
	assertEqual(t, "ListRoles[0]", roles[0], fullRole("B"))
}

func testRoleUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullRole("dev")
	mustCreateRole(t, s, orig)

	want := orig
	want.Permissions = []string{"deploy:run"}
	want.Description = "deployers"
	want.UpdatedAt = at(time.Hour)
	got, err := s.UpdateRole(ctx, "dev", func(r store.Role) (store.Role, error) {
		assertEqual(t, "UpdateRole old value", r, orig)
		r.Permissions, r.Description, r.UpdatedAt = want.Permissions, want.Description, want.UpdatedAt
		return r, nil
	})
	if err != nil {
		t.Fatalf("UpdateRole: %v", err)
	}
	assertEqual(t, "UpdateRole result", got, want)
	assertEqual(t, "GetRole after update", mustGetRole(t, s, "dev"), want)

	// fn's error comes back unchanged and nothing is written.
	_, err = s.UpdateRole(ctx, "dev", func(r store.Role) (store.Role, error) {
		r.Permissions = nil
		return r, errFn
	})
	if err != errFn { //nolint:errorlint // the exact error is the contract
		t.Errorf("UpdateRole(fn fails) = %v, want errFn unchanged", err)
	}
	// Renaming is refused.
	_, err = s.UpdateRole(ctx, "dev", func(r store.Role) (store.Role, error) {
		r.Name = "dev2"
		return r, nil
	})
	if err == nil {
		t.Error("UpdateRole(rename) = nil, want an error")
	}
	assertEqual(t, "GetRole after refused updates", mustGetRole(t, s, "dev"), want)
	if _, err := s.GetRole(ctx, "dev2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRole(dev2) = %v, want ErrNotFound", err)
	}
}

func apiKey(id, prefix string) store.APIKey {
	return store.APIKey{
		ID:         id,
		Prefix:     prefix,
		Name:       "key " + id,
		Hash:       []byte{0x00, 0xff, 0x80, '$', 'a'},
		HashAlg:    store.APIKeyHashArgon2id,
		Roles:      []string{"deployer", "reader"},
		Scopes:     []string{"api:read", "api:write"},
		CreatedAt:  at(-time.Hour),
		ExpiresAt:  at(24 * time.Hour),
		LastUsedAt: time.Time{},
		RevokedAt:  time.Time{},
	}
}

func mustCreateAPIKey(t *testing.T, s store.Store, k store.APIKey) {
	t.Helper()
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", k.ID, err)
	}
}

func mustGetAPIKey(t *testing.T, s store.Store, id string) store.APIKey {
	t.Helper()
	k, err := s.GetAPIKey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAPIKey(%q): %v", id, err)
	}
	return k
}

// testRoleDeleteRefusedWhileHeld: a role held by a user, a client or an
// unrevoked API key (even an expired one) cannot be deleted; once every
// holder is gone or revoked it can.
func testRoleDeleteRefusedWhileHeld(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateRole(t, s, fullRole("ops"))
	refused := func(what string) {
		t.Helper()
		if err := s.DeleteRole(ctx, "ops"); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("DeleteRole(ops) held by %s = %v, want ErrInUse", what, err)
		}
		mustGetRole(t, s, "ops") // still there
	}

	u := fullUser("u1", "alice", "")
	u.Roles = []string{"reader", "ops"}
	mustCreateUser(t, s, u)
	refused("a user")
	if _, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Roles = []string{"reader"}
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}

	c := fullClient("c1")
	c.Roles = []string{"ops"}
	mustCreateClient(t, s, c)
	refused("a client")
	if err := s.DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}

	k := apiKey("k1", "pfx00001")
	k.Roles = []string{"ops"}
	k.ExpiresAt = at(-time.Minute) // expired, but an expiry can be moved
	mustCreateAPIKey(t, s, k)
	refused("an expired API key")
	if err := s.RevokeAPIKey(ctx, "k1", at(0)); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}

	if err := s.DeleteRole(ctx, "ops"); err != nil {
		t.Fatalf("DeleteRole(ops) with only a revoked key holding it = %v, want nil", err)
	}
	if _, err := s.GetRole(ctx, "ops"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRole(ops) after delete = %v, want ErrNotFound", err)
	}
}

// testRoleDeleteExactNameMatch: holders are matched by exact name, not by
// substring or by SQL LIKE wildcards in the name.
func testRoleDeleteExactNameMatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"a_b", "a%", `a\b`, "ops"} {
		mustCreateRole(t, s, store.Role{Name: n})
	}
	u := fullUser("u1", "alice", "")
	u.Roles = []string{"axb", "a%x", "a\\\\b", "ops-admin", "xops", "OPS"}
	mustCreateUser(t, s, u)
	for _, n := range []string{"a_b", "a%", `a\b`, "ops"} {
		if err := s.DeleteRole(ctx, n); err != nil {
			t.Errorf("DeleteRole(%q) held by nobody = %v, want nil", n, err)
		}
	}
}

func testAPIKeyRoundTrip(t *testing.T, s store.Store) {
	k := apiKey("k1", "AbCd-_09")
	k.LastUsedAt = at(-time.Second)
	mustCreateAPIKey(t, s, k)
	assertEqual(t, "GetAPIKey(k1)", mustGetAPIKey(t, s, "k1"), k)
	got, err := s.GetAPIKeyByPrefix(t.Context(), "AbCd-_09")
	if err != nil {
		t.Fatalf("GetAPIKeyByPrefix: %v", err)
	}
	assertEqual(t, "GetAPIKeyByPrefix", got, k)

	// Prefix lookups are exact: case and length matter.
	for _, p := range []string{"abcd-_09", "AbCd-_0", "AbCd-_09x", "AbCd-_0%"} {
		if _, err := s.GetAPIKeyByPrefix(t.Context(), p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAPIKeyByPrefix(%q) = %v, want ErrNotFound", p, err)
		}
	}

	// No roles, no scopes, never expires, HMAC.
	m := store.APIKey{ID: "k2", Prefix: "p2", Hash: make([]byte, 32), HashAlg: store.APIKeyHashHMACSHA256, CreatedAt: at(0)}
	m.Hash[0] = 1
	mustCreateAPIKey(t, s, m)
	assertEqual(t, "GetAPIKey(k2)", mustGetAPIKey(t, s, "k2"), m)
}

func testAPIKeyNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAPIKey(t, s, apiKey("k1", "p1"))
	calls := map[string]func() error{
		"GetAPIKey":         func() error { _, err := s.GetAPIKey(ctx, "missing"); return err },
		"GetAPIKeyByPrefix": func() error { _, err := s.GetAPIKeyByPrefix(ctx, "missing"); return err },
		"RevokeAPIKey":      func() error { return s.RevokeAPIKey(ctx, "missing", at(0)) },
		"SetAPIKeyExpiry":   func() error { return s.SetAPIKeyExpiry(ctx, "missing", at(0)) },
		"TouchAPIKey":       func() error { return s.TouchAPIKey(ctx, "missing", at(0)) },
		"RotateAPIKey":      func() error { return s.RotateAPIKey(ctx, "missing", at(0), apiKey("k2", "p2")) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(missing) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.GetAPIKey(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed RotateAPIKey inserted its new key: GetAPIKey(k2) = %v", err)
	}
}

func testAPIKeyDuplicate(t *testing.T, s store.Store) {
	orig := apiKey("k1", "p1")
	mustCreateAPIKey(t, s, orig)
	for name, k := range map[string]store.APIKey{
		"same prefix": apiKey("k2", "p1"),
		"same id":     apiKey("k1", "p2"),
	} {
		if err := s.CreateAPIKey(t.Context(), k); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateAPIKey(%s) = %v, want ErrConflict", name, err)
		}
	}
	keys, err := s.ListAPIKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListAPIKeys = %d keys, %v; want only the original", len(keys), err)
	}
	assertEqual(t, "the original key", keys[0], orig)
}

func testAPIKeyList(t *testing.T, s store.Store) {
	if keys, err := s.ListAPIKeys(t.Context()); err != nil || len(keys) != 0 {
		t.Fatalf("ListAPIKeys on an empty store = %v, %v; want none", keys, err)
	}
	// Oldest first, ties by id; ids and prefixes sort differently.
	mk := func(id, prefix string, created time.Duration) store.APIKey {
		k := apiKey(id, prefix)
		k.CreatedAt = at(created)
		return k
	}
	want := []store.APIKey{mk("z", "p1", -time.Hour), mk("b", "p4", 0), mk("c", "p2", 0), mk("a", "p3", time.Hour)}
	for _, i := range []int{3, 1, 0, 2} {
		mustCreateAPIKey(t, s, want[i])
	}
	if err := s.RevokeAPIKey(t.Context(), "c", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want[2].RevokedAt = at(time.Minute)
	got, err := s.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	assertEqual(t, "ListAPIKeys", got, want)
}

func testAPIKeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAPIKey(t, s, apiKey("k1", "p1"))
	mustCreateAPIKey(t, s, apiKey("k2", "p2"))
	if err := s.RevokeAPIKey(ctx, "k1", time.Time{}); err == nil {
		t.Error("RevokeAPIKey(zero now) = nil, want an error")
	}
	if got := mustGetAPIKey(t, s, "k1"); !got.RevokedAt.IsZero() {
		t.Fatalf("RevokeAPIKey(zero now) revoked the key at %v", got.RevokedAt)
	}
	if err := s.RevokeAPIKey(ctx, "k1", at(time.Minute)); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	// A second revocation succeeds and keeps the first time.
	if err := s.RevokeAPIKey(ctx, "k1", at(time.Hour)); err != nil {
		t.Fatalf("second RevokeAPIKey: %v", err)
	}
	want := apiKey("k1", "p1")
	want.RevokedAt = at(time.Minute)
	assertEqual(t, "revoked key", mustGetAPIKey(t, s, "k1"), want)
	assertEqual(t, "other key", mustGetAPIKey(t, s, "k2"), apiKey("k2", "p2"))
}

func testAPIKeySetExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAPIKey(t, s, apiKey("k1", "p1"))
	want := apiKey("k1", "p1")
	for _, exp := range []time.Time{at(time.Minute), {}, at(48 * time.Hour)} {
		if err := s.SetAPIKeyExpiry(ctx, "k1", exp); err != nil {
			t.Fatalf("SetAPIKeyExpiry(%v): %v", exp, err)
		}
		want.ExpiresAt = exp
		assertEqual(t, "key after SetAPIKeyExpiry", mustGetAPIKey(t, s, "k1"), want)
	}
	if err := s.RevokeAPIKey(ctx, "k1", at(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAPIKeyExpiry(ctx, "k1", time.Time{}); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("SetAPIKeyExpiry(revoked) = %v, want ErrRevoked", err)
	}
	if got := mustGetAPIKey(t, s, "k1"); !got.ExpiresAt.Equal(normTime(want.ExpiresAt)) {
		t.Errorf("ExpiresAt = %v after a refused change, want %v", got.ExpiresAt, want.ExpiresAt)
	}
}

func testAPIKeyRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := []struct {
		name            string
		oldExpiry, move time.Time
		want            time.Time
	}{
		{"never expiring", time.Time{}, at(time.Minute), at(time.Minute)},
		{"later expiry", at(time.Hour), at(time.Minute), at(time.Minute)},
		{"earlier expiry kept", at(time.Second), at(time.Minute), at(time.Second)},
	}
	for i, c := range cases {
		old := apiKey(fmt.Sprint("old", i), fmt.Sprint("po", i))
		old.ExpiresAt = c.oldExpiry
		mustCreateAPIKey(t, s, old)
		next := apiKey(fmt.Sprint("new", i), fmt.Sprint("pn", i))
		next.HashAlg = store.APIKeyHashHMACSHA256
		if err := s.RotateAPIKey(ctx, old.ID, c.move, next); err != nil {
			t.Fatalf("%s: RotateAPIKey: %v", c.name, err)
		}
		old.ExpiresAt = c.want
		assertEqual(t, c.name+": old key", mustGetAPIKey(t, s, old.ID), old)
		assertEqual(t, c.name+": new key", mustGetAPIKey(t, s, next.ID), next)
	}
}

func testAPIKeyRotateRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := apiKey("old", "po")
	other := apiKey("other", "px")
	mustCreateAPIKey(t, s, old)
	mustCreateAPIKey(t, s, other)

	// A zero expiry would mean "never": refused.
	if err := s.RotateAPIKey(ctx, "old", time.Time{}, apiKey("n0", "pn0")); err == nil {
		t.Error("RotateAPIKey(zero expiry) = nil, want an error")
	}
	// A prefix or id collision leaves everything as it was.
	for name, next := range map[string]store.APIKey{
		"prefix": apiKey("n1", "px"),
		"id":     apiKey("other", "pn1"),
	} {
		if err := s.RotateAPIKey(ctx, "old", at(time.Minute), next); !errors.Is(err, store.ErrConflict) {
			t.Errorf("RotateAPIKey(duplicate %s) = %v, want ErrConflict", name, err)
		}
	}
	assertEqual(t, "old key after refused rotations", mustGetAPIKey(t, s, "old"), old)
	assertEqual(t, "other key after refused rotations", mustGetAPIKey(t, s, "other"), other)

	// A revoked key cannot be rotated.
	if err := s.RevokeAPIKey(ctx, "old", at(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateAPIKey(ctx, "old", at(time.Minute), apiKey("n2", "pn2")); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateAPIKey(revoked) = %v, want ErrRevoked", err)
	}
	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Errorf("ListAPIKeys after refused rotations = %d keys, %v; want 2", len(keys), err)
	}
}

func testAPIKeyTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAPIKey(t, s, apiKey("k1", "p1"))
	for _, c := range []struct{ touch, want time.Time }{
		{at(time.Minute), at(time.Minute)},
		{at(time.Second), at(time.Minute)}, // never backwards
		{at(time.Minute), at(time.Minute)}, // same time again is fine
		{at(time.Hour), at(time.Hour)},
	} {
		if err := s.TouchAPIKey(ctx, "k1", c.touch); err != nil {
			t.Fatalf("TouchAPIKey(%v): %v", c.touch, err)
		}
		assertTime(t, "LastUsedAt", mustGetAPIKey(t, s, "k1").LastUsedAt, normTime(c.want))
	}
	if err := s.TouchAPIKey(ctx, "k1", time.Time{}); err == nil {
		t.Error("TouchAPIKey(zero now) = nil, want an error")
	}
}

func testConcurrentAPIKeySamePrefix(t *testing.T, s store.Store) {
	errs := runConcurrently(concurrency, func(i int) error {
		return s.CreateAPIKey(t.Context(), apiKey(fmt.Sprint("k", i), "same"))
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("goroutine %d: CreateAPIKey = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent creates with one prefix succeeded, want exactly 1", wins)
	}
}

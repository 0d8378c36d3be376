package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

// runStdin is runCLI with stdin.
func runStdin(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs the CLI, fails the test unless it exits 0, and decodes its
// output into v when v is not nil.
func mustRun(t *testing.T, v any, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v: output is not one JSON object: %v\n%s", args, err, out)
		}
	}
	return out
}

// openTestStore opens the store of data directory dir as the CLI does.
func openTestStore(t *testing.T, dir string) (app.Store, *config.Config) {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := app.OpenStore(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, cfg
}

// verifyKey checks key with a fresh API key service (no cache carried
// over from an earlier check) built as the server builds it.
func verifyKey(t *testing.T, dir, key string) (apikey.Key, error) {
	t.Helper()
	st, cfg := openTestStore(t, dir)
	svc, err := apikey.NewFromSettings(st, apikey.Settings{Hash: cfg.APIKeys.Hash, PepperFile: cfg.APIKeys.PepperFile}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return svc.Verify(t.Context(), key, "")
}

type testRole struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

type testHolder struct {
	Role    string   `json:"role"`
	Holder  string   `json:"holder"`
	ID      string   `json:"id"`
	Roles   []string `json:"roles"`
	Changed bool     `json:"changed"`
}

type testAPIKey struct {
	Key       string      `json:"key"`
	ID        string      `json:"id"`
	Prefix    string      `json:"prefix"`
	Name      string      `json:"name"`
	Roles     []string    `json:"roles"`
	Scopes    []string    `json:"scopes"`
	State     string      `json:"state"`
	CreatedAt time.Time   `json:"created_at"`
	ExpiresAt *time.Time  `json:"expires_at"`
	RevokedAt *time.Time  `json:"revoked_at"`
	Replaces  *testAPIKey `json:"replaces"`
}

// keyLen is the length of a generated key: "sk_" and 32 bytes in base64url.
const keyLen = len(apikey.KeyPrefix) + 43

func TestRolesCommands(t *testing.T) {
	dir := t.TempDir()
	d := []string{"--data-dir", dir}

	var r testRole
	mustRun(t, &r, append(d, "roles", "create", "reader", "--permissions", "clients:read,users:*", "--description", "Read clients", "--json")...)
	if r.Name != "reader" || !slices.Equal(r.Permissions, []string{"clients:read", "users:*"}) || r.Description != "Read clients" {
		t.Fatalf("create: %+v", r)
	}
	mustRun(t, &r, append(d, "roles", "set-permissions", "reader", "--permissions", "clients:read", "--json")...)
	if !slices.Equal(r.Permissions, []string{"clients:read"}) || r.Description != "Read clients" {
		t.Fatalf("set-permissions kept the description? %+v", r)
	}
	mustRun(t, &r, append(d, "roles", "set-permissions", "reader", "--permissions", "clients:read,audit:read", "--description", "Auditor", "--json")...)
	if !slices.Equal(r.Permissions, []string{"clients:read", "audit:read"}) || r.Description != "Auditor" {
		t.Fatalf("set-permissions with description: %+v", r)
	}
	var g testRole
	mustRun(t, &g, append(d, "roles", "get", "reader", "--json")...)
	if g.Name != "reader" || !slices.Equal(g.Permissions, r.Permissions) {
		t.Fatalf("get: %+v", g)
	}
	var list struct{ Roles []testRole }
	mustRun(t, &list, append(d, "roles", "list", "--json")...)
	if len(list.Roles) != 1 || list.Roles[0].Name != "reader" {
		t.Fatalf("list: %+v", list)
	}
	if out := mustRun(t, nil, append(d, "roles", "list")...); !strings.Contains(out, "NAME") || !strings.Contains(out, "clients:read,audit:read") {
		t.Fatalf("human list:\n%s", out)
	}

	// Holders: a user found by username or e-mail, and a client.
	if code, _, errOut := runStdin(t, "correct horse battery\n", append(d, "users", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin")...); code != 0 {
		t.Fatalf("users create: %d %s", code, errOut)
	}
	mustRun(t, nil, append(d, "clients", "create", "--id", "ci", "--name", "CI", "--grant-types", "client_credentials", "--scopes", "items:read")...)

	for name, c := range map[string]struct {
		args     []string
		code     int
		inStderr string
	}{
		"duplicate":           {[]string{"roles", "create", "reader", "--permissions", "a:b"}, 1, `role "reader" already exists`},
		"partial wildcard":    {[]string{"roles", "create", "bad", "--permissions", "cl*:read"}, 1, "cl*:read"},
		"bad name":            {[]string{"roles", "create", "Bad", "--permissions", "a:b"}, 1, "role name"},
		"no permissions flag": {[]string{"roles", "create", "other"}, 2, "--permissions is required"},
		"get unknown":         {[]string{"roles", "get", "nope"}, 1, `no role "nope"`},
		"set unknown":         {[]string{"roles", "set-permissions", "nope", "--permissions", "a:b"}, 1, `no role "nope"`},
		"grant unknown role":  {[]string{"roles", "grant", "nope", "--client", "ci"}, 1, `role "nope" does not exist`},
		"grant two holders":   {[]string{"roles", "grant", "reader", "--client", "ci", "--user", "alice"}, 2, "exactly one of --user and --client"},
		"grant no holder":     {[]string{"roles", "grant", "reader"}, 2, "exactly one of --user and --client"},
		"grant unknown user":  {[]string{"roles", "grant", "reader", "--user", "nobody"}, 1, `no user "nobody"`},
		"revoke unknown":      {[]string{"roles", "revoke", "reader", "--client", "nope"}, 1, `no client "nope"`},
		"delete unknown":      {[]string{"roles", "delete", "nope"}, 1, `no role "nope"`},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append(c.args, d...)...)
			if code != c.code || !strings.Contains(errOut, c.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, c.code, c.inStderr)
			}
		})
	}

	var h testHolder
	mustRun(t, &h, append(d, "roles", "grant", "reader", "--user", "alice", "--json")...)
	if h.Holder != "user" || h.ID == "" || h.ID == "alice" || !slices.Equal(h.Roles, []string{"reader"}) || !h.Changed {
		t.Fatalf("grant to user: %+v", h)
	}
	userID := h.ID
	mustRun(t, &h, append(d, "roles", "grant", "reader", "--user", "alice@example.com", "--json")...)
	if h.ID != userID || !slices.Equal(h.Roles, []string{"reader"}) || h.Changed {
		t.Fatalf("second grant (by e-mail): %+v", h)
	}
	mustRun(t, &h, append(d, "roles", "grant", "reader", "--client", "ci", "--json")...)
	if h.Holder != "client" || h.ID != "ci" || !slices.Equal(h.Roles, []string{"reader"}) || !h.Changed {
		t.Fatalf("grant to client: %+v", h)
	}
	var u struct{ Roles []string }
	mustRun(t, &u, append(d, "users", "get", "alice", "--json")...)
	if !slices.Equal(u.Roles, []string{"reader"}) {
		t.Fatalf("user roles after grant: %v", u.Roles)
	}

	code, _, errOut := runCLI(t, append(d, "roles", "delete", "reader")...)
	if code != 1 || !strings.Contains(errOut, `cannot delete role "reader"`) || !strings.Contains(errOut, "in use") {
		t.Fatalf("delete in use: exit %d, %s", code, errOut)
	}
	mustRun(t, &g, append(d, "roles", "get", "reader", "--json")...)

	start := time.Now().Add(-time.Second)
	mustRun(t, &h, append(d, "roles", "revoke", "reader", "--user", userID, "--json")...)
	if len(h.Roles) != 0 || h.Roles == nil || !h.Changed {
		t.Fatalf("revoke from user: %+v", h)
	}
	// The revocation makes the user's older access tokens fail at once.
	st, _ := openTestStore(t, dir)
	revs, err := st.RevocationsSince(t.Context(), 0, time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(revs, func(r store.Revocation) bool {
		return r.Kind == store.RevokeSubject && r.Value == userID && r.NotBefore.After(start)
	}) {
		t.Fatalf("no subject revocation for %s in %+v", userID, revs)
	}
	_ = st.Close()

	code, out, errOut := runCLI(t, append(d, "roles", "revoke", "reader", "--user", "alice")...)
	if code != 0 || !strings.Contains(errOut, "did not hold role reader") || !strings.Contains(out, "alice") {
		t.Fatalf("revoke again: exit %d, %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, append(d, "roles", "delete", "reader")...); code != 1 || !strings.Contains(errOut, "in use") {
		t.Fatalf("delete while the client holds it: exit %d, %s", code, errOut)
	}
	mustRun(t, &h, append(d, "roles", "revoke", "reader", "--client", "ci", "--json")...)
	if len(h.Roles) != 0 || !h.Changed {
		t.Fatalf("revoke from client: %+v", h)
	}
	var del struct{ Deleted string }
	mustRun(t, &del, append(d, "roles", "delete", "reader", "--json")...)
	if del.Deleted != "reader" {
		t.Fatalf("delete: %+v", del)
	}
	if code, _, errOut := runCLI(t, append(d, "roles", "get", "reader")...); code != 1 || !strings.Contains(errOut, `no role "reader"`) {
		t.Fatalf("get after delete: exit %d, %s", code, errOut)
	}
}

func TestAPIKeysCommands(t *testing.T) {
	dir := t.TempDir()
	d := []string{"--data-dir", dir}
	mustRun(t, nil, append(d, "roles", "create", "reader", "--permissions", "clients:read")...)

	var k testAPIKey
	before := time.Now()
	mustRun(t, &k, append(d, "apikeys", "create", "--name", "ci", "--roles", "reader", "--scopes", "items:read,items:write", "--expires-in", "90d", "--json")...)
	if !strings.HasPrefix(k.Key, apikey.KeyPrefix) || len(k.Key) != keyLen {
		t.Fatalf("key %q: want sk_ and %d characters", k.Key, keyLen)
	}
	if k.ID == "" || k.Name != "ci" || !slices.Equal(k.Roles, []string{"reader"}) || !slices.Equal(k.Scopes, []string{"items:read", "items:write"}) ||
		k.State != "active" || k.RevokedAt != nil {
		t.Fatalf("create: %+v", k)
	}
	if want := k.Key[:len(apikey.KeyPrefix)+apikey.PrefixLen] + "…"; k.Prefix != want {
		t.Errorf("prefix %q, want %q", k.Prefix, want)
	}
	if k.ExpiresAt == nil || k.ExpiresAt.Sub(k.CreatedAt) != 90*24*time.Hour || k.CreatedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("expiry %v, created %v: want 90 days", k.ExpiresAt, k.CreatedAt)
	}
	got, err := verifyKey(t, dir, k.Key)
	if err != nil || got.ID != k.ID {
		t.Fatalf("Verify(created key) = %+v, %v", got, err)
	}

	for _, args := range [][]string{{"apikeys", "list", "--json"}, {"apikeys", "get", k.ID, "--json"}, {"apikeys", "list"}, {"apikeys", "get", k.ID}} {
		code, out, errOut := runCLI(t, append(args, d...)...)
		if code != 0 || !strings.Contains(out, k.ID) || !strings.Contains(out, k.Prefix) {
			t.Fatalf("%v: exit %d %s\n%s", args, code, errOut, out)
		}
		if strings.Contains(out, k.Key) || strings.Contains(out, k.Key[len(apikey.KeyPrefix):]) ||
			strings.Contains(strings.ToLower(out), "hash") || strings.Contains(out, `"key"`) || strings.Contains(out, "argon2") {
			t.Errorf("%v shows key material:\n%s", args, out)
		}
	}
	var list struct {
		APIKeys []testAPIKey `json:"api_keys"`
	}
	mustRun(t, &list, append(d, "apikeys", "list", "--json")...)
	if len(list.APIKeys) != 1 || list.APIKeys[0].ID != k.ID || list.APIKeys[0].ExpiresAt == nil {
		t.Fatalf("list: %+v", list)
	}

	// Rotate: a new key, printed once; the old one ends after the overlap.
	var rot testAPIKey
	mustRun(t, &rot, append(d, "apikeys", "rotate", k.ID, "--overlap", "1h", "--json")...)
	if rot.Key == k.Key || rot.ID == k.ID || len(rot.Key) != keyLen || rot.Name != "ci" || !slices.Equal(rot.Roles, k.Roles) {
		t.Fatalf("rotate: %+v", rot)
	}
	if rot.Replaces == nil || rot.Replaces.ID != k.ID || rot.Replaces.ExpiresAt == nil || rot.Replaces.ExpiresAt.After(time.Now().Add(time.Hour)) ||
		rot.Replaces.ExpiresAt.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("old key after rotate: %+v, want expiry in 1h", rot.Replaces)
	}
	if got, err := verifyKey(t, dir, rot.Key); err != nil || got.ID != rot.ID {
		t.Fatalf("Verify(rotated key) = %+v, %v", got, err)
	}

	// Revoke: the key stops verifying at once.
	var rev testAPIKey
	mustRun(t, &rev, append(d, "apikeys", "revoke", rot.ID, "--json")...)
	if rev.ID != rot.ID || rev.State != "revoked" || rev.RevokedAt == nil || rev.Key != "" {
		t.Fatalf("revoke: %+v", rev)
	}
	if _, err := verifyKey(t, dir, rot.Key); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("Verify(revoked key) = %v, want ErrInvalidKey", err)
	}
	st, _ := openTestStore(t, dir)
	revs, err := st.RevocationsSince(t.Context(), 0, time.Now(), 100)
	if err != nil || !slices.ContainsFunc(revs, func(r store.Revocation) bool { return r.Kind == store.RevokeJTI && r.Value == rot.ID }) {
		t.Fatalf("no jti revocation for %s: %+v %v", rot.ID, revs, err)
	}
	_ = st.Close()
	if code, _, errOut := runCLI(t, append(d, "apikeys", "rotate", rot.ID)...); code != 1 || !strings.Contains(errOut, "is revoked") {
		t.Fatalf("rotate revoked key: exit %d %s", code, errOut)
	}

	for name, c := range map[string]struct {
		args     []string
		code     int
		inStderr string
	}{
		"get unknown":     {[]string{"apikeys", "get", "nope"}, 1, `no API key "nope"`},
		"revoke unknown":  {[]string{"apikeys", "revoke", "nope"}, 1, `no API key "nope"`},
		"no name":         {[]string{"apikeys", "create", "--roles", "reader"}, 2, "--name is required"},
		"unknown role":    {[]string{"apikeys", "create", "--name", "x", "--roles", "nope"}, 1, `role "nope" does not exist`},
		"bad lifetime":    {[]string{"apikeys", "create", "--name", "x", "--expires-in", "3x"}, 2, "--expires-in"},
		"negative":        {[]string{"apikeys", "create", "--name", "x", "--expires-in", "-1h"}, 2, "negative"},
		"fractional days": {[]string{"apikeys", "create", "--name", "x", "--expires-in", "1.5d"}, 2, "--expires-in"},
		"bad overlap":     {[]string{"apikeys", "rotate", k.ID, "--overlap", "never"}, 2, "--overlap"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append(c.args, d...)...)
			if code != c.code || !strings.Contains(errOut, c.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, c.code, c.inStderr)
			}
		})
	}

	// Human output: the key on its own line with the warning, once.
	code, out, errOut := runCLI(t, append(d, "apikeys", "create", "--name", "human", "--expires-in", "12h")...)
	if code != 0 || !strings.Contains(out, "shown only once") {
		t.Fatalf("human create: exit %d %s\n%s", code, errOut, out)
	}
	var key string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, apikey.KeyPrefix) {
			if key != "" {
				t.Fatalf("key printed twice:\n%s", out)
			}
			key = strings.TrimSpace(line)
		}
	}
	if len(key) != keyLen {
		t.Fatalf("no key line in:\n%s", out)
	}
	var human testAPIKey
	mustRun(t, &list, append(d, "apikeys", "list", "--json")...)
	for _, k := range list.APIKeys {
		if k.Name == "human" {
			human = k
		}
	}
	if human.ExpiresAt == nil || human.ExpiresAt.Sub(human.CreatedAt) != 12*time.Hour {
		t.Fatalf("12h key: %+v", human)
	}
}

func TestParseLifetime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"90d", 90 * 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"12h", 12 * time.Hour},
		{"30m", 30 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"0", 0},
		{"0d", 0},
		{"never", 0},
	} {
		got, err := parseLifetime(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseLifetime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "d", "-1h", "-2d", "+2d", "1.5d", "1d12h", "3x", "90 d", "99999999999d", "Never"} {
		if got, err := parseLifetime(in); err == nil {
			t.Errorf("parseLifetime(%q) = %v, want an error", in, got)
		}
	}
	if _, err := parseDays("never"); err == nil {
		t.Error(`parseDays("never") accepted: an overlap cannot be infinite`)
	}
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"90d", "12h", "0", "never", "-1h", "1.5d", "99999999999d", "1d12h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseLifetime(s)
		if err == nil && d < 0 {
			t.Fatalf("parseLifetime(%q) = %v: negative", s, d)
		}
	})
}

type testBootstrap struct {
	Role        string `json:"role"`
	RoleCreated bool   `json:"role_created"`
	User        *struct {
		ID       string   `json:"id"`
		Username string   `json:"username"`
		Email    string   `json:"email"`
		Roles    []string `json:"roles"`
	} `json:"user"`
	APIKey *testAPIKey `json:"api_key"`
}

func TestBootstrapUser(t *testing.T) {
	dir := t.TempDir()
	d := []string{"--data-dir", dir}
	code, out, errOut := runStdin(t, "correct horse battery\n", append(d, "bootstrap", "--username", "root", "--email", "root@example.com", "--password-stdin", "--json")...)
	if code != 0 {
		t.Fatalf("bootstrap: exit %d %s", code, errOut)
	}
	var b testBootstrap
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b.Role != "admin" || !b.RoleCreated || b.APIKey != nil || b.User == nil || b.User.Username != "root" ||
		b.User.Email != "root@example.com" || !slices.Equal(b.User.Roles, []string{"admin"}) {
		t.Fatalf("bootstrap: %s", out)
	}
	if strings.Contains(out, "correct horse") || strings.Contains(out, "argon2") {
		t.Fatalf("bootstrap prints the password or its hash:\n%s", out)
	}
	var r testRole
	mustRun(t, &r, append(d, "roles", "get", "admin", "--json")...)
	if !slices.Equal(r.Permissions, []string{"*:*"}) {
		t.Fatalf("admin role: %+v", r)
	}

	// The store is no longer empty.
	code, _, errOut = runCLI(t, append(d, "bootstrap", "--api-key")...)
	if code != 1 || !strings.Contains(errOut, "1 user") || strings.Contains(errOut, "API key(s)") {
		t.Fatalf("second bootstrap: exit %d %s", code, errOut)
	}
	var list struct {
		APIKeys []testAPIKey `json:"api_keys"`
	}
	mustRun(t, &list, append(d, "apikeys", "list", "--json")...)
	if len(list.APIKeys) != 0 {
		t.Fatalf("refused bootstrap created a key: %+v", list)
	}
}

func TestBootstrapAPIKey(t *testing.T) {
	dir := t.TempDir()
	d := []string{"--data-dir", dir}
	// An existing admin role granting *:* is reused.
	mustRun(t, nil, append(d, "roles", "create", "admin", "--permissions", "*:*")...)
	var b testBootstrap
	mustRun(t, &b, append(d, "bootstrap", "--api-key", "--name", "root key", "--expires-in", "never", "--json")...)
	if b.Role != "admin" || b.RoleCreated || b.User != nil || b.APIKey == nil {
		t.Fatalf("bootstrap: %+v", b)
	}
	k := b.APIKey
	if !strings.HasPrefix(k.Key, apikey.KeyPrefix) || len(k.Key) != keyLen || k.Name != "root key" ||
		!slices.Equal(k.Roles, []string{"admin"}) || k.ExpiresAt != nil {
		t.Fatalf("bootstrap key: %+v", k)
	}
	if got, err := verifyKey(t, dir, k.Key); err != nil || got.ID != k.ID || !slices.Equal(got.Roles, []string{"admin"}) {
		t.Fatalf("Verify(bootstrap key) = %+v, %v", got, err)
	}

	code, _, errOut := runStdin(t, "correct horse battery\n", append(d, "bootstrap", "--username", "root", "--password-stdin")...)
	if code != 1 || !strings.Contains(errOut, "1 API key") || strings.Contains(errOut, "user(s)") {
		t.Fatalf("second bootstrap: exit %d %s", code, errOut)
	}
	var users struct{ Users []any }
	mustRun(t, &users, append(d, "users", "list", "--json")...)
	if len(users.Users) != 0 {
		t.Fatalf("refused bootstrap created a user: %+v", users)
	}
}

func TestBootstrapRefusals(t *testing.T) {
	dir := t.TempDir()
	d := []string{"--data-dir", dir}
	for name, c := range map[string]struct {
		args     []string
		inStderr string
	}{
		"neither":         {[]string{"bootstrap"}, "exactly one of --username and --api-key"},
		"both":            {[]string{"bootstrap", "--username", "root", "--api-key"}, "exactly one of --username and --api-key"},
		"email with key":  {[]string{"bootstrap", "--api-key", "--email", "a@example.com"}, "--email"},
		"name with user":  {[]string{"bootstrap", "--username", "root", "--name", "k"}, "--name"},
		"bad lifetime":    {[]string{"bootstrap", "--api-key", "--expires-in", "soon"}, "--expires-in"},
		"no password tty": {[]string{"bootstrap", "--username", "root"}, "--password-stdin"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append(c.args, d...)...)
			if code != 2 || !strings.Contains(errOut, c.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, c.inStderr)
			}
		})
	}

	// An admin role that does not grant *:* is not silently widened.
	mustRun(t, nil, append(d, "roles", "create", "admin", "--permissions", "clients:read")...)
	code, _, errOut := runCLI(t, append(d, "bootstrap", "--api-key")...)
	if code != 1 || !strings.Contains(errOut, `role "admin" exists without permission *:*`) {
		t.Fatalf("bootstrap with a narrow admin role: exit %d %s", code, errOut)
	}
	var r testRole
	mustRun(t, &r, append(d, "roles", "get", "admin", "--json")...)
	if !slices.Equal(r.Permissions, []string{"clients:read"}) {
		t.Fatalf("admin role changed: %+v", r)
	}
	var list struct {
		APIKeys []testAPIKey `json:"api_keys"`
	}
	mustRun(t, &list, append(d, "apikeys", "list", "--json")...)
	if len(list.APIKeys) != 0 {
		t.Fatalf("refused bootstrap created a key: %+v", list)
	}
}

// `gatehouse routes` lists the whole surface, the admin API route by route,
// and no route is without a policy.
func TestRoutesCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "routes", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("routes: %d %s", code, errOut)
	}
	var got struct {
		Routes []struct{ Method, Path, Policy string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, r := range got.Routes {
		if r.Method == "" || r.Path == "" || r.Policy == "" || r.Policy == "<none>" {
			t.Errorf("route without a method, path or policy: %+v", r)
		}
		seen[r.Method+" "+r.Path] = r.Policy
	}
	for route, policy := range map[string]string{
		"GET /.well-known/jwks.json":       "public",
		"POST /oauth/token":                "client",
		"POST /oauth/device_authorization": "client",
		"GET /device":                      "public",
		"POST /device":                     "public",
		"GET /oauth/revocations":           "client",
		"GET /userinfo":                    "bearer",
		"POST /admin/v1/apikeys":           "permissions(apikeys:write)",
		"DELETE /admin/v1/sessions/{sid}":  "permissions(sessions:write)",
	} {
		if seen[route] != policy {
			t.Errorf("%s: policy %q, want %q", route, seen[route], policy)
		}
	}
	if code, out, _ := runCLI(t, "routes", "--data-dir", dir); code != 0 || !strings.Contains(out, "permissions(audit:read)") {
		t.Errorf("table output: %d %s", code, out)
	}
}

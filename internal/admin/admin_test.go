package admin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

func openStore(t *testing.T) *sqlite.Store { return testsvc.SQLite(t) }

func TestClientValidation(t *testing.T) {
	cases := []struct {
		name    string
		spec    ClientSpec
		wantErr string
	}{
		{"confidential web client", ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}}, ""},
		{"public native client", ClientSpec{Name: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, ""},
		{"machine client", ClientSpec{Name: "ci", GrantTypes: []string{"client_credentials"}, Roles: []string{"deployer"}}, ""},
		{"no name", ClientSpec{RedirectURIs: []string{"https://app.example/cb"}}, "name"},
		{"code flow without redirect", ClientSpec{Name: "x"}, "redirect URI"},
		{"http redirect", ClientSpec{Name: "x", RedirectURIs: []string{"http://app.example/cb"}}, "https"},
		{"wildcard redirect", ClientSpec{Name: "x", RedirectURIs: []string{"https://*.example/cb"}}, "wildcard"},
		{"fragment redirect", ClientSpec{Name: "x", RedirectURIs: []string{"https://app.example/cb#x"}}, "fragment"},
		{"unknown grant", ClientSpec{Name: "x", GrantTypes: []string{"password"}}, "not supported"},
		{"implicit grant", ClientSpec{Name: "x", GrantTypes: []string{"implicit"}}, "not supported"},
		{"public client credentials", ClientSpec{Name: "x", Public: true, GrantTypes: []string{"client_credentials"}}, "public clients cannot"},
		{"public with secret method", ClientSpec{Name: "x", Public: true, AuthMethod: "client_secret_basic", RedirectURIs: []string{"https://a.example/cb"}}, "public clients authenticate"},
		{"confidential with none", ClientSpec{Name: "x", AuthMethod: "none", RedirectURIs: []string{"https://a.example/cb"}}, "confidential clients use"},
		{"refresh without code", ClientSpec{Name: "x", GrantTypes: []string{"client_credentials", "refresh_token"}}, "refresh_token needs"},
		{"bad scope", ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"}, Scopes: []string{"a\\b"}}, "scope"},
		{"roles on a public client", ClientSpec{Name: "x", Public: true, RedirectURIs: []string{"https://a.example/cb"}, Roles: []string{"admin"}}, "public clients cannot hold roles"},
		{"bad id", ClientSpec{ID: "has space", Name: "x", GrantTypes: []string{"client_credentials"}}, "client id"},
		{"grace too long", ClientSpec{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, RefreshGrace: time.Hour}, "grace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			got, sec, err := CreateClient(t.Context(), st, c.spec, time.Now())
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("CreateClient: %v", err)
				}
				if got.Public != (sec == "") {
					t.Fatalf("public=%v but secret %q", got.Public, sec)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("CreateClient = %v, want ErrInvalid mentioning %q", err, c.wantErr)
			}
		})
	}
}

// TestClientSecretIsStoredOnlyHashed is CA-05's storage half.
func TestClientSecretIsStoredOnlyHashed(t *testing.T) {
	st := openStore(t)
	c, sec, err := CreateClient(t.Context(), st, ClientSpec{Name: "ci", GrantTypes: []string{"client_credentials"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(sec) != 43 {
		t.Fatalf("secret %q is not 256 bits of base64url", sec)
	}
	stored, err := st.GetClient(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !secret.Matches(sec, stored.SecretHash) || strings.Contains(string(stored.SecretHash), sec) {
		t.Fatal("stored secret is not the SHA-256 of the secret")
	}
	again, err := RotateClientSecret(t.Context(), st, c.ID, time.Now())
	if err != nil || again == sec {
		t.Fatalf("rotate: %v", err)
	}
	stored, _ = st.GetClient(t.Context(), c.ID)
	if secret.Matches(sec, stored.SecretHash) || !secret.Matches(again, stored.SecretHash) {
		t.Fatal("old secret still valid after rotation")
	}
}

func TestUpdateClientKeepsSecretAndRefusesTypeSwitch(t *testing.T) {
	st := openStore(t)
	c, sec, _ := CreateClient(t.Context(), st, ClientSpec{Name: "web", RedirectURIs: []string{"https://a.example/cb"}}, time.Now())
	u, err := UpdateClient(t.Context(), st, c.ID, func(s *ClientSpec) { s.Name = "renamed" }, time.Now())
	if err != nil || u.Name != "renamed" || !secret.Matches(sec, u.SecretHash) {
		t.Fatalf("update: %v %+v", err, u)
	}
	if _, err := UpdateClient(t.Context(), st, c.ID, func(s *ClientSpec) { s.Public = true }, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("switch to public: %v", err)
	}
	if _, err := UpdateClient(t.Context(), st, c.ID, func(s *ClientSpec) { s.RedirectURIs = nil }, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing every redirect URI: %v", err)
	}
}

// TestRegistrationRedirectURIErrors: every refused redirect or
// post-logout redirect URI, ports out of range included, is
// ErrInvalidRedirectURI (RFC 7591 invalid_redirect_uri); other refused
// fields are ErrInvalidClientMetadata; both are ErrInvalid.
func TestRegistrationRedirectURIErrors(t *testing.T) {
	for _, uri := range []string{
		"https://app.example:0/cb", "https://app.example:65536/cb", "https://app.example:99999/cb",
		"http://127.0.0.1:0/cb", "http://[::1]:70000/cb", "com.example.app://cb:99999999999999999999",
		"https://app.example:abc/cb", "https://app.example:-1/cb", "app.example/cb", "//app.example/cb",
		"https://app.example/cb#frag", "https://*.example/cb", "http://app.example/cb", "javascript:alert(1)", "",
	} {
		if err := validateRedirectURI(uri); err == nil {
			t.Errorf("validateRedirectURI(%q) = nil, want a refusal", uri)
		}
		for name, spec := range map[string]ClientSpec{
			"redirect":    {ID: "x", Name: "x", RedirectURIs: []string{"https://ok.example/cb", uri}},
			"post-logout": {ID: "x", Name: "x", RedirectURIs: []string{"https://ok.example/cb"}, PostLogoutRedirectURIs: []string{uri}},
		} {
			if uri == "" {
				continue // an empty entry is dropped, like a repeated one
			}
			_, err := buildClient(spec)
			if !errors.Is(err, ErrInvalidRedirectURI) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrInvalidClientMetadata) {
				t.Errorf("%s %q: %v, want ErrInvalidRedirectURI", name, uri, err)
			}
		}
	}
	for _, uri := range []string{"https://app.example:1/cb", "https://app.example:65535/cb", "https://app.example:443/cb",
		"http://127.0.0.1:8080/cb", "http://[::1]:65535/cb", "https://app.example/cb", "com.example.app:/cb"} {
		if err := validateRedirectURI(uri); err != nil {
			t.Errorf("validateRedirectURI(%q) = %v, want nil", uri, err)
		}
	}
	if _, err := buildClient(ClientSpec{ID: "x", Name: "x"}); !errors.Is(err, ErrInvalidRedirectURI) {
		t.Errorf("code flow without a redirect URI: %v, want ErrInvalidRedirectURI", err)
	}
	_, err := buildClient(ClientSpec{ID: "x", Name: "x", GrantTypes: []string{"implicit"}})
	if !errors.Is(err, ErrInvalidClientMetadata) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrInvalidRedirectURI) {
		t.Errorf("bad grant type: %v, want ErrInvalidClientMetadata", err)
	}
}

func TestUsers(t *testing.T) {
	st := openStore(t)
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	u, err := CreateUser(t.Context(), st, h, UserSpec{Username: "alice", Email: "alice@example.com", Password: "correct horse", Roles: []string{"admin"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u.PasswordHash, "correct horse") || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("password stored as %q", u.PasswordHash)
	}
	cases := []struct {
		name string
		spec UserSpec
	}{
		{"duplicate username, other case", UserSpec{Username: "ALICE", Password: "correct horse battery"}},
		{"username equal to another's e-mail", UserSpec{Username: "alice@example.com", Password: "correct horse battery"}},
		{"short password", UserSpec{Username: "bob", Password: "short"}},
		{"bad e-mail", UserSpec{Username: "bob", Email: "not an address", Password: "correct horse battery"}},
		{"bad username", UserSpec{Username: "bob smith", Password: "correct horse battery"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := CreateUser(t.Context(), st, h, c.spec, time.Now()); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CreateUser = %v, want ErrInvalid", err)
			}
		})
	}
	for _, ref := range []string{u.ID, "alice", "Alice@Example.com"} {
		if got, err := FindUser(t.Context(), st, ref); err != nil || got.ID != u.ID {
			t.Errorf("FindUser(%q) = %v, %v", ref, got.ID, err)
		}
	}
	if _, err := SetPassword(t.Context(), st, h, u.ID, "new password!", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if d, err := SetDisabled(t.Context(), st, u.ID, true, time.Now(), time.Minute); err != nil || !d.Disabled {
		t.Fatalf("disable: %v", err)
	}
}

// TestUsersCommonPasswordRefused: creating a user with, or changing a
// password to, a common breached password is a validation error that
// still says which (ASVS 5.0 6.2.4); nothing is stored.
func TestUsersCommonPasswordRefused(t *testing.T) {
	st := openStore(t)
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	_, err := CreateUser(t.Context(), st, h, UserSpec{Username: "carol", Password: "iloveyou"}, time.Now())
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, login.ErrCommonPassword) {
		t.Fatalf("CreateUser(common password) = %v, want ErrInvalid and login.ErrCommonPassword", err)
	}
	if _, err := FindUser(t.Context(), st, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused user was stored: %v", err)
	}
	u, err := CreateUser(t.Context(), st, h, UserSpec{Username: "carol", Password: "correct horse battery"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = SetPassword(t.Context(), st, h, u.ID, "Password1", time.Now(), time.Minute)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, login.ErrCommonPassword) {
		t.Fatalf("SetPassword(common password) = %v, want ErrInvalid and login.ErrCommonPassword", err)
	}
	if got, err := FindUser(t.Context(), st, u.ID); err != nil || got.PasswordHash != u.PasswordHash {
		t.Fatalf("the refused password replaced the old one: %v", err)
	}
	_, err = SetPassword(t.Context(), st, h, u.ID, "short", time.Now(), time.Minute)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, login.ErrPasswordPolicy) {
		t.Fatalf("SetPassword(short) = %v, want ErrInvalid and login.ErrPasswordPolicy", err)
	}
}

// A client id never equals a user id nor takes an API key's prefix: each
// is a token subject, and one must not stand for another.
func TestClientIDsStayApartFromOtherSubjects(t *testing.T) {
	st := openStore(t)
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	u, err := CreateUser(t.Context(), st, h, UserSpec{Username: "boss", Password: "correct horse battery"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{u.ID, "ak_abc"} {
		_, _, err := CreateClient(t.Context(), st, ClientSpec{ID: id, Name: "x", GrantTypes: []string{"client_credentials"}}, time.Now())
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("client id %q: %v, want ErrInvalid", id, err)
		}
	}
}

// A role taken away also covers a token signed in the next second from
// roles read just before the change.
func TestRevokeSubjectTokensCoversTheNextSecond(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 29, 10, 0, 0, 900_000_000, time.UTC)
	revs, err := revokeSubjectTokens(t.Context(), st, "u1", now, 15*time.Minute)
	if err != nil || len(revs) != 1 {
		t.Fatal(revs, err)
	}
	iatNextSecond := now.Truncate(time.Second).Add(time.Second)
	if !iatNextSecond.Before(revs[0].NotBefore) {
		t.Errorf("not-before %v does not cover a token issued at %v", revs[0].NotBefore, iatNextSecond)
	}
}

// TestCheckRolesExist: roles are given only once they exist; every missing
// one is named, and granting a role applies the same rule.
func TestCheckRolesExist(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	if _, err := CreateRole(ctx, st, "viewer", "", []string{"items:read"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := CheckRolesExist(ctx, st, []string{"viewer", " viewer"}); err != nil {
		t.Fatalf("existing role refused: %v", err)
	}
	if err := CheckRolesExist(ctx, st, nil); err != nil {
		t.Fatalf("no roles refused: %v", err)
	}
	err := CheckRolesExist(ctx, st, []string{"viewer", "nope", "nada", "nope"})
	if !errors.Is(err, ErrUnknownRole) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("CheckRolesExist = %v, want ErrUnknownRole", err)
	}
	if want := `roles "nope", "nada" do not exist`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	u, err := CreateUser(ctx, st, login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1),
		UserSpec{Username: "ann", Password: "correct horse battery staple"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grantRole(ctx, st, HolderUser, u.ID, "nope", time.Now()); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("GrantRole of a missing role = %v, want ErrUnknownRole", err)
	}
	if roles, err := grantRole(ctx, st, HolderUser, u.ID, "viewer", time.Now()); err != nil || len(roles) != 1 {
		t.Fatalf("GrantRole = %v, %v", roles, err)
	}
}

// TestRoleNameRule: one rule for role names, rbac.ValidateRoleName's
// (lower case), wherever a role is given; a client that already holds a
// name stored under the older, looser rule can still be changed.
func TestRoleNameRule(t *testing.T) {
	st := openStore(t)
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, _, err := CreateClient(t.Context(), st, ClientSpec{Name: "x", GrantTypes: []string{"client_credentials"},
		Roles: []string{"Deployer"}}, time.Now()); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("client with role Deployer: %v, want ErrInvalidClientMetadata", err)
	}
	if _, err := CreateUser(t.Context(), st, h, UserSpec{Username: "bob", Password: "correct horse battery",
		Roles: []string{"Deployer"}}, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("user with role Deployer: %v, want ErrInvalid", err)
	}
	if _, err := CreateRole(t.Context(), st, "deployer", "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, roles := range [][]string{{"Deployer"}, {""}, {"deployer", "nope"}} {
		if err := CheckRolesExist(t.Context(), st, roles); !errors.Is(err, ErrUnknownRole) {
			t.Errorf("CheckRolesExist(%q) = %v, want ErrUnknownRole", roles, err)
		}
	}
	if err := CheckRolesExist(t.Context(), st, []string{"deployer", " deployer"}); err != nil {
		t.Errorf("CheckRolesExist(deployer) = %v", err)
	}

	legacy := store.Client{ID: "old", Name: "old", TokenEndpointAuthMethod: store.AuthClientSecretBasic,
		GrantTypes: []string{"client_credentials"}, Roles: []string{"Legacy"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateClient(t.Context(), legacy); err != nil {
		t.Fatal(err)
	}
	c, err := UpdateClient(t.Context(), st, "old", func(s *ClientSpec) { s.Name = "renamed" }, time.Now())
	if err != nil || c.Name != "renamed" || c.Roles[0] != "Legacy" {
		t.Errorf("renaming a client holding a legacy role name: %+v %v", c, err)
	}
	if _, err := UpdateClient(t.Context(), st, "old", func(s *ClientSpec) { s.Roles = append(s.Roles, "Other") }, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("adding role Other: %v, want ErrInvalid", err)
	}
}

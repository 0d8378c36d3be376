package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// accountTests cover Clients, Users, Sessions, Consents and Audit.
var accountTests = []namedTest{
	{"ClientRoundTrip", testClientRoundTrip},
	{"ClientNotFound", testClientNotFound},
	{"ClientDuplicate", testClientDuplicate},
	{"ClientList", testClientList},
	{"ClientUpdate", testClientUpdate},
	{"ClientUpdateFnError", testClientUpdateFnError},
	{"ClientDelete", testClientDelete},
	{"UserRoundTrip", testUserRoundTrip},
	{"UserNotFound", testUserNotFound},
	{"UserLoginCaseInsensitive", testUserLoginCaseInsensitive},
	{"UserUniqueness", testUserUniqueness},
	{"UserList", testUserList},
	{"UserUpdate", testUserUpdate},
	{"UserUpdateConflict", testUserUpdateConflict},
	{"UserUpdateFnError", testUserUpdateFnError},
	{"UserDelete", testUserDelete},
	{"ConcurrentUserLoginConflict", testConcurrentUserLoginConflict},
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionConflict", testSessionConflict},
	{"SessionExpiry", testSessionExpiry},
	{"SessionList", testSessionList},
	{"Consent", testConsent},
	{"AuditRoundTrip", testAuditRoundTrip},
	{"AuditBatch", testAuditBatch},
	{"AuditOrderAndPaging", testAuditOrderAndPaging},
	{"AuditFilters", testAuditFilters},
	{"AuditLimit", testAuditLimit},
}

var errFn = errors.New("storetest: update function failed")

func fullClient(id string) store.Client {
	return store.Client{
		ID:                      id,
		Name:                    "Client " + id,
		SecretHash:              []byte{0x00, 0xff, 0x10, 'x'},
		Public:                  false,
		TokenEndpointAuthMethod: store.AuthClientSecretBasic,
		RedirectURIs:            []string{"https://app.example/cb?x=1", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		Scopes:                  []string{"openid", "email", "profile"},
		Audiences:               []string{"https://api.example"},
		Roles:                   []string{"reader", "writer"},
		SkipConsent:             true,
		RefreshGrace:            2*time.Second + 1500*time.Nanosecond,
		IDTokenAlg:              "ES256",
		OmitRefreshIDToken:      true,
		CreatedAt:               at(-time.Hour),
		UpdatedAt:               at(-time.Minute),
	}
}

func mustCreateClient(t *testing.T, s store.Store, c store.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

func mustGetClient(t *testing.T, s store.Store, id string) store.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	full := fullClient("web")
	mustCreateClient(t, s, full)
	assertEqual(t, "GetClient(web)", mustGetClient(t, s, "web"), full)

	// A public client: no secret, empty lists, zero times, flags false.
	public := store.Client{ID: "spa", Public: true, TokenEndpointAuthMethod: store.AuthNone, RedirectURIs: []string{}}
	mustCreateClient(t, s, public)
	got := mustGetClient(t, s, "spa")
	assertEqual(t, "GetClient(spa)", got, public)
	if len(got.SecretHash) != 0 {
		t.Errorf("public client SecretHash = %x, want none", got.SecretHash)
	}

	// Bools each way, so that neither a constant true nor false passes.
	flipped := fullClient("flipped")
	flipped.Public, flipped.SkipConsent = true, false
	mustCreateClient(t, s, flipped)
	assertEqual(t, "GetClient(flipped)", mustGetClient(t, s, "flipped"), flipped)
}

func testClientNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(missing) = %v, want ErrNotFound", err)
	}
	called := false
	_, err := s.UpdateClient(ctx, "missing", func(c store.Client) (store.Client, error) {
		called = true
		return c, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(missing) = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateClient(missing) called the update function")
	}
	if err := s.DeleteClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient(missing) = %v, want ErrNotFound", err)
	}
}

func testClientDuplicate(t *testing.T, s store.Store) {
	orig := fullClient("web")
	mustCreateClient(t, s, orig)
	again := fullClient("web")
	again.Name = "other"
	if err := s.CreateClient(t.Context(), again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateClient(duplicate id) = %v, want ErrConflict", err)
	}
	assertEqual(t, "GetClient(web)", mustGetClient(t, s, "web"), orig)
}

func testClientList(t *testing.T, s store.Store) {
	cs, err := s.ListClients(t.Context())
	if err != nil || len(cs) != 0 {
		t.Fatalf("ListClients on an empty store = %v, %v; want none", cs, err)
	}
	// Bytewise ID order: upper case before lower case, "a-b" before "ab".
	want := []string{"B", "a-b", "ab", "b"}
	for _, id := range []string{"ab", "b", "B", "a-b"} {
		mustCreateClient(t, s, fullClient(id))
	}
	cs, err = s.ListClients(t.Context())
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.ID)
		assertEqual(t, "listed client "+c.ID, c, fullClient(c.ID))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListClients = %q, want %q", got, want)
	}
}

func testClientUpdate(t *testing.T, s store.Store) {
	orig := fullClient("web")
	mustCreateClient(t, s, orig)
	other := fullClient("other")
	mustCreateClient(t, s, other)

	changed := store.Client{
		ID:                      "web",
		Name:                    "renamed",
		Public:                  true,
		TokenEndpointAuthMethod: store.AuthNone,
		RedirectURIs:            []string{"https://new.example/cb"},
		GrantTypes:              []string{"authorization_code"},
		Scopes:                  []string{"openid"},
		RefreshGrace:            time.Minute,
		IDTokenAlg:              "RS256",
		CreatedAt:               orig.CreatedAt,
		UpdatedAt:               at(time.Hour),
	}
	var seen store.Client
	got, err := s.UpdateClient(t.Context(), "web", func(c store.Client) (store.Client, error) {
		seen = c
		return changed, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	assertEqual(t, "update function argument", seen, orig)
	assertEqual(t, "UpdateClient result", got, changed)
	assertEqual(t, "GetClient after update", mustGetClient(t, s, "web"), changed)
	assertEqual(t, "GetClient(other) after update", mustGetClient(t, s, "other"), other)

	// The ID cannot change.
	_, err = s.UpdateClient(t.Context(), "web", func(c store.Client) (store.Client, error) {
		c.ID = "renamed"
		c.Name = "must not be written"
		return c, nil
	})
	if err == nil {
		t.Error("UpdateClient changing the ID = nil, want an error")
	}
	assertEqual(t, "GetClient after rejected ID change", mustGetClient(t, s, "web"), changed)
	if _, err := s.GetClient(t.Context(), "renamed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(renamed) = %v, want ErrNotFound", err)
	}
}

func testClientUpdateFnError(t *testing.T, s store.Store) {
	orig := fullClient("web")
	mustCreateClient(t, s, orig)
	_, err := s.UpdateClient(t.Context(), "web", func(c store.Client) (store.Client, error) {
		c.Name = "must not be written"
		return c, errFn
	})
	if err != errFn { //nolint:errorlint // the contract is "returned unchanged"
		t.Errorf("UpdateClient with a failing function = %v, want the function's error unchanged", err)
	}
	assertEqual(t, "GetClient after failed update", mustGetClient(t, s, "web"), orig)
}

func testClientDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("web"))
	mustCreateClient(t, s, fullClient("other"))
	for _, c := range []store.Consent{
		{UserID: "u1", ClientID: "web", Scopes: []string{"openid"}, CreatedAt: base()},
		{UserID: "u1", ClientID: "other", Scopes: []string{"openid"}, CreatedAt: base()},
	} {
		if err := s.SaveConsent(ctx, c); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	code := authCode("code-web", at(time.Hour))
	code.ClientID = "web"
	mustCreateCode(t, s, code)
	g := grant("g-web", "web", "u1", "sid-1")
	g.ExpiresAt = time.Now().Add(24 * time.Hour) // DeleteClient uses the system clock
	iss := issue("rt-web", "at-web", time.Now().Add(time.Hour))
	if err := s.CreateGrant(ctx, g, iss); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	gOther := grant("g-other", "other", "u1", "sid-1")
	mustCreateGrant(t, s, gOther, issue("rt-other", "at-other", at(time.Hour)))

	if err := s.DeleteClient(ctx, "web"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient = %v, want ErrNotFound", err)
	}
	mustGetClient(t, s, "other")

	// Nothing the deleted client held carries over to a client later
	// registered under the same ID.
	if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent of the deleted client = %v, want ErrNotFound", err)
	}
	if _, err := s.GetConsent(ctx, "u1", "other"); err != nil {
		t.Errorf("GetConsent of another client = %v, want it kept", err)
	}
	if _, err := s.GetAuthCode(ctx, code.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAuthCode of the deleted client = %v, want ErrNotFound", err)
	}
	if got := mustGetGrant(t, s, "g-web"); got.RevokedAt.IsZero() {
		t.Error("grant of the deleted client is not revoked")
	}
	if got := mustGetGrant(t, s, "g-other"); !got.RevokedAt.IsZero() {
		t.Error("grant of another client was revoked")
	}
	assertRevoked(t, s, "at-web", "", "", time.Now())
}

func fullUser(id, username, email string) store.User {
	return store.User{ //nolint:gosec // G101: PasswordHash is a made-up fixture
		ID:                id,
		Username:          username,
		Email:             email,
		EmailVerified:     true,
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:             []string{"admin", "user"},
		Disabled:          false,
		CreatedAt:         at(-2 * time.Hour),
		UpdatedAt:         at(-time.Hour),
		PasswordChangedAt: at(-90 * time.Minute),
	}
}

func mustCreateUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

func mustGetUser(t *testing.T, s store.Store, id string) store.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%q): %v", id, err)
	}
	return u
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	u := fullUser("u1", "Alice", "Alice@Example.COM")
	mustCreateUser(t, s, u)
	assertEqual(t, "GetUser(u1)", mustGetUser(t, s, "u1"), u)

	// Flags flipped, no e-mail, no roles, zero times.
	v := store.User{ID: "u2", Username: "bob", Disabled: true, PasswordHash: "x"}
	mustCreateUser(t, s, v)
	assertEqual(t, "GetUser(u2)", mustGetUser(t, s, "u2"), v)
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, fullUser("u1", "alice", ""))
	if _, err := s.GetUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(missing) = %v, want ErrNotFound", err)
	}
	for _, login := range []string{"bob", "", "u1", "alic", "alice "} {
		if _, err := s.GetUserByLogin(ctx, login); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByLogin(%q) = %v, want ErrNotFound", login, err)
		}
	}
	_, err := s.UpdateUser(ctx, "missing", func(u store.User) (store.User, error) { return u, nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser(missing) = %v, want ErrNotFound", err)
	}
}

func testUserLoginCaseInsensitive(t *testing.T, s store.Store) {
	alice := fullUser("u1", "Alice", "Alice.Smith@Example.com")
	bob := fullUser("u2", "bob", "")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	for login, want := range map[string]store.User{
		"Alice":                   alice,
		"alice":                   alice,
		"ALICE":                   alice,
		"alice.smith@example.com": alice,
		"ALICE.SMITH@EXAMPLE.COM": alice,
		"Alice.Smith@Example.com": alice,
		"BOB":                     bob,
	} {
		got, err := s.GetUserByLogin(t.Context(), login)
		if err != nil {
			t.Errorf("GetUserByLogin(%q) = %v", login, err)
			continue
		}
		assertEqual(t, fmt.Sprintf("GetUserByLogin(%q)", login), got, want)
	}
}

func testUserUniqueness(t *testing.T, s store.Store) {
	alice := fullUser("u1", "Alice", "alice@example.com")
	mustCreateUser(t, s, alice)
	for _, c := range []struct {
		name string
		u    store.User
	}{
		{"same id", fullUser("u1", "carol", "carol@example.com")},
		{"username differing in case", fullUser("u2", "ALICE", "")},
		{"e-mail differing in case", fullUser("u2", "carol", "ALICE@example.COM")},
		{"username equal to an e-mail", fullUser("u2", "Alice@Example.com", "")},
		{"e-mail equal to a username", fullUser("u2", "carol", "aLiCe")},
	} {
		if err := s.CreateUser(t.Context(), c.u); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser(%s) = %v, want ErrConflict", c.name, err)
		}
		if c.u.ID != "u1" {
			if _, err := s.GetUser(t.Context(), c.u.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after CreateUser(%s) GetUser = %v, want ErrNotFound", c.name, err)
			}
		}
	}
	assertEqual(t, "GetUser(u1)", mustGetUser(t, s, "u1"), alice)
	// A failed create must leave no login behind.
	if _, err := s.GetUserByLogin(t.Context(), "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByLogin(carol) after failed creates = %v, want ErrNotFound", err)
	}

	// Several users without an e-mail, and a user whose e-mail is their
	// own username, are fine.
	mustCreateUser(t, s, fullUser("u3", "dave", ""))
	mustCreateUser(t, s, fullUser("u4", "erin", ""))
	mustCreateUser(t, s, fullUser("u5", "frank@example.com", "Frank@Example.com"))
}

func testUserList(t *testing.T, s store.Store) {
	us, err := s.ListUsers(t.Context())
	if err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty store = %v, %v; want none", us, err)
	}
	// Ordered by username, case-insensitively: neither ID, insertion nor
	// case-sensitive order passes.
	for _, u := range []store.User{
		fullUser("u1", "carol", ""),
		fullUser("u2", "Bob", ""),
		fullUser("u3", "dave", ""),
		fullUser("u4", "alice", ""),
	} {
		mustCreateUser(t, s, u)
	}
	us, err = s.ListUsers(t.Context())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var got []string
	for _, u := range us {
		got = append(got, u.Username)
		assertEqual(t, "listed user "+u.ID, u, fullUser(u.ID, u.Username, ""))
	}
	if want := []string{"alice", "Bob", "carol", "dave"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers = %q, want %q", got, want)
	}
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullUser("u1", "alice", "alice@example.com")
	mustCreateUser(t, s, orig)
	other := fullUser("u2", "bob", "bob@example.com")
	mustCreateUser(t, s, other)

	changed := store.User{
		ID:                "u1",
		Username:          "Alicia",
		Email:             "alicia@example.org",
		EmailVerified:     false,
		PasswordHash:      "new-hash",
		Disabled:          true,
		CreatedAt:         orig.CreatedAt,
		UpdatedAt:         at(time.Hour),
		PasswordChangedAt: at(time.Hour),
	}
	var seen store.User
	got, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		seen = u
		return changed, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	assertEqual(t, "update function argument", seen, orig)
	assertEqual(t, "UpdateUser result", got, changed)
	assertEqual(t, "GetUser after update", mustGetUser(t, s, "u1"), changed)
	assertEqual(t, "GetUser(u2) after update", mustGetUser(t, s, "u2"), other)

	// The old logins are released, the new ones work.
	for _, login := range []string{"alice", "alice@example.com"} {
		if _, err := s.GetUserByLogin(ctx, login); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByLogin(old login %q) = %v, want ErrNotFound", login, err)
		}
	}
	for _, login := range []string{"ALICIA", "Alicia@Example.org"} {
		if u, err := s.GetUserByLogin(ctx, login); err != nil || u.ID != "u1" {
			t.Errorf("GetUserByLogin(%q) = %q, %v; want u1", login, u.ID, err)
		}
	}
	mustCreateUser(t, s, fullUser("u3", "alice", "alice@example.com"))

	// Changing only the case of one's own username, or keeping it, is fine.
	got, err = s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Username = "ALICIA"
		return u, nil
	})
	if err != nil || got.Username != "ALICIA" {
		t.Errorf("UpdateUser(case of own username) = %q, %v; want ALICIA, nil", got.Username, err)
	}

	// The ID cannot change.
	_, err = s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.ID = "u9"
		return u, nil
	})
	if err == nil {
		t.Error("UpdateUser changing the ID = nil, want an error")
	}
	if _, err := s.GetUser(ctx, "u9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(u9) = %v, want ErrNotFound", err)
	}
}

func testUserUpdateConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := fullUser("u1", "alice", "alice@example.com")
	bob := fullUser("u2", "bob", "bob@example.com")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	for _, c := range []struct {
		name string
		fn   func(u store.User) store.User
	}{
		{"username taken", func(u store.User) store.User { u.Username = "BOB"; return u }},
		{"e-mail taken", func(u store.User) store.User { u.Email = "Bob@Example.com"; return u }},
		{"username equal to an e-mail", func(u store.User) store.User { u.Username = "bob@example.com"; return u }},
		{"e-mail equal to a username", func(u store.User) store.User { u.Email = "Bob"; return u }},
	} {
		_, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
			u = c.fn(u)
			u.PasswordHash = "must not be written"
			return u, nil
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateUser(%s) = %v, want ErrConflict", c.name, err)
		}
		assertEqual(t, "GetUser(u1) after "+c.name, mustGetUser(t, s, "u1"), alice)
		// Atomic: alice's logins survive the failed update.
		if u, err := s.GetUserByLogin(ctx, "alice@example.com"); err != nil || u.ID != "u1" {
			t.Errorf("after %s GetUserByLogin(alice@example.com) = %q, %v; want u1", c.name, u.ID, err)
		}
	}
	assertEqual(t, "GetUser(u2)", mustGetUser(t, s, "u2"), bob)
}

func testUserUpdateFnError(t *testing.T, s store.Store) {
	orig := fullUser("u1", "alice", "alice@example.com")
	mustCreateUser(t, s, orig)
	_, err := s.UpdateUser(t.Context(), "u1", func(u store.User) (store.User, error) {
		u.Username = "mallory"
		return u, errFn
	})
	if err != errFn { //nolint:errorlint // the contract is "returned unchanged"
		t.Errorf("UpdateUser with a failing function = %v, want the function's error unchanged", err)
	}
	assertEqual(t, "GetUser after failed update", mustGetUser(t, s, "u1"), orig)
	if _, err := s.GetUserByLogin(t.Context(), "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByLogin(mallory) = %v, want ErrNotFound", err)
	}
}

func testUserDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now() // DeleteUser uses the system clock
	mustCreateUser(t, s, fullUser("u1", "alice", "alice@example.com"))
	mustCreateUser(t, s, fullUser("u2", "bob", "bob@example.com"))
	for _, se := range []store.Session{
		session("s1", "u1", now, now.Add(time.Hour)),
		session("s2", "u2", now, now.Add(time.Hour)),
	} {
		mustCreateSession(t, s, se)
	}
	for _, c := range []store.Consent{
		{UserID: "u1", ClientID: "web", CreatedAt: now},
		{UserID: "u2", ClientID: "web", CreatedAt: now},
	} {
		if err := s.SaveConsent(ctx, c); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	code := authCode("code-u1", now.Add(time.Minute))
	code.UserID = "u1"
	mustCreateCode(t, s, code)
	g1 := grant("g1", "web", "u1", "s1")
	g1.ExpiresAt = now.Add(24 * time.Hour)
	mustCreateGrant(t, s, g1, issue("rt1", "at1", now.Add(time.Hour)))
	g2 := grant("g2", "web", "u2", "s2")
	g2.ExpiresAt = now.Add(24 * time.Hour)
	mustCreateGrant(t, s, g2, issue("rt2", "at2", now.Add(time.Hour)))

	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByLogin(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByLogin after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSessionByTokenHash(ctx, []byte("token-s1"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSessionByTokenHash(deleted user's session) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent(deleted user) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetAuthCode(ctx, code.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAuthCode(deleted user's code) = %v, want ErrNotFound", err)
	}
	if got := mustGetGrant(t, s, "g1"); got.RevokedAt.IsZero() {
		t.Error("deleted user's grant is not revoked")
	}
	assertRevoked(t, s, "at1", "", "", now)
	if _, _, err := s.RotateRefreshToken(ctx, []byte("rt1"), now, 0, issue("rt1b", "at1b", now.Add(time.Hour))); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken(deleted user's token) = %v, want ErrRevoked", err)
	}

	// The other user keeps everything.
	mustGetUser(t, s, "u2")
	if _, err := s.GetSessionByTokenHash(ctx, []byte("token-s2"), now); err != nil {
		t.Errorf("GetSessionByTokenHash(other user's session) = %v", err)
	}
	if _, err := s.GetConsent(ctx, "u2", "web"); err != nil {
		t.Errorf("GetConsent(other user) = %v", err)
	}
	if got := mustGetGrant(t, s, "g2"); !got.RevokedAt.IsZero() {
		t.Error("other user's grant was revoked")
	}
	if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser = %v, want ErrNotFound", err)
	}
	// The logins are free again.
	mustCreateUser(t, s, fullUser("u3", "alice", "alice@example.com"))
}

func testConcurrentUserLoginConflict(t *testing.T, s store.Store) {
	// Half the goroutines take "x@example.com" as a username, half as an
	// e-mail, in differing case: however they interleave, one user may
	// have it.
	errs := runConcurrently(concurrency, func(i int) error {
		u := fullUser(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i), "X@example.com")
		if i%2 == 0 {
			u.Username, u.Email = "x@EXAMPLE.com", ""
		}
		return s.CreateUser(t.Context(), u)
	})
	assertOneWinner(t, errs)
	us, err := s.ListUsers(t.Context())
	if err != nil || len(us) != 1 {
		t.Errorf("ListUsers = %d users, %v; want 1", len(us), err)
	}
}

func session(id, userID string, createdAt, expiresAt time.Time) store.Session {
	return store.Session{
		ID:        id,
		TokenHash: []byte("token-" + id),
		UserID:    userID,
		AuthTime:  createdAt.Add(-time.Second),
		CreatedAt: createdAt,
		ExpiresAt: expiresAt,
	}
}

func mustCreateSession(t *testing.T, s store.Store, se store.Session) {
	t.Helper()
	if err := s.CreateSession(t.Context(), se); err != nil {
		t.Fatalf("CreateSession(%q): %v", se.ID, err)
	}
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	se := session("s1", "u1", base(), at(time.Hour))
	se.TokenHash = []byte{0x00, 0xff, 0x80, 0x00}
	mustCreateSession(t, s, se)
	got, err := s.GetSessionByTokenHash(t.Context(), se.TokenHash, base())
	if err != nil {
		t.Fatalf("GetSessionByTokenHash: %v", err)
	}
	assertEqual(t, "GetSessionByTokenHash", got, se)
	if _, err := s.GetSessionByTokenHash(t.Context(), []byte{0x00, 0xff, 0x80}, base()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSessionByTokenHash(prefix of the hash) = %v, want ErrNotFound", err)
	}
}

func testSessionConflict(t *testing.T, s store.Store) {
	orig := session("s1", "u1", base(), at(time.Hour))
	mustCreateSession(t, s, orig)
	sameID := session("s1", "u2", base(), at(time.Hour))
	sameID.TokenHash = []byte("other")
	if err := s.CreateSession(t.Context(), sameID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession(duplicate id) = %v, want ErrConflict", err)
	}
	sameHash := session("s2", "u2", base(), at(time.Hour))
	sameHash.TokenHash = orig.TokenHash
	if err := s.CreateSession(t.Context(), sameHash); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession(duplicate token hash) = %v, want ErrConflict", err)
	}
	got, err := s.GetSessionByTokenHash(t.Context(), orig.TokenHash, base())
	if err != nil {
		t.Fatalf("GetSessionByTokenHash: %v", err)
	}
	assertEqual(t, "GetSessionByTokenHash", got, orig)
}

func testSessionExpiry(t *testing.T, s store.Store) {
	exp := at(time.Hour)
	se := session("s1", "u1", base(), exp)
	mustCreateSession(t, s, se)
	for _, c := range []struct {
		now   time.Time
		found bool
	}{
		{exp.Add(-time.Microsecond), true},
		{exp.Truncate(time.Microsecond), false},
		{exp, false},
		{exp.Add(time.Hour), false},
	} {
		_, err := s.GetSessionByTokenHash(t.Context(), se.TokenHash, c.now)
		switch {
		case c.found && err != nil:
			t.Errorf("GetSessionByTokenHash at %v (expiry %v) = %v, want the session", c.now, exp, err)
		case !c.found && !errors.Is(err, store.ErrNotFound):
			t.Errorf("GetSessionByTokenHash at %v (expiry %v) = %v, want ErrNotFound", c.now, exp, err)
		}
		ss, err := s.ListUserSessions(t.Context(), "u1", c.now)
		if err != nil || (len(ss) == 1) != c.found {
			t.Errorf("ListUserSessions at %v (expiry %v) = %d sessions, %v", c.now, exp, len(ss), err)
		}
	}
}

func testSessionList(t *testing.T, s store.Store) {
	now := base()
	ss, err := s.ListUserSessions(t.Context(), "u1", now)
	if err != nil || len(ss) != 0 {
		t.Fatalf("ListUserSessions with none = %v, %v", ss, err)
	}
	sessions := []store.Session{
		session("a", "u1", now.Add(-3*time.Hour), now.Add(time.Hour)),
		session("b", "u1", now.Add(-time.Hour), now.Add(time.Hour)),
		session("c", "u1", now.Add(-2*time.Hour), now.Add(2*time.Hour)),
		session("expired", "u1", now.Add(-time.Minute), now),
		session("other-user", "u2", now.Add(-time.Minute), now.Add(time.Hour)),
	}
	for _, se := range sessions {
		mustCreateSession(t, s, se)
	}
	ss, err = s.ListUserSessions(t.Context(), "u1", now)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	assertEqual(t, "ListUserSessions", ss, []store.Session{sessions[1], sessions[2], sessions[0]})
}

func testConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent(missing) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteConsent(missing) = %v, want ErrNotFound", err)
	}
	c := store.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "email"}, CreatedAt: base()}
	neighbours := []store.Consent{
		{UserID: "u1", ClientID: "other", Scopes: []string{"openid"}, CreatedAt: base()},
		{UserID: "u2", ClientID: "web", Scopes: []string{"profile"}, CreatedAt: base()},
	}
	for _, x := range append([]store.Consent{c}, neighbours...) {
		if err := s.SaveConsent(ctx, x); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	got, err := s.GetConsent(ctx, "u1", "web")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	assertEqual(t, "GetConsent", got, c)

	// Saving again replaces every field.
	c2 := store.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid"}, CreatedAt: at(time.Hour)}
	if err := s.SaveConsent(ctx, c2); err != nil {
		t.Fatalf("SaveConsent(replace): %v", err)
	}
	got, err = s.GetConsent(ctx, "u1", "web")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	assertEqual(t, "GetConsent after replace", got, c2)

	if err := s.DeleteConsent(ctx, "u1", "web"); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	if _, err := s.GetConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteConsent = %v, want ErrNotFound", err)
	}
	for _, n := range neighbours {
		got, err := s.GetConsent(ctx, n.UserID, n.ClientID)
		if err != nil {
			t.Errorf("GetConsent(%s, %s) = %v, want it kept", n.UserID, n.ClientID, err)
			continue
		}
		assertEqual(t, "GetConsent(neighbour)", got, n)
	}
}

func auditEvent(typ, user, client string, when time.Time) store.AuditEvent {
	return store.AuditEvent{
		Time:      when,
		Type:      typ,
		ClientID:  client,
		UserID:    user,
		SessionID: "sid-" + user,
		IP:        "192.0.2.7",
		RequestID: "req-" + typ,
		Details:   map[string]string{"reason": "bad password", "attempt": "3"},
	}
}

func mustAppend(t *testing.T, s store.Store, e store.AuditEvent) store.AuditEvent {
	t.Helper()
	id, err := s.AppendAuditEvent(t.Context(), e)
	if err != nil {
		t.Fatalf("AppendAuditEvent: %v", err)
	}
	e.ID = id
	return e
}

func listAudit(t *testing.T, s store.Store, q store.AuditQuery) []store.AuditEvent {
	t.Helper()
	es, err := s.ListAuditEvents(t.Context(), q)
	if err != nil {
		t.Fatalf("ListAuditEvents(%+v): %v", q, err)
	}
	return es
}

func testAuditBatch(t *testing.T, s store.Store) {
	if err := s.AppendAuditEvents(t.Context(), nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	batch := []store.AuditEvent{auditEvent("a", "u1", "web", base()), auditEvent("b", "u2", "web", base()), {Type: "c"}}
	if err := s.AppendAuditEvents(t.Context(), batch); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	es := listAudit(t, s, store.AuditQuery{})
	if len(es) != 3 || es[0].Type != "c" || es[1].Type != "b" || es[2].Type != "a" || !(es[0].ID > es[1].ID && es[1].ID > es[2].ID) {
		t.Fatalf("batch stored as %+v, want c, b, a with increasing IDs", es)
	}
	es[2].ID = 0
	batch[0].ID = 0
	assertEqual(t, "batched event", es[2], batch[0])
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.AppendAuditEvents(ctx, batch); err == nil {
		t.Fatal("AppendAuditEvents with a canceled context succeeded")
	}
	if n := len(listAudit(t, s, store.AuditQuery{})); n != 3 {
		t.Fatalf("a failed batch stored %d events, want none", n-3)
	}
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	if es := listAudit(t, s, store.AuditQuery{}); len(es) != 0 {
		t.Fatalf("ListAuditEvents on an empty store = %v", es)
	}
	e := auditEvent("login_failed", "u1", "web", base())
	e.ID = 12345 // ignored: the store assigns IDs
	got := mustAppend(t, s, e)
	if got.ID <= 0 || got.ID == 12345 {
		t.Errorf("AppendAuditEvent ID = %d, want a store-assigned positive ID", got.ID)
	}
	bare := mustAppend(t, s, store.AuditEvent{Type: "bare"})
	if bare.ID <= got.ID {
		t.Errorf("second ID %d not after first %d", bare.ID, got.ID)
	}
	assertEqual(t, "ListAuditEvents", listAudit(t, s, store.AuditQuery{}), []store.AuditEvent{bare, got})
}

func testAuditOrderAndPaging(t *testing.T, s store.Store) {
	var all []store.AuditEvent
	for i := range 7 {
		// Event times run backwards: the order must follow IDs, not times.
		all = append(all, mustAppend(t, s, auditEvent(fmt.Sprint("t", i), "u1", "web", at(-time.Duration(i)*time.Minute))))
	}
	slices.Reverse(all) // newest first
	var got []store.AuditEvent
	before := int64(0)
	for range 10 {
		page := listAudit(t, s, store.AuditQuery{Limit: 3, BeforeID: before})
		if len(page) > 3 {
			t.Fatalf("page of %d events, want at most 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		before = page[len(page)-1].ID
	}
	assertEqual(t, "paged events", got, all)
}

func testAuditFilters(t *testing.T, s store.Store) {
	events := []store.AuditEvent{
		mustAppend(t, s, auditEvent("login_failed", "u1", "web", base())),
		mustAppend(t, s, auditEvent("login_failed", "u2", "web", base())),
		mustAppend(t, s, auditEvent("login", "u1", "cli", base())),
		mustAppend(t, s, auditEvent("login_failed", "u1", "cli", base())),
		mustAppend(t, s, auditEvent("refresh_token_reuse_detected", "u1", "web", base())),
	}
	pick := func(is ...int) []store.AuditEvent {
		var out []store.AuditEvent
		for _, i := range is {
			out = append(out, events[i])
		}
		return out
	}
	for _, c := range []struct {
		q    store.AuditQuery
		want []store.AuditEvent
	}{
		{store.AuditQuery{Type: "login_failed"}, pick(3, 1, 0)},
		{store.AuditQuery{UserID: "u1"}, pick(4, 3, 2, 0)},
		{store.AuditQuery{ClientID: "cli"}, pick(3, 2)},
		{store.AuditQuery{Type: "login_failed", UserID: "u1"}, pick(3, 0)},
		{store.AuditQuery{Type: "login_failed", UserID: "u1", ClientID: "web"}, pick(0)},
		{store.AuditQuery{Type: "login_failed", BeforeID: events[3].ID}, pick(1, 0)},
		{store.AuditQuery{UserID: "u1", Limit: 2}, pick(4, 3)},
		{store.AuditQuery{Type: "nothing"}, nil},
		{store.AuditQuery{UserID: "u3"}, nil},
		{store.AuditQuery{BeforeID: events[0].ID}, nil},
	} {
		assertEqual(t, fmt.Sprintf("ListAuditEvents(%+v)", c.q), listAudit(t, s, c.q), c.want)
	}
}

func testAuditLimit(t *testing.T, s store.Store) {
	const n = 1001
	errs := runConcurrently(8, func(w int) error {
		for i := w; i < n; i += 8 {
			if _, err := s.AppendAuditEvent(t.Context(), auditEvent("bulk", "u1", "web", base())); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("AppendAuditEvent: %v", err)
		}
	}
	for _, c := range []struct{ limit, want int }{
		{0, 100},
		{-1, 100},
		{1, 1},
		{250, 250},
		{1000, 1000},
		{1001, 1000},
		{1 << 30, 1000},
	} {
		es := listAudit(t, s, store.AuditQuery{Limit: c.limit})
		if len(es) != c.want {
			t.Errorf("ListAuditEvents(Limit %d) = %d events, want %d", c.limit, len(es), c.want)
		}
		for i := 1; i < len(es); i++ {
			if es[i].ID >= es[i-1].ID {
				t.Fatalf("ListAuditEvents(Limit %d) not newest first at %d: %d after %d", c.limit, i, es[i].ID, es[i-1].ID)
			}
		}
	}
	// IDs are distinct.
	seen := map[int64]bool{}
	for before := int64(0); ; {
		es := listAudit(t, s, store.AuditQuery{Limit: 1000, BeforeID: before})
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if seen[e.ID] {
				t.Fatalf("audit ID %d listed twice", e.ID)
			}
			seen[e.ID] = true
		}
		before = es[len(es)-1].ID
	}
	if len(seen) != n {
		t.Errorf("paged through %d events, want %d", len(seen), n)
	}
}

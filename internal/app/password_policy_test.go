package app

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAdminAPIRefusesCommonPasswords: the admin API answers a common
// breached password (ASVS 5.0 6.2.4), at creation and at a password
// change, with 400 invalid_request and a description naming the problem;
// nothing is created or changed.
func TestAdminAPIRefusesCommonPasswords(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	refused := func(status int, body any) {
		t.Helper()
		desc := field(body, "error_description")
		if status != http.StatusBadRequest || field(body, "error") != "invalid_request" ||
			!strings.Contains(desc, login.ErrCommonPassword.Error()) {
			t.Errorf("answer %d %s; want 400 invalid_request naming the common password", status, f.lastBody)
		}
	}
	for _, pw := range []string{"password", "12345678", "iloveyou", "Qwertyuiop"} {
		status, body := f.call(t, "POST", adminapi.Prefix+"/users", f.rootKey, map[string]any{"username": "ada", "password": pw})
		refused(status, body)
	}
	if status, _ := f.call(t, "GET", adminapi.Prefix+"/users/ada", f.rootKey, nil); status != http.StatusNotFound {
		t.Fatalf("a user refused for its password exists: %d", status)
	}
	status, body := f.call(t, "POST", adminapi.Prefix+"/users", f.rootKey, map[string]any{"username": "ada", "password": alicePassword})
	if status != http.StatusCreated {
		t.Fatalf("create with a strong password: %d %s", status, f.lastBody)
	}
	id := field(body, "id")
	before, err := f.srv.App.store.GetUser(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	status, body = f.call(t, "PUT", adminapi.Prefix+"/users/"+id+"/password", f.rootKey, map[string]any{"password": "trustno1"})
	refused(status, body)
	if after, err := f.srv.App.store.GetUser(t.Context(), id); err != nil || after.PasswordHash != before.PasswordHash {
		t.Fatalf("a refused password replaced the old one (%v)", err)
	}
	// The length rule keeps its own words.
	status, body = f.call(t, "PUT", adminapi.Prefix+"/users/"+id+"/password", f.rootKey, map[string]any{"password": "1234567"})
	if status != http.StatusBadRequest || !strings.Contains(field(body, "error_description"), login.ErrPasswordPolicy.Error()) {
		t.Errorf("short password: %d %s", status, f.lastBody)
	}
	if status, _ := f.call(t, "PUT", adminapi.Prefix+"/users/"+id+"/password", f.rootKey, map[string]any{"password": "a much better passphrase"}); status != http.StatusNoContent {
		t.Errorf("strong password change: %d %s", status, f.lastBody)
	}
}

// TestCommonPasswordStillSignsIn: a user whose password was set before the
// list existed, and is on it, still signs in; only setting one is refused.
func TestCommonPasswordStillSignsIn(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	const old = "iloveyou"
	if !login.IsCommonPassword(old) {
		t.Fatalf("%q is not on the list", old)
	}
	p := login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}
	salt := []byte("0123456789abcdef")
	hash := secret.EncodePHC(p, salt, argon2.IDKey([]byte(old), salt, p.Time, p.MemoryKiB, p.Threads, 32))
	u := mustUser(t, f)
	if _, err := f.srv.App.store.UpdateUser(t.Context(), u.ID, func(u store.User) (store.User, error) {
		u.PasswordHash = hash
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	pg := tryLogin(t, f, newBrowser(t, f.srv.URL), "alice", old)
	if !strings.Contains(pg.body, `value="allow"`) && pg.status != http.StatusFound && pg.status != http.StatusSeeOther {
		t.Fatalf("sign-in with an existing common password failed (%d):\n%.300s", pg.status, pg.body)
	}
}

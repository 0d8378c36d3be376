package cli

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/login"
)

// TestUsersRefuseCommonPasswords: every verb that sets a password (users
// create, users set-password, bootstrap) refuses a common breached
// password, locally and through the admin API, with exit 1 and the clear
// message on stderr; stdout holds nothing, or with --json one
// invalid_request error object.
func TestUsersRefuseCommonPasswords(t *testing.T) {
	f := newRemoteFixture(t, nil)
	if r := f.local(t, "correct horse battery\n", "users", "create", "--username", "alice", "--password-stdin"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	msg := login.ErrCommonPassword.Error()
	for _, c := range []struct {
		name, stdin string
		args        []string
	}{
		{"create", "password\n", []string{"users", "create", "--username", "bob", "--password-stdin"}},
		{"create --json", "12345678\n", []string{"users", "create", "--username", "bob", "--password-stdin", "--json"}},
		{"create, other case", "ILoveYou\n", []string{"users", "create", "--username", "bob", "--password-stdin"}},
		{"set-password", "qwertyuiop\n", []string{"users", "set-password", "alice", "--password-stdin"}},
		{"set-password --json", "trustno1\n", []string{"users", "set-password", "alice", "--password-stdin", "--json"}},
	} {
		for mode, run := range map[string]func(*testing.T, string, ...string) cliResult{"local": f.local, "remote": f.remote} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				r := run(t, c.stdin, c.args...)
				if r.code != 1 || !strings.Contains(r.stderr, msg) {
					t.Errorf("exit %d, stderr %q; want 1 with %q", r.code, r.stderr, msg)
				}
				if !strings.HasSuffix(c.name, "--json") {
					if r.stdout != "" {
						t.Errorf("stdout %q, want nothing", r.stdout)
					}
				} else if e := oneJSONError(t, r.stdout); e.Error != adminapi.CodeInvalidRequest || !strings.Contains(e.Description, msg) {
					t.Errorf("JSON error %+v, want invalid_request with %q", e, msg)
				}
				if mode == "remote" && !strings.Contains(r.stderr, "400 invalid_request") {
					t.Errorf("stderr %q does not name the server's answer", r.stderr)
				}
			})
		}
	}
	if r := f.local(t, "", "users", "get", "bob"); r.code != 1 {
		t.Errorf("a refused user exists: %+v", r)
	}
	code, out, errOut := runStdin(t, "password1\n", "bootstrap", "--username", "root", "--password-stdin", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, msg) || out != "" {
		t.Errorf("bootstrap: exit %d, stdout %q, stderr %q; want 1 with %q", code, out, errOut, msg)
	}
}

package cli

import (
	"strings"
	"testing"
)

// TestVerbsRefuseRolesThatDoNotExist: in local mode, as through the admin
// API, users create, clients create, clients update and apikeys create
// refuse a role that does not exist (exit 1, naming it) and change
// nothing; once the role exists they accept it.
func TestVerbsRefuseRolesThatDoNotExist(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "clients", "create", "--id", "ci", "--name", "ci", "--grant-types", "client_credentials", "--data-dir", dir)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"users create", "correct horse battery staple\n",
			[]string{"users", "create", "--username", "bob", "--password-stdin", "--roles", "ops"}, `role "ops" does not exist`},
		{"clients create", "",
			[]string{"clients", "create", "--id", "robot", "--name", "robot", "--grant-types", "client_credentials", "--roles", "ops,deployer"},
			`roles "ops", "deployer" do not exist`},
		{"clients update", "", []string{"clients", "update", "ci", "--roles", "ops"}, `role "ops" does not exist`},
		{"apikeys create", "", []string{"apikeys", "create", "--name", "k", "--roles", "ops"}, `role "ops" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runStdin(t, tc.stdin, append(tc.args, "--data-dir", dir)...)
			if code != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, tc.want)
			}
		})
	}
	var users struct{ Users []userJSON }
	mustRun(t, &users, "users", "list", "--json", "--data-dir", dir)
	var clients struct{ Clients []clientJSON }
	mustRun(t, &clients, "clients", "list", "--json", "--data-dir", dir)
	var keys struct {
		Keys []apiKeyJSON `json:"api_keys"`
	}
	mustRun(t, &keys, "apikeys", "list", "--json", "--data-dir", dir)
	if len(users.Users) != 0 || len(clients.Clients) != 1 || len(clients.Clients[0].Roles) != 0 || len(keys.Keys) != 0 {
		t.Fatalf("refused verbs changed the store: users %v, clients %v, keys %v", users, clients, keys)
	}

	mustRun(t, nil, "roles", "create", "ops", "--permissions", "items:read", "--data-dir", dir)
	if code, _, stderr := runStdin(t, "correct horse battery staple\n", "users", "create", "--username", "bob",
		"--password-stdin", "--roles", "ops", "--data-dir", dir); code != exitOK {
		t.Fatalf("users create with an existing role: exit %d: %s", code, stderr)
	}
	mustRun(t, nil, "clients", "update", "ci", "--roles", "ops", "--data-dir", dir)
}

package cli

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
)

// remoteFixture is a server on a data directory, served over loopback
// http, with an admin API key (bootstrapped through the CLI) in
// GATEHOUSE_API_KEY.
type remoteFixture struct {
	dir, url, key string
}

// setup, if not nil, runs on the data directory before the server starts
// (the server reads role definitions at most once a second).
func newRemoteFixture(t *testing.T, setup func(dir string)) *remoteFixture {
	t.Helper()
	dir := t.TempDir()
	var b testBootstrap
	mustRun(t, &b, "bootstrap", "--api-key", "--name", "ops", "--json", "--data-dir", dir)
	if setup != nil {
		setup(dir)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Served as `gatehouse serve` does, background work included: the
	// audit log's writer stores the events of the API's changes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = a.Close()
	})
	t.Setenv(config.APIKeyEnv, b.APIKey.Key)
	return &remoteFixture{dir: dir, url: "http://" + ln.Addr().String(), key: b.APIKey.Key}
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// remote runs args ("group verb ...") against the server, local against
// its data directory.
func (f *remoteFixture) remote(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runWith(t, stdin, args, "--server", f.url)
}

func (f *remoteFixture) local(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runWith(t, stdin, args, "--data-dir", f.dir)
}

// runWith runs args with flags after the verb, before any "--" (generated
// ids may start with "-").
func runWith(t *testing.T, stdin string, args []string, flags ...string) cliResult {
	t.Helper()
	n := min(2, len(args))
	all := append(append(slices.Clone(args[:n]), flags...), args[n:]...)
	code, out, errOut := runStdin(t, stdin, all...)
	return cliResult{code, out, errOut}
}

// same runs args in both modes (remote first) and fails unless the exit
// codes and outputs are equal after mask.
func (f *remoteFixture) same(t *testing.T, mask func(string) string, args ...string) string {
	t.Helper()
	r, l := f.remote(t, "", args...), f.local(t, "", args...)
	if r.code != 0 || l.code != 0 {
		t.Fatalf("%v: exit %d remote (%s), %d local (%s)", args, r.code, r.stderr, l.code, l.stderr)
	}
	if mask == nil {
		mask = func(s string) string { return s }
	}
	if mask(r.stdout) != mask(l.stdout) {
		t.Errorf("%v: outputs differ\nremote:\n%s\nlocal:\n%s", args, r.stdout, l.stdout)
	}
	return r.stdout
}

var (
	maskedTime   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	maskedSecret = regexp.MustCompile(`[A-Za-z0-9_-]{43}`) // client secrets, key bodies, kids
	maskedID     = regexp.MustCompile(`[A-Za-z0-9_-]{20,}`)
	maskedPrefix = regexp.MustCompile(`sk_[A-Za-z0-9_-]{8}…`)
	maskedKey    = regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`)
	logLine      = regexp.MustCompile(`(?m)^\{"time":.*\n`) // local mode logs key rotations
)

// masked hides what legitimately differs between two objects made the
// same way: times, secrets, generated ids, and the "remote"/"local" in the
// names the test gave them. Column padding follows the widths, so runs of
// spaces are folded too.
func masked(s string) string {
	s = strings.NewReplacer("remote", "X", "local", "X").Replace(s)
	s = maskedTime.ReplaceAllString(s, "TIME")
	s = logLine.ReplaceAllString(s, "")
	s = maskedPrefix.ReplaceAllString(s, "PREFIX")
	s = maskedKey.ReplaceAllString(s, "KEY")
	s = maskedSecret.ReplaceAllString(s, "SECRET")
	s = maskedID.ReplaceAllString(s, "ID")
	return regexp.MustCompile(` +`).ReplaceAllString(s, " ")
}

// TestRemoteReadsMatchLocal: every read verb prints the same bytes, table
// and JSON, from the server as from the store.
func TestRemoteReadsMatchLocal(t *testing.T) {
	f := newRemoteFixture(t, nil)
	mustRun(t, nil, "roles", "create", "reader", "--permissions", "clients:read,users:*", "--description", "Read", "--data-dir", f.dir)
	mustRun(t, nil, "clients", "create", "--id", "ci", "--name", "CI", "--grant-types", "client_credentials",
		"--scopes", "items:read", "--roles", "reader", "--refresh-grace", "10s", "--data-dir", f.dir)
	mustRun(t, nil, "clients", "create", "--id", "web", "--name", "Web", "--public", "--redirect-uri", "https://app.example/cb",
		"--grant-types", "authorization_code,refresh_token", "--data-dir", f.dir)
	if r := f.local(t, "correct horse battery\n", "users", "create", "--username", "alice", "--email", "alice@example.com",
		"--roles", "reader", "--password-stdin"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	var k testAPIKey
	mustRun(t, &k, "apikeys", "create", "--name", "ci key", "--roles", "reader", "--scopes", "items:read", "--json", "--data-dir", f.dir)
	f.remote(t, "", "roles", "list") // the first use of the admin key is recorded (last used)

	for _, args := range [][]string{
		{"clients", "list"}, {"clients", "list", "--json"}, {"clients", "get", "ci"}, {"clients", "get", "web", "--json"},
		{"users", "list"}, {"users", "list", "--json"}, {"users", "get", "alice"}, {"users", "get", "alice@example.com", "--json"},
		{"roles", "list"}, {"roles", "list", "--json"}, {"roles", "get", "reader"}, {"roles", "get", "admin", "--json"},
		{"apikeys", "list"}, {"apikeys", "list", "--json"}, {"apikeys", "get", "--", k.ID}, {"apikeys", "get", "--json", "--", k.ID},
		{"audit", "list"}, {"audit", "list", "--json"}, {"audit", "list", "--limit", "2", "--json"},
		{"keys", "list"}, {"keys", "list", "--json"},
	} {
		f.same(t, nil, args...)
	}
	if out := f.same(t, nil, "users", "get", "alice", "--json"); !strings.Contains(out, `"username": "alice"`) {
		t.Fatalf("users get: %s", out)
	}
}

// TestRemoteWritesMatchLocal makes the same changes in both modes, on twin
// objects, and compares the outputs; every remote change shows in local
// mode.
func TestRemoteWritesMatchLocal(t *testing.T) {
	f := newRemoteFixture(t, nil)
	both := func(stdin string, args func(who string) []string) {
		t.Helper()
		r, l := f.remote(t, stdin, args("remote")...), f.local(t, stdin, args("local")...)
		// Error texts differ (the remote ones name the HTTP answer); the
		// exit codes and any output must not.
		if r.code != l.code || masked(r.stdout) != masked(l.stdout) || r.code == 0 && masked(r.stderr) != masked(l.stderr) {
			t.Errorf("%v: remote and local differ\nremote %d:\n%s%s\nlocal %d:\n%s%s", args("X"),
				r.code, r.stdout, r.stderr, l.code, l.stdout, l.stderr)
		}
	}
	// Roles.
	both("", func(w string) []string {
		return []string{"roles", "create", w + "_role", "--permissions", "items:read", "--description", "d", "--json"}
	})
	both("", func(w string) []string {
		return []string{"roles", "create", w + "_other", "--permissions", "items:write"}
	})
	both("", func(w string) []string {
		return []string{"roles", "set-permissions", w + "_role", "--permissions", "items:read,items:write", "--json"}
	})
	both("", func(w string) []string {
		return []string{"roles", "set-permissions", w + "_other", "--permissions", ""}
	})
	// Clients.
	both("", func(w string) []string {
		return []string{"clients", "create", "--id", w + "-ci", "--name", "CI", "--grant-types", "client_credentials",
			"--scopes", "items:read", "--roles", w + "_role", "--json"}
	})
	both("", func(w string) []string {
		return []string{"clients", "create", "--id", w + "-web", "--name", "Web", "--redirect-uri", "https://app.example/cb"}
	})
	both("", func(w string) []string {
		return []string{"clients", "update", w + "-ci", "--name", "CI 2", "--scopes", "items:read,items:write",
			"--refresh-grace", "5s", "--skip-consent", "--roles", w + "_other", "--json"}
	})
	both("", func(w string) []string {
		return []string{"clients", "update", w + "-web", "--redirect-uri", "https://app.example/cb2"}
	})
	both("", func(w string) []string { return []string{"clients", "rotate-secret", w + "-ci", "--json"} })
	both("", func(w string) []string { return []string{"clients", "rotate-secret", w + "-web"} })
	// Users.
	both("correct horse battery\n", func(w string) []string {
		return []string{"users", "create", "--username", w + "json", "--email", w + "json@example.com",
			"--roles", w + "_role", "--password-stdin", "--json"}
	})
	both("correct horse battery\n", func(w string) []string {
		return []string{"users", "create", "--username", w + "pass", "--password-stdin"}
	})
	both("", func(w string) []string { return []string{"users", "disable", w + "json", "--json"} })
	both("", func(w string) []string { return []string{"users", "enable", w + "json@example.com"} })
	both("another long password\n", func(w string) []string {
		return []string{"users", "set-password", w + "json", "--password-stdin", "--json"}
	})
	// Role grants.
	both("", func(w string) []string {
		return []string{"roles", "grant", w + "_other", "--user", w + "json", "--json"}
	})
	both("", func(w string) []string { return []string{"roles", "grant", w + "_other", "--client", w + "-web"} })
	both("", func(w string) []string {
		return []string{"roles", "revoke", w + "_other", "--user", w + "json@example.com"}
	})
	both("", func(w string) []string {
		return []string{"roles", "revoke", w + "_other", "--user", w + "json", "--json"}
	})
	both("", func(w string) []string {
		return []string{"roles", "revoke", w + "_other", "--client", w + "-web", "--json"}
	})
	// API keys.
	both("", func(w string) []string {
		return []string{"apikeys", "create", "--name", w + " key", "--roles", w + "_role", "--scopes", "items:read", "--expires-in", "30d", "--json"}
	})
	both("", func(w string) []string {
		return []string{"apikeys", "create", "--name", w + " key 2", "--expires-in", "never"}
	})
	// Signing keys.
	both("", func(w string) []string { return []string{"keys", "rotate", "--immediate", "--json"} })
	both("", func(w string) []string { return []string{"keys", "rotate", "--immediate", "--alg", "ES256"} })
	// A pre-published rotation, then one more while it is pending: both
	// modes refuse the second alike.
	if r := f.remote(t, "", "keys", "rotate", "--alg", "ES256"); r.code != 0 || !strings.Contains(r.stdout, "signing from") {
		t.Errorf("remote keys rotate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	both("", func(w string) []string { return []string{"keys", "rotate", "--alg", "ES256"} })

	// The remote changes are in the store.
	var c struct {
		Name        string   `json:"name"`
		Roles       []string `json:"roles"`
		SkipConsent bool     `json:"skip_consent"`
	}
	mustRun(t, &c, "clients", "get", "remote-ci", "--json", "--data-dir", f.dir)
	if c.Name != "CI 2" || !c.SkipConsent || len(c.Roles) != 1 || c.Roles[0] != "remote_other" {
		t.Errorf("remote clients update not in the store: %+v", c)
	}
	var u struct {
		Roles    []string `json:"roles"`
		Disabled bool     `json:"disabled"`
	}
	mustRun(t, &u, "users", "get", "remotejson", "--json", "--data-dir", f.dir)
	if u.Disabled || len(u.Roles) != 1 || u.Roles[0] != "remote_role" {
		t.Errorf("remote user changes not in the store: %+v", u)
	}
	var r testRole
	mustRun(t, &r, "roles", "get", "remote_role", "--json", "--data-dir", f.dir)
	if strings.Join(r.Permissions, ",") != "items:read,items:write" {
		t.Errorf("remote set-permissions not in the store: %+v", r)
	}

	// API key rotation and revocation, then deletions, on the keys and
	// objects made above.
	var keys struct {
		APIKeys []testAPIKey `json:"api_keys"`
	}
	mustRun(t, &keys, "apikeys", "list", "--json", "--data-dir", f.dir)
	ids := map[string]string{}
	for _, k := range keys.APIKeys {
		ids[k.Name] = k.ID
	}
	both("", func(w string) []string {
		return []string{"apikeys", "rotate", "--overlap", "1h", "--json", "--", ids[w+" key"]}
	})
	both("", func(w string) []string { return []string{"apikeys", "rotate", "--overlap", "0", "--", ids[w+" key 2"]} })
	both("", func(w string) []string { return []string{"apikeys", "revoke", "--json", "--", ids[w+" key"]} })
	both("", func(w string) []string { return []string{"apikeys", "revoke", "--", ids[w+" key 2"]} })
	both("", func(w string) []string { return []string{"apikeys", "rotate", "--", ids[w+" key"]} }) // revoked: refused
	var k testAPIKey
	mustRun(t, &k, "apikeys", "get", "--json", "--data-dir", f.dir, "--", ids["remote key"])
	if k.State != "revoked" {
		t.Errorf("remote revoke not in the store: %+v", k)
	}
	both("", func(w string) []string { return []string{"roles", "delete", w + "_role"} }) // in use: refused
	both("", func(w string) []string { return []string{"users", "delete", w + "json", "--json"} })
	both("", func(w string) []string { return []string{"users", "delete", w + "pass"} })
	both("", func(w string) []string { return []string{"clients", "delete", w + "-ci", "--json"} })
	both("", func(w string) []string { return []string{"clients", "delete", w + "-web"} })
	both("", func(w string) []string { return []string{"roles", "delete", w + "_other", "--json"} })
	if code, _, errOut := runCLI(t, "clients", "get", "remote-ci", "--data-dir", f.dir); code != 1 || !strings.Contains(errOut, `no client "remote-ci"`) {
		t.Errorf("remote clients delete not in the store: exit %d %s", code, errOut)
	}
}

// TestRemoteErrors: refusals say what is wrong, exit as local mode does,
// and never print the key.
func TestRemoteErrors(t *testing.T) {
	var reader testAPIKey
	f := newRemoteFixture(t, func(dir string) {
		mustRun(t, nil, "roles", "create", "reader", "--permissions", "roles:read", "--data-dir", dir)
		mustRun(t, &reader, "apikeys", "create", "--name", "reader", "--roles", "reader", "--json", "--data-dir", dir)
	})
	mustRun(t, nil, "roles", "create", "held", "--permissions", "a:b", "--data-dir", f.dir)
	mustRun(t, nil, "clients", "create", "--id", "ci", "--name", "CI", "--grant-types", "client_credentials", "--roles", "held", "--data-dir", f.dir)

	// Not found, conflicts and validation: the same words and exit codes
	// in both modes.
	for _, args := range [][]string{
		{"clients", "get", "nope"}, {"clients", "update", "nope", "--name", "x"}, {"clients", "delete", "nope"},
		{"clients", "rotate-secret", "nope"},
		{"users", "get", "nobody"}, {"users", "disable", "nobody"}, {"users", "delete", "nobody"},
		{"roles", "get", "nope"}, {"roles", "set-permissions", "nope", "--permissions", "a:b"}, {"roles", "delete", "nope"},
		{"roles", "grant", "held", "--user", "nobody"}, {"roles", "revoke", "held", "--client", "nope"},
		{"roles", "grant", "nope", "--client", "ci"},
		{"apikeys", "get", "nope"}, {"apikeys", "revoke", "nope"}, {"apikeys", "rotate", "nope"},
		{"roles", "create", "held", "--permissions", "a:b"},
		{"clients", "create", "--name", "bad", "--redirect-uri", "http://evil.example/cb"},
		{"roles", "create", "bad", "--permissions", "cl*:read"},
		{"keys", "rotate", "--alg", "HS256"},
	} {
		r, l := f.remote(t, "", args...), f.local(t, "", args...)
		if r.code != 1 || l.code != 1 {
			t.Errorf("%v: exit %d remote, %d local; want 1", args, r.code, l.code)
			continue
		}
		// Local mode's first words ("no client \"nope\"", "role \"held\"
		// already exists") lead the remote message too.
		first := strings.SplitN(strings.TrimPrefix(l.stderr, "gatehouse: "), ":", 2)[0]
		if strings.HasPrefix(first, "no ") || strings.Contains(first, "already exists") {
			if !strings.Contains(r.stderr, strings.TrimSpace(first)) {
				t.Errorf("%v: remote says %q, local %q", args, r.stderr, l.stderr)
			}
		}
	}
	r := f.remote(t, "", "roles", "delete", "held")
	if r.code != 1 || !strings.Contains(r.stderr, `cannot delete role "held"`) || !strings.Contains(r.stderr, "409 in_use") {
		t.Errorf("delete in use: %+v", r)
	}

	// The token endpoint auth method changes remotely too.
	if r := f.remote(t, "", "clients", "update", "ci", "--auth-method", "client_secret_post"); r.code != 0 {
		t.Errorf("remote --auth-method: %+v", r)
	}
	if r := f.local(t, "", "clients", "get", "ci", "--json"); !strings.Contains(r.stdout, `"token_endpoint_auth_method": "client_secret_post"`) &&
		!strings.Contains(r.stdout, `"token_endpoint_auth_method":"client_secret_post"`) {
		t.Errorf("after remote --auth-method: %s", r.stdout)
	}

	// Usage errors: exit 2, nothing sent.
	for name, c := range map[string]struct {
		env      string
		args     []string
		inStderr string
	}{
		"no key":           {"", []string{"roles", "list", "--server", f.url}, config.APIKeyEnv},
		"http not local":   {f.key, []string{"roles", "list", "--server", "http://auth.example.com"}, "loopback"},
		"no scheme":        {f.key, []string{"roles", "list", "--server", "auth.example.com"}, "want the server's URL"},
		"credentials":      {f.key, []string{"roles", "list", "--server", "https://u:p@auth.example.com"}, config.APIKeyEnv},
		"with data dir":    {f.key, []string{"roles", "list", "--server", f.url, "--data-dir", f.dir}, "--data-dir"},
		"key is no flag":   {f.key, []string{"roles", "list", "--server", f.url, "--api-key", f.key}, "unknown flag"},
		"still validated":  {f.key, []string{"roles", "create", "x", "--server", f.url}, "--permissions is required"},
		"server on bogus":  {f.key, []string{"routes", "--server", f.url}, "unknown flag"},
		"ftp":              {f.key, []string{"keys", "list", "--server", "ftp://127.0.0.1"}, "https"},
		"query":            {f.key, []string{"audit", "list", "--server", f.url + "?x=1"}, "query"},
		"no key for users": {"", []string{"users", "list", "--server", f.url}, "never taken as a flag"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(config.APIKeyEnv, c.env)
			code, out, errOut := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errOut, c.inStderr) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, errOut, c.inStderr)
			}
			if strings.Contains(out+errOut, f.key) {
				t.Errorf("the key is printed: %s %s", out, errOut)
			}
		})
	}

	// A wrong key and a revoked key: refused with exit 1, not echoed.
	var spare testAPIKey
	mustRun(t, &spare, "apikeys", "create", "--name", "spare", "--roles", "admin", "--json", "--data-dir", f.dir)
	mustRun(t, nil, "apikeys", "revoke", "--data-dir", f.dir, "--", spare.ID)
	for name, c := range map[string]struct {
		key      string
		args     []string
		inStderr string
	}{
		"wrong":   {"sk_" + strings.Repeat("A", 43), []string{"roles", "list"}, "refused the API key in GATEHOUSE_API_KEY (401 invalid_token)"},
		"revoked": {spare.Key, []string{"clients", "list", "--json"}, "refused the API key"},
		"garbage": {"not a key", []string{"users", "list"}, "refused the API key"},
		"too weak": {reader.Key, []string{"roles", "create", "x", "--permissions", "a:b"},
			"lacks the permission for this (403 insufficient_scope)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(config.APIKeyEnv, c.key)
			r := f.remote(t, "", c.args...)
			if r.code != 1 || !strings.Contains(r.stderr, c.inStderr) {
				t.Errorf("exit %d, stderr %q; want 1 mentioning %q", r.code, r.stderr, c.inStderr)
			}
			if !slices.Contains(c.args, "--json") && r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if strings.Contains(r.stderr, c.key) {
				t.Errorf("the key is printed: %s", r.stderr)
			}
		})
	}
	t.Setenv(config.APIKeyEnv, reader.Key)
	if r := f.remote(t, "", "roles", "list", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"reader"`) {
		t.Errorf("a key with roles:read cannot list roles: %+v", r)
	}
}

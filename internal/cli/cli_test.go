package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI in-process with a fresh data dir unless args name one.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(file, []byte("issuer: http://auth.example.com\nlisten: nope\nlsten: typo\ntokens:\n  code_ttl: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "config", "check", "--config", file)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"lsten", "issuer", "listen", "tokens.code_ttl"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %s:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "config", "check", "--json", "--config", file)
	var res struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	if code != 1 || res.OK || len(res.Problems) != 5 {
		t.Fatalf("exit %d, result %+v; want 5 problems (the https issuer also needs a master key)", code, res)
	}
}

func TestConfigCheckOK(t *testing.T) {
	code, out, errOut := runCLI(t, "config", "check", "--data-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
}

func TestConfigCheckProductionNeedsMasterKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "prod.yaml")
	if err := os.WriteFile(file, []byte("issuer: https://auth.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "config", "check", "--config", file, "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "master_key_file") {
		t.Fatalf("exit %d, output %s; want a master key problem", code, out)
	}
}

func TestUsageErrorExitCode(t *testing.T) {
	if code, _, _ := runCLI(t, "serve", "--no-such-flag"); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

func TestMigrateAndKeysCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "migrate", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	var mig struct{ Applied []int64 }
	if err := json.Unmarshal([]byte(out), &mig); err != nil || len(mig.Applied) == 0 {
		t.Fatalf("migrate --json: %v %s", err, out)
	}
	if code, out, _ = runCLI(t, "migrate", "--data-dir", dir); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %d %s", code, out)
	}

	code, out, errOut = runCLI(t, "keys", "rotate", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("rotate: %d %s", code, errOut)
	}
	var rot struct {
		Rotated []struct{ Kid, Alg string }
	}
	if err := json.Unmarshal([]byte(out), &rot); err != nil || len(rot.Rotated) != 2 {
		t.Fatalf("rotate --json: %v %s", err, out)
	}

	listStates := func() (map[string]int, string) {
		t.Helper()
		code, out, errOut := runCLI(t, "keys", "list", "--json", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		var list struct {
			Keys []struct {
				Kid, Alg, State string
				PublishUntil    *string `json:"publish_until"`
				ActivateAt      *string `json:"activate_at"`
			}
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		states := map[string]int{}
		for _, k := range list.Keys {
			states[k.Alg+"/"+k.State]++
			if k.State == "retired" && k.PublishUntil == nil {
				t.Errorf("retired key %s has no publish_until", k.Kid)
			}
			if (k.State == "next") != (k.ActivateAt != nil) {
				t.Errorf("%s key %s: activate_at %v", k.State, k.Kid, k.ActivateAt)
			}
		}
		if strings.Contains(out, `"d"`) || strings.Contains(out, "sealed") {
			t.Error("keys list prints key material")
		}
		return states, out
	}
	wantStates := func(got, want map[string]int) {
		t.Helper()
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %d keys, want %d (all: %v)", k, got[k], n, got)
			}
		}
	}

	// A rotation publishes next keys; the active ones keep signing.
	states, out := listStates()
	wantStates(states, map[string]int{"ES256/active": 1, "ES256/next": 1, "RS256/active": 1, "RS256/next": 1})
	for _, r := range rot.Rotated {
		if !strings.Contains(out, r.Kid) {
			t.Errorf("rotated kid %s not listed", r.Kid)
		}
	}
	code, out, _ = runCLI(t, "keys", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "SIGNS FROM") || strings.Count(out, "\n") != 5 {
		t.Fatalf("human list: %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, "keys", "rotate", "--data-dir", dir); code == 0 || !strings.Contains(errOut+out, "pending") {
		t.Errorf("a second rotation while one is pending: %d %s %s", code, out, errOut)
	}

	// --immediate: new active keys now; the old active and next keys retire.
	code, out, errOut = runCLI(t, "keys", "rotate", "--immediate", "--data-dir", dir)
	if code != 0 || strings.Count(out, "signing now") != 2 {
		t.Fatalf("rotate --immediate: %d %s %s", code, out, errOut)
	}
	states, _ = listStates()
	wantStates(states, map[string]int{"ES256/active": 1, "ES256/retired": 2, "ES256/next": 0, "RS256/active": 1, "RS256/retired": 2})
}

// TestClientsUsersAndAuditCommands is CA-05 through the CLI: the secret is
// printed once at creation and never again; users take passwords on stdin.
func TestClientsUsersAndAuditCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "clients", "create", "--data-dir", dir, "--id", "ci", "--name", "CI",
		"--grant-types", "client_credentials", "--scopes", "items:read", "--json")
	if code != 0 {
		t.Fatalf("clients create: %d %s", code, errOut)
	}
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientID != "ci" || len(created.ClientSecret) != 43 {
		t.Fatalf("create output %s (%v)", out, err)
	}
	for _, args := range [][]string{{"clients", "get", "ci", "--json"}, {"clients", "list", "--json"}, {"clients", "get", "ci"}, {"clients", "list"}} {
		code, out, _ := runCLI(t, append(args, "--data-dir", dir)...)
		if code != 0 || strings.Contains(out, created.ClientSecret) || strings.Contains(out, "secret_hash") || strings.Contains(out, `"client_secret":`) || strings.Contains(out, "client_secret: ") {
			t.Errorf("%v: exit %d, output shows secret material:\n%s", args, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "clients", "get", "nope", "--data-dir", dir); code != 1 || !strings.Contains(errOut, `no client "nope"`) {
		t.Errorf("get unknown: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "clients", "create", "--data-dir", dir, "--name", "bad", "--redirect-uri", "http://evil.example/cb"); code != 1 || !strings.Contains(errOut, "https") {
		t.Errorf("bad redirect accepted: %d %s", code, errOut)
	}

	mustRun(t, nil, "roles", "create", "admin", "--permissions", "*:*", "--data-dir", dir) // roles are given once they exist
	var outb, errb bytes.Buffer
	code = run(t.Context(), []string{"users", "create", "--data-dir", dir, "--username", "alice", "--email", "alice@example.com",
		"--roles", "admin", "--password-stdin", "--json"}, strings.NewReader("correct horse battery\n"), &outb, &errb)
	if code != 0 || !strings.Contains(outb.String(), `"username": "alice"`) || strings.Contains(outb.String(), "argon2") {
		t.Fatalf("users create: %d %s %s", code, outb.String(), errb.String())
	}
	outb.Reset()
	code = run(t.Context(), []string{"users", "create", "--data-dir", dir, "--username", "bob", "--password-stdin"}, strings.NewReader("short\n"), &outb, &errb)
	if code != 1 {
		t.Fatalf("short password accepted: %d", code)
	}
	if code, out, _ := runCLI(t, "users", "disable", "alice", "--data-dir", dir, "--json"); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Fatalf("disable: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, "audit", "list", "--data-dir", dir, "--json"); code != 0 || !strings.Contains(out, `"events"`) {
		t.Fatalf("audit list: %d %s", code, out)
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "version", "--json")
	var b BuildInfo
	if code != 0 || json.Unmarshal([]byte(out), &b) != nil || b.Version == "" || b.GoVersion == "" {
		t.Fatalf("version --json: %d %q", code, out)
	}
}

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const federationFile = `policies:
  - name: gh-main
    issuer: https://token.actions.githubusercontent.com
    audience: https://gatehouse.example
    conditions:
      sub: "repo:acme/app:ref:refs/heads/main"
      repository_owner: acme
    subject: "ci:{sub}"
    roles: [deployer]
    audiences: [https://api.example]
    token_ttl_seconds: 600
  - name: k8s-ci
    issuer: https://kubernetes.default.svc.cluster.local
    audience: gatehouse
    jwks: {"keys": []}
    conditions:
      kubernetes.io/namespace: ci
    audiences: [https://api.example]
    allow_reuse: true
`

// TestFederationCommands applies a policy file locally and on a server,
// lists, shows and deletes policies, and refuses a bad file whole.
func TestFederationCommands(t *testing.T) {
	f := newRemoteFixture(t, nil)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", federationFile)
	if r := f.local(t, "", "roles", "create", "deployer", "--permissions", "deployments:create"); r.code != 0 {
		t.Fatalf("roles create: %+v", r)
	}
	for _, mode := range []string{"local", "remote"} {
		run := f.local
		if mode == "remote" {
			run = f.remote
		}
		r := run(t, "", "federation", "apply", "--file", good, "--json")
		var out struct {
			Changes []struct{ Name, Action string }
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Changes) != 2 {
			t.Fatalf("%s apply: %+v", mode, r)
		}
		wantAction := map[string]string{"local": "created", "remote": "replaced"}[mode]
		if out.Changes[0].Action != wantAction {
			t.Errorf("%s apply: %+v, want %s", mode, out.Changes, wantAction)
		}
		if r := run(t, "", "federation", "list"); r.code != 0 || !strings.Contains(r.stdout, "gh-main") || !strings.Contains(r.stdout, "k8s-ci") {
			t.Fatalf("%s list: %+v", mode, r)
		}
		r = run(t, "", "federation", "get", "gh-main")
		var doc map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc["subject"] != "ci:{sub}" || doc["token_ttl_seconds"] != float64(600) {
			t.Fatalf("%s get: %+v", mode, r)
		}
	}

	// A file with one bad policy changes nothing.
	bad := write("bad.yaml", strings.Replace(federationFile, "audience: gatehouse", "audience: \"\"", 1)+
		"  - name: third\n    issuer: https://x.example\n    audience: a\n    audiences: [b]\n")
	if r := f.local(t, "", "federation", "apply", "--file", bad); r.code == 0 || !strings.Contains(r.stderr, "audience is required") {
		t.Fatalf("bad file: %+v", r)
	}
	if r := f.local(t, "", "federation", "get", "third"); r.code == 0 {
		t.Fatal("a policy of a refused file was applied")
	}
	unknown := write("unknown.yaml", "- name: x\n  issuer: https://x.example\n  audience: a\n  audiences: [b]\n  roles: [nope]\n")
	if r := f.remote(t, "", "federation", "apply", "--file", unknown); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("unknown role: %+v", r)
	}
	typo := write("typo.yaml", "- name: x\n  isuer: https://x.example\n")
	if r := f.local(t, "", "federation", "apply", "--file", typo); r.code == 0 || !strings.Contains(r.stderr, "isuer") {
		t.Fatalf("unknown field: %+v", r)
	}

	// --prune deletes what the file does not name.
	one := write("one.yaml", federationFile[:strings.Index(federationFile, "  - name: k8s-ci")])
	if r := f.remote(t, "", "federation", "apply", "--file", one, "--prune"); r.code != 0 || !strings.Contains(r.stdout, "deleted k8s-ci") {
		t.Fatalf("prune: %+v", r)
	}
	if r := f.local(t, "", "federation", "delete", "gh-main"); r.code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := f.remote(t, "", "federation", "delete", "gh-main"); r.code == 0 || !strings.Contains(r.stderr, "no federation policy") {
		t.Fatalf("second delete: %+v", r)
	}
	if r := f.local(t, "", "federation", "get", "gh-main", "--json"); r.code == 0 || !strings.Contains(r.stdout, `"error": "not_found"`) {
		t.Errorf("get of a missing policy with --json: %+v, want the not_found error object", r)
	}
}

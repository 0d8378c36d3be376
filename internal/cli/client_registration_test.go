package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClientsRefuseBadRedirectURIs: clients create and clients update
// refuse a redirect or post-logout redirect URI whose port is 0, above
// 65535 or not a number (or that is otherwise invalid), locally and
// through the admin API (which answers invalid_redirect_uri), with exit 1
// and a message naming the URI's problem (with --json, also an
// invalid_redirect_uri error object on stdout); nothing changes.
func TestClientsRefuseBadRedirectURIs(t *testing.T) {
	f := newRemoteFixture(t, nil)
	mustRun(t, nil, "clients", "create", "--id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb", "--data-dir", f.dir)
	for _, c := range []struct{ uri, inStderr string }{
		{"https://app.example:0/cb", "port 0"},
		{"https://app.example:65536/cb", "port 65536"},
		{"http://127.0.0.1:99999/cb", "port 99999"},
		{"https://app.example:abc/cb", "not a URL"},
		{"app.example/cb", "not absolute"},
		{"https://app.example/cb#x", "fragment"},
	} {
		for _, args := range [][]string{
			{"clients", "create", "--name", "Bad", "--redirect-uri", c.uri},
			{"clients", "create", "--name", "Bad", "--redirect-uri", "https://app.example/cb", "--post-logout-redirect-uri", c.uri, "--json"},
			{"clients", "update", "web", "--redirect-uri", c.uri},
			{"clients", "update", "web", "--post-logout-redirect-uri", c.uri, "--json"},
		} {
			for mode, run := range map[string]func(*testing.T, string, ...string) cliResult{"local": f.local, "remote": f.remote} {
				r := run(t, "", args...)
				if r.code != 1 || !strings.Contains(r.stderr, c.inStderr) {
					t.Errorf("%s %v: exit %d, stderr %q; want 1 mentioning %q", mode, args, r.code, r.stderr, c.inStderr)
				}
				if args[len(args)-1] != "--json" {
					if r.stdout != "" {
						t.Errorf("%s %v: stdout %q, want nothing", mode, args, r.stdout)
					}
				} else if e := oneJSONError(t, r.stdout); e.Error != "invalid_redirect_uri" {
					t.Errorf("%s %v: JSON error %+v, want invalid_redirect_uri", mode, args, e)
				}
				if mode == "remote" && !strings.Contains(r.stderr, "400 invalid_redirect_uri") {
					t.Errorf("remote %v: stderr %q does not name invalid_redirect_uri", args, r.stderr)
				}
			}
		}
	}
	if out := mustRun(t, nil, "clients", "list", "--data-dir", f.dir); strings.Contains(out, "Bad") {
		t.Errorf("a refused client was stored:\n%s", out)
	}
	if r := f.local(t, "", "clients", "get", "web", "--json"); strings.Contains(r.stdout, ":0/") || strings.Contains(r.stdout, "#x") {
		t.Errorf("a refused change was stored:\n%s", r.stdout)
	}
	if r := f.remote(t, "", "clients", "update", "web", "--name", ""); r.code != 1 || !strings.Contains(r.stderr, "400 invalid_client_metadata") {
		t.Errorf("empty name: exit %d, stderr %q; want invalid_client_metadata", r.code, r.stderr)
	}
}

// TestClientsOmitRefreshIDToken: --omit-refresh-id-token sets the client's
// omit_refresh_id_token on create and update, locally and through the
// admin API, and an update that does not name it leaves it alone.
func TestClientsOmitRefreshIDToken(t *testing.T) {
	f := newRemoteFixture(t, nil)
	for mode, run := range map[string]func(*testing.T, string, ...string) cliResult{"local": f.local, "remote": f.remote} {
		id := "web-" + mode
		omitted := func(args ...string) bool {
			t.Helper()
			r := run(t, "", args...)
			var v struct {
				Omit *bool `json:"omit_refresh_id_token"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Omit == nil {
				t.Fatalf("%s %v: exit %d, stdout %q, stderr %q", mode, args, r.code, r.stdout, r.stderr)
			}
			return *v.Omit
		}
		if !omitted("clients", "create", "--id", id, "--name", "Web", "--redirect-uri", "https://app.example/cb", "--omit-refresh-id-token", "--json") {
			t.Errorf("%s: created with --omit-refresh-id-token, but it is off", mode)
		}
		if !omitted("clients", "update", id, "--name", "Web 2", "--json") {
			t.Errorf("%s: an update of the name turned omit_refresh_id_token off", mode)
		}
		if omitted("clients", "update", id, "--omit-refresh-id-token=false", "--json") {
			t.Errorf("%s: --omit-refresh-id-token=false left it on", mode)
		}
		if omitted("clients", "create", "--id", id+"-default", "--name", "Web", "--redirect-uri", "https://app.example/cb", "--json") {
			t.Errorf("%s: a new client omits refresh id_tokens by default", mode)
		}
	}
}

// TestClientsCreateDeviceClient: a public client of the device grant (RFC
// 8628) and refresh tokens is registered from the command line, locally
// and through the admin API, with its grant types as given.
func TestClientsCreateDeviceClient(t *testing.T) {
	f := newRemoteFixture(t, nil)
	for mode, run := range map[string]func(*testing.T, string, ...string) cliResult{"local": f.local, "remote": f.remote} {
		r := run(t, "", "clients", "create", "--id", "tv-"+mode, "--name", "TV", "--public",
			"--grant-types", "urn:ietf:params:oauth:grant-type:device_code,refresh_token", "--scopes", "openid,offline_access", "--json")
		var v struct {
			Public     bool     `json:"public"`
			GrantTypes []string `json:"grant_types"`
			Secret     string   `json:"client_secret"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", mode, r.code, r.stdout, r.stderr)
		}
		if !v.Public || v.Secret != "" || strings.Join(v.GrantTypes, " ") != "urn:ietf:params:oauth:grant-type:device_code refresh_token" {
			t.Errorf("%s: device client %+v, want public, no secret, the device and refresh grants", mode, v)
		}
	}
}

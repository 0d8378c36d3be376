package cli

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestRemote403NamesWhatIsMissing: the admin API's 403s say what the
// caller lacks (the route's permission, or a permission or scope it tried
// to hand out), and the CLI shows it; descriptions stay in the RFC 6749
// charset (no '"').
func TestRemote403NamesWhatIsMissing(t *testing.T) {
	var reader, keymaster testAPIKey
	f := newRemoteFixture(t, func(dir string) {
		mustRun(t, nil, "roles", "create", "reader", "--permissions", "roles:read", "--data-dir", dir)
		mustRun(t, nil, "roles", "create", "keymaster", "--permissions", "roles:*,apikeys:*", "--data-dir", dir)
		mustRun(t, &reader, "apikeys", "create", "--name", "reader", "--roles", "reader", "--json", "--data-dir", dir)
		mustRun(t, &keymaster, "apikeys", "create", "--name", "keymaster", "--roles", "keymaster", "--json", "--data-dir", dir)
	})
	for _, tc := range []struct {
		name, key string
		args      []string
		want      string
	}{
		{"route permission", reader.Key, []string{"roles", "create", "x", "--permissions", "a:b"},
			"requires the permission 'roles:write'"},
		{"permission handed out", keymaster.Key, []string{"roles", "create", "x", "--permissions", "clients:write"},
			"you cannot grant the permission 'clients:write': your own permissions do not cover it"},
		{"scope handed out", keymaster.Key, []string{"apikeys", "create", "--name", "k", "--scopes", "items:read"},
			"you cannot grant the scope 'items:read': you do not hold it"},
		{"malformed scope is not echoed", keymaster.Key, []string{"apikeys", "create", "--name", "k", "--scopes", `a\b`},
			"you cannot grant a scope you do not hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.APIKeyEnv, tc.key)
			r := f.remote(t, "", append(tc.args, "--json")...)
			e := oneJSONError(t, r.stdout)
			if r.code != exitError || e.Error != "insufficient_scope" || !strings.HasSuffix(e.Description, "(403 insufficient_scope): "+tc.want) {
				t.Errorf("exit %d, %+v; want insufficient_scope ending %q", r.code, e, tc.want)
			}
		})
	}
}

package cli

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/config"
)

// oneJSONError decodes out as exactly one JSON error object.
func oneJSONError(t *testing.T, out string) jsonError {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var e jsonError
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("stdout is not a JSON error object: %v\n%s", err, out)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON object:\n%s", out)
	}
	if e.Description == "" {
		t.Errorf("no error_description: %s", out)
	}
	return e
}

// TestJSONErrors: a command given --json that fails prints one JSON error
// object with a stable code on stdout (and the message on stderr) and
// exits non-zero; without --json, stdout stays empty.
func TestJSONErrors(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, nil, "bootstrap", "--api-key", "--data-dir", dir)
	mustRun(t, nil, "roles", "create", "held", "--permissions", "a:b", "--data-dir", dir)
	mustRun(t, nil, "clients", "create", "--id", "ci", "--name", "CI", "--grant-types", "client_credentials",
		"--roles", "held", "--data-dir", dir)

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode string
		wantExit int
	}{
		{"not found", []string{"clients", "get", "nope", "--json"}, adminapi.CodeNotFound, exitError},
		{"user not found", []string{"users", "disable", "nobody", "--json"}, adminapi.CodeNotFound, exitError},
		{"unknown role", []string{"clients", "update", "ci", "--roles", "nope", "--json"}, adminapi.CodeInvalidRequest, exitError},
		{"bad redirect", []string{"clients", "create", "--name", "bad", "--redirect-uri", "http://evil.example/cb", "--json"},
			adminapi.CodeInvalidRedirectURI, exitError},
		{"bad client metadata", []string{"clients", "create", "--name", "", "--grant-types", "client_credentials", "--json"},
			adminapi.CodeInvalidClientMetadata, exitError},
		{"conflict", []string{"roles", "create", "held", "--permissions", "a:b", "--json"}, adminapi.CodeConflict, exitError},
		{"in use", []string{"roles", "delete", "held", "--json"}, adminapi.CodeInUse, exitError},
		{"bootstrap twice", []string{"bootstrap", "--api-key", "--json"}, adminapi.CodeConflict, exitError},
		{"usage, --json first", []string{"clients", "create", "--json", "--bogus"}, adminapi.CodeInvalidRequest, exitUsage},
		{"usage, --json last", []string{"clients", "create", "--bogus", "--json"}, adminapi.CodeInvalidRequest, exitUsage},
		{"bad store", []string{"clients", "list", "--json", "--store", "mysql://x"}, codeInvalidConfig, exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--store") {
				args = append(args, "--data-dir", dir)
			}
			code, out, stderr := runCLI(t, args...)
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d", code, tc.wantExit)
			}
			if e := oneJSONError(t, out); e.Error != tc.wantCode {
				t.Errorf("error %q (%s), want %q", e.Error, e.Description, tc.wantCode)
			}
			if !strings.HasPrefix(stderr, "gatehouse: ") {
				t.Errorf("stderr %q, want the message", stderr)
			}
		})
	}

	if code, out, _ := runCLI(t, "clients", "get", "nope", "--data-dir", dir); code != exitError || out != "" {
		t.Errorf("without --json: exit %d, stdout %q; want 1 and nothing", code, out)
	}
	// config check --json reports its problems in its one object.
	t.Setenv("GATEHOUSE_LISTEN", "0.0.0.0:0")
	code, out, _ := runCLI(t, "config", "check", "--json", "--data-dir", dir)
	var res struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&res); err != nil || res.OK || dec.More() || code != exitError {
		t.Errorf("config check --json: exit %d, output %s", code, out)
	}
}

// TestJSONErrorsRemote: in remote mode the admin API's code is passed on;
// a server that cannot be reached is "unavailable".
func TestJSONErrorsRemote(t *testing.T) {
	var reader testAPIKey
	f := newRemoteFixture(t, func(dir string) {
		mustRun(t, nil, "roles", "create", "reader", "--permissions", "roles:read", "--data-dir", dir)
		mustRun(t, &reader, "apikeys", "create", "--name", "reader", "--roles", "reader", "--json", "--data-dir", dir)
	})
	for _, tc := range []struct {
		name, key string
		args      []string
		wantCode  string
	}{
		{"not found", f.key, []string{"clients", "get", "nope", "--json"}, adminapi.CodeNotFound},
		{"conflict", f.key, []string{"roles", "create", "reader", "--permissions", "a:b", "--json"}, adminapi.CodeConflict},
		{"unknown role", f.key, []string{"users", "create", "--username", "bob", "--roles", "nope", "--password-stdin", "--json"},
			adminapi.CodeInvalidRequest},
		{"forbidden", reader.Key, []string{"roles", "create", "x", "--permissions", "a:b", "--json"}, "insufficient_scope"},
		{"bad key", "sk_" + strings.Repeat("A", 43), []string{"roles", "list", "--json"}, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.APIKeyEnv, tc.key)
			r := f.remote(t, "correct horse battery staple\n", tc.args...)
			if r.code != exitError {
				t.Errorf("exit %d, want 1: %s", r.code, r.stderr)
			}
			if e := oneJSONError(t, r.stdout); e.Error != tc.wantCode {
				t.Errorf("error %q (%s), want %q", e.Error, e.Description, tc.wantCode)
			}
		})
	}
	code, out, _ := runCLI(t, "roles", "list", "--json", "--server", "http://127.0.0.1:1")
	if e := oneJSONError(t, out); code != exitError || e.Error != codeUnavailable {
		t.Errorf("unreachable server: exit %d, %+v; want 1 and %q", code, e, codeUnavailable)
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if !cfg.DevMode() {
		t.Error("default loopback http issuer should be dev mode")
	}
	if want := "sqlite:" + filepath.Join("gatehouse-data", "gatehouse.db"); cfg.Store != want {
		t.Errorf("Store = %q, want %q", cfg.Store, want)
	}
	if want := filepath.Join("gatehouse-data", "master.key"); cfg.MasterKeyFile != want {
		t.Errorf("MasterKeyFile = %q, want %q", cfg.MasterKeyFile, want)
	}
	if cfg.Tokens.AccessTTL != 15*time.Minute {
		t.Errorf("AccessTTL = %s, want 15m", cfg.Tokens.AccessTTL)
	}
}

func TestLayering(t *testing.T) {
	file := writeFile(t, `
issuer: https://file.example
listen: 127.0.0.1:9000
data_dir: /var/lib/gh
tokens:
  access_ttl: 5m
  code_ttl: 30s
log:
  format: text
`)
	cfg, err := Load(Sources{
		File:    file,
		Environ: []string{"GATEHOUSE_LISTEN=127.0.0.1:9100", "GATEHOUSE_TOKENS_ACCESS_TTL=7m", "HOME=/root", "GATEHOUSE_LOG_REQUESTS=false"},
		Flags:   map[string]string{"listen": "127.0.0.1:9200"},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer from file", cfg.Issuer, "https://file.example"},
		{"listen: flag beats env beats file", cfg.Listen, "127.0.0.1:9200"},
		{"access_ttl: env beats file", cfg.Tokens.AccessTTL, 7 * time.Minute},
		{"code_ttl from file", cfg.Tokens.CodeTTL, 30 * time.Second},
		{"id_token_ttl keeps default", cfg.Tokens.IDTokenTTL, time.Hour},
		{"log.format from file", cfg.Log.Format, "text"},
		{"log.level keeps default", cfg.Log.Level, "info"},
		{"log.requests from env", cfg.Log.Requests, false},
		{"store derived from data_dir", cfg.Store, "sqlite:/var/lib/gh/gatehouse.db"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if cfg.DevMode() {
		t.Error("https issuer must not be dev mode")
	}
}

func TestLoadReportsEveryUnknownOrBadValue(t *testing.T) {
	file := writeFile(t, `
issuer: https://a.example
isuer: typo
tokens:
  access_tll: 5m
  code_ttl: soon
`)
	_, err := Load(Sources{File: file, Environ: []string{"GATEHOUSE_NOPE=1", "GATEHOUSE_HTTP_MAX_BODY_BYTES=lots"}})
	if err == nil {
		t.Fatal("Load accepted unknown keys")
	}
	for _, want := range []string{"isuer", "tokens.access_tll", "GATEHOUSE_NOPE", "tokens.code_ttl", "http.max_body_bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.Issuer = "http://auth.example.com/"
	cfg.Listen = "nope"
	cfg.Store = "mysql://x"
	cfg.Redis = "http://redis"
	cfg.Log.Format = "xml"
	cfg.Tokens.AccessTTL = 0
	cfg.Tokens.CodeTTL = time.Hour
	cfg.Signing.AccessTokenAlg = "none"
	cfg.resolve()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, key := range []string{"issuer:", "listen:", "store:", "redis:", "log.format:", "tokens.access_ttl:", "tokens.code_ttl:", "signing.access_token_alg:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Validate did not report %s\n%v", key, err)
		}
	}
}

func TestIssuerRules(t *testing.T) {
	cases := []struct {
		issuer string
		ok     bool
		dev    bool
	}{
		{"http://127.0.0.1:8080", true, true},
		{"http://localhost:8080", true, true},
		{"http://[::1]:8080", true, true},
		{"https://auth.example.com", true, false},
		{"https://auth.example.com/tenant-a", true, false},
		{"http://auth.example.com", false, false},
		{"https://auth.example.com/", false, false},
		{"https://auth.example.com?x=1", false, false},
		{"https://auth.example.com#f", false, false},
		{"https://user:pw@auth.example.com", false, false},
		{"ftp://auth.example.com", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		t.Run(c.issuer, func(t *testing.T) {
			cfg := Default()
			cfg.Issuer = c.issuer
			cfg.MasterKey = "x"
			cfg.resolve()
			err := cfg.Validate()
			if (err == nil) != c.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, c.ok)
			}
			if cfg.DevMode() != c.dev {
				t.Errorf("DevMode() = %v, want %v", cfg.DevMode(), c.dev)
			}
		})
	}
}

func TestHS256RequiresSingleServiceAndLongSecret(t *testing.T) {
	cases := []struct {
		name    string
		single  bool
		secret  string
		wantErr string
	}{
		{"not single service", false, strings.Repeat("s", 32), "signing.access_token_alg"},
		{"short secret", true, strings.Repeat("s", 31), "signing.hmac_secret"},
		{"no secret", true, "", "signing.hmac_secret"},
		{"ok", true, strings.Repeat("s", 32), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Signing.AccessTokenAlg = "HS256"
			cfg.Signing.SingleService = c.single
			cfg.Signing.HMACSecret = c.secret
			cfg.resolve()
			err := cfg.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Validate() = %v, want mention of %s", err, c.wantErr)
			}
		})
	}
}

func TestRedactedStoreHidesPassword(t *testing.T) {
	cfg := Default()
	cfg.Store = "postgres://gh:s3cret@db:5432/gh"
	if got := cfg.RedactedStore(); strings.Contains(got, "s3cret") {
		t.Errorf("RedactedStore leaked the password: %s", got)
	}
}

func TestEveryKeyHasAnEnvName(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		env := EnvName(k)
		if prev, dup := seen[env]; dup {
			t.Errorf("keys %s and %s share env name %s", prev, k, env)
		}
		seen[env] = k
	}
	if _, ok := seen["GATEHOUSE_MASTER_KEY"]; !ok {
		t.Error("GATEHOUSE_MASTER_KEY must map to a key")
	}
}

func TestAPIKeyHashSettings(t *testing.T) {
	for _, tc := range []struct {
		name, hash, pepper string
		wantKey            string // "" means valid
	}{
		{"default argon2id", "argon2id", "", ""},
		{"argon2id with a pepper for old HMAC keys", "argon2id", "/etc/gh/pepper", ""},
		{"hmac with pepper", "hmac-sha256", "/etc/gh/pepper", ""},
		{"hmac without pepper", "hmac-sha256", "", "apikeys.pepper_file:"},
		{"unknown hash", "sha256", "", "apikeys.hash:"},
		{"case matters", "Argon2id", "", "apikeys.hash:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.APIKeys = APIKeys{Hash: tc.hash, PepperFile: tc.pepper}
			cfg.resolve()
			err := cfg.Validate()
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.wantKey != "" && (err == nil || !strings.Contains(err.Error(), tc.wantKey)):
				t.Errorf("Validate = %v, want a problem with %s", err, tc.wantKey)
			}
		})
	}
	if got := Default().APIKeys.Hash; got != "argon2id" {
		t.Errorf("default apikeys.hash = %q, want argon2id", got)
	}
}

// GATEHOUSE_API_KEY is the command line's admin API key, not a setting:
// Load neither rejects it nor takes it as a value, and no key claims the
// name.
func TestAPIKeyVariableIsNotASetting(t *testing.T) {
	for _, k := range Keys() {
		if EnvName(k) == APIKeyEnv {
			t.Fatalf("config key %s would be set by %s", k, APIKeyEnv)
		}
	}
	cfg, err := Load(Sources{Environ: []string{APIKeyEnv + "=sk_test", "GATEHOUSE_API_KEYS=x"}})
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_API_KEYS: unknown environment variable") {
		t.Fatalf("Load = %v, want only the near miss GATEHOUSE_API_KEYS refused", err)
	}
	if strings.Contains(err.Error(), APIKeyEnv+":") || strings.Contains(err.Error(), "sk_test") {
		t.Errorf("Load refused or echoed %s: %v", APIKeyEnv, err)
	}
	if cfg == nil || cfg.Validate() != nil {
		t.Errorf("config with %s set is not the valid default", APIKeyEnv)
	}
	if _, err := Load(Sources{Environ: []string{APIKeyEnv + "=sk_test"}}); err != nil {
		t.Errorf("Load with only %s set = %v", APIKeyEnv, err)
	}

	for _, tc := range []struct {
		environ []string
		want    string
		ok      bool
	}{
		{[]string{"HOME=/root", APIKeyEnv + "=sk_abc"}, "sk_abc", true},
		{[]string{APIKeyEnv + "="}, "", false},
		{[]string{"GATEHOUSE_API_KEYS=sk_abc"}, "", false},
		{nil, "", false},
	} {
		if got, ok := APIKey(tc.environ); got != tc.want || ok != tc.ok {
			t.Errorf("APIKey(%q) = %q, %v; want %q, %v", tc.environ, got, ok, tc.want, tc.ok)
		}
	}
}

// TestIssuerFollowsLoopbackListen: with no issuer in any layer, the dev
// issuer is the loopback listen address (not the default port 8080); an
// issuer set anywhere wins; a listen address that is not loopback, or has
// no fixed port, leaves no issuer and Validate says what to set.
func TestIssuerFollowsLoopbackListen(t *testing.T) {
	for _, tc := range []struct {
		name       string
		file       string
		environ    []string
		flags      map[string]string
		wantIssuer string
		wantErr    string // in Validate's error; "" means valid
	}{
		{name: "defaults", wantIssuer: "http://127.0.0.1:8080"},
		{name: "listen flag", flags: map[string]string{"listen": "127.0.0.1:9000"}, wantIssuer: "http://127.0.0.1:9000"},
		{name: "listen env, localhost", environ: []string{"GATEHOUSE_LISTEN=localhost:9001"}, wantIssuer: "http://localhost:9001"},
		{name: "listen file, IPv6 loopback", file: "listen: '[::1]:9002'\n", wantIssuer: "http://[::1]:9002"},
		{name: "issuer flag wins", flags: map[string]string{"listen": "127.0.0.1:9000", "issuer": "http://127.0.0.1:7000"},
			wantIssuer: "http://127.0.0.1:7000"},
		{name: "issuer env wins", environ: []string{"GATEHOUSE_ISSUER=https://auth.example.com"},
			flags: map[string]string{"listen": "127.0.0.1:9000"}, wantIssuer: "https://auth.example.com"},
		{name: "issuer file wins", file: "issuer: https://auth.example.com\nlisten: 0.0.0.0:8443\n",
			wantIssuer: "https://auth.example.com"},
		{name: "all interfaces", flags: map[string]string{"listen": "0.0.0.0:8080"},
			wantErr: `issuer: not set, and listen "0.0.0.0:8080" is not a loopback address`},
		{name: "no host", environ: []string{"GATEHOUSE_LISTEN=:8080"}, wantErr: "https URL"},
		{name: "public address", flags: map[string]string{"listen": "192.0.2.10:443"}, wantErr: "GATEHOUSE_ISSUER"},
		{name: "random port", flags: map[string]string{"listen": "127.0.0.1:0"}, wantErr: "no fixed port"},
		{name: "empty issuer set", environ: []string{"GATEHOUSE_ISSUER="}, wantErr: "issuer: not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{Environ: tc.environ, Flags: tc.flags}
			if tc.file != "" {
				src.File = writeFile(t, tc.file)
			}
			cfg, err := Load(src)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Issuer != tc.wantIssuer {
				t.Errorf("Issuer = %q, want %q", cfg.Issuer, tc.wantIssuer)
			}
			err = cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

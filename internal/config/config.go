// Package config defines Gatehouse's configuration and loads it in layers:
// built-in defaults, then a YAML file, then GATEHOUSE_* environment
// variables, then command-line flags. Decoding is strict (an unknown key in
// any layer is an error) and Validate reports every problem at once.
//
// Nothing outside this package reads the process environment: callers pass
// it in, which keeps configuration testable and explicit.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is the whole server configuration. The koanf tags are the YAML keys;
// the environment variable for a key is GATEHOUSE_ followed by the key in
// upper case with dots replaced by underscores (tokens.access_ttl is
// GATEHOUSE_TOKENS_ACCESS_TTL).
type Config struct {
	// Issuer is the OAuth/OIDC issuer identifier, byte-equal to the "iss" of
	// every token and to discovery's "issuer". When no layer sets it, Load
	// derives it from a loopback Listen address (DevIssuer).
	Issuer string `koanf:"issuer"`
	// Listen is the TCP address the HTTP server binds.
	Listen string `koanf:"listen"`
	// DataDir holds the embedded database and the dev master key file.
	DataDir string `koanf:"data_dir"`
	// Store is "sqlite:PATH" or a PostgreSQL URL (postgres://...). Empty
	// means sqlite:<data_dir>/gatehouse.db.
	Store string `koanf:"store"`
	// Redis is an optional redis:// or rediss:// URL for the shared
	// revocation cache; empty means in-process.
	Redis string `koanf:"redis"`
	// MasterKey is the 32-byte key (base64 or hex) that seals private signing
	// keys at rest. Usually set through GATEHOUSE_MASTER_KEY.
	MasterKey string `koanf:"master_key"`
	// MasterKeyFile is read when MasterKey is empty. Empty means
	// <data_dir>/master.key. In dev mode the file is created if missing.
	MasterKeyFile string `koanf:"master_key_file"`

	Log       Log       `koanf:"log"`
	HTTP      HTTP      `koanf:"http"`
	Tokens    Tokens    `koanf:"tokens"`
	Signing   Signing   `koanf:"signing"`
	APIKeys   APIKeys   `koanf:"apikeys"`
	Retention Retention `koanf:"retention"`
}

// Retention configures how long stored records are kept.
type Retention struct {
	// Audit is how long audit events are kept; 0 keeps them forever.
	Audit time.Duration `koanf:"audit"`
	// GCInterval is how often each node deletes expired rows (the nodes
	// of one PostgreSQL take turns).
	GCInterval time.Duration `koanf:"gc_interval"`
}

// Log configures logging.
type Log struct {
	// Format is "json" or "text".
	Format string `koanf:"format"`
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
	// Requests logs one line per HTTP request.
	Requests bool `koanf:"requests"`
}

// HTTP configures the HTTP server's limits.
type HTTP struct {
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	ReadTimeout       time.Duration `koanf:"read_timeout"`
	WriteTimeout      time.Duration `koanf:"write_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
	// ShutdownTimeout bounds how long in-flight requests may finish after
	// SIGTERM.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// MaxHeaderBytes caps the request line plus headers.
	MaxHeaderBytes int `koanf:"max_header_bytes"`
}

// Tokens configures token lifetimes.
type Tokens struct {
	AccessTTL  time.Duration `koanf:"access_ttl"`
	IDTokenTTL time.Duration `koanf:"id_token_ttl"`
	// RefreshTTL is the absolute lifetime of a refresh-token family.
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
	// RefreshIdleTTL is how long a refresh token may go unused.
	RefreshIdleTTL time.Duration `koanf:"refresh_idle_ttl"`
	CodeTTL        time.Duration `koanf:"code_ttl"`
	// SessionTTL is the lifetime of a browser login session at Gatehouse.
	SessionTTL time.Duration `koanf:"session_ttl"`
	// DeviceCodeTTL is how long a device code (RFC 8628) waits for the
	// user; DevicePollInterval is the least time between two polls.
	DeviceCodeTTL      time.Duration `koanf:"device_code_ttl"`
	DevicePollInterval time.Duration `koanf:"device_poll_interval"`
	// PermissionsClaim puts the permissions of the subject's roles in
	// access tokens (the "permissions" claim), for resource servers that
	// check sdk.RequirePermissions.
	PermissionsClaim bool `koanf:"permissions_claim"`
}

// Signing configures token signing keys.
type Signing struct {
	// AccessTokenAlg is ES256, RS256, EdDSA, or HS256 (single-service only).
	AccessTokenAlg string `koanf:"access_token_alg"`
	// SingleService allows HS256 access tokens, verifiable only by holders of
	// HMACSecret. Never publish such tokens to third parties.
	SingleService bool `koanf:"single_service"`
	// HMACSecret is the HS256 key, at least 32 bytes.
	HMACSecret string `koanf:"hmac_secret"`
	// KeyRefreshInterval is how often a node re-reads signing keys from the
	// store, which bounds how long a rotation takes to reach every node.
	KeyRefreshInterval time.Duration `koanf:"key_refresh_interval"`
	// KeyPrepublish is how long a rotated-in key is published before it
	// signs: every node and verifier must be able to learn it first (see
	// docs/operations.md, key rotation).
	KeyPrepublish time.Duration `koanf:"key_prepublish"`
}

// APIKeys configures how API keys are stored.
type APIKeys struct {
	// Hash is how new keys are hashed: "argon2id" or "hmac-sha256".
	Hash string `koanf:"hash"`
	// PepperFile holds the HMAC-SHA-256 pepper (at least 32 bytes, base64
	// or hex). Required for hmac-sha256; with argon2id it still lets
	// existing HMAC keys verify.
	PepperFile string `koanf:"pepper_file"`
}

// APIKeyHashes returns the accepted values of apikeys.hash.
func APIKeyHashes() []string { return []string{"argon2id", "hmac-sha256"} }

// Default returns the built-in defaults: a dev-mode server on loopback with
// an embedded SQLite store under ./gatehouse-data.
func Default() Config {
	return Config{
		Issuer:  "http://127.0.0.1:8080",
		Listen:  "127.0.0.1:8080",
		DataDir: "gatehouse-data",
		Log:     Log{Format: "json", Level: "info", Requests: true},
		HTTP: HTTP{
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			MaxBodyBytes:      64 << 10,
			MaxHeaderBytes:    32 << 10,
		},
		Tokens: Tokens{
			AccessTTL:          15 * time.Minute,
			IDTokenTTL:         time.Hour,
			RefreshTTL:         30 * 24 * time.Hour,
			RefreshIdleTTL:     7 * 24 * time.Hour,
			CodeTTL:            60 * time.Second,
			SessionTTL:         24 * time.Hour,
			DeviceCodeTTL:      10 * time.Minute,
			DevicePollInterval: 5 * time.Second,
		},
		Signing: Signing{
			AccessTokenAlg:     "ES256",
			KeyRefreshInterval: 5 * time.Second,
			KeyPrepublish:      time.Minute,
		},
		APIKeys:   APIKeys{Hash: "argon2id"},
		Retention: Retention{Audit: 90 * 24 * time.Hour, GCInterval: time.Minute},
	}
}

// AccessTokenAlgs returns the accepted values of signing.access_token_alg.
func AccessTokenAlgs() []string { return []string{"ES256", "RS256", "EdDSA", "HS256"} }

// MinHMACSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2
// asks for a key at least as long as the hash output).
const MinHMACSecretBytes = 32

// DevMode reports whether the issuer is plain HTTP on a loopback host. Only
// then does Gatehouse create a master key file by itself and relax
// HTTPS-only protections; any other issuer must be https.
func (c *Config) DevMode() bool {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return isLoopbackHost(u.Hostname())
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StoreKind returns "sqlite" or "postgres" and the backend-specific address
// (a file path or a URL).
func (c *Config) StoreKind() (kind, addr string) {
	switch {
	case strings.HasPrefix(c.Store, "sqlite:"):
		return "sqlite", strings.TrimPrefix(c.Store, "sqlite:")
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		return "postgres", c.Store
	}
	return "", ""
}

// RedactedStore returns Store with any password removed, for logs.
func (c *Config) RedactedStore() string {
	if kind, _ := c.StoreKind(); kind != "postgres" {
		return c.Store
	}
	u, err := url.Parse(c.Store)
	if err != nil {
		return "postgres://(unparseable)"
	}
	return u.Redacted()
}

// MaxTokenTTL is the longest lifetime of any token a signing key signs; a
// retired key stays published this long plus leeway.
func (c *Config) MaxTokenTTL() time.Duration {
	return max(c.Tokens.AccessTTL, c.Tokens.IDTokenTTL)
}

// resolve fills values derived from other keys.
func (c *Config) resolve() {
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(c.DataDir, "gatehouse.db")
	}
	if c.MasterKey == "" && c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
}

// Validate returns every problem with c joined into one error (nil when c is
// usable). Each problem names the key it concerns.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if c.Issuer == "" {
		bad("issuer", "%s", c.missingIssuer())
	} else if err := validateIssuer(c.Issuer); err != nil {
		bad("issuer", "%v", err)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch kind, addr := c.StoreKind(); {
	case kind == "":
		bad("store", "want sqlite:PATH or a postgres:// URL, got %q", c.RedactedStore())
	case kind == "sqlite" && addr == "":
		bad("store", "sqlite: needs a file path")
	case kind == "postgres":
		if _, err := url.Parse(addr); err != nil {
			bad("store", "invalid PostgreSQL URL")
		}
	}
	if c.Redis != "" {
		u, err := url.Parse(c.Redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad("redis", "want a redis:// or rediss:// URL")
		}
	}

	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		bad("log.format", "want json or text, got %q", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}

	positive := []struct {
		key string
		d   time.Duration
	}{
		{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout},
		{"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout},
		{"http.idle_timeout", c.HTTP.IdleTimeout},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout},
		{"tokens.access_ttl", c.Tokens.AccessTTL},
		{"tokens.id_token_ttl", c.Tokens.IDTokenTTL},
		{"tokens.refresh_ttl", c.Tokens.RefreshTTL},
		{"tokens.refresh_idle_ttl", c.Tokens.RefreshIdleTTL},
		{"tokens.code_ttl", c.Tokens.CodeTTL},
		{"tokens.session_ttl", c.Tokens.SessionTTL},
		{"tokens.device_code_ttl", c.Tokens.DeviceCodeTTL},
		{"tokens.device_poll_interval", c.Tokens.DevicePollInterval},
		{"signing.key_refresh_interval", c.Signing.KeyRefreshInterval},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.key, "must be a positive duration such as 30s or 15m, got %s", p.d)
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes", "must be at least 1024, got %d", c.HTTP.MaxBodyBytes)
	}
	if c.HTTP.MaxHeaderBytes < 4096 {
		bad("http.max_header_bytes", "must be at least 4096, got %d", c.HTTP.MaxHeaderBytes)
	}
	if c.Tokens.AccessTTL > 24*time.Hour {
		bad("tokens.access_ttl", "must be at most 24h, got %s", c.Tokens.AccessTTL)
	}
	// RFC 6749 §4.1.2 recommends at most 10 minutes for codes.
	if c.Tokens.CodeTTL > 10*time.Minute {
		bad("tokens.code_ttl", "must be at most 10m, got %s", c.Tokens.CodeTTL)
	}
	// RFC 8628 §5.1: a short lifetime is what keeps user codes unguessable.
	if c.Tokens.DeviceCodeTTL > 30*time.Minute {
		bad("tokens.device_code_ttl", "must be at most 30m, got %s", c.Tokens.DeviceCodeTTL)
	}
	if d := c.Tokens.DevicePollInterval; d > 0 && (d < time.Second || d > time.Minute || d%time.Second != 0) {
		bad("tokens.device_poll_interval", "must be whole seconds from 1s to 1m, got %s", d)
	}
	if c.Tokens.RefreshIdleTTL > c.Tokens.RefreshTTL {
		bad("tokens.refresh_idle_ttl", "must not exceed tokens.refresh_ttl (%s)", c.Tokens.RefreshTTL)
	}
	if c.Signing.KeyRefreshInterval > 10*time.Second {
		bad("signing.key_refresh_interval", "must be at most 10s so rotations reach every node quickly, got %s", c.Signing.KeyRefreshInterval)
	}
	// Every node must have re-read the keys at least once (twice, for
	// margin) between a new key's publication and its first signature.
	if p := c.Signing.KeyPrepublish; p < 2*c.Signing.KeyRefreshInterval || p > 24*time.Hour {
		bad("signing.key_prepublish", "must be between twice signing.key_refresh_interval (%s) and 24h, got %s",
			2*c.Signing.KeyRefreshInterval, p)
	}

	switch alg := c.Signing.AccessTokenAlg; {
	case !slices.Contains(AccessTokenAlgs(), alg):
		bad("signing.access_token_alg", "want one of %s, got %q", strings.Join(AccessTokenAlgs(), ", "), alg)
	case alg == "HS256":
		if !c.Signing.SingleService {
			bad("signing.access_token_alg", "HS256 requires signing.single_service: true (only one service can verify HMAC tokens)")
		}
		if len(c.Signing.HMACSecret) < MinHMACSecretBytes {
			bad("signing.hmac_secret", "HS256 needs a secret of at least %d bytes, got %d", MinHMACSecretBytes, len(c.Signing.HMACSecret))
		}
	case c.Signing.HMACSecret != "":
		bad("signing.hmac_secret", "set but unused: only HS256 access tokens use it")
	}

	if r := c.Retention.Audit; r < 0 || (r > 0 && r < time.Minute) {
		bad("retention.audit", "must be 0 (keep forever) or at least 1m, got %s", r)
	}
	if g := c.Retention.GCInterval; g < time.Second || g > time.Hour {
		bad("retention.gc_interval", "must be between 1s and 1h, got %s", g)
	}

	if !slices.Contains(APIKeyHashes(), c.APIKeys.Hash) {
		bad("apikeys.hash", "want argon2id or hmac-sha256, got %q", c.APIKeys.Hash)
	} else if c.APIKeys.Hash == "hmac-sha256" && c.APIKeys.PepperFile == "" {
		bad("apikeys.pepper_file", "hmac-sha256 needs a pepper file")
	}
	return errors.Join(errs...)
}

// DevIssuer returns the dev-mode issuer for listen: http:// and the listen
// address when its host is loopback and its port fixed, or "" when no
// issuer can be derived (another host, port 0, or not host:port). Load
// uses it when no layer sets the issuer, so that --listen on another port
// does not leave tokens naming port 8080.
func DevIssuer(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" || !isLoopbackHost(host) {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}

// missingIssuer explains an empty issuer: one is derived only from a
// loopback listen address with a fixed port.
func (c *Config) missingIssuer() string {
	const set = "set issuer (in the file, GATEHOUSE_ISSUER or --issuer)"
	host, port, err := net.SplitHostPort(c.Listen)
	switch {
	case err != nil:
		return "not set: " + set
	case isLoopbackHost(host) && (port == "" || port == "0"):
		return fmt.Sprintf("not set, and listen %q has no fixed port to derive a dev issuer from: %s, "+
			"such as http://%s", c.Listen, set, net.JoinHostPort(host, "8080"))
	}
	return fmt.Sprintf("not set, and listen %q is not a loopback address, so there is no dev issuer: %s "+
		"to the https URL clients reach this server at, such as https://auth.example.com "+
		"(plain http is only for a loopback issuer such as http://127.0.0.1:8080)", c.Listen, set)
}

func validateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %q", issuer)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("want an https URL, got %q", issuer)
	case u.Host == "":
		return fmt.Errorf("needs a host, got %q", issuer)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("must use https unless the host is loopback (dev mode), got %q", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.Contains(issuer, "#"):
		// OpenID Connect Discovery §3 forbids query and fragment components.
		return fmt.Errorf("must not contain a query or fragment, got %q", issuer)
	case strings.HasSuffix(u.Path, "/"):
		return fmt.Errorf("must not end with /, got %q", issuer)
	case u.User != nil:
		return fmt.Errorf("must not contain user info")
	}
	return nil
}

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testConfig returns a dev-mode config with its data under a temp dir.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signing.KeyRefreshInterval = 100 * time.Millisecond
	return cfg
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func newApp(t *testing.T, cfg *config.Config) *App {
	t.Helper()
	a, err := New(t.Context(), cfg, testLogger(t), Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestDiscoveryGolden pins the discovery document (OIDC Discovery §3, RFC
// 8414) byte for byte, also at the RFC 8414 well-known path (JWT-09).
func TestDiscoveryGolden(t *testing.T) {
	a := newApp(t, testConfig(t))
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		rec := get(t, a.Handler(), path)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		golden(t, "discovery.golden.json", rec.Body.Bytes())

		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["issuer"] != "http://127.0.0.1:8080" {
			t.Errorf("issuer %q not byte-equal to the configured issuer", doc["issuer"])
		}
		for _, v := range doc["id_token_signing_alg_values_supported"].([]any) {
			if strings.EqualFold(v.(string), "none") {
				t.Error("none advertised as a signing algorithm")
			}
		}
		if m := doc["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v, want [S256]", m)
		}
		for _, rt := range doc["response_types_supported"].([]any) {
			if strings.Contains(rt.(string), "token") {
				t.Errorf("implicit response type %q advertised", rt)
			}
		}
	}
}

// TestDiscoveryIssuerIsConfiguredValue checks that discovery echoes a
// non-default issuer (with a path) exactly.
func TestDiscoveryIssuerIsConfiguredValue(t *testing.T) {
	cfg := testConfig(t)
	cfg.Issuer = "http://localhost:9999/tenant-a"
	a := newApp(t, cfg)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(get(t, a.Handler(), "/.well-known/openid-configuration").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != cfg.Issuer || doc.JWKSURI != cfg.Issuer+"/.well-known/jwks.json" {
		t.Fatalf("issuer %q jwks_uri %q", doc.Issuer, doc.JWKSURI)
	}
}

type jwk map[string]any

func jwks(t *testing.T, h http.Handler) []jwk {
	t.Helper()
	rec := get(t, h, "/.well-known/jwks.json")
	if rec.Code != 200 {
		t.Fatalf("jwks: %d", rec.Code)
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// TestJWKSPublishesOnlyPublicSigningKeys is JWT-09's key-set half.
func TestJWKSPublishesOnlyPublicSigningKeys(t *testing.T) {
	for _, tc := range []struct {
		alg      string
		wantAlgs []string
	}{
		{"ES256", []string{"ES256", "RS256"}},
		// ES256 and RS256 always: clients may register either for id_tokens.
		{"EdDSA", []string{"ES256", "EdDSA", "RS256"}},
		{"RS256", []string{"ES256", "RS256"}},
		{"HS256", []string{"ES256", "RS256"}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Signing.AccessTokenAlg = tc.alg
			if tc.alg == "HS256" {
				cfg.Signing.SingleService = true
				cfg.Signing.HMACSecret = strings.Repeat("k", 32)
			}
			keys := jwks(t, newApp(t, cfg).Handler())
			var algs []string
			for _, k := range keys {
				for _, member := range []string{"kid", "kty", "use", "alg"} {
					if _, ok := k[member]; !ok {
						t.Errorf("key %v lacks %s", k["kid"], member)
					}
				}
				if k["use"] != "sig" || k["kty"] == "oct" {
					t.Errorf("key %v: use %v kty %v", k["kid"], k["use"], k["kty"])
				}
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("key %v publishes private member %s", k["kid"], private)
					}
				}
				algs = append(algs, k["alg"].(string))
			}
			if strings.Join(algs, ",") != strings.Join(tc.wantAlgs, ",") {
				t.Errorf("published algs %v, want %v", algs, tc.wantAlgs)
			}
		})
	}
}

func TestHS256RefusedWithoutLongSecret(t *testing.T) {
	cfg := testConfig(t)
	cfg.Signing.AccessTokenAlg = "HS256"
	cfg.Signing.SingleService = true
	cfg.Signing.HMACSecret = strings.Repeat("k", 31)
	_, err := New(t.Context(), cfg, testLogger(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "signing.hmac_secret") {
		t.Fatalf("New = %v, want an error naming signing.hmac_secret", err)
	}
}

func TestEveryRouteHasAccessAndSecurityHeaders(t *testing.T) {
	a := newApp(t, testConfig(t))
	for _, rt := range allRoutes(t, a) {
		if rt.Access == "" {
			t.Errorf("route %s has no access policy", rt.Pattern)
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		answersEmpty := map[string]bool{
			"GET /.well-known/openid-configuration": true, "GET /.well-known/oauth-authorization-server": true,
			"GET /.well-known/jwks.json": true, "GET /healthz": true, "GET /readyz": true, "GET /metrics": true,
			// Nobody signed in: the signed-out page.
			"GET /oauth/logout": true, "POST /oauth/logout": true,
			// The form to enter a device's user code.
			"GET /device": true,
		}
		switch {
		case answersEmpty[rt.Pattern]:
			if rec.Code != 200 {
				t.Errorf("%s: status %d", rt.Pattern, rec.Code)
			}
		default:
			// An empty request is refused, never with a server error.
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%s with an empty request: status %d", rt.Pattern, rec.Code)
			}
		}
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy", "X-Request-Id"} {
			if rec.Header().Get(h) == "" {
				t.Errorf("%s: missing %s", rt.Pattern, h)
			}
		}
	}
	// Unknown paths and methods get the headers too.
	rec := get(t, a.Handler(), "/nope")
	if rec.Code != 404 || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("404 response: %d, headers %v", rec.Code, rec.Header())
	}
}

// allRoutes is the route table with the admin subtree replaced by its
// routes, path wildcards filled in.
func allRoutes(t *testing.T, a *App) []Route {
	t.Helper()
	var out []Route
	for _, rt := range a.Routes() {
		if rt.Access != Admin {
			out = append(out, rt)
			continue
		}
		for _, ar := range a.AdminRoutes() {
			path := regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(ar.Pattern, "x")
			out = append(out, Route{Pattern: ar.Method + " " + path, Access: Access("admin " + ar.Policy), Handler: rt.Handler})
		}
	}
	return out
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	a := newApp(t, testConfig(t))
	for range 3 {
		get(t, a.Handler(), "/healthz")
	}
	body := get(t, a.Handler(), "/metrics").Body.String()
	want := `gatehouse_http_requests_total{code="200",method="GET",route="GET /healthz"} 3`
	if !strings.Contains(body, want) {
		t.Fatalf("metrics lack %q", want)
	}
	if !strings.Contains(body, "gatehouse_http_request_duration_seconds_bucket") {
		t.Fatal("metrics lack the latency histogram")
	}
}

// TestRunServesAndShutsDownGracefully drives the real listener: discovery
// answers, then cancelling the context (SIGTERM in main) stops the server.
func TestRunServesAndShutsDownGracefully(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	a := newApp(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(addr net.Addr) { addrc <- addr }) }()
	addr := <-addrc

	resp, err := http.Get("http://" + addr.String() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get("http://" + addr.String() + "/healthz"); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

// TestRotationReachesEveryNode runs two nodes on one store: a rotation made
// through one node reaches the other's JWKS by its refresh loop, without a
// restart; the old kid stays published.
func TestRotationReachesEveryNode(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	nodeA, nodeB := newApp(t, cfg), newApp(t, cfg)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	started := make(chan net.Addr, 1)
	wg.Go(func() { _ = nodeB.Run(ctx, func(a net.Addr) { started <- a }) })
	<-started

	before := kidsByAlg(jwks(t, nodeB.Handler()))
	rotated, err := nodeA.Keys().Rotate(t.Context(), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := kidsByAlg(jwks(t, nodeB.Handler()))
		if contains(after["ES256"], rotated.ID) {
			if !contains(after["ES256"], before["ES256"][0]) {
				t.Fatal("old ES256 kid dropped from JWKS at rotation")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B did not publish rotated kid %s within 10 s: %v", rotated.ID, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func kidsByAlg(keys []jwk) map[string][]string {
	m := map[string][]string{}
	for _, k := range keys {
		m[k["alg"].(string)] = append(m[k["alg"].(string)], k["kid"].(string))
	}
	return m
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestReadyzFollowsTheStore puts a TCP proxy between the server and
// PostgreSQL, cuts it, and restores it: /readyz goes 200 -> 503 -> 200
// without a restart, while discovery and JWKS keep answering from memory.
func TestReadyzFollowsTheStore(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newToggleProxy(t, u.Host)
	u.Host = proxy.addr()
	cfg := testConfig(t)
	cfg.Store = u.String()
	a := newApp(t, cfg)

	// Readiness caches its answer for a second: use a clock we advance.
	var mu sync.Mutex
	now := time.Now()
	a.ready.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func() { mu.Lock(); now = now.Add(2 * time.Second); mu.Unlock() }

	if rec := get(t, a.Handler(), "/readyz"); rec.Code != 200 {
		t.Fatalf("ready with store up: %d", rec.Code)
	}
	proxy.cut()
	tick()
	rec := get(t, a.Handler(), "/readyz")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("readyz with store down: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Errorf("readyz leaks connection details: %s", rec.Body)
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json", "/healthz"} {
		if code := get(t, a.Handler(), p).Code; code != 200 {
			t.Errorf("%s during store outage: %d, want 200 from memory", p, code)
		}
	}
	proxy.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tick()
		if get(t, a.Handler(), "/readyz").Code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover after the store came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// toggleProxy forwards TCP to a target until cut, when it closes every
// connection and refuses new ones.
type toggleProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newToggleProxy(t *testing.T, target string) *toggleProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &toggleProxy{t: t, ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *toggleProxy) addr() string { return p.ln.Addr().String() }

func (p *toggleProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *toggleProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *toggleProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// With redis configured, /readyz reports it, but a Redis outage does not
// take the node out of service: the node never reads Redis.
func TestReadyzReportsRedis(t *testing.T) {
	proxy := newToggleProxy(t, testsvc.RedisAddr(t))
	cfg := testConfig(t)
	cfg.Redis = "redis://" + proxy.addr() + "/0"
	a := newApp(t, cfg)
	var mu sync.Mutex
	now := time.Now()
	a.ready.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	if rec := get(t, a.Handler(), "/readyz"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"redis":"ok"`) {
		t.Fatalf("redis up: %d %s", rec.Code, rec.Body)
	}
	proxy.cut()
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if rec := get(t, a.Handler(), "/readyz"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"redis":"unreachable"`) {
		t.Fatalf("redis down: %d %s", rec.Code, rec.Body)
	}
}

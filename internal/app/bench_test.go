package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// BenchmarkClientCredentials measures the whole token endpoint in process
// (routing, middleware, client authentication, minting, JSON), without the
// network: the server-side cost of one client_credentials token.
func BenchmarkClientCredentials(b *testing.B) {
	a := benchApp(b)
	_, sec, err := admin.CreateClient(b.Context(), a.store, admin.ClientSpec{ID: "cc", Name: "cc",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read"}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	h := a.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("cc", sec)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// benchApp is an App on the embedded store in a temporary folder, closed
// when the benchmark ends.
func benchApp(b *testing.B) *App {
	cfg, err := loadBenchConfig(b)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(b.Context(), cfg, testLoggerB(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	return a
}

func loadBenchConfig(b *testing.B) (*config.Config, error) {
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": b.TempDir()}})
	if err != nil {
		return nil, err
	}
	cfg.Log.Requests = false
	return cfg, nil
}

func testLoggerB() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkRefresh measures the refresh_token grant in process: client
// authentication, the store's rotation (one transaction), an access token
// and an ES256 id_token. Each goroutine rotates its own chain, as clients
// do; sub-benchmarks run on each backend the tests reach.
func BenchmarkRefresh(b *testing.B) {
	for _, backend := range backends() {
		b.Run(backend, func(b *testing.B) {
			cfg, err := loadBenchConfig(b)
			if err != nil {
				b.Fatal(err)
			}
			if backend == "postgres" {
				cfg.Store = testsvc.PostgresSchema(b)
			}
			a, err := New(b.Context(), cfg, testLoggerB(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			benchRefresh(b, a)
		})
	}
}

func benchRefresh(b *testing.B, a *App) {
	ctx := b.Context()
	now := time.Now()
	_, sec, err := admin.CreateClient(ctx, a.store, admin.ClientSpec{ID: "web", Name: "web",
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "profile"}, SkipConsent: true, IDTokenAlg: "ES256"}, now)
	if err != nil {
		b.Fatal(err)
	}
	u := store.User{ID: secret.ID(), Username: "alice-" + secret.ID()[:8], CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := a.store.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	// One chain per goroutine RunParallel starts.
	var (
		mu     sync.Mutex
		chains []string
	)
	const perProc = 16 // clients waiting at once, as a server sees
	for range perProc * runtime.GOMAXPROCS(0) {
		plain := secret.Token()
		g := store.Grant{ID: secret.ID(), ClientID: "web", UserID: u.ID, Scopes: []string{"openid", "profile"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		iss := store.Issue{RefreshToken: &store.RefreshToken{Hash: secret.Hash(plain), GrantID: g.ID, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour)}, AccessToken: store.IssuedAccessToken{JTI: secret.ID(), ExpiresAt: now.Add(time.Hour)}}
		if err := a.store.CreateGrant(ctx, g, iss); err != nil {
			b.Fatal(err)
		}
		chains = append(chains, plain)
	}
	h := a.Handler()
	b.ReportAllocs()
	b.SetParallelism(perProc)
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		rt := chains[0]
		chains = chains[1:]
		mu.Unlock()
		for pb.Next() {
			body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
			req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("web", sec)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var resp struct {
				RefreshToken string `json:"refresh_token"`
				IDToken      string `json:"id_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.RefreshToken == "" || resp.IDToken == "" {
				b.Fatalf("response %s: %v", rec.Body, err)
			}
			rt = resp.RefreshToken
		}
	})
}

// BenchmarkIntrospect measures POST /oauth/introspect in process for
// thousands of distinct client_credentials tokens cycled in turn (one token
// would measure a cache): resource-server authentication, signature and
// claims checks, the revocation list and the JSON answer. The app serves in
// the background so its revocation list is kept fresh, as in production.
func BenchmarkIntrospect(b *testing.B) {
	a := benchApp(b)
	serveInBackground(b, a)
	ctx := b.Context()
	now := time.Now()
	_, ccSec, err := admin.CreateClient(ctx, a.store, admin.ClientSpec{ID: "cc", Name: "cc",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read"}, Audiences: []string{"rs"}}, now)
	if err != nil {
		b.Fatal(err)
	}
	_, rsSec, err := admin.CreateClient(ctx, a.store, admin.ClientSpec{ID: "rs", Name: "rs",
		GrantTypes: []string{"client_credentials"}}, now)
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	const tokens = 5000
	bodies := make([][]byte, tokens)
	ccBody := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for i := range bodies {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(ccBody))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("cc", ccSec)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var resp struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.AccessToken == "" {
			b.Fatalf("token %d: status %d %s", i, rec.Code, rec.Body)
		}
		bodies[i] = []byte(url.Values{"token": {resp.AccessToken}}.Encode())
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)%tokens]
			req := httptest.NewRequest("POST", "/oauth/introspect", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("rs", rsSec)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"active":true`)) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// serveInBackground runs a.Serve on a loopback listener (for its background
// work: key refresh, revocation following) until the benchmark ends.
func serveInBackground(b *testing.B, a *App) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
}

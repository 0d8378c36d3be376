package app

import (
	"context"
	"database/sql"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	_ "github.com/jackc/pgx/v5/stdlib" // the raw PostgreSQL reader
	_ "modernc.org/sqlite"             // the raw SQLite reader

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// movingClock is a clock a test moves by hand, shared by a server.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movingClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rowCounts counts the rows of every table that grows with use.
func rowCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"revocations", "access_tokens", "grants", "refresh_tokens", "auth_codes",
		"device_codes", "sessions", "used_once", "audit_events"} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// TestGarbageCollectionReturnsToBaseline issues, rotates, revokes and
// logs out tokens of every kind on each backend, moves the clock past
// every lifetime and the audit retention, and sees every growing table
// back at its row count before use once the collector has run (issue 12:
// nothing was ever deleted).
func TestGarbageCollectionReturnsToBaseline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		clock := &movingClock{t: time.Now()}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t)
		cfg.Issuer, cfg.Listen = "http://"+ln.Addr().String(), ln.Addr().String()
		cfg.Tokens.DevicePollInterval = time.Second
		cfg.Retention.Audit = 24 * time.Hour
		driver, dsn := "sqlite", ""
		if backend == "postgres" {
			cfg.Store = testsvc.PostgresSchema(t)
			driver, dsn = "pgx", cfg.Store
		}
		a, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if backend == "sqlite" {
			_, dsn = cfg.StoreKind()
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = a.Serve(ctx, ln, nil) })
		t.Cleanup(func() { cancel(); wg.Wait() })
		srv := &testServer{URL: cfg.Issuer, App: a, cfg: cfg}
		baseline := rowCounts(t, db)

		// Use: a user signs in (consent, code, refresh twice), a machine
		// gets a token that is revoked, a device signs in, a login fails,
		// and the user logs out.
		h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
		if _, err := admin.CreateUser(t.Context(), a.store, h, admin.UserSpec{Username: "alice", Password: alicePassword}, clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, webSec, _ := admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "web", Name: "Web",
			RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"}}, clock.Now())
		_, ccSec, _ := admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "cc", Name: "cc",
			GrantTypes: []string{"client_credentials"}}, clock.Now())
		admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "tv", Name: "TV", Public: true, //nolint:errcheck // checked by its use below
			GrantTypes: []string{oauth.GrantDeviceCode}}, clock.Now())
		web := oauth2.Config{ClientID: "web", ClientSecret: webSec, RedirectURL: "https://app.example/cb",
			Scopes: []string{"openid", "offline_access"}, Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/oauth/authorize",
				TokenURL: srv.URL + "/oauth/token", DeviceAuthURL: srv.URL + "/oauth/device_authorization", AuthStyle: oauth2.AuthStyleInHeader}}
		f := &browserFixture{srv: srv, web: web, webSecret: webSec}
		b := newBrowser(t, srv.URL)
		v := oauth2.GenerateVerifier()
		cb := f.signIn(t, b, web.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
		tok, err := web.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			tok.Expiry = clock.Now().Add(-time.Minute)
			if tok, err = web.TokenSource(t.Context(), tok).Token(); err != nil {
				t.Fatal(err)
			}
		}
		fx := &ccFixture{srv: srv, cc1: "cc", cc1Sec: ccSec}
		at := fx.ccToken(t)
		fx.post(t, "/oauth/revoke", url.Values{"token": {at}}, "cc", ccSec)
		tv := oauth2.Config{ClientID: "tv", Endpoint: oauth2.Endpoint{DeviceAuthURL: srv.URL + "/oauth/device_authorization",
			TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
		da, err := tv.DeviceAuth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		df := &deviceFixture{browserFixture: f}
		df.decideDevice(t, b, df.confirmDevice(t, b, da.VerificationURIComplete), "allow")
		if _, err := tv.DeviceAccessToken(t.Context(), da); err != nil {
			t.Fatal(err)
		}
		bad := newBrowser(t, srv.URL)
		fields := formFields(t, bad.get(web.AuthCodeURL("s2", oauth2.S256ChallengeOption(v))))
		fields.Set("username", "alice")
		fields.Set("password", "wrong password")
		bad.post("/login", fields, nil)
		b.get("/oauth/logout") // the confirmation page
		a.audit.Flush(t.Context())

		used := rowCounts(t, db)
		for _, table := range []string{"revocations", "access_tokens", "grants", "refresh_tokens", "auth_codes", "device_codes", "used_once", "audit_events"} {
			if used[table] <= baseline[table] {
				t.Errorf("the workload left no %s rows (%d): the test would prove nothing", table, used[table])
			}
		}

		// Nothing is deleted before it expires...
		if _, err := a.gc.Collect(t.Context()); err != nil {
			t.Fatal(err)
		}
		if now := rowCounts(t, db); now["grants"] != used["grants"] || now["refresh_tokens"] != used["refresh_tokens"] {
			t.Fatalf("live rows deleted: %v, before %v", now, used)
		}
		// ...and everything is, once it has.
		clock.Advance(cfg.Tokens.RefreshTTL + 24*time.Hour)
		deleted, err := a.gc.Collect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		after := rowCounts(t, db)
		for table, n := range after {
			if n != baseline[table] {
				t.Errorf("%s: %d rows after collection, %d before use (%d at most)", table, n, baseline[table], used[table])
			}
		}
		t.Logf("deleted %v; counts before use %v, after use %v", deleted, baseline, used)
		if !strings.Contains(get(t, a.Handler(), "/metrics").Body.String(), `gatehouse_gc_deleted_rows_total{table="grants"}`) {
			t.Error("no gatehouse_gc_deleted_rows_total metric")
		}
	})
}

package app

import (
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// TestOperationsMetrics: the metrics operators alert on are exported:
// tokens issued by grant, login failures, signing key age, the garbage
// collector's deletions and, on PostgreSQL, store latency.
func TestOperationsMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		_, sec := f.srv.createClient(t, admin.ClientSpec{ID: "cc", Name: "cc", GrantTypes: []string{"client_credentials"}})
		fx := &ccFixture{srv: f.srv, cc1: "cc", cc1Sec: sec}
		fx.ccToken(t)
		b := newBrowser(t, f.srv.URL)
		fields := formFields(t, b.get(f.web.AuthCodeURL("s")))
		fields.Set("username", "alice")
		fields.Set("password", "not the password")
		b.post("/login", fields, nil)
		fx.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "web", f.webSecret)

		body := get(t, f.srv.App.Handler(), "/metrics").Body.String()
		want := []string{
			`gatehouse_events_total{grant="client_credentials",type="token_issued"} 1`,
			`gatehouse_events_total{grant="",type="login_failed"} 1`,
			`gatehouse_signing_key_age_seconds{alg="ES256"`,
			`gatehouse_signing_key_age_seconds{alg="RS256"`,
			`gatehouse_build_info{version="dev"} 1`,
			`gatehouse_audit_dropped_total 0`,
		}
		if backend == "postgres" {
			want = append(want, `gatehouse_store_query_duration_seconds_count{outcome="ok"}`)
		} else {
			want = append(want, `gatehouse_sqlite_commits_total`, `gatehouse_sqlite_transactions_total`)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("metrics lack %s", w)
			}
		}
	})
}

// TestRevocationLagMetric: gatehouse_revocation_sync_age_seconds is how
// long ago the node's revocation list last caught up with the store: near
// zero on a serving node, whose follower syncs every 250 ms, and growing
// on a node whose follower does not run; with Redis configured, the
// mirror's state is exported beside it.
func TestRevocationLagMetric(t *testing.T) {
	srv := startServer(t, "sqlite", nil)
	time.Sleep(300 * time.Millisecond)
	if age := metricValue(t, srv.App, "gatehouse_revocation_sync_age_seconds"); age > 2 {
		t.Errorf("serving node: revocation sync age %g s, want under 2", age)
	}

	// Not serving: synced once at start, then never again. A clock moved
	// on by a minute shows the lag.
	var offset atomic.Int64
	cfg := testConfig(t)
	cfg.Redis = "redis://" + testsvc.RedisAddr(t) + "/0"
	a, err := New(t.Context(), cfg, testLogger(t), Options{Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	offset.Store(int64(time.Minute))
	if age := metricValue(t, a, "gatehouse_revocation_sync_age_seconds"); age < 60 {
		t.Errorf("node not following the store for a minute: revocation sync age %g s, want at least 60", age)
	}
	if up := metricValue(t, a, "gatehouse_revocation_redis_mirror_up"); up != 0 {
		t.Errorf("mirror loop not running: gatehouse_revocation_redis_mirror_up %g, want 0", up)
	}
}

// metricValue scrapes a's /metrics for the unlabelled metric name.
func metricValue(t *testing.T, a *App, name string) float64 {
	t.Helper()
	body := get(t, a.Handler(), "/metrics").Body.String()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s:\n%s", name, body)
	return 0
}

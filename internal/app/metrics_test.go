package app

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
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
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("metrics lack %s", w)
			}
		}
	})
}

package app

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// TestClientGoneIsNotAServerError: when the client closes its connection
// while its request waits on the store, the canceled store call is the
// client's doing: logged at debug level, counted as 499 and never as a
// 5xx, on both backends (issue 9, item 16: PostgreSQL logged ERROR
// "context canceled" for every such request).
func TestClientGoneIsNotAServerError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var logs syncBuffer
		cfg := testConfig(t)
		if backend == "postgres" {
			cfg.Store = testsvc.PostgresSchema(t)
		}
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		a, err := New(t.Context(), cfg, log, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		_, sec, err := admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "cc", Name: "cc",
			GrantTypes: []string{"client_credentials"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}

		gone, cancel := context.WithCancel(context.Background())
		cancel()
		form := "application/x-www-form-urlencoded"
		for _, tc := range []struct{ method, path, body string }{
			{"POST", "/oauth/token", "grant_type=client_credentials"},
			{"POST", "/oauth/introspect", "token=x"},
			{"GET", "/oauth/authorize?" + url.Values{"client_id": {"cc"}, "response_type": {"code"}}.Encode(), ""},
			{"GET", "/oauth/logout?client_id=cc&post_logout_redirect_uri=https://x.example/", ""},
		} {
			logs.mu.Lock()
			logs.b.Reset()
			logs.mu.Unlock()
			req := httptest.NewRequestWithContext(gone, tc.method, tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", form)
				req.SetBasicAuth("cc", sec)
			}
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, req)
			if rec.Code != httpx.StatusClientClosedRequest {
				t.Errorf("%s %s from a client that went away: %d, want %d", tc.method, tc.path, rec.Code, httpx.StatusClientClosedRequest)
			}
			if out := logs.String(); strings.Contains(out, `"level":"ERROR"`) || strings.Contains(out, `"level":"WARN"`) {
				t.Errorf("%s %s: a client going away was logged as a failure:\n%s", tc.method, tc.path, out)
			}
		}

		families, err := a.registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range families {
			if mf.GetName() != "gatehouse_http_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if code := labelValue(m, "code"); strings.HasPrefix(code, "5") {
					t.Errorf("requests of clients that went away counted as %s: %v", code, m.GetLabel())
				}
			}
		}
	})
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestAuthorizeStoreOutageIs503: a store that cannot answer the client
// lookup is an outage shown as 503 with Retry-After (FLT-03), not the 400
// "could not be processed" it was when the request had no redirect URI
// checked yet.
func TestAuthorizeStoreOutageIs503(t *testing.T) {
	a := newApp(t, testConfig(t))
	if err := a.store.Close(); err != nil {
		t.Fatal(err)
	}
	rec := get(t, a.Handler(), "/oauth/authorize?"+url.Values{"client_id": {"web"}, "response_type": {"code"},
		"redirect_uri": {"https://app.example/cb"}}.Encode())
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "temporarily unavailable") {
		t.Fatalf("authorize with the store down: %d %q\n%.300s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

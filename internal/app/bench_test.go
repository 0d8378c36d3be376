package app

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
)

// BenchmarkClientCredentials measures the whole token endpoint in process
// (routing, middleware, client authentication, minting, JSON), without the
// network: the server-side cost of one client_credentials token.
func BenchmarkClientCredentials(b *testing.B) {
	cfg, err := loadBenchConfig(b)
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(b.Context(), cfg, testLoggerB(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
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

func loadBenchConfig(b *testing.B) (*config.Config, error) {
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": b.TempDir()}})
	if err != nil {
		return nil, err
	}
	cfg.Log.Requests = false
	return cfg, nil
}

func testLoggerB() *slog.Logger { return slog.New(slog.DiscardHandler) }

package app

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// testServer is a running Gatehouse on a loopback port.
type testServer struct {
	URL string
	App *App
	cfg *config.Config
}

// backends lists the stores every flow test runs against.
func backends() []string { return []string{"sqlite", "postgres"} }

// startServer runs a server on backend with cfg changes applied, serving
// until the test ends.
func startServer(t *testing.T, backend string, change func(*config.Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	cfg.Tokens.AccessTTL = 120 * time.Second
	if backend == "postgres" {
		cfg.Store = testsvc.PostgresSchema(t)
	}
	if change != nil {
		change(cfg)
	}
	a := newApp(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Serve(ctx, ln, nil); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &testServer{URL: cfg.Issuer, App: a, cfg: cfg}
}

// createClient registers a client and returns it with its secret.
func (s *testServer) createClient(t *testing.T, spec admin.ClientSpec) (store.Client, string) {
	t.Helper()
	c, sec, err := admin.CreateClient(t.Context(), s.App.store, spec, time.Now())
	if err != nil {
		t.Fatalf("create client %s: %v", spec.ID, err)
	}
	return c, sec
}

package app

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestCA05SecretsNeverLogged runs a server with debug logging, uses a
// client secret right, wrong, in the body and in the query string, and
// finds neither secret in the logs.
func TestCA05SecretsNeverLogged(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer, cfg.Listen, cfg.Log.Level = "http://"+ln.Addr().String(), ln.Addr().String(), "debug"
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(t.Context(), cfg, log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, ln, nil); close(done) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)

	_, sec, err := admin.CreateClient(t.Context(), a.store, admin.ClientSpec{ID: "cc", Name: "cc",
		GrantTypes: []string{"client_credentials"}, AuthMethod: "client_secret_post"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrong := "wrong-" + sec[:20]
	post := func(path, body string) {
		resp, err := http.Post(cfg.Issuer+path, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {sec}}.Encode())
	post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {wrong}}.Encode())
	post("/oauth/token?client_secret="+sec, "grant_type=client_credentials")
	post("/oauth/introspect", url.Values{"token": {"x"}, "client_id": {"cc"}, "client_secret": {wrong}}.Encode())
	stop() // flush the access log and the audit writer
	out := logs.String()
	if !strings.Contains(out, `"route":"POST /oauth/token"`) {
		t.Fatalf("request logs missing; the test would prove nothing:\n%s", out)
	}
	if strings.Contains(out, sec) || strings.Contains(out, wrong) {
		t.Fatalf("a client secret reached the logs:\n%s", out)
	}
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/sdk"
)

// lockedBuffer is a bytes.Buffer the test reads while run writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSignInAndCallTheAPI runs the command against a real Gatehouse (dev
// mode, SQLite) and an API that checks its token with the SDK: it prints
// a code, and once that code is approved it lists the products.
func TestSignInAndCallTheAPI(t *testing.T) {
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"data_dir": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer, cfg.Listen = "http://"+ln.Addr().String(), ln.Addr().String()
	cfg.Tokens.DevicePollInterval = time.Second
	gh, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gh.Close() })
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = gh.Serve(serveCtx, ln, nil); close(served) }()
	t.Cleanup(func() { stop(); <-served })

	st, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	if _, _, err := admin.CreateClient(ctx, st, admin.ClientSpec{ID: "cli", Name: "CLI", Public: true,
		GrantTypes: []string{oauth.GrantDeviceCode}, Audiences: []string{"https://api.example"}}, now); err != nil {
		t.Fatal(err)
	}
	u, err := admin.CreateUser(ctx, st, login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1),
		admin.UserSpec{Username: "alice", Password: "correct horse battery"}, now)
	if err != nil {
		t.Fatal(err)
	}
	sess := store.Session{ID: secret.ID(), TokenHash: secret.Hash(secret.Token()), UserID: u.ID, AuthTime: now,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	v, err := sdk.NewVerifier(ctx, sdk.Config{Issuer: cfg.Issuer, Audience: "https://api.example",
		Algorithms: []string{"ES256"}, Revocation: sdk.InsecureNoRevocation})
	if err != nil {
		t.Fatal(err)
	}
	router := sdk.NewRouter(v)
	router.HandleFunc("GET /products", sdk.Authenticated(), func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"id":1,"name":"kettle"}]` + "\n"))
	})
	api := httptest.NewServer(router)
	t.Cleanup(api.Close)

	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, &stdout, stderr, cfg.Issuer, "cli", "https://api.example", api.URL) }()

	// Approve the printed code as alice would on the device page (the
	// page itself is tested in internal/app).
	codeRE := regexp.MustCompile(`enter the code ([A-Z]{4}-[A-Z]{4})`)
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == ""; time.Sleep(20 * time.Millisecond) {
		if m := codeRE.FindStringSubmatch(stderr.String()); m != nil {
			code = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no code printed:\n%s", stderr.String())
		}
	}
	normalized, _ := secret.NormalizeUserCode(code)
	if err := st.DecideDeviceCode(ctx, secret.Hash(normalized), true, u.ID, sess.ID, now, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run never finished")
	}
	if !strings.Contains(stdout.String(), "kettle") || !strings.Contains(stderr.String(), "signed in as") {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

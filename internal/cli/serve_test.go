package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestServeOnLoopbackPortAndDataDirLock runs `serve --listen` on a loopback
// port without --issuer: discovery names that port, not 8080. While it
// runs, a second serve on the same data directory is refused, and an
// admin verb on it still works.
func TestServeOnLoopbackPortAndDataDirLock(t *testing.T) {
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--data-dir", dir, "--log-level", "error"},
			strings.NewReader(""), &out, &errb)
	}()

	var disc struct {
		Issuer string `json:"issuer"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/.well-known/openid-configuration", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&disc)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before answering: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := "http://" + addr; disc.Issuer != want {
		t.Errorf("issuer %q, want %q (derived from --listen)", disc.Issuer, want)
	}

	// Bounded, so that a second server that does start cannot hang the test.
	second, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	var errb2 bytes.Buffer
	code := run(second, []string{"serve", "--listen", freeLoopbackAddr(t), "--data-dir", dir, "--log-level", "error"},
		strings.NewReader(""), &bytes.Buffer{}, &errb2)
	if stderr := errb2.String(); code != exitError || !strings.Contains(stderr, "data directory "+dir+" is in use by another gatehouse serve (pid ") {
		t.Errorf("second serve on the same data directory: exit %d, stderr %q; want exit 1 naming the directory", code, stderr)
	}
	if code, _, stderr := runCLI(t, "clients", "list", "--data-dir", dir); code != exitOK {
		t.Errorf("clients list beside the running server: exit %d: %s", code, stderr)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeRefusesNonLoopbackListenWithoutIssuer: no dev issuer can be
// derived from a listen address that is not loopback; serve and config
// check both say that an https issuer is needed.
func TestServeRefusesNonLoopbackListenWithoutIssuer(t *testing.T) {
	dir := t.TempDir()
	// Bounded, so that a server that does start cannot hang the test.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var errb bytes.Buffer
	code := run(ctx, []string{"serve", "--listen", "0.0.0.0:0", "--data-dir", dir}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	stderr := errb.String()
	const want = `issuer: not set, and listen "0.0.0.0:0" is not a loopback address`
	if code != exitError || !strings.Contains(stderr, want) || !strings.Contains(stderr, "https") {
		t.Errorf("serve: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}

	t.Setenv("GATEHOUSE_LISTEN", "0.0.0.0:0")
	code, out, _ := runCLI(t, "config", "check", "--data-dir", dir)
	if code != exitError || !strings.Contains(out, want) {
		t.Errorf("config check: exit %d, output %s; want %q", code, out, want)
	}
	t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:9000")
	if code, out, _ := runCLI(t, "config", "check", "--data-dir", dir); code != exitOK {
		t.Errorf("config check with a loopback listen address: exit %d: %s", code, out)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ceilingClaims mirror Gatehouse's RFC 9068 access token claims for a
// client_credentials grant.
type ceilingClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

type ceilingResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// serveCeiling is the child process of the ceiling scenarios: a minimal
// token endpoint that does nothing but parse the request, sign an ES256
// access token and write a token response (ceiling-sign), and a bare
// handler writing fixed bytes (ceiling-static). It prints "listening ADDR" on
// stdout and exits when its stdin closes (the parent exited or is done).
func serveCeiling(addr string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kid := randomID()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	iss := "http://" + ln.Addr().String()
	const ttl = 15 * time.Minute

	// A fixed document the size of Gatehouse's discovery document: the
	// bare-handler ceiling for the discovery and JWKS scenarios.
	static := []byte(`{"issuer":"` + iss + `","jwks_uri":"` + iss + `/.well-known/jwks.json",` +
		`"padding":"` + strings.Repeat("x", 1200) + `"}` + "\n")

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/.well-known/openid-configuration" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(static) //nolint:gosec // G705: fixed JSON built from our own listen address
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		id, _, ok := r.BasicAuth()
		if !ok {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		now := time.Now().Truncate(time.Second)
		c := &ceilingClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    iss,
				Subject:   id,
				Audience:  jwt.ClaimStrings{"https://api.example"},
				ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
				IssuedAt:  jwt.NewNumericDate(now),
				ID:        randomID(),
			},
			ClientID: id,
			Scope:    "items:read",
			Roles:    []string{"deployer"},
		}
		t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		t.Header["typ"] = "at+jwt"
		t.Header["kid"] = kid
		s, err := t.SignedString(key)
		if err != nil {
			http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
			return
		}
		body, _ := json.Marshal(ceilingResponse{AccessToken: s, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()), Scope: c.Scope}) //nolint:gosec // G117: a token response carries the token by design
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})

	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// ceiling is a running ceiling server process.
type ceiling struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
	pid   int
}

// startCeiling re-executes this program as the ceiling server, under
// `taskset -c cpus` if cpus is set.
func startCeiling(cpus string) (*ceiling, error) {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	args := []string{self, "-serve-ceiling", "127.0.0.1:0"}
	if cpus != "" {
		// taskset execs the program, so the PID stays the server's.
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.CommandContext(context.Background(), args[0], args[1:]...) //nolint:gosec // G204: this program itself (or taskset), fixed arguments
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ceiling server: %w", err)
	}
	c := &ceiling{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			c.stop()
			return nil, fmt.Errorf("ceiling server did not start (said %q)", s)
		}
		c.url = "http://" + addr
	case <-time.After(10 * time.Second):
		c.stop()
		return nil, errors.New("ceiling server did not start within 10 s")
	}
	return c, nil
}

// stop closes the server's stdin (it exits on EOF) and reaps it.
func (c *ceiling) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

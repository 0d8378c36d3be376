package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// TestRefreshReuseAndRevokeEndToEnd drives reuse detection (RT-01) and
// refresh-token revocation (REV-02) through a running server on each
// backend, with x/oauth2 as the client.
func TestRefreshReuseAndRevokeEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		fx := &ccFixture{srv: f.srv}
		b := newBrowser(t, f.srv.URL)
		exchange := func() *oauth2.Token {
			v := oauth2.GenerateVerifier()
			cb := f.signIn(t, b, f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
			tok, err := f.web.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		refresh := func(rt string) (int, map[string]any) {
			resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", f.webSecret)
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			return resp.StatusCode, m
		}

		api := sdkVerifier(t, f.srv, "web", f.webSecret)
		tok1 := exchange()
		code, m := refresh(tok1.RefreshToken)
		if code != 200 {
			t.Fatalf("first refresh: %d %v", code, m)
		}
		rt2, at2 := m["refresh_token"].(string), m["access_token"].(string)
		// RT-01: the spent token again is reuse: invalid_grant, and the
		// whole family dies with the session.
		if code, m := refresh(tok1.RefreshToken); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("replayed refresh token: %d %v", code, m)
		}
		if code, m := refresh(rt2); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("successor after reuse: %d %v", code, m)
		}
		for _, at := range []string{tok1.AccessToken, at2} {
			if m := fx.introspect(t, at, "web", f.webSecret); m["active"] != false {
				t.Errorf("access token of the reused family still active: %v", m)
			}
			sdkRefuses(t, api, at, "access token of a reused refresh-token family")
		}
		if p := b.get(f.web.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); !strings.Contains(p.body, `name="password"`) {
			t.Error("the session survived refresh-token reuse")
		}

		// REV-02: revoking a refresh token revokes its grant.
		tokA := exchange()
		if resp, body := fx.post(t, "/oauth/revoke", url.Values{"token": {tokA.RefreshToken}}, "web", f.webSecret); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		if code, m := refresh(tokA.RefreshToken); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("refresh after revoke: %d %v", code, m)
		}
		if m := fx.introspect(t, tokA.AccessToken, "web", f.webSecret); m["active"] != false {
			t.Errorf("access token of a revoked grant still active: %v", m)
		}
		sdkRefuses(t, api, tokA.AccessToken, "REV-02: access token of a revoked refresh token's grant")
	})
}

// TestREV01RevocationReachesEveryNode runs two nodes of one deployment
// (one issuer, one PostgreSQL, one master key): a token issued and revoked
// through node A becomes inactive at node B once B follows the revocation
// feed (every 250 ms; the test allows 5 s on a loaded machine and logs the
// delay it saw).
func TestREV01RevocationReachesEveryNode(t *testing.T) {
	shared := testsvc.PostgresSchema(t)
	masterKey := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	nodeA := startServer(t, "postgres", func(c *config.Config) { c.Store = shared; c.MasterKey = masterKey })
	nodeB := startServer(t, "postgres", func(c *config.Config) {
		c.Store, c.MasterKey, c.Issuer = shared, masterKey, nodeA.URL
	})
	fa := &ccFixture{srv: nodeA}
	_, sec := nodeA.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"x"}})
	fa.cc1, fa.cc1Sec = "svc", sec
	fb := &ccFixture{srv: &testServer{URL: "http://" + nodeB.cfg.Listen, App: nodeB.App, cfg: nodeB.cfg}}
	at := fa.ccToken(t)
	if m := fb.introspect(t, at, "svc", sec); m["active"] != true {
		t.Fatalf("node B does not accept node A's token: %v", m)
	}
	if resp, body := fa.post(t, "/oauth/revoke", url.Values{"token": {at}}, "svc", sec); resp.StatusCode != 200 {
		t.Fatalf("revoke at A: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	for {
		if m := fb.introspect(t, at, "svc", sec); m["active"] == false {
			t.Logf("node B refused the token %s after the revocation at node A", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("node B still accepts a token revoked at node A")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisMirrorOfRevocation: with redis configured, a revoked token's
// jti entry appears in Redis for resource servers to read.
func TestRedisMirrorOfRevocation(t *testing.T) {
	addr := testsvc.RedisAddr(t)
	srv := startServer(t, "sqlite", func(c *config.Config) { c.Redis = "redis://" + addr + "/0" })
	fx := &ccFixture{srv: srv}
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"x"}})
	fx.cc1, fx.cc1Sec = "svc", sec
	at := fx.ccToken(t)
	if resp, _ := fx.post(t, "/oauth/revoke", url.Values{"token": {at}}, "svc", sec); resp.StatusCode != 200 {
		t.Fatal("revoke failed")
	}
	_, payload, _ := segments(t, at)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := "gh:rev:jti:" + payload["jti"].(string)
	fmt.Fprintf(conn, "*2\r\n$6\r\nEXISTS\r\n$%d\r\n%s\r\n", len(key), key)
	reply, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.TrimSpace(reply) != ":1" {
		t.Fatalf("EXISTS %s = %q, want :1", key, reply)
	}
}

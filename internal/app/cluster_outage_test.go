package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/redisrevocation"
)

// TestClusterRedisOutageAndShutdown runs three nodes on one PostgreSQL
// schema and one Redis (issue 9's three-node check; key rotation is
// TestClusterKeyRotationRefusesNoValidToken). With Redis down, a revoke
// at one node answers 200 at once; a resource server reading
// Redis through sdk/redisrevocation never accepts the revoked token, not
// while Redis is down, not after it restarts empty, and refuses it as
// revoked once the nodes have copied the list back; one reading the feed
// refuses it too. Then one node shuts down with feed long polls open: it
// answers them and stops cleanly at once, and the other two keep serving.
func TestClusterRedisOutageAndShutdown(t *testing.T) {
	rs := testsvc.StartRedis(t)
	redisURL := "redis://" + rs.Addr + "/0"
	c := startCluster(t, 2, func(cfg *config.Config) { cfg.Redis = redisURL })

	// The third node runs here, so that the test can shut it down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer, cfg.Listen = c.issuer(), ln.Addr().String()
	cfg.Store, cfg.MasterKey, cfg.Redis = c.nodes[0].cfg.Store, clusterMasterKey, redisURL
	cfg.Tokens.AccessTTL = 120 * time.Second
	cfg.HTTP.ShutdownTimeout = 15 * time.Second
	third := newApp(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- third.Serve(ctx, ln, nil) }()
	thirdURL := "http://" + ln.Addr().String()

	sec := c.machineClient(t, "svc")
	token := func() string {
		t.Helper()
		code, m := c.postForm(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "svc", sec)
		tok, _ := m["access_token"].(string)
		if code != 200 || tok == "" {
			t.Fatalf("token: %d %v", code, m)
		}
		return tok
	}
	rc, err := redisrevocation.Dial(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	viaRedis, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: c.issuer(), Audience: "https://api.example",
		Algorithms: []string{"ES256"}, Revocation: rc, HTTPClient: c.lb})
	if err != nil {
		t.Fatal(err)
	}
	viaFeed := c.verifier(t, "svc", sec, time.Second)

	tok := token()
	waitFor(t, 10*time.Second, "the Redis checker accepts a valid token (list copied, marker set)", func() bool {
		_, err := viaRedis.Verify(t.Context(), tok)
		return err == nil
	})

	// The revoke goes to the third node, which the load balancer does not
	// know (so that taking it away later races with nothing); the token
	// came from one of the others.
	rs.Stop()
	start := time.Now()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, thirdURL+"/oauth/revoke",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", sec)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("revoke with Redis down: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke with Redis down: %d", resp.StatusCode)
	}
	t.Logf("revoke at the third node with Redis down answered 200 in %s", time.Since(start).Round(time.Millisecond))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("revoke with Redis down took %s; the SQL write alone decides", took)
	}
	for range 5 {
		if _, err := viaRedis.Verify(t.Context(), tok); err == nil {
			t.Fatal("Redis down: the Redis checker accepted a revoked token")
		}
		time.Sleep(20 * time.Millisecond)
	}

	rs.Start() // empty: no persistence
	back := time.Now()
	unavailable := 0
	for {
		_, err := viaRedis.Verify(t.Context(), tok)
		if err == nil {
			t.Fatal("Redis restarted empty: the Redis checker accepted a token revoked during the outage (fails open)")
		}
		if errors.Is(err, sdk.ErrRevoked) {
			break
		}
		if !errors.Is(err, sdk.ErrRevocationUnavailable) {
			t.Fatalf("Redis checker: %v", err)
		}
		unavailable++
		if time.Since(back) > 30*time.Second {
			t.Fatalf("30 s after Redis came back empty the Redis checker still answers unavailable (%d times)", unavailable)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("Redis restarted empty -> the Redis checker refused the revoked token in %s (unavailable, 503, %d times before)",
		time.Since(back).Round(time.Millisecond), unavailable)
	waitFor(t, 10*time.Second, "the feed checker refuses the revoked token", func() bool {
		_, err := viaFeed.Verify(t.Context(), tok)
		return errors.Is(err, sdk.ErrRevoked)
	})

	// Long polls open on the third node, then it shuts down.
	code, first, err := pollFeed(thirdURL, "svc", sec, "")
	if err != nil || code != 200 {
		t.Fatalf("first poll: %d %v %v", code, first, err)
	}
	cursor, _ := first["cursor"].(string)
	polls := make(chan int, 2)
	for range 2 {
		go func() {
			code, _, _ := pollFeed(thirdURL, "svc", sec, "wait=20&since="+cursor)
			polls <- code
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the polls reach their wait
	start = time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("the third node's Serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited out the long polls")
	}
	t.Logf("the third node stopped in %s with 2 long polls open", time.Since(start).Round(time.Millisecond))
	for range 2 {
		if code := <-polls; code != 200 {
			t.Errorf("a long poll at shutdown answered %d, want 200", code)
		}
	}
	if _, err := viaFeed.Verify(t.Context(), token()); err != nil {
		t.Errorf("after one node stopped, a new token through the other two: %v", err)
	}
}

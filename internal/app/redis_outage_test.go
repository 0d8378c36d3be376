package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/redisrevocation"
)

const outageAudience = "https://products.example"

// outageFixture is a node (or two) mirroring revocations to a private
// Redis that the test can stop and restart empty.
type outageFixture struct {
	redis *testsvc.RedisServer
	url   string // the redis:// URL the nodes use
	fx    *ccFixture
}

// newOutageFixture starts a private Redis and a client "svc" able to get
// tokens for outageAudience from srv (started by start with the Redis URL).
func newOutageFixture(t *testing.T, start func(redisURL string) *testServer) *outageFixture {
	t.Helper()
	rs := testsvc.StartRedis(t)
	f := &outageFixture{redis: rs, url: "redis://" + rs.Addr + "/0"}
	srv := start(f.url)
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"x"}, Audiences: []string{outageAudience}})
	f.fx = &ccFixture{srv: srv, cc1: "svc", cc1Sec: sec}
	return f
}

// revoke calls POST /oauth/revoke at base and returns the status, or 0
// when no answer came within 10 s.
func (f *outageFixture) revoke(t *testing.T, base, tok string) (int, time.Duration) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/oauth/revoke",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.fx.cc1, f.fx.cc1Sec)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Logf("revoke at %s: %v", base, err)
		return 0, time.Since(start)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, time.Since(start)
}

// redisClient is a plain client of the private Redis, to look at what the
// nodes wrote.
func redisClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// missing returns how many of keys Redis does not hold (all of them when
// it cannot answer).
func missing(ctx context.Context, c rueidis.Client, keys []string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, c.B().Exists().Key(k).Build())
	}
	n := 0
	for _, res := range c.DoMulti(ctx, cmds...) {
		if v, err := res.AsInt64(); err != nil || v != 1 {
			n++
		}
	}
	return n
}

// jtiKey is the Redis key of an access token's jti entry.
func jtiKey(t *testing.T, tok string) string {
	t.Helper()
	_, payload, _ := segments(t, tok)
	return revocation.RedisKey(store.RevokeJTI, payload["jti"].(string))
}

// waitFor polls cond every 10 ms until it holds, failing after limit (a
// liveness bound, not a measurement), and returns how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestRevokeAnswersWhileRedisIsDown (issue 9, item 4): with Redis down,
// POST /oauth/revoke answers 200 at once (the SQL write alone decides),
// and the revocation feed followers of both nodes keep their copies fresh
// instead of stalling on the Redis write.
func TestRevokeAnswersWhileRedisIsDown(t *testing.T) {
	shared := testsvc.PostgresSchema(t)
	masterKey := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	var nodeA, nodeB *testServer
	f := newOutageFixture(t, func(redisURL string) *testServer {
		nodeA = startServer(t, "postgres", func(c *config.Config) { c.Store, c.MasterKey, c.Redis = shared, masterKey, redisURL })
		nodeB = startServer(t, "postgres", func(c *config.Config) {
			c.Store, c.MasterKey, c.Redis, c.Issuer = shared, masterKey, redisURL, nodeA.URL
		})
		return nodeA
	})
	nodeBURL := "http://" + nodeB.cfg.Listen
	fb := &ccFixture{srv: &testServer{URL: nodeBURL, App: nodeB.App, cfg: nodeB.cfg}}
	at1, at2 := f.fx.ccToken(t), f.fx.ccToken(t)

	f.redis.Stop()
	for i, rv := range []struct{ base, tok string }{{nodeA.URL, at1}, {nodeBURL, at2}} {
		code, took := f.revoke(t, rv.base, rv.tok)
		t.Logf("revoke %d with Redis down: %d in %s", i+1, code, took.Round(time.Millisecond))
		if code != http.StatusOK {
			t.Fatalf("revoke %d with Redis down answered %d, want 200", i+1, code)
		}
		if took > 3*time.Second {
			t.Errorf("revoke %d with Redis down took %s", i+1, took)
		}
	}
	// Each node learns of the other's revocation through its follower.
	waitFor(t, 5*time.Second, "node B refuses the token revoked at node A", func() bool {
		return fb.introspect(t, at1, f.fx.cc1, f.fx.cc1Sec)["active"] == false
	})
	waitFor(t, 5*time.Second, "node A refuses the token revoked at node B", func() bool {
		return f.fx.introspect(t, at2, f.fx.cc1, f.fx.cc1Sec)["active"] == false
	})
	// The followers keep syncing (a stalled one goes stale after 2 s).
	time.Sleep(3 * time.Second)
	for name, n := range map[string]*testServer{"A": nodeA, "B": nodeB} {
		if !n.App.revocations.Healthy() {
			t.Errorf("node %s: revocation copy stale while Redis is down (the follower waits on Redis)", name)
		}
	}
}

// TestStartsWithoutRedis (issue 9, item 6): a node whose Redis is down
// starts and serves, reports Redis unreachable in /readyz while staying
// ready, and once Redis is up connects and mirrors the entries written
// meanwhile.
func TestStartsWithoutRedis(t *testing.T) {
	var srv *testServer
	rs := testsvc.StartRedis(t)
	rs.Stop()
	redisURL := "redis://" + rs.Addr + "/0"
	srv = startServer(t, "sqlite", func(c *config.Config) { c.Redis = redisURL })
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"x"}})
	f := &outageFixture{redis: rs, url: redisURL, fx: &ccFixture{srv: srv, cc1: "svc", cc1Sec: sec}}

	ready := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != 200 || !strings.Contains(body, `"redis":"unreachable"`) {
		t.Fatalf("/readyz with Redis down: %d %s", code, body)
	}
	at := f.fx.ccToken(t)
	if code, took := f.revoke(t, srv.URL, at); code != 200 || took > 3*time.Second {
		t.Fatalf("revoke with Redis down: %d in %s", code, took)
	}

	rs.Start()
	c := redisClient(t, rs.Addr)
	keys := []string{jtiKey(t, at), revocation.RedisSyncedKey}
	took := waitFor(t, 30*time.Second, "the entry written while Redis was down reaches it", func() bool {
		return missing(t.Context(), c, keys) == 0
	})
	t.Logf("Redis up -> entry written while it was down mirrored, and the copy marked complete: %s", took.Round(time.Millisecond))
	waitFor(t, 5*time.Second, "/readyz reports Redis ok", func() bool {
		code, body := ready()
		return code == 200 && strings.Contains(body, `"redis":"ok"`)
	})
}

// TestRedisRestartedEmptyIsReMirrored (issue 9, item 5): when Redis comes
// back empty (restart without persistence, or FLUSHALL), the node copies
// every live entry back and marks the copy complete, and a resource server
// reading Redis through sdk/redisrevocation answers "unavailable" (503)
// until then, never "not revoked". The windows are logged: Redis back ->
// every entry present again, and how long the SDK answered unavailable.
func TestRedisRestartedEmptyIsReMirrored(t *testing.T) {
	f := newOutageFixture(t, func(redisURL string) *testServer {
		return startServer(t, "sqlite", func(c *config.Config) { c.Redis = redisURL })
	})
	srv := f.fx.srv
	// A list of a realistic size: a few thousand live entries.
	const bulk = 5000
	keys := []string{revocation.RedisSyncedKey}
	entries := make([]store.Revocation, 0, bulk)
	for i := range bulk {
		e := store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("bulk-%d", i), ExpiresAt: time.Now().Add(time.Hour)}
		entries = append(entries, e)
		keys = append(keys, revocation.RedisKey(e.Kind, e.Value))
	}
	if err := srv.App.revocations.Revoke(t.Context(), entries...); err != nil {
		t.Fatal(err)
	}
	at := f.fx.ccToken(t)
	if code, _ := f.revoke(t, srv.URL, at); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	keys = append(keys, jtiKey(t, at))

	c := redisClient(t, f.redis.Addr)
	waitFor(t, 30*time.Second, "every entry mirrored", func() bool { return missing(t.Context(), c, keys) == 0 })
	rc, err := redisrevocation.Dial(f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	v, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: srv.URL, Audience: outageAudience,
		Algorithms: []string{"ES256"}, Revocation: rc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), at); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("SDK before the outage: %v, want ErrRevoked", err)
	}

	for _, lose := range []struct {
		name string
		do   func()
	}{
		{"restart without persistence", func() { f.redis.Stop(); f.redis.Start() }},
		{"FLUSHALL", func() {
			// A fresh client: c's connections may still be the ones the
			// restart broke, and FLUSHALL is not retried.
			if err := redisClient(t, f.redis.Addr).Do(t.Context(), c.B().Flushall().Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		lose.do()
		back := time.Now()
		// Until every entry is back and the SDK has refused the token
		// after that, the SDK may answer "revoked" (from a cached answer
		// the invalidation has not reached yet) or "unavailable", never
		// "not revoked".
		var allBack, lastUnavailable time.Duration
		unavailable := 0
	poll:
		for {
			if time.Since(back) > 30*time.Second {
				t.Fatalf("%s: after 30 s, %d of %d keys missing; SDK answered unavailable %d times",
					lose.name, missing(t.Context(), c, keys), len(keys), unavailable)
			}
			at0 := time.Since(back)
			_, err := v.Verify(t.Context(), at)
			switch {
			case err == nil:
				t.Fatalf("%s: the SDK accepted a token revoked before Redis lost its data (fails open)", lose.name)
			case errors.Is(err, sdk.ErrRevocationUnavailable):
				unavailable++
				lastUnavailable = time.Since(back)
			case !errors.Is(err, sdk.ErrRevoked):
				t.Fatalf("%s: SDK: %v", lose.name, err)
			case allBack != 0 && at0 > allBack:
				t.Logf("%s: Redis back -> all %d entries and the marker present again in %s; the SDK answered unavailable (503) %d times, the last %s after, and never accepted the token",
					lose.name, len(keys)-1, allBack.Round(time.Millisecond), unavailable, lastUnavailable.Round(time.Millisecond))
				break poll
			}
			if allBack == 0 && missing(t.Context(), c, keys) == 0 {
				allBack = time.Since(back)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// The mark Gatehouse writes after a complete copy is the one the SDK's
// Redis checker requires.
func TestRedisSyncedKeyMatchesSDK(t *testing.T) {
	if revocation.RedisSyncedKey != redisrevocation.SyncedKey {
		t.Fatalf("server marks %q, SDK reads %q", revocation.RedisSyncedKey, redisrevocation.SyncedKey)
	}
}

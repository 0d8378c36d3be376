package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/redisrevocation"
)

// propagationRoundsEnv sets how many tokens TestREV01PropagationToSDK
// revokes; bench/run.sh raises it to measure percentiles.
const propagationRoundsEnv = "GHBENCH_PROPAGATION_ROUNDS"

// TestREV01PropagationToSDK measures REV-01 at the resource servers: two
// Gatehouse nodes share PostgreSQL and Redis; a token is revoked through
// node A; four SDK verifiers (two following the revocation feed, one of
// node A and one of node B, and two reading Redis) have each seen the
// token as valid and are polled until they refuse it. The time from the
// revoke request to the last of each pair refusing is logged as p50, p99
// and max per checker kind. The test asserts only that every verifier
// refuses every token (within a liveness bound of 10 s); the times are a
// measurement, never a pass/fail criterion.
func TestREV01PropagationToSDK(t *testing.T) {
	redisAddr := testsvc.RedisAddr(t)
	shared := testsvc.PostgresSchema(t)
	masterKey := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	redisURL := "redis://" + redisAddr + "/0"
	nodeA := startServer(t, "postgres", func(c *config.Config) { c.Store, c.MasterKey, c.Redis = shared, masterKey, redisURL })
	nodeB := startServer(t, "postgres", func(c *config.Config) {
		c.Store, c.MasterKey, c.Redis, c.Issuer = shared, masterKey, redisURL, nodeA.URL
	})
	nodeBURL := "http://" + nodeB.cfg.Listen
	const audience = "https://products.example"
	_, sec := nodeA.createClient(t, admin.ClientSpec{ID: "svc", Name: "svc", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"x"}, Audiences: []string{audience}})
	feedReader(t, nodeA)
	_, rsSec := nodeA.createClient(t, admin.ClientSpec{ID: "products-api", Name: "products API",
		GrantTypes: []string{"client_credentials"}, Roles: []string{"resource-server"}})
	fx := &ccFixture{srv: nodeA, cc1: "svc", cc1Sec: sec}

	type instance struct {
		kind string
		v    *sdk.Verifier
	}
	var instances []instance
	for i, base := range []string{nodeA.URL, nodeBURL} {
		fc, err := sdk.NewFeedChecker(t.Context(), sdk.FeedConfig{Issuer: base, ClientID: "products-api", ClientSecret: rsSec})
		if err != nil {
			t.Fatalf("feed checker %d: %v", i, err)
		}
		t.Cleanup(fc.Close)
		rc, err := redisrevocation.Dial(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rc.Close)
		for _, in := range []struct {
			kind string
			c    sdk.RevocationChecker
		}{{"feed", fc}, {"redis", rc}} {
			v, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: nodeA.URL, Audience: audience,
				Algorithms: []string{"ES256"}, Revocation: in.c})
			if err != nil {
				t.Fatal(err)
			}
			instances = append(instances, instance{in.kind, v})
		}
	}

	rounds := 10
	if n, err := strconv.Atoi(os.Getenv(propagationRoundsEnv)); err == nil && n > 0 {
		rounds = n
	}
	delays := map[string][]time.Duration{}
	for range rounds {
		at := fx.ccToken(t)
		for _, in := range instances {
			if _, err := in.v.Verify(t.Context(), at); err != nil {
				t.Fatalf("%s verifier refused a fresh token: %v", in.kind, err)
			}
		}
		start := time.Now()
		if resp, body := fx.post(t, "/oauth/revoke", url.Values{"token": {at}}, "svc", sec); resp.StatusCode != 200 {
			t.Fatalf("revoke at A: %d %s", resp.StatusCode, body)
		}
		var mu sync.Mutex
		worst := map[string]time.Duration{}
		var wg sync.WaitGroup
		for _, in := range instances {
			wg.Go(func() {
				for {
					_, err := in.v.Verify(t.Context(), at)
					if errors.Is(err, sdk.ErrRevoked) {
						break
					}
					if time.Since(start) > 10*time.Second {
						t.Errorf("%s verifier still accepts a token revoked 10 s ago (last: %v)", in.kind, err)
						return
					}
					time.Sleep(time.Millisecond)
				}
				d := time.Since(start)
				mu.Lock()
				worst[in.kind] = max(worst[in.kind], d)
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for k, d := range worst {
			delays[k] = append(delays[k], d)
		}
	}
	for _, kind := range []string{"feed", "redis"} {
		t.Logf("propagation to two SDK instances (%s checker, %d revocations): %s", kind, rounds, percentiles(delays[kind]))
	}
}

// percentiles formats p50, p99 and max of ds (nearest rank).
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s, p99 %s, max %s", r(at(0.50)), r(at(0.99)), r(s[len(s)-1]))
}

// The SDK's Redis reader and Gatehouse's Redis mirror agree on the keys.
func TestRedisKeyPrefixMatchesSDK(t *testing.T) {
	if revocation.RedisKeyPrefix != redisrevocation.KeyPrefix {
		t.Fatalf("server writes %q, SDK reads %q", revocation.RedisKeyPrefix, redisrevocation.KeyPrefix)
	}
	if store.RevokeJTI != sdk.RevokeJTI || store.RevokeSID != sdk.RevokeSession || store.RevokeSubject != sdk.RevokeSubject {
		t.Fatal("the SDK's revocation kinds differ from the store's")
	}
	for _, k := range []string{sdk.RevokeJTI, sdk.RevokeSession, sdk.RevokeSubject} {
		if revocation.RedisKey(k, "v") != redisrevocation.KeyPrefix+k+":v" {
			t.Errorf("key for kind %q differs", k)
		}
	}
}

// sdkVerifier is an API protected by the SDK for audience
// https://api.example, following srv's revocation feed as client id.
func sdkVerifier(t *testing.T, srv *testServer, id, secret string) *sdk.Verifier {
	t.Helper()
	fc, err := sdk.NewFeedChecker(t.Context(), sdk.FeedConfig{Issuer: srv.URL, ClientID: id, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	v, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: srv.URL, Audience: "https://api.example",
		Algorithms: []string{"ES256"}, Revocation: fc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sdkRefuses waits until v refuses tok as revoked (a liveness bound of
// 10 s, not a measurement).
func sdkRefuses(t *testing.T, v *sdk.Verifier, tok, what string) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		_, err := v.Verify(t.Context(), tok)
		if errors.Is(err, sdk.ErrRevoked) {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("%s: the SDK still answers %v", what, err)
			return
		}
	}
}

// feedReader creates the role "resource-server", which lets a client read
// the revocation feed. Create it before the server first expands roles
// (role definitions are cached for a second).
func feedReader(t *testing.T, srv *testServer) {
	t.Helper()
	_, err := admin.CreateRole(t.Context(), srv.App.store, "resource-server", "reads the revocation feed",
		[]string{revocation.FeedPermission}, time.Now())
	if err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
}

package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk"
)

// cluster is several nodes of one deployment on loopback: one issuer, one
// PostgreSQL schema, one master key, as behind a load balancer.
type cluster struct {
	nodes []*testServer
	// lb sends each request to the next node in turn, whatever host the
	// URL names (the issuer's): the load balancer.
	lb   *http.Client
	next atomic.Uint64
}

const clusterMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

// startCluster starts n nodes on one fresh PostgreSQL schema, with change
// applied to every node's configuration.
func startCluster(t *testing.T, n int, change func(*config.Config)) *cluster {
	t.Helper()
	shared := testsvc.PostgresSchema(t)
	c := &cluster{}
	issuer := ""
	for range n {
		node := startServer(t, "postgres", func(cfg *config.Config) {
			cfg.Store, cfg.MasterKey = shared, clusterMasterKey
			if issuer != "" {
				cfg.Issuer = issuer
			}
			if change != nil {
				change(cfg)
			}
		})
		if issuer == "" {
			issuer = node.URL
		}
		c.nodes = append(c.nodes, node)
	}
	c.lb = &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Host = c.nodes[c.next.Add(1)%uint64(len(c.nodes))].cfg.Listen
		return http.DefaultTransport.RoundTrip(r)
	})}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// issuer is the deployment's issuer URL.
func (c *cluster) issuer() string { return c.nodes[0].URL }

// postForm posts form with Basic credentials through the load balancer and
// decodes the JSON answer.
func (c *cluster) postForm(t *testing.T, path string, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.issuer()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := c.lb.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// machineClient registers a client_credentials client that may also read
// the revocation feed, and returns its secret.
func (c *cluster) machineClient(t *testing.T, id string) string {
	t.Helper()
	feedReader(t, c.nodes[0])
	_, sec := c.nodes[0].createClient(t, admin.ClientSpec{ID: id, Name: id, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"items:read"}, Audiences: []string{"https://api.example"}, Roles: []string{"resource-server"}})
	return sec
}

// verifier is an SDK verifier for the cluster's API that reaches Gatehouse
// through the load balancer, with a short unknown-kid refetch cooldown.
func (c *cluster) verifier(t *testing.T, id, secret string, cooldown time.Duration) *sdk.Verifier {
	t.Helper()
	fc, err := sdk.NewFeedChecker(t.Context(), sdk.FeedConfig{Issuer: c.issuer(), ClientID: id, ClientSecret: secret, HTTPClient: c.lb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	v, err := sdk.NewVerifier(t.Context(), sdk.Config{Issuer: c.issuer(), Audience: "https://api.example",
		Algorithms: []string{"ES256"}, Revocation: fc, HTTPClient: c.lb, RefreshCooldown: cooldown})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

// TestClusterKeyRotationRefusesNoValidToken rotates the access-token key on
// one of three nodes while tokens are issued through every node, checked
// by introspection at another node and by an SDK verifier behind the same
// load balancer: not one valid token may be refused, before, during or
// after the switch to the new key (issue 9, item 3; FLT-06). Nodes used to
// sign with a new key that the others neither published nor accepted.
func TestClusterKeyRotationRefusesNoValidToken(t *testing.T) {
	const (
		refresh    = 200 * time.Millisecond
		prepublish = 2 * time.Second
		cooldown   = 500 * time.Millisecond // refresh + cooldown < prepublish, as docs/operations.md asks
	)
	c := startCluster(t, 3, func(cfg *config.Config) {
		cfg.Signing.KeyRefreshInterval, cfg.Signing.KeyPrepublish = refresh, prepublish
	})
	secret := c.machineClient(t, "svc")
	api := c.verifier(t, "svc", secret, cooldown)

	oldKID := ""
	var issued, refused atomic.Int64
	kids := map[string]int{}
	var newKID string
	var firstNew time.Time
	check := func(t *testing.T) {
		code, m := c.postForm(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "svc", secret)
		at, _ := m["access_token"].(string)
		if code != http.StatusOK || at == "" {
			t.Errorf("token: %d %v", code, m)
			return
		}
		issued.Add(1)
		kid := tokenKID(t, at)
		kids[kid]++
		if kid == newKID && firstNew.IsZero() {
			firstNew = time.Now()
		}
		if code, m := c.postForm(t, "/oauth/introspect", url.Values{"token": {at}}, "svc", secret); code != http.StatusOK || m["active"] != true {
			refused.Add(1)
			t.Errorf("introspection at another node refused a valid token (kid %s): %d %v", kid, code, m)
		}
		if _, err := api.Verify(t.Context(), at); err != nil {
			refused.Add(1)
			t.Errorf("the SDK refused a valid token (kid %s): %v", kid, err)
		}
	}
	check(t)
	for k := range kids {
		oldKID = k
	}

	rotated, err := c.nodes[1].App.Keys().Rotate(t.Context(), "ES256")
	if err != nil {
		t.Fatal(err)
	}
	newKID = rotated.ID
	start := time.Now()
	// Until every node has signed with the new key for a while (a
	// liveness bound, not a measurement), or the first refusal.
	for time.Since(start) < prepublish+10*time.Second && !t.Failed() {
		check(t)
		if kids[newKID] >= 10*len(c.nodes) && kids[oldKID] > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%d tokens through the rotation, %d refused; by kid: %v (old %s, new %s, first signed %s after the rotation)",
		issued.Load(), refused.Load(), kids, oldKID, newKID, firstNew.Sub(start).Round(time.Millisecond))
	if kids[newKID] == 0 {
		t.Fatalf("no node signed with the new key %s", newKID)
	}
	// Slowness can only delay the switch, never advance it.
	if early := firstNew.Sub(start); early < prepublish-500*time.Millisecond {
		t.Errorf("the new key signed %s after the rotation, before its pre-publication (%s) ended", early, prepublish)
	}
}

// TestClusterDeviceGrant: every step of the device grant may land on a
// different node (the load balancer takes turns): the device
// authorization, each page of the approval, and each poll.
func TestClusterDeviceGrant(t *testing.T) {
	c := startCluster(t, 3, func(cfg *config.Config) { cfg.Tokens.DevicePollInterval = time.Second })
	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, err := admin.CreateUser(t.Context(), c.nodes[0].App.store, h, admin.UserSpec{Username: "alice", Password: alicePassword}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.nodes[0].createClient(t, admin.ClientSpec{ID: "tv", Name: "TV", Public: true, GrantTypes: []string{oauth.GrantDeviceCode}})
	conf := oauth2.Config{ClientID: "tv", Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: c.issuer() + "/oauth/device_authorization", TokenURL: c.issuer() + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, c.lb)
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.issuer())
	b.c.Transport = c.lb.Transport
	f := &deviceFixture{browserFixture: &browserFixture{srv: c.nodes[0]}}
	f.decideDevice(t, b, f.confirmDevice(t, b, da.VerificationURIComplete), "allow")
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil || tok.Extra("id_token") == nil {
		t.Fatalf("DeviceAccessToken through the load balancer: %v", err)
	}
}

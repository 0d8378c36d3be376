package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFeed is a stand-in for Gatehouse's GET /oauth/revocations: HTTP
// Basic client authentication, cursor paging and long polling.
type fakeFeed struct {
	srv      *httptest.Server
	failures atomic.Int64 // 503s answered while down

	mu      sync.Mutex
	entries []map[string]any // the feed; the cursor is an index into it
	down    bool
	wake    chan struct{} // closed on every change
}

func newFakeFeed(t testing.TB) *fakeFeed {
	f := &fakeFeed{wake: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

const feedPageLimit = 2 // small, so paging is exercised

func (f *fakeFeed) serve(w http.ResponseWriter, r *http.Request) {
	if id, secret, ok := r.BasicAuth(); !ok || id != "rs" || secret != "s3cret" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	since, _ := strconv.Atoi(r.URL.Query().Get("since"))
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	timeout := time.After(time.Duration(wait) * time.Second)
	for {
		f.mu.Lock()
		down, wake := f.down, f.wake
		page := f.entries[min(since, len(f.entries)):]
		f.mu.Unlock()
		if down {
			f.failures.Add(1)
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		if len(page) > 0 || wait == 0 {
			more := len(page) > feedPageLimit
			page = page[:min(len(page), feedPageLimit)]
			json.NewEncoder(w).Encode(map[string]any{
				"cursor": strconv.Itoa(since + len(page)), "more": more, "entries": page})
			return
		}
		select {
		case <-wake:
		case <-timeout:
			json.NewEncoder(w).Encode(map[string]any{"cursor": strconv.Itoa(since), "entries": []any{}})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeFeed) changed(edit func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit()
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *fakeFeed) add(kind, value string, notBefore time.Time) {
	f.changed(func() {
		e := map[string]any{"kind": kind, "value": value, "expires_at": time.Now().Add(time.Hour).Unix()}
		if !notBefore.IsZero() {
			e["not_before"] = notBefore.Unix()
		}
		f.entries = append(f.entries, e)
	})
}

func (f *fakeFeed) setDown(down bool) { f.changed(func() { f.down = down }) }

func (f *fakeFeed) checker(t testing.TB, now func() time.Time) *FeedChecker {
	t.Helper()
	fc, err := NewFeedChecker(t.Context(), FeedConfig{Issuer: f.srv.URL, ClientID: "rs", ClientSecret: "s3cret",
		Wait: time.Second, StaleAfter: 3 * time.Second, Now: now})
	if err != nil {
		t.Fatalf("NewFeedChecker: %v", err)
	}
	t.Cleanup(fc.Close)
	return fc
}

// eventually polls cond until it holds or a generous liveness bound
// passes; it measures nothing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: did not happen", what)
}

// REV-01 at the resource server: a token revoked by jti, by session, or by
// a subject not-before is refused once the feed carries the entry, cached
// or not, and leaves the verified-token cache.
func TestFeedCheckerREV01FollowsFeed(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	feed := newFakeFeed(t)
	// Entries made before the checker starts arrive with the first load,
	// across pages.
	feed.add(RevokeJTI, "old-1", time.Time{})
	feed.add(RevokeJTI, "old-2", time.Time{})
	feed.add(RevokeJTI, "old-3", time.Time{})
	fc := feed.checker(t, nil)
	if n := fc.set.len(); n != 3 {
		t.Fatalf("first load holds %d entries, want 3 (paging)", n)
	}
	v := iss.verifier(t, func(c *Config) { c.Revocation = fc })

	rt := sampleRouter(v)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		revoke func()
	}{
		{"jti", map[string]any{"jti": "tok-1"}, func() { feed.add(RevokeJTI, "tok-1", time.Time{}) }},
		{"sid", map[string]any{"jti": "tok-2", "sid": "sess-9"}, func() { feed.add(RevokeSession, "sess-9", time.Time{}) }},
		{"sub", map[string]any{"jti": "tok-3", "sub": "user-9"}, func() {
			feed.add(RevokeSubject, "user-9", iss.clock.Now().Add(time.Second))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := iss.token(esKey(), nil, tc.claims)
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			tc.revoke()
			eventually(t, "revocation reaches the checker", func() bool {
				_, err := v.Verify(t.Context(), tok)
				return errors.Is(err, ErrRevoked)
			})
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify = %v, want a wrapped ErrInvalidToken", err)
			}
			if _, ok := v.cache.m[tok]; ok {
				t.Error("revoked token is still in the verified-token cache")
			}
			res := do(rt, "GET", "/api/me", "Bearer "+tok)
			if res.code != http.StatusUnauthorized || errorCode(t, res) != "invalid_token" {
				t.Errorf("router: %d %s", res.code, res.body)
			}
		})
	}
	// A token issued after the subject's not-before is not revoked by it.
	iss.clock.Advance(2 * time.Second)
	if _, err := v.Verify(t.Context(), iss.token(esKey(), nil, map[string]any{"jti": "tok-4", "sub": "user-9"})); err != nil {
		t.Errorf("token issued after the not-before: %v", err)
	}
}

// A feed lost beyond StaleAfter fails closed: 503, never 200 or 401; it
// recovers when the feed comes back.
func TestFeedCheckerFailsClosedWhenStale(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	feed := newFakeFeed(t)
	clock := &fakeClock{t: time.Now()}
	fc := feed.checker(t, clock.Now)
	v := iss.verifier(t, func(c *Config) { c.Revocation = fc })
	rt := sampleRouter(v)
	tok := iss.token(esKey(), nil, nil)
	if res := do(rt, "GET", "/api/me", "Bearer "+tok); res.code != 200 {
		t.Fatalf("fresh feed: %d", res.code)
	}

	feed.setDown(true)
	eventually(t, "the checker sees the outage", func() bool { return feed.failures.Load() > 0 })
	clock.Advance(2 * time.Second) // within StaleAfter: still answered from memory
	if res := do(rt, "GET", "/api/me", "Bearer "+tok); res.code != 200 {
		t.Fatalf("within StaleAfter: %d", res.code)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrRevocationUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("stale feed: Verify = %v, want ErrRevocationUnavailable only", err)
	}
	res := do(rt, "GET", "/api/me", "Bearer "+tok)
	if res.code != http.StatusServiceUnavailable || res.hdr.Get("Retry-After") == "" {
		t.Fatalf("stale feed: router answered %d (Retry-After %q), want 503", res.code, res.hdr.Get("Retry-After"))
	}

	feed.setDown(false)
	eventually(t, "the checker recovers", func() bool {
		return do(rt, "GET", "/api/me", "Bearer "+tok).code == 200
	})
}

func TestFeedCheckerConfig(t *testing.T) {
	feed := newFakeFeed(t)
	good := FeedConfig{Issuer: feed.srv.URL, ClientID: "rs", ClientSecret: "s3cret"}
	for _, tc := range []struct {
		name string
		edit func(*FeedConfig)
		want string
	}{
		{"no issuer", func(c *FeedConfig) { c.Issuer = "" }, "Issuer is required"},
		{"relative issuer", func(c *FeedConfig) { c.Issuer = "/gatehouse" }, "absolute"},
		{"no secret", func(c *FeedConfig) { c.ClientSecret = "" }, "ClientSecret"},
		{"stale before wait", func(c *FeedConfig) { c.Wait, c.StaleAfter = 5*time.Second, 4*time.Second }, "must exceed"},
		{"wrong secret", func(c *FeedConfig) { c.ClientSecret = "nope" }, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			fc, err := NewFeedChecker(t.Context(), cfg)
			if err == nil {
				fc.Close()
				t.Fatal("NewFeedChecker accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestRevocationSet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newRevocationSet()
	s.add([]RevocationEntry{
		{Kind: RevokeJTI, Value: "j", ExpiresAt: now.Add(time.Minute)},
		{Kind: RevokeSession, Value: "s", ExpiresAt: now.Add(time.Minute)},
		{Kind: RevokeSubject, Value: "u", NotBefore: now, ExpiresAt: now.Add(time.Minute)},
		{Kind: RevokeJTI, Value: "gone", ExpiresAt: now},
		{Kind: "bogus", Value: "x", ExpiresAt: now.Add(time.Minute)},
	})
	for _, tc := range []struct {
		name string
		c    Claims
		want bool
	}{
		{"jti", Claims{ID: "j", Subject: "other", IssuedAt: now}, true},
		{"sid", Claims{ID: "x", SID: "s", Subject: "other", IssuedAt: now}, true},
		{"issued before not-before", Claims{ID: "x", Subject: "u", IssuedAt: now.Add(-time.Second)}, true},
		{"issued at not-before", Claims{ID: "x", Subject: "u", IssuedAt: now}, false},
		{"no iat", Claims{ID: "x", Subject: "u"}, true},
		{"expired entry", Claims{ID: "gone", Subject: "other", IssuedAt: now}, false},
		{"empty values match nothing", Claims{}, false},
		{"unrelated", Claims{ID: "x", SID: "y", Subject: "z", IssuedAt: now}, false},
	} {
		if got := s.revoked(&tc.c, now); got != tc.want {
			t.Errorf("%s: revoked = %v, want %v", tc.name, got, tc.want)
		}
	}
	s.prune(now)
	if n := s.len(); n != 3 {
		t.Errorf("after prune: %d entries, want 3", n)
	}
	s.prune(now.Add(time.Minute))
	if n := s.len(); n != 0 {
		t.Errorf("after every expiry: %d entries, want 0", n)
	}
}

// failingChecker cannot answer.
type failingChecker struct{}

func (failingChecker) Revoked(context.Context, *Claims) (bool, error) {
	return false, errors.New("connection refused")
}

func TestRevocationCheckerOutageIs503(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, func(c *Config) { c.Revocation = failingChecker{} })
	tok := iss.token(esKey(), nil, nil)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrRevocationUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify = %v, want ErrRevocationUnavailable only", err)
	}
	res := do(sampleRouter(v), "GET", "/api/me", "Bearer "+tok)
	if res.code != http.StatusServiceUnavailable || strings.Contains(res.body, "refused") {
		t.Errorf("router: %d %q", res.code, res.body)
	}
}

func TestRevocationIsRequired(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	cfg := iss.config()
	cfg.Revocation = nil
	if _, err := NewVerifier(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewVerifier without Revocation: %v, want ErrInvalidConfig", err)
	}
}

// A JWKS outage while looking for an unknown kid is an outage (503), not
// a bad token (401): a key rotated in during the outage must not turn
// every new token into a 401.
func TestJWKSOutageOnUnknownKidIs503(t *testing.T) {
	iss := newTestIssuer(t, esKey())
	v := iss.verifier(t, nil)
	rt := sampleRouter(v)
	fresh := newEdKey("rotated-in")
	iss.publish(fresh)
	iss.jwksDown.Store(true)
	iss.clock.Advance(DefaultRefreshCooldown + time.Second)
	tok := iss.token(fresh, nil, nil)
	for i := range 2 { // the fetch, then within its cooldown
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("attempt %d: Verify = %v, want ErrKeysUnavailable only", i, err)
		}
		if res := do(rt, "GET", "/api/me", "Bearer "+tok); res.code != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d: router answered %d, want 503", i, res.code)
		}
	}
	// Known keys keep working through the outage.
	if _, err := v.Verify(t.Context(), iss.token(esKey(), nil, nil)); err != nil {
		t.Fatalf("known kid during the outage: %v", err)
	}
	iss.jwksDown.Store(false)
	iss.clock.Advance(DefaultRefreshCooldown + time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	iss.clock.Advance(DefaultRefreshCooldown + time.Second)
	if _, err := v.Verify(t.Context(), iss.token(newEdKey("forged"), nil, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid with the JWKS up: %v, want ErrUnknownKey", err)
	}
}

// BenchmarkRevocationCheck is the in-memory check of a FeedChecker (what
// every request pays) against a list of 10,000 entries.
func BenchmarkRevocationCheck(b *testing.B) {
	fc := benchRevocation()
	c := &Claims{ID: "8Jd2kq0x7mYwQ1bLzR4tVg", SID: "s-12", Subject: "user-42", IssuedAt: time.Now()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if revoked, err := fc.Revoked(ctx, c); revoked || err != nil {
			b.Fatal(revoked, err)
		}
	}
}

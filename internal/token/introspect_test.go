package token_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestVerifiedTokenCacheNeverOutlivesRevocationOrExpiry: introspection
// caches verified tokens, but a cached token still becomes inactive when it
// is revoked and when it expires.
func TestVerifiedTokenCacheNeverOutlivesRevocationOrExpiry(t *testing.T) {
	f := newFixture(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	revoked := f.token(t, cc, f.as("cc1"))
	expiring := f.token(t, cc, f.as("cc1"))
	expect(t, revoked, http.StatusOK, "")
	for range 2 { // the second call answers from the cache
		if !f.active(t, revoked.AccessToken, f.as("cc1")) || !f.active(t, expiring.AccessToken, f.as("cc1")) {
			t.Fatal("fresh tokens inactive")
		}
	}
	rec := serve(f.ep.RevocationHandler(), "/oauth/revoke", url.Values{"token": {revoked.AccessToken}}, f.as("cc1"))
	if rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if f.active(t, revoked.AccessToken, f.as("cc1")) {
		t.Fatal("a cached token stayed active after revocation")
	}
	f.clock.Advance(time.Duration(expiring.ExpiresIn)*time.Second + 2*time.Minute)
	if f.active(t, expiring.AccessToken, f.as("cc1")) {
		t.Fatal("a cached token stayed active after it expired")
	}
}

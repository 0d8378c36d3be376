package token_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestClientChangesReachTheEndpointWithinCacheTTL: clients are cached for
// token.ClientCacheTTL; a deleted client or a rotated secret stops working
// once that has passed (the documented propagation bound, FLT-05).
func TestClientChangesReachTheEndpointWithinCacheTTL(t *testing.T) {
	f := newFixture(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	expect(t, f.token(t, cc, f.as("cc1")), http.StatusOK, "")

	if _, err := admin.RotateClientSecret(t.Context(), f.st, "cc1", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(token.ClientCacheTTL)
	expect(t, f.token(t, cc, f.as("cc1")), http.StatusUnauthorized, "invalid_client")

	expect(t, f.token(t, cc, f.as("conf1")), http.StatusBadRequest, "unauthorized_client")
	if err := f.st.DeleteClient(t.Context(), "conf1"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(token.ClientCacheTTL)
	expect(t, f.token(t, cc, f.as("conf1")), http.StatusUnauthorized, "invalid_client")
}

// TestRevokeFailsClosed: when the revocation cannot be recorded, /revoke
// answers 503 temporarily_unavailable, never 200 (RFC 7009 §2.2.1).
func TestRevokeFailsClosed(t *testing.T) {
	f := newFixture(t)
	r := f.token(t, url.Values{"grant_type": {"client_credentials"}}, f.as("cc1"))
	expect(t, r, http.StatusOK, "")
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	rec := serve(f.ep.RevocationHandler(), "/oauth/revoke", url.Values{"token": {r.AccessToken}}, f.as("cc1"))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "temporarily_unavailable") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("revoke with the store down: %d %s", rec.Code, rec.Body)
	}
}

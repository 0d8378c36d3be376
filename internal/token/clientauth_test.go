package token_test

import (
	"net/http"
	"net/url"
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

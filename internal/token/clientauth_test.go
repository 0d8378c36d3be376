package token_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
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

// countingClients counts the lookups that reach the store.
type countingClients struct {
	token.ClientStore
	calls atomic.Int64
}

func (c *countingClients) GetClient(ctx context.Context, id string) (store.Client, error) {
	c.calls.Add(1)
	return c.ClientStore.GetClient(ctx, id)
}

// TestUnknownClientsAnswerLikeKnownOnes: a repeated unknown client id is
// refused from memory, as a known client with a wrong secret is, rather
// than with a store round trip each time, which made unknown ids
// measurably slower to refuse (issue 9, item 14). Timing is not asserted
// (the machine is noisy); the store calls that caused it are.
func TestUnknownClientsAnswerLikeKnownOnes(t *testing.T) {
	f := newFixture(t)
	counting := &countingClients{ClientStore: f.st}
	auth := token.NewClientAuthenticator(counting, throttle.New(throttle.Policy{Free: 1000, BaseLock: time.Second,
		MaxLock: time.Second, Forget: time.Hour}, f.clock.Now), f.clock.Now)
	try := func(id, secret string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
		req.SetBasicAuth(id, secret)
		if _, err := auth.Authenticate(req, oauth.Form{}); err == nil {
			t.Fatalf("%s with a wrong secret authenticated", id)
		}
	}
	for _, id := range []string{"cc1", "no-such-client"} {
		before := counting.calls.Load()
		for range 20 {
			try(id, "wrong")
		}
		if n := counting.calls.Load() - before; n != 1 {
			t.Errorf("20 failed attempts as %s reached the store %d times, want 1", id, n)
		}
	}
	// A client created after its id was refused works once the cached
	// answer has expired.
	f.clock.Advance(token.ClientCacheTTL)
	before := counting.calls.Load()
	try("no-such-client", "wrong")
	if counting.calls.Load() == before {
		t.Error("an unknown id stayed cached past ClientCacheTTL")
	}
}

// TestOneClientAuthenticationMethod: a request may authenticate one way
// only; a client assertion beside Basic credentials or a client_secret is
// invalid_request, and on its own (unsupported) invalid_client (issue 9,
// item 9).
func TestOneClientAuthenticationMethod(t *testing.T) {
	f := newFixture(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	assertion := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"e30.e30.sig"}}
	expect(t, f.token(t, assertion, f.as("cc1")), http.StatusBadRequest, "invalid_request")
	onlyType := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	expect(t, f.token(t, onlyType, f.as("cc1")), http.StatusBadRequest, "invalid_request")
	post := cloneValues(assertion)
	post.Set("client_secret", f.secrets["cc1"])
	expect(t, f.token(t, post, auth{id: "cc1"}), http.StatusBadRequest, "invalid_request")
	expect(t, f.token(t, assertion, auth{id: "cc1"}), http.StatusUnauthorized, "invalid_client")
	basicAndPost := cloneValues(cc)
	basicAndPost.Set("client_secret", f.secrets["cc1"])
	expect(t, f.token(t, basicAndPost, f.as("cc1")), http.StatusBadRequest, "invalid_request")
	expect(t, f.token(t, cc, f.as("cc1")), http.StatusOK, "")
}

// TestUnstorableClientIDs: a client_id no store can hold (NUL, invalid
// UTF-8), in the body or in Basic credentials, is refused before any
// lookup with invalid_request or invalid_client, never an outage (issue 9,
// item 8; the PostgreSQL variant runs in internal/app).
func TestUnstorableClientIDs(t *testing.T) {
	f := newFixture(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, id := range []string{"cc1\x00", "\x00", "cc\xff1"} {
		expect(t, f.token(t, cc, auth{id: id}), http.StatusBadRequest, "invalid_request")
		expect(t, f.token(t, cc, auth{id: id, secret: "s", basic: true}), http.StatusUnauthorized, "invalid_client")
	}
}

package token_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
)

var allScopes = []string{"openid", "profile", "email", "items:read"}

// TestRefreshRotationChain: every refresh returns a new refresh token; the
// chain keeps the grant's scope, sid and user; older access tokens stay
// valid until they expire.
func TestRefreshRotationChain(t *testing.T) {
	f := newFixture(t)
	r := f.mustRedeem(t, codeSpec{scopes: allScopes})
	seen := map[string]bool{r.RefreshToken: true}
	ats := []string{r.AccessToken}
	for i := range 5 {
		f.clock.Advance(time.Minute)
		next := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
		expect(t, next, http.StatusOK, "")
		if next.RefreshToken == "" || seen[next.RefreshToken] {
			t.Fatalf("step %d: refresh token not rotated", i)
		}
		if next.Scope != "openid profile email items:read" || next.IDToken == "" || next.TokenType != "Bearer" {
			t.Fatalf("step %d: %s", i, next.raw)
		}
		// The spent token no longer introspects as active.
		if f.active(t, r.RefreshToken, f.as("conf1")) {
			t.Fatalf("step %d: spent refresh token still active", i)
		}
		seen[next.RefreshToken] = true
		ats = append(ats, next.AccessToken)
		r = next
	}
	for i, at := range ats {
		m := f.introspect(t, at, f.as("conf1"))
		if m["active"] != true || m["sub"] != f.alice.ID {
			t.Errorf("access token %d: %v", i, m)
		}
	}
}

// TestRefreshReuse is RT-01 (grace 0): replaying a spent refresh token is
// refused and revokes the family (the successor refresh token and every
// access token of the grant) and the browser session it came from.
func TestRefreshReuse(t *testing.T) {
	f := newFixture(t)
	sid := f.session(t, f.alice)
	first := f.mustRedeem(t, codeSpec{sid: sid})
	// Another grant of the same browser session, for another client.
	sibling := f.mustRedeem(t, codeSpec{client: "conf2", sid: sid})
	// A grant of another session stays untouched.
	other := f.mustRedeem(t, codeSpec{})

	f.clock.Advance(time.Second)
	second := f.refresh(t, f.as("conf1"), first.RefreshToken, nil)
	expect(t, second, http.StatusOK, "")
	f.clock.Advance(10 * time.Second)
	expect(t, f.refresh(t, f.as("conf1"), first.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")

	expect(t, f.refresh(t, f.as("conf1"), second.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	for name, at := range map[string]string{"AT1": first.AccessToken, "AT2": second.AccessToken} {
		if f.active(t, at, f.as("conf1")) {
			t.Errorf("%s still active after reuse", name)
		}
	}
	if f.active(t, sibling.AccessToken, f.as("conf2")) {
		t.Error("access token of another grant of the same session still active")
	}
	expect(t, f.refresh(t, f.as("conf2"), sibling.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	if !f.active(t, other.AccessToken, f.as("conf1")) {
		t.Error("a grant of another session was revoked")
	}
	expect(t, f.refresh(t, f.as("conf1"), other.RefreshToken, nil), http.StatusOK, "")

	evs := f.auditEvents(t, "refresh_token_reuse_detected")
	if len(evs) != 1 {
		t.Fatalf("%d reuse events, want 1", len(evs))
	}
	if e := evs[0]; e.ClientID != "conf1" || e.UserID != f.alice.ID || e.SessionID != sid || e.Details["grant_id"] == "" {
		t.Errorf("reuse event %+v", e)
	}
}

// TestRefreshParallel is RT-02: of 20 parallel refreshes with one token at
// most one succeeds, and the replays among them leave nothing it minted
// valid. A refresh racing a revocation of its grant leaves nothing valid
// either.
func TestRefreshParallel(t *testing.T) {
	t.Run("20 parallel refreshes", func(t *testing.T) {
		f := newFixture(t)
		first := f.mustRedeem(t, codeSpec{})
		const n = 20
		results := make([]tokenResponse, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i] = f.refresh(t, f.as("conf1"), first.RefreshToken, nil) })
		}
		wg.Wait()
		var ok []tokenResponse
		for _, r := range results {
			switch {
			case r.status == http.StatusOK:
				ok = append(ok, r)
			case r.status != http.StatusBadRequest || r.Error != "invalid_grant":
				t.Errorf("refresh: %d %s", r.status, r.raw)
			}
		}
		if len(ok) > 1 {
			t.Fatalf("%d parallel refreshes succeeded, want at most 1", len(ok))
		}
		for _, r := range ok {
			if f.active(t, r.AccessToken, f.as("conf1")) || f.active(t, r.RefreshToken, f.as("conf1")) {
				t.Error("tokens of the successful refresh survived the replays")
			}
			expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		}
		if f.active(t, first.AccessToken, f.as("conf1")) {
			t.Error("the grant's first access token survived")
		}
	})
	t.Run("refresh racing revoke", func(t *testing.T) {
		for i := range 5 {
			f := newFixture(t)
			first := f.mustRedeem(t, codeSpec{})
			var wg sync.WaitGroup
			var refreshed tokenResponse
			var revokeStatus int
			wg.Go(func() { refreshed = f.refresh(t, f.as("conf1"), first.RefreshToken, nil) })
			wg.Go(func() {
				rec := serve(f.ep.RevocationHandler(), "/oauth/revoke", url.Values{"token": {first.RefreshToken}}, f.as("conf1"))
				revokeStatus = rec.Code
			})
			wg.Wait()
			if revokeStatus != http.StatusOK {
				t.Fatalf("round %d: revoke %d", i, revokeStatus)
			}
			if refreshed.status == http.StatusOK {
				if f.active(t, refreshed.AccessToken, f.as("conf1")) || f.active(t, refreshed.RefreshToken, f.as("conf1")) {
					t.Fatalf("round %d: a refresh racing the revocation left valid tokens", i)
				}
			} else {
				expect(t, refreshed, http.StatusBadRequest, "invalid_grant")
			}
			if f.active(t, first.AccessToken, f.as("conf1")) {
				t.Fatalf("round %d: AT1 survived the revocation", i)
			}
		}
	})
}

// TestRefreshErrors is RT-03 and the request errors of the grant. None of
// the refused requests spends the token.
func TestRefreshErrors(t *testing.T) {
	f := newFixture(t)
	r := f.mustRedeem(t, codeSpec{scopes: allScopes})
	rt := r.RefreshToken
	cases := []struct {
		name       string
		auth       auth
		form       url.Values
		wantStatus int
		wantErr    string
	}{
		{"missing refresh_token", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}}, 400, "invalid_request"},
		{"unknown refresh token", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, "invalid_grant"},
		{"another client's refresh token", f.as("conf2"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 400, "invalid_grant"},
		{"public client with a confidential client's token", f.as("pub1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 400, "invalid_grant"},
		{"no client authentication", auth{}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"conf1"}}, 401, "invalid_client"},
		{"bad client secret", auth{id: "conf1", secret: "wrong", basic: true}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 401, "invalid_client"},
		{"scope beyond the grant", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid offline_access"}}, 400, "invalid_scope"},
		{"scope unknown", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"admin"}}, 400, "invalid_scope"},
		{"malformed scope", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"open\"id"}}, 400, "invalid_scope"},
		{"resource not granted", f.as("conf1"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {"https://other.example"}}, 400, "invalid_target"},
		{"client without the grant type", f.as("norefresh"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, 400, "unauthorized_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, f.token(t, c.form, c.auth), c.wantStatus, c.wantErr)
		})
	}
	// None of that spent the token or revoked anything.
	if !f.active(t, r.AccessToken, f.as("conf1")) {
		t.Fatal("a refused request revoked the grant")
	}
	t.Run("narrower scope, then the full grant again", func(t *testing.T) {
		n := f.refresh(t, f.as("conf1"), rt, url.Values{"scope": {"openid items:read"}})
		expect(t, n, http.StatusOK, "")
		if n.Scope != "openid items:read" {
			t.Fatalf("narrowed scope %q", n.Scope)
		}
		if m := f.introspect(t, n.AccessToken, f.as("conf1")); m["scope"] != "openid items:read" {
			t.Fatalf("narrowed access token scope %v", m["scope"])
		}
		if m := f.introspect(t, n.RefreshToken, f.as("conf1")); m["scope"] != "openid profile email items:read" {
			t.Fatalf("refresh token scope %v, want the original grant", m["scope"])
		}
		full := f.refresh(t, f.as("conf1"), n.RefreshToken, nil)
		expect(t, full, http.StatusOK, "")
		if full.Scope != "openid profile email items:read" {
			t.Fatalf("scope after a narrowed refresh %q, want the whole grant", full.Scope)
		}
		rt = full.RefreshToken
	})
	t.Run("client's allowed scopes shrink", func(t *testing.T) {
		ctx := context.Background()
		if _, err := admin.UpdateClient(ctx, f.st, "conf1", func(s *admin.ClientSpec) {
			s.Scopes = []string{"openid", "profile"}
		}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// Client changes reach the token endpoint within ClientCacheTTL.
		f.clock.Advance(token.ClientCacheTTL)
		expect(t, f.refresh(t, f.as("conf1"), rt, url.Values{"scope": {"items:read"}}), http.StatusBadRequest, "invalid_scope")
		n := f.refresh(t, f.as("conf1"), rt, nil)
		expect(t, n, http.StatusOK, "")
		if n.Scope != "openid profile" {
			t.Fatalf("scope %q, want the no longer allowed scopes dropped", n.Scope)
		}
		if m := f.introspect(t, n.AccessToken, f.as("conf1")); m["scope"] != "openid profile" {
			t.Fatalf("access token scope %v", m["scope"])
		}
	})
}

// TestRefreshGraceWindow is RT-04: with a grace window, a lost response can
// be retried within it (same family, nothing revoked); after it, the retry
// is reuse.
func TestRefreshGraceWindow(t *testing.T) {
	f := newFixture(t)
	first := f.mustRedeem(t, codeSpec{client: "grace"})
	lost := f.refresh(t, f.as("grace"), first.RefreshToken, nil)
	expect(t, lost, http.StatusOK, "")

	f.clock.Advance(time.Second)
	retry := f.refresh(t, f.as("grace"), first.RefreshToken, nil)
	expect(t, retry, http.StatusOK, "")
	if retry.RefreshToken == lost.RefreshToken {
		t.Fatal("the retry returned the same refresh token")
	}
	for name, tok := range map[string]string{"AT1": first.AccessToken, "lost AT": lost.AccessToken, "retry AT": retry.AccessToken, "retry RT": retry.RefreshToken} {
		if !f.active(t, tok, f.as("grace")) {
			t.Errorf("%s inactive after a retry within grace", name)
		}
	}
	if n := len(f.auditEvents(t, "refresh_token_reuse_detected")); n != 0 {
		t.Fatalf("%d reuse events within grace", n)
	}

	f.clock.Advance(5 * time.Second) // 6 s after the first use
	expect(t, f.refresh(t, f.as("grace"), first.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	for name, tok := range map[string]string{"AT1": first.AccessToken, "lost AT": lost.AccessToken, "retry AT": retry.AccessToken} {
		if f.active(t, tok, f.as("grace")) {
			t.Errorf("%s active after reuse past grace", name)
		}
	}
	expect(t, f.refresh(t, f.as("grace"), retry.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	expect(t, f.refresh(t, f.as("grace"), lost.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	if n := len(f.auditEvents(t, "refresh_token_reuse_detected")); n != 1 {
		t.Fatalf("%d reuse events, want 1", n)
	}
}

// TestRefreshUserChanges is RT-07 and RBAC-05: a disabled or deleted user
// cannot refresh; a role change shows in the next refreshed token.
func TestRefreshUserChanges(t *testing.T) {
	ctx := context.Background()
	t.Run("RBAC-05 roles are read at refresh", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{})
		if _, err := f.st.UpdateUser(ctx, f.alice.ID, func(u store.User) (store.User, error) {
			u.Roles = []string{"editor", "auditor"}
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		n := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
		expect(t, n, http.StatusOK, "")
		var roles []string
		for _, x := range f.introspect(t, n.AccessToken, f.as("conf1"))["roles"].([]any) {
			roles = append(roles, x.(string))
		}
		if !slices.Equal(roles, []string{"editor", "auditor"}) {
			t.Fatalf("roles %v after the change", roles)
		}
	})
	t.Run("RT-07 disabled user", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{})
		if _, err := admin.SetDisabled(ctx, f.st, f.alice.ID, true, f.clock.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		// Disabling signed the user out everywhere: once the node follows
		// the revocation feed, the access token is refused too...
		if err := f.rev.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if f.active(t, r.AccessToken, f.as("conf1")) {
			t.Fatal("access token still active after the user was disabled")
		}
		// ...and re-enabling does not bring the old grant back.
		if _, err := admin.SetDisabled(ctx, f.st, f.alice.ID, false, f.clock.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("RT-07 password changed", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{})
		h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
		if _, err := admin.SetPassword(ctx, f.st, h, f.alice.ID, "a whole new password", f.clock.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		if err := f.rev.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if f.active(t, r.AccessToken, f.as("conf1")) {
			t.Fatal("access token still active after a password change")
		}
	})
	t.Run("RT-07 deleted user", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{user: f.bob})
		if err := f.st.DeleteUser(ctx, f.bob.ID); err != nil {
			t.Fatal(err)
		}
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("RT-07 session ended", func(t *testing.T) {
		f := newFixture(t)
		sid := f.session(t, f.alice)
		r := f.mustRedeem(t, codeSpec{sid: sid})
		now := f.clock.Now()
		revs, err := f.st.EndSession(ctx, sid, now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f.rev.Apply(revs)
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
		if f.active(t, r.AccessToken, f.as("conf1")) {
			t.Error("access token active after the session ended")
		}
	})
}

// TestRefreshExpiry: the idle and absolute lifetimes end a family.
func TestRefreshExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{})
		f.clock.Advance(idleTTL)
		expect(t, f.refresh(t, f.as("conf1"), r.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("absolute", func(t *testing.T) {
		f := newFixture(t)
		r := f.mustRedeem(t, codeSpec{})
		// Refresh often enough never to go idle, until the grant ends.
		for f.clock.Advance(idleTTL - time.Minute); ; f.clock.Advance(idleTTL - time.Minute) {
			n := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
			if n.status != http.StatusOK {
				expect(t, n, http.StatusBadRequest, "invalid_grant")
				break
			}
			r = n
		}
		if elapsed := f.clock.Now().Sub(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)); elapsed < refreshTTL || elapsed > refreshTTL+idleTTL {
			t.Errorf("family ended after %s, want just after %s", elapsed, refreshTTL)
		}
	})
}

// TestRevokeRefreshToken is REV-02 for code grants: revoking the refresh
// token ends the family and its access tokens.
func TestRevokeRefreshToken(t *testing.T) {
	f := newFixture(t)
	r := f.mustRedeem(t, codeSpec{})
	n := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
	expect(t, n, http.StatusOK, "")
	rec := serve(f.ep.RevocationHandler(), "/oauth/revoke", url.Values{"token": {n.RefreshToken}}, f.as("conf1"))
	if rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	expect(t, f.refresh(t, f.as("conf1"), n.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
	for _, at := range []string{r.AccessToken, n.AccessToken} {
		if f.active(t, at, f.as("conf1")) {
			t.Error("access token of a revoked grant still active")
		}
	}
}

// TestRefreshTokenMadeBeforeOrderedKeys: refresh tokens issued before
// they carried a time prefix (43 characters, stored under their plain
// SHA-256) still introspect and rotate after an upgrade, and are spent
// once used; the successor is of the new form.
func TestRefreshTokenMadeBeforeOrderedKeys(t *testing.T) {
	f := newFixture(t)
	r := f.mustRedeem(t, codeSpec{scopes: allScopes})
	rt, gr, err := f.st.GetRefreshToken(t.Context(), secret.OrderedHash(r.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.RefreshToken) != 51 {
		t.Errorf("new refresh token %q: %d characters, want 51 (time prefix and secret)", r.RefreshToken, len(r.RefreshToken))
	}
	legacy := secret.Token()
	now := f.clock.Now()
	iss := store.Issue{RefreshToken: &store.RefreshToken{Hash: secret.Hash(legacy), GrantID: gr.ID, CreatedAt: now, ExpiresAt: rt.ExpiresAt},
		AccessToken: store.IssuedAccessToken{JTI: secret.ID(), ExpiresAt: now.Add(time.Minute)}}
	if _, _, err := f.st.RotateRefreshToken(t.Context(), secret.OrderedHash(r.RefreshToken), now, 0, iss); err != nil {
		t.Fatal(err)
	}
	if !f.active(t, legacy, f.as("conf1")) {
		t.Error("a refresh token of the old form does not introspect as active")
	}
	next := f.refresh(t, f.as("conf1"), legacy, nil)
	expect(t, next, http.StatusOK, "")
	if len(next.RefreshToken) != 51 {
		t.Errorf("successor %q: %d characters, want 51", next.RefreshToken, len(next.RefreshToken))
	}
	expect(t, f.refresh(t, f.as("conf1"), legacy, nil), http.StatusBadRequest, "invalid_grant")
}

// TestRefreshWithoutIDToken: a client registered with omit_refresh_id_token
// gets no id_token from a refresh (OIDC Core §12.2), still gets one when it
// redeems a code, and gets them again from refreshes once it changes back.
func TestRefreshWithoutIDToken(t *testing.T) {
	f := newFixture(t)
	omit := func(v bool) {
		t.Helper()
		if _, err := admin.UpdateClient(t.Context(), f.st, "conf1", func(s *admin.ClientSpec) { s.OmitRefreshIDToken = v }, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(token.ClientCacheTTL) // client changes reach the token endpoint within it
	}
	omit(true)
	r := f.mustRedeem(t, codeSpec{scopes: allScopes})
	if r.IDToken == "" {
		t.Fatal("the code grant gave no id_token")
	}
	next := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
	expect(t, next, http.StatusOK, "")
	if next.IDToken != "" || next.AccessToken == "" || next.RefreshToken == "" || next.Scope != "openid profile email items:read" {
		t.Fatalf("refresh for a client omitting the id_token: %s", next.raw)
	}
	omit(false)
	again := f.refresh(t, f.as("conf1"), next.RefreshToken, nil)
	expect(t, again, http.StatusOK, "")
	if again.IDToken == "" {
		t.Fatalf("refresh after the client changed back: no id_token: %s", again.raw)
	}
}

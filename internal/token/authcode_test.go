package token_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestAuthorizationCodeHappyPaths redeems codes with and without PKCE, for
// confidential and public clients.
func TestAuthorizationCodeHappyPaths(t *testing.T) {
	f := newFixture(t)
	verifier, challenge := pkcePair()
	cases := []struct {
		name        string
		spec        codeSpec
		verifier    string
		wantRefresh bool
		wantID      bool
		wantScope   string
	}{
		{"confidential without PKCE", codeSpec{client: "conf1"}, "", true, true, "openid profile email"},
		{"confidential with PKCE", codeSpec{client: "conf1", challenge: challenge}, verifier, true, true, "openid profile email"},
		{"public with PKCE", codeSpec{client: "pub1", redirect: pubRedir, challenge: challenge}, verifier, true, true, "openid profile email"},
		{"without openid: no id_token", codeSpec{client: "conf1", scopes: []string{"items:read"}}, "", true, false, "items:read"},
		{"client without refresh_token grant", codeSpec{client: "norefresh"}, "", false, true, "openid profile email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			redir := c.spec.redirect
			if redir == "" {
				redir = redirect1
			}
			r := f.redeem(t, f.as(c.spec.client), f.code(t, c.spec), redir, c.verifier)
			expect(t, r, http.StatusOK, "")
			if r.AccessToken == "" || r.TokenType != "Bearer" || r.ExpiresIn != int64(accessTTL.Seconds()) || r.Scope != c.wantScope {
				t.Errorf("response %s", r.raw)
			}
			if (r.RefreshToken != "") != c.wantRefresh || (r.IDToken != "") != c.wantID {
				t.Errorf("refresh token %v (want %v), id_token %v (want %v)", r.RefreshToken != "", c.wantRefresh, r.IDToken != "", c.wantID)
			}
			if r.header.Get("Pragma") != "no-cache" {
				t.Errorf("Pragma %q", r.header.Get("Pragma"))
			}
			m := f.introspect(t, r.AccessToken, f.as("conf1"))
			if c.spec.client == "conf1" {
				if m["active"] != true || m["sub"] != f.alice.ID || m["client_id"] != "conf1" || m["scope"] != c.wantScope || m["sid"] == "" {
					t.Errorf("introspection %v", m)
				}
				if aud := m["aud"].([]any); len(aud) != 1 || aud[0] != apiAud {
					t.Errorf("aud %v, want the client's registered audience", aud)
				}
				if roles := m["roles"].([]any); len(roles) != 1 || roles[0] != "viewer" {
					t.Errorf("roles %v, want the user's", roles)
				}
			}
			if c.wantRefresh {
				expect(t, f.refresh(t, f.as(c.spec.client), r.RefreshToken, nil), http.StatusOK, "")
			}
		})
	}
	if n := len(f.auditEvents(t, "token_issued")); n < len(cases) {
		t.Errorf("%d token_issued events, want at least %d", n, len(cases))
	}
}

// TestAuthorizationCodeErrors covers the token-endpoint rows of PKCE-03,
// PKCE-04, CODE-03, CODE-04 and CODE-05 and the other refusals. Where the
// refusal must not burn the code, the rightful request then succeeds.
func TestAuthorizationCodeErrors(t *testing.T) {
	f := newFixture(t)
	verifier, challenge := pkcePair()
	otherVerifier, _ := pkcePair()
	ctx := context.Background()
	disabled, err := admin.CreateUser(ctx, f.st, fakeHasher{}, admin.UserSpec{Username: "carol", Password: "x"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetDisabled(ctx, f.st, disabled.ID, true, f.clock.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	deleted, err := admin.CreateUser(ctx, f.st, fakeHasher{}, admin.UserSpec{Username: "dave", Password: "x"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		spec       codeSpec
		req        func(code string) (auth, url.Values)
		wantStatus int
		wantErr    string
		// stillGood: the code must still redeem for the rightful client.
		stillGood bool
		before    func(code string)
	}{
		{name: "missing code", spec: codeSpec{},
			req: func(string) (auth, url.Values) {
				return f.as("conf1"), url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {redirect1}}
			}, wantStatus: 400, wantErr: "invalid_request", stillGood: true},
		{name: "unknown code", spec: codeSpec{},
			req: func(string) (auth, url.Values) {
				return f.as("conf1"), url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {redirect1}}
			}, wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-03 another confidential client", spec: codeSpec{},
			req:        codeReq("conf2", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-03 public code with another client_id", spec: codeSpec{client: "pub1", redirect: pubRedir, challenge: challenge},
			req:        codeReq("pub2", f, pubRedir, verifier),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-04 another registered redirect_uri", spec: codeSpec{},
			req:        codeReq("conf1", f, redirect2, ""),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-04 trailing slash", spec: codeSpec{},
			req:        codeReq("conf1", f, redirect1+"/", ""),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-04 missing redirect_uri", spec: codeSpec{},
			req: func(code string) (auth, url.Values) {
				return f.as("conf1"), url.Values{"grant_type": {"authorization_code"}, "code": {code}}
			}, wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-03a missing code_verifier", spec: codeSpec{challenge: challenge},
			req:        codeReq("conf1", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-03b another session's verifier", spec: codeSpec{challenge: challenge},
			req:        codeReq("conf1", f, redirect1, otherVerifier),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-03c the challenge as verifier", spec: codeSpec{challenge: challenge},
			req:        codeReq("conf1", f, redirect1, challenge),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-03 public client without verifier", spec: codeSpec{client: "pub1", redirect: pubRedir, challenge: challenge},
			req:        codeReq("pub1", f, pubRedir, ""),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-03 empty verifier", spec: codeSpec{challenge: challenge},
			req: func(code string) (auth, url.Values) {
				return f.as("conf1"), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}, "code_verifier": {""}}
			}, wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "PKCE-04 downgrade: verifier without a challenge", spec: codeSpec{},
			req:        codeReq("conf1", f, redirect1, verifier),
			wantStatus: 400, wantErr: "invalid_grant", stillGood: true},
		{name: "CODE-05 expired code", spec: codeSpec{expiresAt: f.clock.Now().Add(-time.Second)},
			req:        codeReq("conf1", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant"},
		{name: "CODE-05 code expiring during use", spec: codeSpec{},
			before:     func(string) { f.clock.Advance(codeTTL) },
			req:        codeReq("conf1", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant"},
		{name: "disabled user", spec: codeSpec{user: disabled},
			req:        codeReq("conf1", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant"},
		{name: "deleted user", spec: codeSpec{user: deleted},
			before: func(string) {
				if err := f.st.DeleteUser(ctx, deleted.ID); err != nil {
					t.Fatal(err)
				}
			},
			req:        codeReq("conf1", f, redirect1, ""),
			wantStatus: 400, wantErr: "invalid_grant"},
		{name: "resource not granted", spec: codeSpec{},
			req: func(code string) (auth, url.Values) {
				return f.as("conf1"), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}, "resource": {"https://other.example"}}
			}, wantStatus: 400, wantErr: "invalid_target", stillGood: true},
		{name: "wrong client secret", spec: codeSpec{},
			req: func(code string) (auth, url.Values) {
				return auth{id: "conf1", secret: "wrong", basic: true}, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}}
			}, wantStatus: 401, wantErr: "invalid_client", stillGood: true},
		{name: "client not registered for the grant", spec: codeSpec{client: "cc1"},
			req:        codeReq("cc1", f, redirect1, ""),
			wantStatus: 400, wantErr: "unauthorized_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := f.code(t, c.spec)
			if c.before != nil {
				c.before(code)
			}
			a, form := c.req(code)
			expect(t, f.token(t, form, a), c.wantStatus, c.wantErr)
			if !c.stillGood {
				return
			}
			client, redir := c.spec.client, c.spec.redirect
			if client == "" {
				client, redir = "conf1", redirect1
			}
			v := ""
			if c.spec.challenge != "" {
				v = verifier
			}
			expect(t, f.redeem(t, f.as(client), code, redir, v), http.StatusOK, "")
		})
	}
}

func codeReq(client string, f *fixture, redirectURI, verifier string) func(string) (auth, url.Values) {
	return func(code string) (auth, url.Values) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		return f.as(client), form
	}
}

// fakeHasher stands in for argon2id where the password is never checked.
type fakeHasher struct{}

func (fakeHasher) Hash(context.Context, string) (string, error) { return "$argon2id$unused", nil }

// TestCodeReplay is CODE-01: a replayed code is refused, and the first
// redemption's access and refresh tokens stop working, at once and after
// 30 s, even when the replay lacks the PKCE verifier.
func TestCodeReplay(t *testing.T) {
	cases := []struct {
		name         string
		wait         time.Duration
		replayNoPKCE bool
	}{
		{name: "at once"},
		{name: "after 30 s", wait: 30 * time.Second},
		{name: "after the code expired", wait: 2 * codeTTL},
		{name: "without the verifier", replayNoPKCE: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			verifier, challenge := pkcePair()
			code := f.code(t, codeSpec{challenge: challenge})
			first := f.redeem(t, f.as("conf1"), code, redirect1, verifier)
			expect(t, first, http.StatusOK, "")
			if !f.active(t, first.AccessToken, f.as("conf1")) || !f.active(t, first.RefreshToken, f.as("conf1")) {
				t.Fatal("first tokens inactive before the replay")
			}
			f.clock.Advance(c.wait)
			v := verifier
			if c.replayNoPKCE {
				v = ""
			}
			expect(t, f.redeem(t, f.as("conf1"), code, redirect1, v), http.StatusBadRequest, "invalid_grant")
			if f.active(t, first.AccessToken, f.as("conf1")) {
				t.Error("AT1 still active after the code replay")
			}
			if f.active(t, first.RefreshToken, f.as("conf1")) {
				t.Error("RT1 still active after the code replay")
			}
			expect(t, f.refresh(t, f.as("conf1"), first.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
			if _, err := f.ep.VerifyAccessToken(context.Background(), first.AccessToken); err == nil {
				t.Error("VerifyAccessToken accepts AT1 after the replay")
			}
			evs := f.auditEvents(t, "authorization_code_reuse_detected")
			if len(evs) != 1 || evs[0].ClientID != "conf1" || evs[0].UserID != f.alice.ID {
				t.Errorf("reuse audit events %+v", evs)
			}
		})
	}
}

// TestCodeReplayByAnotherClient: another client presenting a used code is
// refused without revoking the rightful client's tokens.
func TestCodeReplayByAnotherClient(t *testing.T) {
	f := newFixture(t)
	code := f.code(t, codeSpec{})
	first := f.redeem(t, f.as("conf1"), code, redirect1, "")
	expect(t, first, http.StatusOK, "")
	expect(t, f.redeem(t, f.as("conf2"), code, redirect1, ""), http.StatusBadRequest, "invalid_grant")
	if !f.active(t, first.AccessToken, f.as("conf1")) {
		t.Error("another client's replay revoked the tokens")
	}
}

// TestConcurrentCodeRedemption: of parallel redemptions of one code exactly
// one succeeds, and the others, being replays, revoke what it issued.
func TestConcurrentCodeRedemption(t *testing.T) {
	f := newFixture(t)
	code := f.code(t, codeSpec{})
	const n = 10
	results := make([]tokenResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = f.redeem(t, f.as("conf1"), code, redirect1, "") })
	}
	wg.Wait()
	var ok []tokenResponse
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			ok = append(ok, r)
		case r.status != http.StatusBadRequest || r.Error != "invalid_grant":
			t.Errorf("redemption: %d %s", r.status, r.raw)
		}
	}
	if len(ok) != 1 {
		t.Fatalf("%d redemptions succeeded, want exactly 1", len(ok))
	}
	if f.active(t, ok[0].AccessToken, f.as("conf1")) || f.active(t, ok[0].RefreshToken, f.as("conf1")) {
		t.Error("the winner's tokens survived the concurrent replays")
	}
}

// TestCodeAudiences: a code's audiences win over the client's; RFC 8707
// resource narrows within them.
func TestCodeAudiences(t *testing.T) {
	f := newFixture(t)
	setAudiences(t, f, "conf1", apiAud, "https://a.example", "https://b.example")
	cases := []struct {
		name     string
		client   string
		codeAud  []string
		resource []string
		want     []string
	}{
		{"client's registered audiences", "conf1", nil, nil, []string{apiAud, "https://a.example", "https://b.example"}},
		{"client without audiences gets itself", "conf2", nil, nil, []string{"conf2"}},
		{"code's audiences", "conf1", []string{"https://a.example", "https://b.example"}, nil, []string{"https://a.example", "https://b.example"}},
		{"narrowed by resource", "conf1", []string{"https://a.example", "https://b.example"}, []string{"https://b.example"}, []string{"https://b.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := f.code(t, codeSpec{client: c.client, audiences: c.codeAud})
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}, "resource": c.resource}
			r := f.token(t, form, f.as(c.client))
			expect(t, r, http.StatusOK, "")
			m := f.introspect(t, r.AccessToken, f.as(c.client))
			var got []string
			for _, a := range m["aud"].([]any) {
				got = append(got, a.(string))
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("aud %v, want %v", got, c.want)
			}
			// The refreshed token has the grant's audiences, not the narrowed ones.
			r2 := f.refresh(t, f.as(c.client), r.RefreshToken, nil)
			expect(t, r2, http.StatusOK, "")
			if c.resource == nil {
				return
			}
			got = nil
			for _, a := range f.introspect(t, r2.AccessToken, f.as(c.client))["aud"].([]any) {
				got = append(got, a.(string))
			}
			if !slices.Equal(got, c.codeAud) {
				t.Fatalf("refreshed aud %v, want the grant's %v", got, c.codeAud)
			}
		})
	}
}

// setAudiences replaces a client's registered audiences and lets the
// token endpoint's client cache expire.
func setAudiences(t *testing.T, f *fixture, id string, aud ...string) {
	t.Helper()
	if _, err := f.st.UpdateClient(t.Context(), id, func(c store.Client) (store.Client, error) {
		c.Audiences = aud
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(token.ClientCacheTTL + time.Second)
}

// Audiences taken from a client stop appearing in the tokens of its
// existing grants at the next refresh; a grant left with none ends.
func TestRefreshDropsAudiencesTheClientLost(t *testing.T) {
	f := newFixture(t)
	setAudiences(t, f, "conf1", "https://a.example", "https://b.example")
	code := f.code(t, codeSpec{client: "conf1", audiences: []string{"https://a.example", "https://b.example"}})
	r := f.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}}, f.as("conf1"))
	expect(t, r, http.StatusOK, "")
	setAudiences(t, f, "conf1", "https://b.example")
	r2 := f.refresh(t, f.as("conf1"), r.RefreshToken, nil)
	expect(t, r2, http.StatusOK, "")
	if got := fmt.Sprint(f.introspect(t, r2.AccessToken, f.as("conf1"))["aud"]); got != "[https://b.example]" {
		t.Errorf("aud after the client lost a.example: %s", got)
	}
	setAudiences(t, f, "conf1", "https://c.example")
	expect(t, f.refresh(t, f.as("conf1"), r2.RefreshToken, nil), http.StatusBadRequest, "invalid_grant")
}

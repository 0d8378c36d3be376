package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/token"
)

// idTokenClaims is what the tests read from an id_token.
type idTokenClaims struct {
	Iss               string   `json:"iss"`
	Sub               string   `json:"sub"`
	Aud               []string `json:"aud"`
	Exp               int64    `json:"exp"`
	Iat               int64    `json:"iat"`
	AuthTime          *int64   `json:"auth_time"`
	Nonce             *string  `json:"nonce"`
	AtHash            string   `json:"at_hash"`
	SID               string   `json:"sid"`
	Jti               string   `json:"jti"`
	Email             *string  `json:"email"`
	EmailVerified     *bool    `json:"email_verified"`
	PreferredUsername *string  `json:"preferred_username"`
	Name              *string  `json:"name"`
}

// verifier checks id_tokens with go-oidc against the manager's JWKS served
// over HTTP, as a relying party would.
func (f *fixture) verifier(t *testing.T, clientID string) *oidc.IDTokenVerifier {
	t.Helper()
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.keys.JWKS())
	}))
	t.Cleanup(jwks.Close)
	ks := oidc.NewRemoteKeySet(context.Background(), jwks.URL)
	return oidc.NewVerifier(testIssuer, ks, &oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.RS256}, Now: f.clock.Now})
}

func (f *fixture) verifyIDToken(t *testing.T, clientID, raw string) (*oidc.IDToken, idTokenClaims) {
	t.Helper()
	tok, err := f.verifier(t, clientID).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc rejects the id_token: %v", err)
	}
	var c idTokenClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return tok, c
}

func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(seg, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestIDTokenFromCode is JWT-08 for id_tokens: RS256 header with typ JWT
// and a kid from the JWKS; iss, sub, aud, exp, iat, auth_time, nonce,
// at_hash (recomputed here) and sid; verified by go-oidc.
func TestIDTokenFromCode(t *testing.T) {
	f := newFixture(t)
	sid := f.session(t, f.alice)
	authTime := f.clock.Now().Add(-5 * time.Minute).Truncate(time.Second)
	r := f.mustRedeem(t, codeSpec{nonce: "n-0S6_WzA2Mj", sid: sid, authTime: authTime,
		scopes: []string{"openid", "profile", "email"}})
	if r.IDToken == "" {
		t.Fatal("no id_token")
	}
	h := jwtHeader(t, r.IDToken)
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == nil || h["kid"] == "" {
		t.Errorf("header %v, want alg RS256, typ JWT, a kid", h)
	}
	tok, c := f.verifyIDToken(t, "conf1", r.IDToken)

	now := f.clock.Now().Unix()
	if c.Iss != testIssuer || c.Sub != f.alice.ID || len(c.Aud) != 1 || c.Aud[0] != "conf1" {
		t.Errorf("iss %q sub %q aud %v", c.Iss, c.Sub, c.Aud)
	}
	if c.Iat != now || c.Exp != now+int64(idTokenTTL.Seconds()) {
		t.Errorf("iat %d exp %d, want %d and +%s", c.Iat, c.Exp, now, idTokenTTL)
	}
	if c.AuthTime == nil || *c.AuthTime != authTime.Unix() {
		t.Errorf("auth_time %v, want %d", c.AuthTime, authTime.Unix())
	}
	if c.Nonce == nil || *c.Nonce != "n-0S6_WzA2Mj" || tok.Nonce != "n-0S6_WzA2Mj" {
		t.Errorf("nonce %v", c.Nonce)
	}
	if c.SID != sid || c.Jti == "" {
		t.Errorf("sid %q (want %q), jti %q", c.SID, sid, c.Jti)
	}
	// at_hash by hand (OIDC Core §3.1.3.6) and by go-oidc.
	sum := sha256.Sum256([]byte(r.AccessToken))
	if want := base64.RawURLEncoding.EncodeToString(sum[:16]); c.AtHash != want || token.AtHash(r.AccessToken) != want {
		t.Errorf("at_hash %q, want %q", c.AtHash, want)
	}
	if err := tok.VerifyAccessToken(r.AccessToken); err != nil {
		t.Errorf("go-oidc at_hash check: %v", err)
	}
	if err := tok.VerifyAccessToken(r.AccessToken + "x"); err == nil {
		t.Error("at_hash matches another access token")
	}
	if c.Email == nil || *c.Email != "alice@example.com" || c.EmailVerified == nil || !*c.EmailVerified {
		t.Errorf("email %v verified %v", c.Email, c.EmailVerified)
	}
	if c.PreferredUsername == nil || *c.PreferredUsername != "alice" || c.Name == nil || *c.Name != "alice" {
		t.Errorf("preferred_username %v name %v", c.PreferredUsername, c.Name)
	}

	// Another client's verifier refuses it (aud).
	if _, err := f.verifier(t, "conf2").Verify(context.Background(), r.IDToken); err == nil {
		t.Error("id_token verified for another client")
	}
	// Our own verifier accepts it as an id_token (id_token_hint at logout)
	// and never as an access token.
	var ic token.IDClaims
	if err := f.keys.VerifyClaims(r.IDToken, keys.VerifyOptions{Algorithms: []string{keys.RS256}, Typ: token.TypIDToken,
		Issuer: testIssuer, Audience: "conf1"}, &ic); err != nil {
		t.Errorf("keys.VerifyClaims: %v", err)
	}
	if _, err := f.ep.VerifyAccessToken(context.Background(), r.IDToken); err == nil {
		t.Error("the id_token passes as an access token")
	}
}

// TestIDTokenScopes: user claims follow the scopes (OIDC Core §5.4).
func TestIDTokenScopes(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name         string
		user         string
		scopes       []string
		wantEmail    bool
		wantUsername bool
	}{
		{"openid only", "alice", []string{"openid"}, false, false},
		{"profile", "alice", []string{"openid", "profile"}, false, true},
		{"email", "alice", []string{"openid", "email"}, true, false},
		{"email scope, user without e-mail", "bob", []string{"openid", "email", "profile"}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := f.alice
			if c.user == "bob" {
				u = f.bob
			}
			r := f.mustRedeem(t, codeSpec{user: u, scopes: c.scopes})
			_, claims := f.verifyIDToken(t, "conf1", r.IDToken)
			if (claims.Email != nil) != c.wantEmail || (claims.EmailVerified != nil) != c.wantEmail {
				t.Errorf("email %v email_verified %v, want present=%v", claims.Email, claims.EmailVerified, c.wantEmail)
			}
			if (claims.PreferredUsername != nil) != c.wantUsername || (claims.Name != nil) != c.wantUsername {
				t.Errorf("preferred_username %v name %v, want present=%v", claims.PreferredUsername, claims.Name, c.wantUsername)
			}
			if claims.Nonce != nil {
				t.Errorf("nonce %q without one in the request", *claims.Nonce)
			}
			if claims.AuthTime == nil {
				t.Error("no auth_time")
			}
			// The access token issued alongside is valid.
			m := f.introspect(t, r.AccessToken, f.as("conf1"))
			if m["active"] != true {
				t.Fatalf("introspection %v", m)
			}
		})
	}
}

// TestIDTokenFromRefresh: a refreshed id_token keeps sub, auth_time and
// sid, has no nonce (OIDC Core §12.2), and binds the new access token.
func TestIDTokenFromRefresh(t *testing.T) {
	f := newFixture(t)
	sid := f.session(t, f.alice)
	first := f.mustRedeem(t, codeSpec{nonce: "abc", sid: sid})
	_, c1 := f.verifyIDToken(t, "conf1", first.IDToken)
	f.clock.Advance(10 * time.Minute)
	r := f.refresh(t, f.as("conf1"), first.RefreshToken, nil)
	expect(t, r, http.StatusOK, "")
	tok, c := f.verifyIDToken(t, "conf1", r.IDToken)
	if c.Sub != c1.Sub || c.SID != sid || c.AuthTime == nil || *c.AuthTime != *c1.AuthTime {
		t.Errorf("refreshed claims %+v, first %+v", c, c1)
	}
	if c.Nonce != nil {
		t.Errorf("refreshed id_token has nonce %q", *c.Nonce)
	}
	if c.Iat <= c1.Iat {
		t.Errorf("iat %d not after the first's %d", c.Iat, c1.Iat)
	}
	if err := tok.VerifyAccessToken(r.AccessToken); err != nil {
		t.Errorf("at_hash of the refreshed id_token: %v", err)
	}
	// Without openid in a narrowed request, no id_token.
	r2 := f.refresh(t, f.as("conf1"), r.RefreshToken, map[string][]string{"scope": {"profile"}})
	expect(t, r2, http.StatusOK, "")
	if r2.IDToken != "" {
		t.Error("id_token without the openid scope")
	}
}

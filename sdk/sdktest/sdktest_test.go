package sdktest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
	"github.com/gatehouse/gatehouse/sdk/sdktest"
)

const aud = "https://api.example"

func newVerifier(t *testing.T, iss *sdktest.Issuer, edit func(*sdk.Config)) *sdk.Verifier {
	t.Helper()
	cfg := iss.Config(aud)
	if edit != nil {
		edit(&cfg)
	}
	v, err := sdk.NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestMintVerifies(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	v := newVerifier(t, iss, nil)
	tok := iss.Mint(sdktest.Claims{
		Subject:     "user-1",
		Audience:    []string{"https://other.example", aud},
		Scope:       []string{"openid", "products:write"},
		Roles:       []string{"admin"},
		Permissions: []string{"products.delete"},
		ClientID:    "client-1",
		SID:         "sess-1",
		Email:       "ada@example.com",
	})
	c, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Issuer != iss.URL() || c.Subject != "user-1" || c.ClientID != "client-1" || c.SID != "sess-1" ||
		c.Email != "ada@example.com" || c.ID == "" {
		t.Errorf("claims = %+v", c)
	}
	if !c.HasScope("products:write") || !c.HasRole("admin") || !c.HasPermission("products.delete") {
		t.Errorf("scope/roles/permissions = %v %v %v", c.Scope, c.Roles, c.Permissions)
	}
	if ttl := c.ExpiresAt.Sub(c.IssuedAt); ttl != sdktest.DefaultTTL {
		t.Errorf("exp - iat = %v, want %v", ttl, sdktest.DefaultTTL)
	}
	if !slices.Contains(c.Audience, aud) {
		t.Errorf("aud = %v", c.Audience)
	}

	// Two tokens for the same claims differ (random jti).
	if a, b := iss.Mint(sdktest.Claims{Audience: aud}), iss.Mint(sdktest.Claims{Audience: aud}); a == b {
		t.Error("two minted tokens are equal")
	}
}

func TestMintHeader(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	tok := iss.Mint(sdktest.Claims{Audience: aud})
	h, _, _ := strings.Cut(tok, ".")
	for _, want := range []string{`"alg":"ES256"`, `"typ":"at+jwt"`, `"kid":"`} {
		if !strings.Contains(decode(t, h), want) {
			t.Errorf("header %s lacks %s", decode(t, h), want)
		}
	}
}

func TestMintRejections(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	v := newVerifier(t, iss, nil)
	for name, tc := range map[string]struct {
		c    sdktest.Claims
		want error
	}{
		"expired":        {sdktest.Claims{Audience: aud, TTL: -time.Hour}, sdk.ErrExpired},
		"other audience": {sdktest.Claims{Audience: "https://other.example"}, sdk.ErrInvalidAudience},
		"no audience":    {sdktest.Claims{}, sdk.ErrInvalidAudience},
		"other issuer":   {sdktest.Claims{Audience: aud, Extra: map[string]any{"iss": "https://evil.example"}}, sdk.ErrInvalidIssuer},
		"no jti":         {sdktest.Claims{Audience: aud, Extra: map[string]any{"jti": nil}}, sdk.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), iss.Mint(tc.c))
			if !errors.Is(err, tc.want) || !errors.Is(err, sdk.ErrInvalidToken) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMintBadAudiencePanics(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	defer func() {
		if recover() == nil {
			t.Error("Mint with an int audience did not panic")
		}
	}()
	iss.Mint(sdktest.Claims{Audience: 42})
}

func TestRotate(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	v := newVerifier(t, iss, func(c *sdk.Config) { c.RefreshCooldown = time.Nanosecond })
	old := iss.Mint(sdktest.Claims{Subject: "before", Audience: aud})
	if _, err := v.Verify(t.Context(), old); err != nil {
		t.Fatalf("Verify(old) before Rotate: %v", err)
	}

	iss.Rotate()
	tok := iss.Mint(sdktest.Claims{Subject: "after", Audience: aud})
	if kid(t, tok) == kid(t, old) {
		t.Fatal("Rotate did not change the kid")
	}
	if c, err := v.Verify(t.Context(), tok); err != nil || c.Subject != "after" {
		t.Fatalf("Verify(new) after Rotate = %v, %v", c, err)
	}
	// The old key is still published: a fresh Verifier (no cache) accepts
	// the old token too.
	v2 := newVerifier(t, iss, nil)
	for _, tk := range []string{old, tok} {
		if _, err := v2.Verify(t.Context(), tk); err != nil {
			t.Errorf("fresh Verifier: %v", err)
		}
	}
	if _, err := v.Verify(t.Context(), old); err != nil {
		t.Errorf("Verify(old) after Rotate: %v", err)
	}
}

func TestStableKid(t *testing.T) {
	iss := sdktest.NewIssuer(t)
	a, b := iss.Mint(sdktest.Claims{Audience: aud}), iss.Mint(sdktest.Claims{Audience: aud})
	if kid(t, a) != kid(t, b) || len(kid(t, a)) != 43 { // base64url of a SHA-256
		t.Errorf("kids %q, %q", kid(t, a), kid(t, b))
	}
}

func kid(t *testing.T, tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	s := decode(t, h)
	_, after, ok := strings.Cut(s, `"kid":"`)
	if !ok {
		t.Fatalf("no kid in %s", s)
	}
	k, _, _ := strings.Cut(after, `"`)
	return k
}

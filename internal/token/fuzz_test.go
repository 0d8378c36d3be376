package token_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenRequest feeds arbitrary form bodies and Basic credentials to the
// token endpoint. Whatever arrives, the answer is JSON, uncacheable, and
// never a server error other than 503 (a backing service down).
func FuzzTokenRequest(f *testing.F) {
	fx := newFixture(f)
	verifier, challenge := pkcePair()
	code := fx.code(f, codeSpec{challenge: challenge})
	rt := fx.mustRedeem(f, codeSpec{}).RefreshToken
	sec := fx.secrets["conf1"]

	seeds := []struct{ body, user, pass string }{
		{url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}, "code_verifier": {verifier}}.Encode(), "conf1", sec},
		{url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect1}}.Encode(), "conf1", sec},
		{url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {pubRedir}, "client_id": {"pub1"}, "code_verifier": {challenge}}.Encode(), "", ""},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), "conf1", sec},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid \x00 profile"}}.Encode(), "conf1", sec},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {"a", "b"}, "audience": {"c d"}}.Encode(), "conf1", sec},
		{"grant_type=client_credentials&scope=items%3Aread", "cc1", fx.secrets["cc1"]},
		{"grant_type=refresh_token&refresh_token=%ff%fe", "conf1", sec},
		{"grant_type=authorization_code&code=&redirect_uri=", "conf1", sec},
		{"grant_type=authorization_code&grant_type=refresh_token", "conf1", sec},
		{"%zz=1&;&&==", "", ""},
		{"client_id=pub1&grant_type=authorization_code&code=x&code_verifier=" + strings.Repeat("a", 200), "", ""},
		{"grant_type=password&username=a&password=b", "conf1", sec},
		{"", "conf1:x", "%zz"},
		{"grant_type=client_credentials", "\x00", "\xff"},
	}
	for _, s := range seeds {
		f.Add(s.body, s.user, s.pass)
	}
	f.Fuzz(func(t *testing.T, body, user, pass string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("body is not JSON: %q", rec.Body)
		}
	})
}

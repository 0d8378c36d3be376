package app

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
)

// discoveryDoc fetches the discovery document of srv.
func discoveryDoc(t *testing.T, srv *testServer) map[string]any {
	t.Helper()
	resp, err := http.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// jwtClaimNames returns the claim names in a JWT's payload.
func jwtClaimNames(t *testing.T, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	return names
}

// TestDiscoveryListsEveryIssuedClaim: claims_supported names every claim
// of the id_token, the access token (with the permissions claim on) and
// the userinfo answer that a full sign-in produces; request objects are
// declared unsupported, since request_uri_parameter_supported defaults to
// true; and the introspection and revocation endpoints list the client
// authentication methods they accept (issue 9, item 13).
func TestDiscoveryListsEveryIssuedClaim(t *testing.T) {
	f := newBrowserFixtureWith(t, "sqlite", func(c *config.Config) { c.Tokens.PermissionsClaim = true })
	if _, err := admin.CreateRole(t.Context(), f.srv.App.store, "admin", "alice's role", []string{"items:read"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	doc := discoveryDoc(t, f.srv)
	supported := stringsOf(doc["claims_supported"])

	b := newBrowser(t, f.srv.URL)
	v := oauth2.GenerateVerifier()
	cb := f.signIn(t, b, f.web.AuthCodeURL("st", oauth2.S256ChallengeOption(v),
		oauth2.SetAuthURLParam("nonce", "n"), oauth2.SetAuthURLParam("max_age", "600")))
	tok, err := f.web.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	issued := map[string][]string{"access token": jwtClaimNames(t, tok.AccessToken), "id_token": jwtClaimNames(t, idt)}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ui map[string]any
	if err := json.Unmarshal(body, &ui); err != nil {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
	}
	for k := range ui {
		issued["userinfo"] = append(issued["userinfo"], k)
	}
	if !slices.Contains(issued["access token"], "permissions") {
		t.Fatalf("the fixture's access token lacks the permissions claim: %v", issued["access token"])
	}
	for where, names := range issued {
		for _, n := range names {
			if !slices.Contains(supported, n) {
				t.Errorf("the %s carries %q, which claims_supported does not list", where, n)
			}
		}
	}

	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if v, ok := doc[k]; !ok || v != false {
			t.Errorf("%s = %v (present: %v), want false", k, v, ok)
		}
	}
	want := map[string][]string{
		"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "none"},
	}
	for k, w := range want {
		if got, ok := doc[k]; !ok || !slices.Equal(stringsOf(got), w) {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
}

package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/adminapi"
)

// TestRegistrationRejectsBadRedirectURIs: registering or changing a client
// with a bad redirect or post-logout redirect URI (a port of 0, above
// 65535 or not a number, no scheme, a fragment, ...) is answered 400
// invalid_redirect_uri, and other bad metadata 400 invalid_client_metadata
// (RFC 7591 §3.2.2); nothing is stored.
func TestRegistrationRejectsBadRedirectURIs(t *testing.T) {
	f := newAdminFixture(t, startServer(t, "sqlite", nil))
	const good = "https://app.example/cb"
	if status, _ := f.call(t, "POST", adminapi.Prefix+"/clients", f.rootKey, map[string]any{"client_id": "web", "name": "Web",
		"redirect_uris": []string{good}, "post_logout_redirect_uris": []string{"https://app.example/bye"}}); status != http.StatusCreated {
		t.Fatalf("create a good client: %d %s", status, f.lastBody)
	}
	expect := func(t *testing.T, method, path string, body map[string]any, code, inDesc string) {
		t.Helper()
		status, ans := f.call(t, method, adminapi.Prefix+path, f.rootKey, body)
		if status != http.StatusBadRequest || field(ans, "error") != code || !strings.Contains(field(ans, "error_description"), inDesc) {
			t.Errorf("%s %s %v: %d %s; want 400 %s mentioning %q", method, path, body, status, f.lastBody, code, inDesc)
		}
	}
	for _, c := range []struct{ uri, inDesc string }{
		{"https://app.example:0/cb", "port 0"},
		{"https://app.example:65536/cb", "port 65536"},
		{"https://app.example:99999/cb", "port 99999"},
		{"http://127.0.0.1:0/cb", "port 0"},
		{"http://[::1]:100000/cb", "port 100000"},
		{"https://app.example:abc/cb", "not a URL"},
		{"app.example/cb", "not absolute"},
		{"//app.example/cb", "not absolute"},
		{"https://app.example/cb#x", "fragment"},
		{"https://*.example/cb", "wildcard"},
		{"http://app.example/cb", "https"},
		{"https://user@app.example/cb", "user info"},
		{"javascript:alert(1)", "forbidden scheme"},
	} {
		t.Run(c.uri, func(t *testing.T) {
			expect(t, "POST", "/clients", map[string]any{"client_id": "bad", "name": "Bad", "redirect_uris": []string{c.uri}},
				adminapi.CodeInvalidRedirectURI, c.inDesc)
			expect(t, "POST", "/clients", map[string]any{"client_id": "bad", "name": "Bad", "redirect_uris": []string{good},
				"post_logout_redirect_uris": []string{c.uri}}, adminapi.CodeInvalidRedirectURI, c.inDesc)
			expect(t, "PATCH", "/clients/web", map[string]any{"redirect_uris": []string{good, c.uri}},
				adminapi.CodeInvalidRedirectURI, c.inDesc)
			expect(t, "PATCH", "/clients/web", map[string]any{"post_logout_redirect_uris": []string{c.uri}},
				adminapi.CodeInvalidRedirectURI, c.inDesc)
		})
	}
	// A code flow client needs a redirect URI.
	expect(t, "POST", "/clients", map[string]any{"client_id": "bad", "name": "Bad"}, adminapi.CodeInvalidRedirectURI, "at least one redirect URI")
	expect(t, "PATCH", "/clients/web", map[string]any{"redirect_uris": []string{}}, adminapi.CodeInvalidRedirectURI, "at least one redirect URI")
	// A bad redirect URI among other problems still names the redirect URI.
	expect(t, "POST", "/clients", map[string]any{"client_id": "bad", "name": "", "redirect_uris": []string{"https://app.example:0/cb"}},
		adminapi.CodeInvalidRedirectURI, "port 0")
	// Other bad metadata.
	for name, body := range map[string]map[string]any{
		"no name":        {"client_id": "bad", "name": "", "redirect_uris": []string{good}},
		"unknown grant":  {"client_id": "bad", "name": "Bad", "grant_types": []string{"implicit"}},
		"bad scope":      {"client_id": "bad", "name": "Bad", "redirect_uris": []string{good}, "scopes": []string{`a"b`}},
		"bad auth":       {"client_id": "bad", "name": "Bad", "redirect_uris": []string{good}, "token_endpoint_auth_method": "private_key_jwt"},
		"grace too long": {"client_id": "bad", "name": "Bad", "redirect_uris": []string{good}, "refresh_grace_seconds": 600},
		"grace negative": {"client_id": "bad", "name": "Bad", "redirect_uris": []string{good}, "refresh_grace_seconds": -1},
		"bad id":         {"client_id": "ak_x", "name": "Bad", "grant_types": []string{"client_credentials"}},
		"taken id":       {"client_id": "web", "name": "Bad", "redirect_uris": []string{good}},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, "POST", "/clients", body, adminapi.CodeInvalidClientMetadata, "")
		})
	}
	expect(t, "PATCH", "/clients/web", map[string]any{"grant_types": []string{"client_credentials", "refresh_token"}},
		adminapi.CodeInvalidClientMetadata, "refresh_token needs")
	expect(t, "PATCH", "/clients/web", map[string]any{"refresh_grace_seconds": 999999}, adminapi.CodeInvalidClientMetadata, "refresh_grace_seconds")
	// A body that is not the documented JSON stays invalid_request.
	expect(t, "POST", "/clients", map[string]any{"name": "Bad", "redirect_uri": good}, "invalid_request", "unknown field")

	if status, _ := f.call(t, "GET", adminapi.Prefix+"/clients/bad", f.rootKey, nil); status != http.StatusNotFound {
		t.Errorf("a refused client was stored: %d", status)
	}
	status, ans := f.call(t, "GET", adminapi.Prefix+"/clients/web", f.rootKey, nil)
	if uris, _ := ans.(map[string]any)["redirect_uris"].([]any); status != http.StatusOK || len(uris) != 1 || uris[0] != good {
		t.Errorf("a refused change was stored: %d %s", status, f.lastBody)
	}
	// Ports at the ends of the range are fine.
	if status, _ := f.call(t, "PATCH", adminapi.Prefix+"/clients/web", f.rootKey, map[string]any{
		"redirect_uris": []string{"https://app.example:1/cb", "https://app.example:65535/cb"}}); status != http.StatusOK {
		t.Errorf("ports 1 and 65535: %d %s", status, f.lastBody)
	}
}

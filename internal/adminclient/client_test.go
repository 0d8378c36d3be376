package adminclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
)

func TestParseServerURL(t *testing.T) {
	for _, ok := range []string{"https://auth.example.com", "https://auth.example.com/", "https://h:8443/prefix/",
		"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080", "http://127.8.0.1"} {
		u, err := parseServerURL(ok, "the API key")
		if err != nil || strings.HasSuffix(u.Path, "/") {
			t.Errorf("parseServerURL(%q) = %v, %v", ok, u, err)
		}
	}
	for _, bad := range []string{"", "auth.example.com", "http://auth.example.com", "http://10.0.0.1", "http://localhost.evil.com",
		"http://127.0.0.1.nip.io", "ftp://127.0.0.1", "https://u:p@h", "https://h/?a=b", "https://h/#f", "https:///x", "mailto:a@b"} {
		if u, err := parseServerURL(bad, "the API key"); err == nil {
			t.Errorf("parseServerURL(%q) = %v, want an error", bad, u)
		}
	}
}

// The API's answers are *Error values that match the admin service's kind
// of refusal, by code or, for a proxy's page, by status; the key is sent
// only to the server, never printed, and a redirect is not followed.
func TestAnswersAndKinds(t *testing.T) {
	const key = "sk_secretsecretsecretsecretsecretsecretsecret"
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed (Authorization %q)", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		answer := func(status int, body string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
		switch r.URL.Path {
		case "/auth/admin/v1/clients/gone":
			answer(404, `{"error":"not_found","error_description":"no such resource"}`)
		case "/auth/admin/v1/roles/held":
			answer(409, `{"error":"in_use","error_description":"the role is in use"}`)
		case "/auth/admin/v1/clients/proxied":
			answer(409, `<html>conflict</html>`)
		case "/auth/admin/v1/users":
			answer(401, `{"error":"invalid_token"}`)
		case "/auth/admin/v1/clients/moved":
			http.Redirect(w, r, other.URL, http.StatusFound)
		default:
			answer(500, `{"error":"server_error"}`)
		}
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL + "/auth/", APIKey: key, KeyName: "the API key in K"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = c.GetClient(ctx, "gone")
	if !errors.Is(err, admin.ErrNotFound) || errors.Is(err, admin.ErrConflict) || !strings.Contains(err.Error(), "no such resource (server: 404 not_found)") {
		t.Errorf("404: %v", err)
	}
	if err := c.DeleteRole(ctx, "held"); !errors.Is(err, admin.ErrInUse) {
		t.Errorf("409 in_use: %v", err)
	}
	if _, err := c.GetClient(ctx, "proxied"); !errors.Is(err, admin.ErrConflict) {
		t.Errorf("409 without a code: %v", err)
	}
	if _, err := c.ListUsers(ctx); err == nil || !strings.Contains(err.Error(), "refused the API key in K (401 invalid_token)") {
		t.Errorf("401: %v", err)
	}
	if _, err := c.GetClient(ctx, "moved"); err == nil {
		t.Error("a redirect was taken for an answer")
	}
	for _, path := range []string{"gone", "held"} {
		_, err := c.GetClient(ctx, path)
		if strings.Contains(fmt.Sprint(err), key) {
			t.Errorf("the key is in an error: %v", err)
		}
	}
}

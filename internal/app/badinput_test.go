package app

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/adminapi"
)

// TestUnstorableIdentifiersAreBadRequests sends identifiers no store can
// hold (a NUL byte, invalid UTF-8) to every endpoint that looks one up:
// each answer is a 4xx with the endpoint's usual error, the same on both
// backends, never a 5xx (issue 9, item 8: a NUL in client_id answered 503
// on PostgreSQL, which reads as an outage).
func TestUnstorableIdentifiersAreBadRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newBrowserFixture(t, backend)
		af := newAdminFixture(t, f.srv)
		basic := func(id string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":secret"))
		}
		send := func(method, path, contentType, body string, header ...string) (int, string) {
			t.Helper()
			req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		const form = "application/x-www-form-urlencoded"
		for _, bad := range []string{"web\x00", "\x00", "w\xffb"} {
			q := url.QueryEscape(bad)
			cases := []struct {
				name         string
				status       int
				method, path string
				ctype, body  string
				header       []string
				want         string
			}{
				{"token client_id", 400, "POST", "/oauth/token", form, "grant_type=client_credentials&client_id=" + q, nil, "invalid_request"},
				{"token Basic", 401, "POST", "/oauth/token", form, "grant_type=client_credentials", []string{"Authorization", basic(bad)}, "invalid_client"},
				{"introspect Basic", 401, "POST", "/oauth/introspect", form, "token=x", []string{"Authorization", basic(bad)}, "invalid_client"},
				{"revoke Basic", 401, "POST", "/oauth/revoke", form, "token=x", []string{"Authorization", basic(bad)}, "invalid_client"},
				{"feed Basic", 401, "GET", "/oauth/revocations", "", "", []string{"Authorization", basic(bad)}, "invalid_client"},
				{"authorize", 400, "GET", "/oauth/authorize?response_type=code&redirect_uri=https://app.example/cb&client_id=" + q, "", "", nil, "invalid_request"},
				{"logout", 400, "GET", "/oauth/logout?post_logout_redirect_uri=https://app.example/bye&client_id=" + q, "", "", nil, "not registered"},
				{"admin path", 400, "GET", adminapi.Prefix + "/clients/" + q, "", "", []string{"Authorization", "Bearer " + af.rootKey}, "invalid_request"},
				{"admin body", 400, "POST", adminapi.Prefix + "/users", "application/json",
					`{"username":"ann\u0000","password":"correct horse battery"}`, []string{"Authorization", "Bearer " + af.rootKey}, "NUL"},
			}
			for _, tc := range cases {
				status, body := send(tc.method, tc.path, tc.ctype, tc.body, tc.header...)
				if status != tc.status || !strings.Contains(body, tc.want) {
					t.Errorf("%s with %q: %d, want %d and %q:\n%.300s", tc.name, bad, status, tc.status, tc.want, body)
				}
			}

			// The login form: an unstorable name is an unknown user.
			b := newBrowser(t, f.srv.URL)
			fields := formFields(t, b.get(f.web.AuthCodeURL("st")))
			fields.Set("username", bad)
			fields.Set("password", "whatever it is")
			if p := b.post("/login", fields, nil); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Incorrect username or password") {
				t.Errorf("login as %q: %d\n%.300s", bad, p.status, p.body)
			}
		}
	})
}

package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestDeviceDefaultsDiscoveryAndAudit: with the default configuration,
// discovery names the device authorization endpoint and grant, a device
// authorization answers expires_in 600 and interval 5 (RFC 8628 §3.2), and
// an approval, a denial, the redemption and a replayed device code each
// leave their audit event.
func TestDeviceDefaultsDiscoveryAndAudit(t *testing.T) {
	bf := newBrowserFixture(t, "sqlite")
	f := &deviceFixture{browserFixture: bf}
	f.srv.createClient(t, admin.ClientSpec{ID: "tv", Name: "TV", Public: true,
		GrantTypes: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}})

	disc := decodeJSON(t, get(t, f.srv.App.Handler(), "/.well-known/openid-configuration").Body.Bytes())
	if disc["device_authorization_endpoint"] != f.srv.URL+"/oauth/device_authorization" {
		t.Errorf("device_authorization_endpoint = %v", disc["device_authorization_endpoint"])
	}
	grants, _ := disc["grant_types_supported"].([]any)
	if !slices.Contains(grants, any(oauth.GrantDeviceCode)) {
		t.Errorf("grant_types_supported %v lacks the device grant", grants)
	}

	fx := &ccFixture{srv: f.srv}
	authorize := func() map[string]any {
		t.Helper()
		resp, body := fx.post(t, "/oauth/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid"}}, "", "")
		m := decodeJSON(t, body)
		if resp.StatusCode != 200 {
			t.Fatalf("device authorization: %d %v", resp.StatusCode, m)
		}
		return m
	}
	da := authorize()
	if da["expires_in"] != float64(600) || da["interval"] != float64(5) {
		t.Errorf("device authorization defaults: expires_in %v, interval %v; want 600 and 5", da["expires_in"], da["interval"])
	}
	b := newBrowser(t, f.srv.URL)
	f.decideDevice(t, b, f.confirmDevice(t, b, da["verification_uri_complete"].(string)), "allow")
	code := da["device_code"].(string)
	if status, m := f.poll(t, "tv", code); status != 200 || m["access_token"] == nil {
		t.Fatalf("redemption: %d %v", status, m)
	}
	if status, m := f.poll(t, "tv", code); status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, m)
	}
	denied := authorize()
	f.decideDevice(t, b, f.confirmDevice(t, b, denied["verification_uri_complete"].(string)), "deny")

	f.srv.App.audit.Flush(t.Context())
	for _, typ := range []string{"device_approved", "device_denied", "device_code_reuse_detected", "token_issued"} {
		events, err := f.srv.App.store.ListAuditEvents(t.Context(), auditQuery(typ))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(events, func(e store.AuditEvent) bool { return e.ClientID == "tv" }) {
			t.Errorf("no %s audit event for the device client (%d events of that type)", typ, len(events))
		}
	}
}

// TestDeviceGuessingFromManyAddressesIsThrottled: wrong user codes from
// ever new addresses, each of which stays under its own allowance, are
// throttled together once login.DefaultDeviceGlobalThrottle's free 200 are
// spent: then even an address never seen before gets 429 with Retry-After.
func TestDeviceGuessingFromManyAddressesIsThrottled(t *testing.T) {
	f := newBrowserFixture(t, "sqlite")
	h := f.srv.App.Handler()
	form := httptest.NewRecorder()
	h.ServeHTTP(form, httptest.NewRequest(http.MethodGet, f.srv.URL+"/device", nil))
	fields := deviceFields(t, page{status: form.Code, body: form.Body.String()})
	cookies := form.Result().Cookies()
	guess := func(i int) *httptest.ResponseRecorder {
		fields.Set("user_code", "BCDF-GHJK")
		r := httptest.NewRequest(http.MethodPost, f.srv.URL+"/device", strings.NewReader(fields.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = fmt.Sprintf("10.1.%d.%d:40000", i/250, i%250)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	free := login.DefaultDeviceGlobalThrottle().Free
	first := -1
	for i := range free + 5 {
		w := guess(i)
		if w.Code == http.StatusTooManyRequests {
			first = i
			break
		}
		if w.Code != http.StatusBadRequest {
			t.Fatalf("wrong code %d from a new address: %d, want 400", i, w.Code)
		}
	}
	if first < free || first > free+1 {
		t.Fatalf("first throttled guess: %d, want the one after the %d free ones", first, free)
	}
	if w := guess(free + 100); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("a guess from an address never seen before, once throttled: %d, Retry-After %q; want 429 with it",
			w.Code, w.Header().Get("Retry-After"))
	}
}

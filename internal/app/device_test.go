package app

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/testsvc"
	"github.com/gatehouse/gatehouse/sdk/device"
)

// deviceFixture is a server (device poll interval 1 s) with alice, the
// public device clients tv and radio, and x/oauth2 configurations for them.
type deviceFixture struct {
	*browserFixture
	tv, radio oauth2.Config
}

func newDeviceFixture(t *testing.T, backend string, change func(*config.Config)) *deviceFixture {
	t.Helper()
	f := newBrowserFixtureWith(t, backend, func(c *config.Config) {
		c.Tokens.DevicePollInterval = time.Second
		if change != nil {
			change(c)
		}
	})
	conf := func(id string) oauth2.Config {
		f.srv.createClient(t, admin.ClientSpec{ID: id, Name: strings.ToUpper(id[:1]) + id[1:] + " App", Public: true,
			GrantTypes: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}, Audiences: []string{"https://api.example"}})
		return oauth2.Config{ClientID: id, Scopes: []string{"openid", "profile", "offline_access"},
			Endpoint: oauth2.Endpoint{DeviceAuthURL: f.srv.URL + "/oauth/device_authorization",
				TokenURL: f.srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	}
	return &deviceFixture{browserFixture: f, tv: conf("tv"), radio: conf("radio")}
}

var deviceFieldRE = regexp.MustCompile(`name="(csrf_token|user_code)"[^>]*value="([^"]*)"`)

// deviceFields extracts csrf_token and user_code from a device page.
func deviceFields(t *testing.T, p page) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range deviceFieldRE.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf_token") == "" {
		t.Fatalf("device page (%d) has no form:\n%.600s", p.status, p.body)
	}
	return v
}

// confirmDevice drives b from the verification URI to the confirmation
// page of the code, signing in as alice when asked to.
func (f *deviceFixture) confirmDevice(t *testing.T, b *browser, complete string) page {
	t.Helper()
	p := b.post("/device", deviceFields(t, b.get(complete)), nil)
	if strings.Contains(p.body, `name="password"`) {
		fields := formFields(t, p)
		fields.Set("username", "alice")
		fields.Set("password", alicePassword)
		p = b.post("/login", fields, nil)
	}
	if !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("no device confirmation page (%d):\n%.600s", p.status, p.body)
	}
	return p
}

// decideDevice answers the confirmation page p.
func (f *deviceFixture) decideDevice(t *testing.T, b *browser, p page, decision string) page {
	t.Helper()
	fields := deviceFields(t, p)
	fields.Set("decision", decision)
	return b.post("/device", fields, nil)
}

// poll sends one device_code token request as client id.
func (f *deviceFixture) poll(t *testing.T, id, deviceCode string) (int, map[string]any) {
	t.Helper()
	fx := &ccFixture{srv: f.srv}
	resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode},
		"client_id": {id}}, "", "")
	return resp.StatusCode, decodeJSON(t, body)
}

// TestDeviceGrantWithXOAuth2 is the device flow end to end on each backend
// with x/oauth2's DeviceAuth and DeviceAccessToken, approved in a browser
// session: one token response with access, refresh and id tokens; the
// device code then redeems no more, and a replay revokes what it issued;
// the refresh token rotates; logging out of the approving session ends it.
func TestDeviceGrantWithXOAuth2(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newDeviceFixture(t, backend, nil)
		ctx := t.Context()
		da, err := f.tv.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		if len(da.UserCode) != 9 || da.UserCode[4] != '-' || da.VerificationURI != f.srv.URL+"/device" ||
			!strings.Contains(da.VerificationURIComplete, url.QueryEscape(da.UserCode)) || da.Interval != 1 ||
			time.Until(da.Expiry) < 9*time.Minute || len(da.DeviceCode) < 43 {
			t.Fatalf("device authorization response %+v", da)
		}

		// authorization_pending until the user decides.
		if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "authorization_pending" {
			t.Fatalf("poll before approval: %d %v", code, m)
		}
		b := newBrowser(t, f.srv.URL)
		confirm := f.confirmDevice(t, b, da.VerificationURIComplete)
		if !strings.Contains(confirm.body, "Tv App") || !strings.Contains(confirm.body, da.UserCode) {
			t.Errorf("the confirmation page does not show the client and the code:\n%.600s", confirm.body)
		}
		if done := f.decideDevice(t, b, confirm, "allow"); done.status != 200 || !strings.Contains(done.body, "Device approved") {
			t.Fatalf("approval: %d\n%.400s", done.status, done.body)
		}

		tok, err := f.tv.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatalf("DeviceAccessToken: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("id_token") == nil {
			t.Fatalf("token response: %+v", tok)
		}
		fx := &ccFixture{srv: f.srv}
		if m := fx.introspect(t, tok.AccessToken, "web", f.webSecret); m["active"] != true || m["client_id"] != "tv" || m["username"] == "" && m["sub"] == "" {
			t.Fatalf("introspection of the device's token: %v", m)
		}

		// Redeemable once: a replay is invalid_grant and revokes the grant.
		if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("second redemption: %d %v", code, m)
		}
		if m := fx.introspect(t, tok.AccessToken, "web", f.webSecret); m["active"] != false {
			t.Errorf("access token still active after the device code's replay: %v", m)
		}
		if _, err := f.tv.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Error("refresh token still works after the device code's replay")
		}

		// A fresh device grant: refresh rotates; logout of the approving
		// browser session ends it.
		da2, err := f.tv.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.decideDevice(t, b, f.confirmDevice(t, b, da2.VerificationURIComplete), "allow")
		tok2, err := f.tv.DeviceAccessToken(ctx, da2)
		if err != nil {
			t.Fatal(err)
		}
		tok2.Expiry = time.Now().Add(-time.Minute)
		fresh, err := f.tv.TokenSource(ctx, tok2).Token()
		if err != nil || fresh.RefreshToken == tok2.RefreshToken {
			t.Fatalf("refresh of a device grant: %v", err)
		}
		raw, _ := tok2.Extra("id_token").(string)
		if p := b.get("/oauth/logout?" + url.Values{"id_token_hint": {raw}}.Encode()); p.status != 200 {
			t.Fatalf("logout: %d", p.status)
		}
		if m := fx.introspect(t, fresh.AccessToken, "web", f.webSecret); m["active"] != false {
			t.Errorf("device grant's access token active after logout of the approving session: %v", m)
		}
	})
}

// TestDeviceGrantRefusals: slow_down, denied, expired, another client's
// device code, a user disabled before redemption, and an approval whose
// session ended: each gets its RFC 8628 / RFC 6749 error and no tokens.
func TestDeviceGrantRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newDeviceFixture(t, backend, nil)
		ctx := t.Context()
		b := newBrowser(t, f.srv.URL)
		start := func() *oauth2.DeviceAuthResponse {
			t.Helper()
			da, err := f.tv.DeviceAuth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return da
		}

		// slow_down: a second poll within the interval.
		da := start()
		f.poll(t, "tv", da.DeviceCode)
		if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "slow_down" {
			t.Fatalf("fast poll: %d %v", code, m)
		}

		// Another client's device code: invalid_grant, whether pending or
		// approved, and the rightful client still gets its tokens.
		f.decideDevice(t, b, f.confirmDevice(t, b, da.VerificationURIComplete), "allow")
		if code, m := f.poll(t, "radio", da.DeviceCode); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("another client's device code: %d %v", code, m)
		}
		if _, err := f.tv.DeviceAccessToken(ctx, da); err != nil {
			t.Fatalf("the rightful client after another client's attempt: %v", err)
		}

		// Denied.
		da = start()
		if done := f.decideDevice(t, b, f.confirmDevice(t, b, da.VerificationURIComplete), "deny"); !strings.Contains(done.body, "Device denied") {
			t.Fatalf("deny: %d %.300s", done.status, done.body)
		}
		_, err := f.tv.DeviceAccessToken(ctx, da)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "access_denied" {
			t.Fatalf("denied device: %v", err)
		}

		// A confidential device client authenticates at the device
		// endpoint too; a client without the grant is unauthorized_client
		// there and at the token endpoint (CODE-07).
		_, sec := f.srv.createClient(t, admin.ClientSpec{ID: "kiosk", Name: "Kiosk", GrantTypes: []string{oauth.GrantDeviceCode}})
		fx := &ccFixture{srv: f.srv}
		if resp, body := fx.post(t, "/oauth/device_authorization", url.Values{"client_id": {"kiosk"}}, "", ""); resp.StatusCode != 401 {
			t.Fatalf("confidential client without its secret: %d %s", resp.StatusCode, body)
		}
		if resp, body := fx.post(t, "/oauth/device_authorization", url.Values{}, "kiosk", sec); resp.StatusCode != 200 {
			t.Fatalf("confidential client with Basic: %d %s", resp.StatusCode, body)
		}
		_, ccSec := f.srv.createClient(t, admin.ClientSpec{ID: "cc1", Name: "cc1", GrantTypes: []string{"client_credentials"}})
		if resp, body := fx.post(t, "/oauth/device_authorization", url.Values{}, "cc1", ccSec); resp.StatusCode != 400 ||
			decodeJSON(t, body)["error"] != "unauthorized_client" {
			t.Fatalf("device authorization by a client_credentials client: %d %s", resp.StatusCode, body)
		}
		if resp, body := fx.post(t, "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {da.DeviceCode}}, "cc1", ccSec); resp.StatusCode != 400 ||
			decodeJSON(t, body)["error"] != "unauthorized_client" {
			t.Fatalf("device_code grant by a client_credentials client: %d %s", resp.StatusCode, body)
		}

		// Unknown device code.
		if code, m := f.poll(t, "tv", "not-a-device-code"); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("unknown device code: %d %v", code, m)
		}

		// A user disabled between approval and redemption gets nothing.
		da = start()
		f.decideDevice(t, b, f.confirmDevice(t, b, da.VerificationURIComplete), "allow")
		u := mustUser(t, f.browserFixture)
		if _, err := admin.SetDisabled(ctx, f.srv.App.store, u.ID, true, time.Now(), f.srv.cfg.Tokens.AccessTTL); err != nil {
			t.Fatal(err)
		}
		if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("redemption after the user was disabled: %d %v", code, m)
		}
	})
}

// TestDeviceCodeExpires: past tokens.device_code_ttl the poll answers
// expired_token and the verification page no longer knows the code.
func TestDeviceCodeExpires(t *testing.T) {
	f := newDeviceFixture(t, "sqlite", func(c *config.Config) { c.Tokens.DeviceCodeTTL = time.Second })
	da, err := f.tv.DeviceAuth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "expired_token" {
		t.Fatalf("poll of an expired code: %d %v", code, m)
	}
	b := newBrowser(t, f.srv.URL)
	p := b.post("/device", deviceFields(t, b.get(da.VerificationURIComplete)), nil)
	if p.status != 400 || !strings.Contains(p.body, "not valid or has expired") {
		t.Fatalf("entering an expired code: %d %.300s", p.status, p.body)
	}
}

// TestDeviceVerificationPageSecurity: approval only by POST with a token
// bound to the code and the session (a cross-site POST is 403, a GET
// changes nothing), wrong codes are indistinguishable from expired or used
// ones, and guessing is throttled per address.
func TestDeviceVerificationPageSecurity(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newDeviceFixture(t, backend, nil)
		da, err := f.tv.DeviceAuth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, f.srv.URL)
		confirm := f.confirmDevice(t, b, da.VerificationURIComplete)

		// Approval by GET: the page is shown, nothing is decided.
		if p := b.get("/device?" + url.Values{"user_code": {da.UserCode}, "decision": {"allow"}}.Encode()); p.status != 200 || strings.Contains(p.body, "approved") {
			t.Fatalf("GET with decision=allow: %d %.300s", p.status, p.body)
		}
		// Cross-site POSTs: no token, a token of another form, a foreign
		// Origin.
		fields := deviceFields(t, confirm)
		for name, tc := range map[string]struct {
			form   url.Values
			header map[string]string
		}{
			"no token":        {url.Values{"user_code": {da.UserCode}, "decision": {"allow"}}, nil},
			"entry form's":    {url.Values{"user_code": {da.UserCode}, "decision": {"allow"}, "csrf_token": {deviceFields(t, b.get("/device")).Get("csrf_token")}}, nil},
			"evil origin":     {url.Values{"user_code": {da.UserCode}, "decision": {"allow"}, "csrf_token": {fields.Get("csrf_token")}}, map[string]string{"Origin": "https://evil.example"}},
			"another browser": {url.Values{"user_code": {da.UserCode}, "decision": {"allow"}, "csrf_token": {fields.Get("csrf_token")}}, nil},
		} {
			by := b
			if name == "another browser" {
				by = signedInAs(t, f.browserFixture, "mallory")
			}
			if p := by.post("/device", tc.form, tc.header); p.status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", name, p.status)
			}
		}
		if code, m := f.poll(t, "tv", da.DeviceCode); code != 400 || m["error"] != "authorization_pending" {
			t.Fatalf("after refused approvals: %d %v", code, m)
		}

		// The real approval, once; a second answer is refused.
		f.decideDevice(t, b, confirm, "allow")
		if p := f.decideDevice(t, b, confirm, "deny"); p.status != 400 || !strings.Contains(p.body, "already answered") {
			t.Fatalf("second decision: %d %.300s", p.status, p.body)
		}

		// A used code, an unknown code and a malformed one look alike.
		var bodies []string
		for _, code := range []string{da.UserCode, "BCDF-GHJK", "nonsense"} {
			p := b.post("/device", url.Values{"user_code": {code}, "csrf_token": {deviceFields(t, b.get("/device")).Get("csrf_token")}}, nil)
			if p.status != 400 || !strings.Contains(p.body, "not valid or has expired") {
				t.Errorf("code %q: %d %.200s", code, p.status, p.body)
			}
			bodies = append(bodies, regexp.MustCompile(`value="[^"]*"`).ReplaceAllString(p.body, ""))
		}
		if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
			t.Error("the answers to a used, an unknown and a malformed code differ")
		}

		// Guessing from one address: throttled after the free allowance.
		guesser := newBrowser(t, f.srv.URL)
		throttled := false
		for i := range login.DefaultDeviceIPThrottle().Free + 2 {
			p := guesser.post("/device", url.Values{"user_code": {"BCDF-GHJ" + string("BCDFGHJKLMN"[i%11])},
				"csrf_token": {deviceFields(t, guesser.get("/device")).Get("csrf_token")}}, nil)
			if p.status == http.StatusTooManyRequests {
				throttled = p.header.Get("Retry-After") != ""
				break
			}
		}
		if !throttled {
			t.Error("guessing user codes from one address was never throttled")
		}
	})
}

func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return m
}

// TestDeviceApprovalInChromium: a device signs in with x/oauth2 while the
// user, in headless Chromium, opens verification_uri_complete, continues,
// signs in and allows; x/oauth2's DeviceAccessToken, polling meanwhile,
// gets the tokens. On both backends.
func TestDeviceApprovalInChromium(t *testing.T) {
	chromium := testsvc.Chromium(t)
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newDeviceFixture(t, backend, nil)
		da, err := f.tv.DeviceAuth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		polled := make(chan result, 1)
		go func() {
			tok, err := f.tv.DeviceAccessToken(t.Context(), da)
			polled <- result{tok, err}
		}()

		browserCtx := openInChromium(t, chromium, da.VerificationURIComplete)
		ctx, cancel := context.WithTimeout(browserCtx, 60*time.Second)
		defer cancel()
		steps := []chromiumStep{
			{"code form", chromedp.WaitVisible(chromedp.CSS(`input[name="user_code"]`))},
			{"continue", chromedp.Click(chromedp.CSS(`button[type="submit"]`))},
		}
		steps = append(steps, chromiumLogin("alice", alicePassword)...)
		steps = append(steps,
			chromiumStep{"confirmation", chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`))},
			chromiumStep{"allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`))},
			chromiumStep{"done", chromedp.WaitVisible(chromedp.CSS(`#device-result`))},
		)
		runChromiumSteps(t, browserCtx, ctx, steps)
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		if err != nil || !strings.Contains(text, "Device approved") || !strings.Contains(text, "Tv App") {
			t.Fatalf("after allowing: %v %q", err, text)
		}
		select {
		case r := <-polled:
			if r.err != nil || r.tok.AccessToken == "" || r.tok.Extra("id_token") == nil {
				t.Fatalf("DeviceAccessToken: %v %+v", r.err, r.tok)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the device never got its token")
		}
	})
}

// TestSDKDeviceSignIn: sdk/device signs a CLI in against the real server:
// it shows the code, polls while the user approves in a browser, verifies
// the id_token with the server's keys, and its token source refreshes.
func TestSDKDeviceSignIn(t *testing.T) {
	f := newDeviceFixture(t, "sqlite", nil)
	prompts := make(chan device.Prompt, 1)
	type result struct {
		res *device.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := device.SignIn(t.Context(), device.Config{Issuer: f.srv.URL, ClientID: "tv",
			Scopes: []string{"openid", "profile", "offline_access"}, Audiences: []string{"https://api.example"},
			Prompt: func(p device.Prompt) error { prompts <- p; return nil }})
		done <- result{res, err}
	}()
	var p device.Prompt
	select {
	case p = <-prompts:
	case r := <-done:
		t.Fatalf("SignIn ended before prompting: %v", r.err)
	}
	b := newBrowser(t, f.srv.URL)
	f.decideDevice(t, b, f.confirmDevice(t, b, p.VerificationURIComplete), "allow")
	r := <-done
	if r.err != nil {
		t.Fatalf("SignIn: %v", r.err)
	}
	if r.res.IDToken == nil || r.res.IDToken.Subject == "" || r.res.Token.RefreshToken == "" {
		t.Fatalf("result: %+v", r.res)
	}
	r.res.Token.Expiry = time.Now().Add(-time.Minute)
	fresh, err := r.res.OAuth2.TokenSource(t.Context(), r.res.Token).Token()
	if err != nil || fresh.AccessToken == r.res.Token.AccessToken {
		t.Fatalf("refresh through the result's token source: %v", err)
	}
	api := sdkVerifier(t, f.srv, "web", f.webSecret)
	if _, err := api.Verify(t.Context(), fresh.AccessToken); err != nil {
		t.Fatalf("the SDK verifier refuses the device's access token: %v", err)
	}
}

package app

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

// openInChromium starts headless Chromium on a fresh profile, opens u and
// returns the browser's context, closed when the test ends. The first
// action starts the browser and carries no deadline (it would bound the
// browser's life); callers give later steps one.
func openInChromium(t *testing.T, chromium, u string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(browserCtx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s in Chromium: %v", u, err)
	}
	return browserCtx
}

// runChromiumSteps runs named browser steps, reporting the page on failure.
func runChromiumSteps(t *testing.T, browserCtx, ctx context.Context, steps []chromiumStep) {
	t.Helper()
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.a); err != nil {
			loc, _ := chromedp.Run(browserCtx, chromedp.Location())
			body, _ := chromedp.Run(browserCtx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("browser step %q: %v (at %s)\n%s", s.name, err, loc, body)
		}
	}
}

type chromiumStep struct {
	name string
	a    chromedp.Action[chromedp.Void]
}

// chromiumLogin fills and submits the login form.
func chromiumLogin(username, password string) []chromiumStep {
	return []chromiumStep{
		{"login form", chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`))},
		{"type username", chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), username)},
		{"type password", chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password)},
		{"submit", chromedp.Click(chromedp.CSS(`button[type="submit"]`))},
	}
}

// TestBrowserLoginAndConsent signs in through the real /login and /consent
// pages in headless Chromium, checks the session cookie's flags as the
// browser stored them, and redeems the code the browser delivered.
func TestBrowserLoginAndConsent(t *testing.T) {
	chromium := testsvc.Chromium(t)
	srv := startServer(t, "sqlite", nil)

	// The client's callback: a loopback listener that records the code.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	callback := make(chan url.Values, 1)
	cbSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case callback <- r.URL.Query():
		default:
		}
		_, _ = w.Write([]byte("<html><body><p id=done>signed in</p></body></html>"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = cbSrv.Serve(ln) }()
	t.Cleanup(func() { _ = cbSrv.Close() })
	redirect := "http://" + ln.Addr().String() + "/cb"

	h := login.NewHasher(login.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1)
	if _, err := admin.CreateUser(t.Context(), srv.App.store, h, admin.UserSpec{Username: "alice", Password: alicePassword}, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, sec := srv.createClient(t, admin.ClientSpec{ID: "web", Name: "Browser Test App", RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}})
	conf := oauth2.Config{ClientID: "web", ClientSecret: sec, RedirectURL: redirect, Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()

	browserCtx := openInChromium(t, chromium, conf.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier)))
	ctx, cancelTimeout := context.WithTimeout(browserCtx, 60*time.Second)
	defer cancelTimeout()

	runChromiumSteps(t, browserCtx, ctx, append(chromiumLogin("alice", alicePassword),
		chromiumStep{"consent form", chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`))}))
	consentText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(consentText, "Browser Test App") {
		t.Errorf("consent page does not name the client: %q", consentText)
	}
	var cookies []*network.Cookie
	err = chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
			cookies = res.Cookies
			return err
		}),
		chromedp.Click(chromedp.CSS(`button[value="allow"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#done`)),
	)
	if err != nil {
		t.Fatalf("browser consent: %v", err)
	}
	var session *network.Cookie
	for _, c := range cookies {
		if c.Name == "gh_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie in the browser: %+v", cookies)
	}
	if !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax || session.Path != "/" {
		t.Errorf("session cookie flags in the browser: httpOnly=%v sameSite=%v path=%q", session.HTTPOnly, session.SameSite, session.Path)
	}

	var q url.Values
	select {
	case q = <-callback:
	case <-time.After(10 * time.Second):
		t.Fatal("the callback never received the code")
	}
	if q.Get("state") != "browser-state" || q.Get("iss") != srv.URL {
		t.Fatalf("callback query %v", q)
	}
	tok, err := conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.Extra("id_token") == nil {
		t.Fatalf("exchange of the browser's code: %v", err)
	}
}

package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/authorize"
	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/throttle"
	"github.com/gatehouse/gatehouse/web"
)

// Store is what the pages need from the store.
type Store interface {
	SessionStore
	GetUserByLogin(ctx context.Context, login string) (store.User, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	SaveConsent(ctx context.Context, c store.Consent) error
	UseOnce(ctx context.Context, key []byte, expiresAt, now time.Time) error
	EndSession(ctx context.Context, sid string, now, sidExpiresAt time.Time) ([]store.Revocation, error)
}

// Auditor records security events.
type Auditor interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// Revocations receives revocations already written by the store.
type Revocations interface {
	Apply(rs []store.Revocation)
}

// Approver finishes an authorization request the user allowed
// (authorize.Endpoint).
type Approver interface {
	Approve(w http.ResponseWriter, r *http.Request, req authorize.Request, sid string)
}

// IDTokenHint verifies an id_token_hint we issued and returns its
// audience (client id), subject and sid.
type IDTokenHint func(token string) (clientID, sub, sid string, err error)

// Config holds the pages' dependencies.
type Config struct {
	Issuer      string
	Store       Store
	Sessions    *Sessions
	CSRF        *CSRF
	Hasher      *Hasher
	Pages       *web.Pages
	Sealer      *authorize.Sealer
	Authorize   Approver
	Revocations Revocations
	Auditor     Auditor
	VerifyHint  IDTokenHint
	// SIDRevocationTTL is how long a logged-out session's sid stays on the
	// revocation list: the access-token lifetime plus leeway.
	SIDRevocationTTL time.Duration
	// AccountLimiter and IPLimiter throttle failed logins (nil: defaults).
	AccountLimiter *throttle.Limiter
	IPLimiter      *throttle.Limiter
	// Devices serves the device verification page (RFC 8628 §3.3);
	// DeviceIPLimiter and DeviceGlobalLimiter throttle wrong user codes
	// (nil: defaults).
	Devices             DeviceCodes
	DeviceIPLimiter     *throttle.Limiter
	DeviceGlobalLimiter *throttle.Limiter
	Logger              *slog.Logger
	Now                 func() time.Time
}

// DefaultAccountThrottle allows 5 failures per account, then locks it for
// 1 s doubling to at most 15 minutes; never permanently.
func DefaultAccountThrottle() throttle.Policy {
	return throttle.Policy{Free: 5, BaseLock: time.Second, MaxLock: 15 * time.Minute, Forget: time.Hour}
}

// DefaultIPThrottle allows 20 failures per address before locking it.
func DefaultIPThrottle() throttle.Policy {
	return throttle.Policy{Free: 20, BaseLock: time.Second, MaxLock: 15 * time.Minute, Forget: time.Hour}
}

// Pages serves /login, /consent and /oauth/logout.
type Pages struct{ cfg Config }

// New returns the pages.
func New(cfg Config) *Pages {
	if cfg.AccountLimiter == nil {
		cfg.AccountLimiter = throttle.New(DefaultAccountThrottle(), cfg.Now)
	}
	if cfg.IPLimiter == nil {
		cfg.IPLimiter = throttle.New(DefaultIPThrottle(), cfg.Now)
	}
	if cfg.DeviceIPLimiter == nil {
		cfg.DeviceIPLimiter = throttle.New(DefaultDeviceIPThrottle(), cfg.Now)
	}
	if cfg.DeviceGlobalLimiter == nil {
		cfg.DeviceGlobalLimiter = throttle.New(DefaultDeviceGlobalThrottle(), cfg.Now)
	}
	return &Pages{cfg: cfg}
}

const genericLoginError = "Incorrect username or password."

func (p *Pages) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	if err := p.cfg.Pages.Error(w, status, web.ErrorPage{Title: title, Message: msg, RequestID: httpx.RequestID(r.Context())}); err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "render error page", slog.Any("error", err))
	}
}

func (p *Pages) render(r *http.Request, err error) {
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "render page", slog.Any("error", err))
	}
}

func (p *Pages) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if httpx.ClientClosed(w, r, p.cfg.Logger, err) {
		return
	}
	p.cfg.Logger.ErrorContext(r.Context(), "login flow: backing service failed", slog.Any("error", err))
	w.Header().Set("Retry-After", "2")
	p.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The service is temporarily unavailable. Please try again.")
}

// openRequest reads the sealed request of one of kinds (default: an
// authorization request) from a page.
func (p *Pages) openRequest(w http.ResponseWriter, r *http.Request, blob string, kinds ...string) (authorize.Request, bool) {
	if len(kinds) == 0 {
		kinds = []string{authorize.KindAuthorize}
	}
	req, err := p.cfg.Sealer.OpenAny(blob, kinds...)
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in request expired",
			"This sign-in request is no longer valid. Please start again from the application.")
		return req, false
	}
	return req, true
}

func (p *Pages) clientName(ctx context.Context, id string) string {
	if c, err := p.cfg.Store.GetClient(ctx, id); err == nil {
		return c.Name
	}
	return ""
}

// LoginForm serves GET /login, for an authorization request or a device
// verification.
func (p *Pages) LoginForm(w http.ResponseWriter, r *http.Request) {
	blob := r.URL.Query().Get(authorize.ResumeParam)
	req, ok := p.openRequest(w, r, blob, authorize.KindAuthorize, authorize.KindDevice)
	if !ok {
		return
	}
	p.render(r, p.cfg.Pages.Login(w, http.StatusOK, web.LoginPage{
		Action: authorize.LoginPath, CSRFToken: p.cfg.CSRF.Token(w, r), Login: req.LoginHint,
		ClientName: p.clientName(r.Context(), req.ClientID), ReturnTo: blob,
	}))
}

// LoginSubmit serves POST /login.
func (p *Pages) LoginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if !p.cfg.CSRF.Check(r) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Please go back and try again.")
		return
	}
	blob := r.PostForm.Get("request")
	req, ok := p.openRequest(w, r, blob, authorize.KindAuthorize, authorize.KindDevice)
	if !ok {
		return
	}
	ctx := r.Context()
	login := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	again := func(status int, msg string) {
		p.render(r, p.cfg.Pages.Login(w, status, web.LoginPage{
			Action: authorize.LoginPath, CSRFToken: p.cfg.CSRF.Token(w, r), Login: login,
			ClientName: p.clientName(ctx, req.ClientID), Error: msg, ReturnTo: blob,
		}))
	}

	user, err := p.cfg.Store.GetUserByLogin(ctx, login)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.unavailable(w, r, err)
		return
	}
	// Username and e-mail of one account share one counter; unknown names
	// count under the name typed.
	acctKey := "login:" + strings.ToLower(login)
	if known {
		acctKey = "user:" + user.ID
	}
	ip := httpx.ClientIP(r)
	ipKey := "ip:" + ip
	if wait := max(p.cfg.AccountLimiter.Wait(acctKey), p.cfg.IPLimiter.Wait(ipKey)); wait > 0 {
		p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "login_throttled", UserID: user.ID, IP: ip})
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Try again in %d seconds.", int(wait.Seconds())+1))
		return
	}

	stored := ""
	if known {
		stored = user.PasswordHash
	}
	match, err := p.cfg.Hasher.Verify(ctx, password, stored)
	if err != nil && !errors.Is(err, ErrBadHash) {
		p.unavailable(w, r, err)
		return
	}
	if !match || !known || user.Disabled {
		p.cfg.AccountLimiter.Fail(acctKey)
		p.cfg.IPLimiter.Fail(ipKey)
		p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "login_failed", UserID: user.ID, ClientID: req.ClientID, IP: ip})
		again(http.StatusUnauthorized, genericLoginError)
		return
	}
	p.cfg.AccountLimiter.Succeed(acctKey)

	sess, err := p.cfg.Sessions.Start(w, r, user)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "login_succeeded", UserID: user.ID, ClientID: req.ClientID,
		SessionID: sess.ID, IP: ip})
	req.LoginSID = sess.ID
	next := authorize.Path
	if req.Kind == authorize.KindDevice {
		next = DevicePath
	}
	http.Redirect(w, r, next+"?"+url.Values{authorize.ResumeParam: {p.cfg.Sealer.Seal(req)}}.Encode(), http.StatusSeeOther)
}

// scopeDescriptions explains the standard scopes on the consent page.
func scopeDescription(s string) string {
	switch s {
	case "openid":
		return "Confirm who you are"
	case "profile":
		return "See your username"
	case "email":
		return "See your e-mail address"
	case "offline_access":
		return "Stay signed in when you are not using the application"
	}
	return "Access: " + s
}

// ConsentForm serves GET /consent.
func (p *Pages) ConsentForm(w http.ResponseWriter, r *http.Request) {
	blob := r.URL.Query().Get(authorize.ResumeParam)
	req, ok := p.openRequest(w, r, blob)
	if !ok {
		return
	}
	sess, user, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	if !signedIn {
		// Back to the endpoint, which sends the browser to sign in.
		http.Redirect(w, r, authorize.Path+"?"+url.Values{authorize.ResumeParam: {blob}}.Encode(), http.StatusSeeOther)
		return
	}
	items := make([]web.ScopeItem, 0, len(req.Scopes))
	for _, s := range req.Scopes {
		items = append(items, web.ScopeItem{Name: s, Description: scopeDescription(s)})
	}
	p.render(r, p.cfg.Pages.Consent(w, http.StatusOK, web.ConsentPage{
		Action: authorize.ConsentPath, CSRFToken: p.cfg.CSRF.TokenFor(w, r, consentBinding(req, sess)), Request: blob,
		ClientName: p.clientName(r.Context(), req.ClientID), UserName: user.Username, Scopes: items,
	}))
}

// consentBinding ties a consent form to the request it shows and the
// session it was shown to: its token approves nothing else, and nothing
// after the browser signs in as someone else.
func consentBinding(req authorize.Request, sess store.Session) string {
	return "consent\x00" + req.ID + "\x00" + sess.ID
}

// ConsentSubmit serves POST /consent: approval only by POST with a CSRF
// token bound to the request and the session that saw the page, and only
// once per request. Allow is answered with the code itself (through
// Approver), never with a link back to the endpoint that another user
// could open or the same user replay.
func (p *Pages) ConsentSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	ctx := r.Context()
	sess, user, signedIn, err := p.cfg.Sessions.Current(r)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	// The token is bound to the request, so a form whose request does not
	// open cannot carry a valid one either.
	req, err := p.cfg.Sealer.Open(r.PostForm.Get("request"), authorize.KindAuthorize)
	if err != nil || !p.cfg.CSRF.CheckFor(r, consentBinding(req, sess)) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Please go back and try again.")
		return
	}
	if !signedIn {
		p.errorPage(w, r, http.StatusUnauthorized, "Signed out", "You are no longer signed in. Please start again from the application.")
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "Please choose Allow or Deny.")
		return
	}
	now := p.cfg.Now()
	switch err := p.cfg.Store.UseOnce(ctx, secret.Hash("consent:"+req.ID), p.cfg.Sealer.Expires(req), now); {
	case errors.Is(err, store.ErrConflict):
		p.errorPage(w, r, http.StatusBadRequest, "Already answered",
			"This request has already been answered. Please start again from the application.")
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	if decision == "deny" {
		p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "consent_denied", UserID: user.ID, ClientID: req.ClientID, SessionID: sess.ID})
		//nolint:gosec // G710: req is sealed by /oauth/authorize after checking redirect_uri against the client
		http.Redirect(w, r, authorize.ClientRedirect(p.cfg.Issuer, req, url.Values{
			"error": {"access_denied"}, "error_description": {"the user denied the request"}}), http.StatusSeeOther)
		return
	}
	scopes := req.Scopes
	if old, err := p.cfg.Store.GetConsent(ctx, user.ID, req.ClientID); err == nil {
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if err := p.cfg.Store.SaveConsent(ctx, store.Consent{UserID: user.ID, ClientID: req.ClientID, Scopes: scopes, CreatedAt: now}); err != nil {
		p.unavailable(w, r, err)
		return
	}
	p.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "consent_granted", UserID: user.ID, ClientID: req.ClientID,
		SessionID: sess.ID, Details: map[string]string{"scope": strings.Join(req.Scopes, " ")}})
	p.cfg.Authorize.Approve(w, r, req, sess.ID)
}

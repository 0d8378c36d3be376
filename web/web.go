// Package web holds Gatehouse's server-rendered HTML pages: login, consent,
// device verification (RFC 8628 §3.3, with the remote-phishing warning of
// §5.4), logout confirmation (OpenID Connect RP-Initiated Logout 1.0 §2),
// signed-out and error pages, plus the stylesheet they share.
//
// Templates and static files are embedded in the binary. Pages carry no
// JavaScript, inline styles or external resources, so each is served with a
// strict Content-Security-Policy that also forbids framing (RFC 6749
// §10.13). Every value is escaped by html/template.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
)

// ContentSecurityPolicy is the policy sent with every page. It has no
// form-action directive on purpose: browsers apply form-action to every
// redirect that follows a form post, and the login, consent and logout
// forms end in a redirect to the client's (registered) URI, which
// form-action 'self' would block. Forms are still guarded by CSRF tokens,
// and every rendered value is escaped.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFS embed.FS

// Page template names; each is templates/<name>.html on top of the layout.
const (
	pageLogin         = "login"
	pageConsent       = "consent"
	pageDevice        = "device"
	pageError         = "error"
	pageLoggedOut     = "logged_out"
	pageLogoutConfirm = "logout_confirm"
)

// Pages renders Gatehouse's HTML pages. It is safe for concurrent use.
//
// Each render method writes the page with the given status and returns nil.
// If the page cannot be rendered it writes a plain 500 "internal error"
// instead, never a partial page, and returns the cause for the caller to
// log. A failure to write the response body (the client went away) is not
// reported.
type Pages struct {
	pages  map[string]*template.Template
	static map[string]staticFile
}

// New parses the embedded templates and static files.
func New() (*Pages, error) {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	p := &Pages{pages: make(map[string]*template.Template)}
	for _, name := range []string{pageLogin, pageConsent, pageDevice, pageError, pageLoggedOut, pageLogoutConfirm} {
		t, err := layout.Clone()
		if err != nil {
			return nil, fmt.Errorf("web: clone layout: %w", err)
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		p.pages[name] = t
	}
	if p.static, err = loadStatic(); err != nil {
		return nil, err
	}
	return p, nil
}

// ScopeItem is one requested scope as shown to the user.
type ScopeItem struct {
	Name        string // scope value, e.g. "email"
	Description string // what it grants, e.g. "Read your email address"
}

// LoginPage is the data for the sign-in form. It posts username, password,
// csrf_token and request to Action.
type LoginPage struct {
	Action     string // form POST target, e.g. "/login"
	CSRFToken  string // sent back as csrf_token
	Login      string // username to prefill, e.g. from login_hint
	ClientName string // application the user signs in to; may be empty
	Error      string // generic failure message; empty for none
	ReturnTo   string // opaque internal request id, sent back as request
}

// Login renders the sign-in page.
func (p *Pages) Login(w http.ResponseWriter, status int, d LoginPage) error {
	return p.render(w, status, pageLogin, d)
}

// ConsentPage is the data for the consent form. It posts csrf_token,
// request and decision ("allow" or "deny") to Action.
type ConsentPage struct {
	Action     string      // form POST target
	CSRFToken  string      // sent back as csrf_token
	Request    string      // opaque internal request id, sent back as request
	ClientName string      // application asking for access
	UserName   string      // signed-in user
	Scopes     []ScopeItem // access requested
}

// Consent renders the consent page.
func (p *Pages) Consent(w http.ResponseWriter, status int, d ConsentPage) error {
	return p.render(w, status, pageConsent, d)
}

// Steps of the device verification page.
const (
	DeviceStepEnter   = "enter"   // the user types the code shown on the device
	DeviceStepConfirm = "confirm" // the user approves or denies the device
	DeviceStepDone    = "done"    // the decision is recorded
)

// DevicePage is the data for device verification (RFC 8628 §3.3). The
// enter step posts csrf_token and user_code; the confirm step posts
// csrf_token, user_code and decision ("allow" or "deny").
type DevicePage struct {
	Action    string // form POST target
	CSRFToken string // sent back as csrf_token
	UserCode  string // code to prefill (enter) or being approved (confirm)
	Error     string // message, e.g. an unknown or expired code; empty for none
	Step      string // DeviceStepEnter, DeviceStepConfirm or DeviceStepDone

	// Approved is the decision shown on the done step.
	Approved bool

	// Shown on the confirm step only.
	ClientName string      // application on the device
	Scopes     []ScopeItem // access requested
}

// Device renders the device verification page. A Step other than
// DeviceStepEnter, DeviceStepConfirm or DeviceStepDone is a render error.
func (p *Pages) Device(w http.ResponseWriter, status int, d DevicePage) error {
	if d.Step != DeviceStepEnter && d.Step != DeviceStepConfirm && d.Step != DeviceStepDone {
		internalError(w)
		return fmt.Errorf("web: unknown device step %q", d.Step)
	}
	return p.render(w, status, pageDevice, d)
}

// ErrorPage is the data for an error shown to the user. It links nowhere.
type ErrorPage struct {
	Title     string // heading; a generic one when empty
	Message   string // client-safe explanation
	Code      string // OAuth error code, e.g. "invalid_request"; optional
	RequestID string // for support; optional
}

// Error renders an error page.
func (p *Pages) Error(w http.ResponseWriter, status int, d ErrorPage) error {
	return p.render(w, status, pageError, d)
}

// LoggedOutPage is the data for the page shown after signing out, or
// after the user chose to stay signed in on the logout confirmation.
type LoggedOutPage struct {
	Message string // a default message when empty; unused with StillSignedIn
	// StillSignedIn shows "Still signed in" instead: the user declined to
	// sign out, so nothing ended.
	StillSignedIn bool
}

// LoggedOut renders the signed-out (or still-signed-in) page.
func (p *Pages) LoggedOut(w http.ResponseWriter, status int, d LoggedOutPage) error {
	return p.render(w, status, pageLoggedOut, d)
}

// LogoutConfirmPage is the data for the logout confirmation form. It posts
// csrf_token, request and decision ("logout" or "cancel") to Action.
type LogoutConfirmPage struct {
	Action     string // form POST target
	CSRFToken  string // sent back as csrf_token
	Request    string // opaque internal request id, sent back as request
	ClientName string // application that asked for the logout; may be empty
}

// LogoutConfirm renders the logout confirmation page.
func (p *Pages) LogoutConfirm(w http.ResponseWriter, status int, d LogoutConfirmPage) error {
	return p.render(w, status, pageLogoutConfirm, d)
}

// render executes the named page into a buffer, then writes it with the
// page headers, or writes a plain 500 if anything fails first.
func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) error {
	if status < 200 || status > 599 || status == http.StatusNoContent || status == http.StatusNotModified {
		internalError(w)
		return fmt.Errorf("web: render %s: invalid status %d", name, status)
	}
	t, ok := p.pages[name]
	if !ok {
		internalError(w)
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		internalError(w)
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// internalError writes the plain response used when a page cannot be
// rendered.
func internalError(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "internal error", http.StatusInternalServerError)
}

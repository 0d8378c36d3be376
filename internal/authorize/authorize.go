// Package authorize implements the authorization endpoint (RFC 6749 §3.1,
// §4.1.1-2; OpenID Connect Core §3.1.2): request validation, exact
// redirect URI matching, PKCE (S256 only, RFC 7636, RFC 9700 §2.1.1), the
// prompt/max_age rules, and issuing the authorization code with the
// RFC 9207 "iss" parameter.
//
// An unknown client or redirect URI gets an error page and never a
// redirect; every later error goes back to the client's redirect URI.
// Sign-in and consent happen on the pages of package login, which resume
// the sealed request here.
package authorize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/web"
)

// Store is what the endpoint reads and writes.
type Store interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	CreateAuthCode(ctx context.Context, c store.AuthCode) error
}

// SessionReader finds the browser's signed-in session.
type SessionReader interface {
	// Current returns the session and its user; ok is false when the
	// browser is not signed in (or the user is disabled).
	Current(r *http.Request) (s store.Session, u store.User, ok bool, err error)
}

// Paths of the pages the flow visits.
const (
	Path        = "/oauth/authorize"
	LoginPath   = "/login"
	ConsentPath = "/consent"
	// ResumeParam carries a sealed Request back to the endpoint.
	ResumeParam = "resume"
)

// Config holds the endpoint's dependencies.
type Config struct {
	Issuer   string
	CodeTTL  time.Duration
	Store    Store
	Sessions SessionReader
	Sealer   *Sealer
	Pages    *web.Pages
	Logger   *slog.Logger
	Now      func() time.Time
}

// Endpoint serves GET and POST /oauth/authorize.
type Endpoint struct{ cfg Config }

// New returns the endpoint.
func New(cfg Config) *Endpoint { return &Endpoint{cfg: cfg} }

// pageError is a failure shown on an error page because the redirect URI
// cannot be trusted.
type pageError struct {
	code, message string
}

func (e *pageError) Error() string { return e.code + ": " + e.message }

// ServeHTTP handles an authorization request or the resumption of one.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	values, err := requestValues(r)
	if err != nil {
		e.errorPage(w, r, http.StatusBadRequest, &pageError{oauth.CodeInvalidRequest, "The authorization request could not be read."})
		return
	}
	var req Request
	var c store.Client
	if blob := values.Get(ResumeParam); blob != "" && len(values) == 1 {
		req, c, err = e.resume(r.Context(), blob)
	} else {
		req, c, err = e.parse(r.Context(), values)
	}
	if err != nil {
		e.fail(w, r, req, err)
		return
	}
	if err := e.continueFlow(w, r, req, c, ""); err != nil {
		e.fail(w, r, req, err)
	}
}

// Approve finishes req after the user of session sid allowed it on the
// consent page: it checks the client again and answers this same request
// with the code (or with whatever the flow still needs, such as signing in
// again). The approval is never handed back to the browser to carry to the
// endpoint, so there is nothing another user could open, and nothing to
// replay; the consent page makes sure each request is answered once.
func (e *Endpoint) Approve(w http.ResponseWriter, r *http.Request, req Request, sid string) {
	c, err := e.recheck(r.Context(), req)
	if err == nil {
		err = e.continueFlow(w, r, req, c, sid)
	}
	if err != nil {
		e.fail(w, r, req, err)
	}
}

// requestValues reads the parameters from the query (GET) or the form
// body (POST, OpenID Connect Core §3.1.2.1), never both, and refuses text
// no store can hold before anything is looked up.
func requestValues(r *http.Request) (url.Values, error) {
	values := r.URL.Query()
	if r.Method == http.MethodPost {
		if r.URL.RawQuery != "" {
			return nil, errors.New("query and body both used")
		}
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		values = r.PostForm
	}
	for name, vs := range values {
		if !oauth.ValidParams(name) || !oauth.ValidParams(vs...) {
			return nil, errors.New("parameters are not UTF-8 text without NUL")
		}
	}
	return values, nil
}

func (e *Endpoint) resume(ctx context.Context, blob string) (Request, store.Client, error) {
	req, err := e.cfg.Sealer.Open(blob, KindAuthorize)
	if err != nil {
		return Request{}, store.Client{}, &pageError{oauth.CodeInvalidRequest, "This sign-in request has expired. Please start again from the application."}
	}
	c, err := e.recheck(ctx, req)
	if err != nil {
		return Request{}, store.Client{}, err
	}
	return req, c, nil
}

// recheck loads the client of a request validated earlier: it may have
// changed since, so what the redirect relies on is checked again.
func (e *Endpoint) recheck(ctx context.Context, req Request) (store.Client, error) {
	c, err := e.client(ctx, req.ClientID)
	if err != nil {
		return store.Client{}, err
	}
	if !oauth.MatchRedirectURI(c.RedirectURIs, req.RedirectURI) {
		return store.Client{}, &pageError{oauth.CodeInvalidRequest, "The redirect URI is not registered for this application."}
	}
	return c, nil
}

func (e *Endpoint) client(ctx context.Context, id string) (store.Client, error) {
	if id == "" {
		return store.Client{}, &pageError{oauth.CodeInvalidRequest, "The request has no client_id."}
	}
	c, err := e.cfg.Store.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Client{}, &pageError{oauth.CodeInvalidRequest, "The application is not registered."}
	case err != nil:
		return store.Client{}, oauth.Unavailable(err)
	}
	return c, nil
}

// parse validates a fresh request. Errors before the redirect URI is known
// to be registered are pageErrors; later ones are *oauth.Error values sent
// to the redirect URI together with the partially filled req.
func (e *Endpoint) parse(ctx context.Context, v url.Values) (Request, store.Client, error) {
	c, err := e.client(ctx, single(v, "client_id"))
	if err != nil {
		return Request{}, store.Client{}, err
	}
	redirect := single(v, "redirect_uri")
	switch {
	case len(v["redirect_uri"]) > 1:
		return Request{}, c, &pageError{oauth.CodeInvalidRequest, "The redirect_uri parameter was sent more than once."}
	case redirect == "":
		// OpenID Connect Core §3.1.2.1 makes redirect_uri required; we do
		// too, so the token request can always be bound to it.
		return Request{}, c, &pageError{oauth.CodeInvalidRequest, "The request has no redirect_uri."}
	case !oauth.MatchRedirectURI(c.RedirectURIs, redirect):
		return Request{}, c, &pageError{oauth.CodeInvalidRequest, "The redirect URI is not registered for this application."}
	}
	req := Request{ID: secret.ID(), ClientID: c.ID, RedirectURI: redirect, State: single(v, "state"), MaxAge: -1}

	// From here on, errors are redirected with state (RFC 6749 §4.1.2.1).
	if _, err := oauth.FormFromValues(v, "resource"); err != nil {
		return req, c, err
	}
	if v.Has("request") || v.Has("request_uri") {
		code := "request_not_supported"
		if v.Has("request_uri") {
			code = "request_uri_not_supported"
		}
		return req, c, oauth.NewError(code, "request objects are not supported")
	}
	if rt := v.Get("response_type"); rt != "code" {
		if rt == "" {
			return req, c, oauth.NewError(oauth.CodeInvalidRequest, "response_type is required")
		}
		return req, c, oauth.NewError(oauth.CodeUnsupportedResponseType, "only response_type=code is supported")
	}
	if rm := v.Get("response_mode"); rm != "" && rm != "query" {
		return req, c, oauth.NewError(oauth.CodeInvalidRequest, "only response_mode=query is supported")
	}
	if !slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode) {
		return req, c, oauth.NewError(oauth.CodeUnauthorizedClient, "the client may not use the authorization code flow")
	}
	if req.Scopes, err = e.scopes(v, c); err != nil {
		return req, c, err
	}
	if req.Audiences, err = audiences(v, c); err != nil {
		return req, c, err
	}
	if req.CodeChallenge, err = pkce(v, c); err != nil {
		return req, c, err
	}
	if req.Prompt, err = prompt(v.Get("prompt")); err != nil {
		return req, c, err
	}
	if ma := v.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 {
			return req, c, oauth.NewError(oauth.CodeInvalidRequest, "max_age must be a non-negative integer")
		}
		req.MaxAge = n
	}
	req.Nonce = v.Get("nonce")
	req.LoginHint = v.Get("login_hint")
	if len(req.Nonce) > 512 || len(req.State) > 2048 || len(req.LoginHint) > 256 {
		return req, c, oauth.NewError(oauth.CodeInvalidRequest, "a parameter is too long")
	}
	return req, c, nil
}

func single(v url.Values, name string) string {
	if vs := v[name]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

func (e *Endpoint) scopes(v url.Values, c store.Client) ([]string, error) {
	scopes, err := oauth.ParseScope(v.Get("scope"))
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return nil, oauth.NewError(oauth.CodeInvalidScope, "scope is required")
	}
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return nil, oauth.NewError(oauth.CodeInvalidScope, "a requested scope is not allowed for this client")
		}
	}
	return scopes, nil
}

// audiences applies RFC 8707: every requested resource must be registered
// for the client.
func audiences(v url.Values, c store.Client) ([]string, error) {
	req := v["resource"]
	if a := v.Get("audience"); a != "" {
		req = append(req, strings.Fields(a)...)
	}
	var out []string
	for _, a := range req {
		if !slices.Contains(c.Audiences, a) {
			return nil, oauth.NewError(oauth.CodeInvalidTarget, "a requested resource is not allowed for this client")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// pkce accepts only S256 challenges and requires one from public clients
// (RFC 9700 §2.1.1). A method without a challenge, a challenge without a
// method (which would mean "plain"), and any other method are refused.
func pkce(v url.Values, c store.Client) (string, error) {
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "":
		if c.Public {
			return "", oauth.NewError(oauth.CodeInvalidRequest, "public clients must send a PKCE code_challenge (S256)")
		}
		return "", nil
	case challenge == "":
		return "", oauth.NewError(oauth.CodeInvalidRequest, "code_challenge_method without code_challenge")
	case method != "S256":
		return "", oauth.NewError(oauth.CodeInvalidRequest, "code_challenge_method must be S256")
	case len(challenge) != 43 || !oauth.ValidPKCEValue(challenge):
		return "", oauth.NewError(oauth.CodeInvalidRequest, "code_challenge is not an S256 challenge")
	}
	return challenge, nil
}

func prompt(p string) ([]string, error) {
	values := strings.Fields(p)
	for _, v := range values {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return nil, oauth.NewError(oauth.CodeInvalidRequest, "unsupported prompt value")
		}
	}
	if slices.Contains(values, "none") && len(values) > 1 {
		return nil, oauth.NewError(oauth.CodeInvalidRequest, "prompt=none cannot be combined with other values")
	}
	return values, nil
}

// continueFlow sends the browser to sign in or consent as needed, then
// issues the code. approvedBy is the session that has just allowed req on
// the consent page ("" if none): it counts only for that same session.
func (e *Endpoint) continueFlow(w http.ResponseWriter, r *http.Request, req Request, c store.Client, approvedBy string) error {
	now := e.cfg.Now()
	sess, user, ok, err := e.cfg.Sessions.Current(r)
	if err != nil {
		return oauth.Unavailable(err)
	}
	justLoggedIn := ok && req.LoginSID == sess.ID
	needLogin := !ok ||
		(!justLoggedIn && (req.HasPrompt("login") || req.HasPrompt("select_account"))) ||
		(!justLoggedIn && req.MaxAge >= 0 && now.Sub(sess.AuthTime) > time.Duration(req.MaxAge)*time.Second)
	if needLogin {
		if req.HasPrompt("none") {
			return oauth.NewError(oauth.CodeLoginRequired, "the user is not signed in")
		}
		// A new ID: the consent page answers each ID once, and after
		// signing in (again) the user must be able to answer afresh.
		req.LoginSID, req.ID = "", secret.ID()
		e.redirectTo(w, r, LoginPath, req)
		return nil
	}

	if approved := approvedBy != "" && approvedBy == sess.ID; !c.SkipConsent && !approved {
		granted, err := e.consented(r.Context(), user.ID, c.ID, req.Scopes)
		if err != nil {
			return oauth.Unavailable(err)
		}
		if !granted || req.HasPrompt("consent") {
			if req.HasPrompt("none") {
				return oauth.NewError(oauth.CodeConsentRequired, "the user has not consented")
			}
			e.redirectTo(w, r, ConsentPath, req)
			return nil
		}
	}

	code := secret.Token()
	err = e.cfg.Store.CreateAuthCode(r.Context(), store.AuthCode{
		Hash: secret.Hash(code), ClientID: c.ID, UserID: user.ID, SessionID: sess.ID,
		RedirectURI: req.RedirectURI, Scopes: req.Scopes, Audiences: req.Audiences, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, AuthTime: sess.AuthTime, CreatedAt: now, ExpiresAt: now.Add(e.cfg.CodeTTL),
	})
	if err != nil {
		return oauth.Unavailable(fmt.Errorf("store authorization code: %w", err))
	}
	e.redirectClient(w, r, req, url.Values{"code": {code}})
	return nil
}

func (e *Endpoint) consented(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	c, err := e.cfg.Store.GetConsent(ctx, userID, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false, nil
		}
	}
	return true, nil
}

// redirectTo sends the browser to one of our pages carrying the sealed request.
func (e *Endpoint) redirectTo(w http.ResponseWriter, r *http.Request, path string, req Request) {
	http.Redirect(w, r, path+"?"+url.Values{ResumeParam: {e.cfg.Sealer.Seal(req)}}.Encode(), http.StatusSeeOther)
}

// ResumeURL is where the login and consent pages send the browser back.
func (e *Endpoint) ResumeURL(req Request) string {
	return Path + "?" + url.Values{ResumeParam: {e.cfg.Sealer.Seal(req)}}.Encode()
}

// redirectClient sends the browser to the client's redirect URI with params,
// state and iss appended to its registered query unchanged.
func (e *Endpoint) redirectClient(w http.ResponseWriter, r *http.Request, req Request, params url.Values) {
	http.Redirect(w, r, ClientRedirect(e.cfg.Issuer, req, params), redirectStatus(r))
}

// ClientRedirect builds the redirect to req's client with params plus state
// and iss (RFC 9207).
func ClientRedirect(issuer string, req Request, params url.Values) string {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", issuer)
	sep := "?"
	if strings.Contains(req.RedirectURI, "?") {
		sep = "&"
	}
	return req.RedirectURI + sep + params.Encode()
}

// redirectStatus is 303 after a POST so the browser does not re-post the
// form to the client (RFC 9700 §4.12), 302 otherwise.
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

// fail renders err: a pageError (or an outage) on a page, an OAuth error
// by redirect to the verified redirect URI.
func (e *Endpoint) fail(w http.ResponseWriter, r *http.Request, req Request, err error) {
	var pe *pageError
	if errors.As(err, &pe) {
		e.errorPage(w, r, http.StatusBadRequest, pe)
		return
	}
	// An outage is shown on a page with its own status (and Retry-After)
	// whether or not the redirect URI is known yet: it is not the
	// client's error to report.
	oe := oauth.As(err)
	if oe.HTTPStatus() >= 500 {
		if httpx.ClientClosed(w, r, e.cfg.Logger, err) {
			return
		}
		e.cfg.Logger.ErrorContext(r.Context(), "authorization request failed", slog.Any("cause", oe.Cause))
		for k, v := range oe.Header {
			w.Header()[k] = v
		}
		e.errorPage(w, r, oe.HTTPStatus(), &pageError{oe.Code, "The service is temporarily unavailable. Please try again."})
		return
	}
	if req.RedirectURI == "" {
		e.errorPage(w, r, http.StatusBadRequest, &pageError{oauth.CodeInvalidRequest, "The request could not be processed."})
		return
	}
	params := url.Values{"error": {oe.Code}}
	if oe.Description != "" {
		params.Set("error_description", oauth.DescriptionText(oe.Description))
	}
	e.redirectClient(w, r, req, params)
}

func (e *Endpoint) errorPage(w http.ResponseWriter, r *http.Request, status int, pe *pageError) {
	err := e.cfg.Pages.Error(w, status, web.ErrorPage{Title: "Sign-in request refused", Message: pe.message,
		Code: pe.code, RequestID: httpx.RequestID(r.Context())})
	if err != nil {
		e.cfg.Logger.ErrorContext(r.Context(), "render error page", slog.Any("error", err))
	}
}

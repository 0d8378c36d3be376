package signin

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/sdk"
)

// Config configures a Client. Issuer, ClientID and RedirectURL are
// required.
type Config struct {
	// Issuer is the provider's issuer URL. Discovery is fetched from
	// Issuer + "/.well-known/openid-configuration", and its "issuer" and
	// every id_token's "iss" must equal Issuer exactly.
	Issuer string
	// ClientID is the client_id registered with the provider; id_tokens
	// must name it in "aud".
	ClientID string
	// ClientSecret authenticates a confidential client at the token
	// endpoint. Leave it empty for a public client, which PKCE protects.
	ClientSecret string
	// RedirectURL is the absolute URL of the route serving Callback,
	// exactly as registered with the provider.
	RedirectURL string
	// Scopes are requested in addition to "openid", which is always sent.
	Scopes []string
	// HTTPClient, if set, makes every request to the provider (discovery,
	// JWKS, token). Give it a timeout and, if needed, a custom TLS
	// configuration. By default http.DefaultClient is used.
	HTTPClient *http.Client
	// InsecureCookies drops the Secure attribute and the __Host- prefix of
	// the login cookie. It is for development over http://localhost only:
	// without them a plain-HTTP response or a sibling subdomain can plant
	// a login cookie in the browser.
	InsecureCookies bool
	// ErrorHandler, if set, answers a failed callback instead of the
	// default fixed plain-text response. The login cookie has already been
	// cleared. It must not echo request input back to the browser.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)
	// Now is the clock for the login cookie's lifetime and the id_token's
	// expiry. It defaults to time.Now.
	Now func() time.Time
}

// loginTTL bounds how long a user may take at the provider. Ten minutes
// is long enough to type a password and complete a second factor and
// short enough that an abandoned login does not linger.
const loginTTL = 10 * time.Minute

// exchangeTimeout bounds the token request and id_token verification so
// that a hung provider does not hold the callback request forever when
// HTTPClient has no timeout of its own.
const exchangeTimeout = 30 * time.Second

// Client runs the sign-in flow against one provider for one client. It is
// safe for concurrent use.
type Client struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	http     *http.Client
	secure   bool
	onError  func(http.ResponseWriter, *http.Request, *Error)
	now      func() time.Time
}

// New validates cfg, fetches the provider's discovery document and returns
// a Client. ctx bounds only the discovery request.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("signin: discovery for %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("signin: discovery for %s: %w", cfg.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if endpoint.AuthURL == "" || endpoint.TokenURL == "" {
		return nil, fmt.Errorf("signin: discovery for %s lacks authorization_endpoint or token_endpoint", cfg.Issuer)
	}
	endpoint.AuthStyle = authStyle(cfg.ClientSecret, meta.AuthMethods)

	scopes := []string{oidc.ScopeOpenID}
	for _, s := range cfg.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	onError := cfg.ErrorHandler
	if onError == nil {
		onError = renderError
	}
	return &Client{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		// The signing algorithms default to those the provider advertises,
		// which go-oidc intersects with the asymmetric ones it supports, so
		// "none" and HS256 are never accepted.
		verifier: provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: now}),
		http:     cfg.HTTPClient,
		secure:   !cfg.InsecureCookies,
		onError:  onError,
		now:      now,
	}, nil
}

// validate reports every problem at once, so a misconfigured deployment is
// fixed in one round.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("ClientID is required"))
	}
	if u, err := url.Parse(cfg.Issuer); cfg.Issuer == "" || err != nil || u.Host == "" {
		errs = append(errs, errors.New("issuer must be an absolute URL"))
	} else if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		errs = append(errs, errors.New("issuer must use https (plain http only on a loopback host)"))
	}
	if u, err := url.Parse(cfg.RedirectURL); cfg.RedirectURL == "" || err != nil || u.Host == "" {
		errs = append(errs, errors.New("RedirectURL must be an absolute URL"))
	} else if u.Scheme == "http" && !cfg.InsecureCookies {
		errs = append(errs, errors.New("RedirectURL uses http: Secure cookies would not come back; set InsecureCookies for local development"))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, errors.New("RedirectURL must use https"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("signin: invalid Config: %w", err)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authStyle follows the provider's advertised client authentication
// methods instead of oauth2's auto-detection, which on failure retries the
// token request and so would present the same code twice.
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	switch {
	case secret == "":
		// A public client identifies itself with client_id in the body
		// (RFC 6749 §2.3, §4.1.3).
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		// client_secret_basic is the default when the provider says
		// nothing (OpenID Connect Discovery §3).
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

// Login is an http.HandlerFunc that starts a sign-in and redirects the
// browser to the provider. The optional "return_to" query parameter is the
// local path to come back to; see LoginTo.
func (c *Client) Login(w http.ResponseWriter, r *http.Request) {
	c.LoginTo(w, r, r.URL.Query().Get("return_to"))
}

// LoginTo starts a sign-in that will report returnTo in Result.ReturnTo.
// It is for middleware that sends an anonymous user straight to the
// provider, with returnTo set to r.URL.RequestURI(). A returnTo that is not
// a local path (see the package documentation) is replaced by "/", so it
// can never redirect off-site.
func (c *Client) LoginTo(w http.ResponseWriter, r *http.Request, returnTo string) {
	state, err1 := sdk.NewState()
	nonce, err2 := sdk.NewNonce()
	pkce, err3 := sdk.NewPKCE()
	if errors.Join(err1, err2, err3) != nil {
		http.Error(w, "Sign-in could not be started.", http.StatusInternalServerError)
		return
	}
	now := c.now()
	c.prunePending(w, r, now)
	ls := loginState{
		State:    state,
		Nonce:    nonce,
		Verifier: pkce.Verifier,
		ReturnTo: safeReturnTo(returnTo),
		Expires:  now.Add(loginTTL).Unix(),
	}
	value := ls.encode()
	if len(value) > maxCookieValue {
		// A return-to full of characters JSON escapes would make a cookie
		// the browser drops; losing the return-to is the lesser harm.
		ls.ReturnTo = "/"
		value = ls.encode()
	}
	http.SetCookie(w, c.cookie(cookieName(c.secure, state), value, int(loginTTL/time.Second)))

	u := c.oauth.AuthCodeURL(state,
		oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("code_challenge", pkce.Challenge),
		oauth2.SetAuthURLParam("code_challenge_method", pkce.ChallengeMethod),
	)
	// The redirect carries a fresh state: a cached copy would replay it.
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

// prunePending keeps at most maxPending-1 earlier logins, dropping
// expired, undecodable and then the oldest ones, to make room for the one
// being started.
func (c *Client) prunePending(w http.ResponseWriter, r *http.Request, now time.Time) {
	type pending struct {
		name    string
		expires int64
	}
	var live []pending
	for _, ck := range r.Cookies() {
		if !isLoginCookie(c.secure, ck.Name) {
			continue
		}
		ls, err := decodeLoginState(ck.Value)
		if err != nil || ls.expired(now) {
			http.SetCookie(w, c.cookie(ck.Name, "", -1))
			continue
		}
		live = append(live, pending{ck.Name, ls.Expires})
	}
	if len(live) < maxPending {
		return
	}
	slices.SortFunc(live, func(a, b pending) int { return cmp.Compare(b.expires, a.expires) })
	for _, p := range live[maxPending-1:] {
		http.SetCookie(w, c.cookie(p.name, "", -1))
	}
}

func (c *Client) cookie(name, value string, maxAge int) *http.Cookie {
	//nolint:gosec // G124: HttpOnly, SameSite=Lax; Secure unless the documented InsecureCookies dev switch
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   c.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Result is a completed sign-in.
type Result struct {
	// Token holds the access token and, if the provider issued one, the
	// refresh token; keep them server side. The raw id_token is
	// Token.Extra("id_token").
	Token *oauth2.Token
	// IDToken is the verified id_token. IDToken.Claims decodes claims
	// that Claims does not carry.
	IDToken *oidc.IDToken
	// Claims are the common identity claims of the id_token.
	Claims Claims
	// ReturnTo is the local path given to Login or LoginTo, or "/".
	ReturnTo string
}

// Claims are the id_token claims most applications need. Subject, unique
// per user at one issuer, is the only one to key accounts on: an email
// address can change hands, and is only worth trusting when EmailVerified.
type Claims struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Callback returns the handler for the RedirectURL route. It calls done
// with the result of a successful sign-in; the response done writes also
// clears the login cookie. It panics if done is nil.
func (c *Client) Callback(done func(w http.ResponseWriter, r *http.Request, res *Result)) http.Handler {
	if done == nil {
		panic("signin: Callback with a nil done function")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The URL holds a code and a state: keep it out of caches and of the
		// Referer of whatever done renders.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		res, err := c.complete(w, r)
		if err != nil {
			c.onError(w, r, err)
			return
		}
		done(w, r, res)
	})
}

// complete runs the checks of the package documentation, in its order.
func (c *Client) complete(w http.ResponseWriter, r *http.Request) (*Result, *Error) {
	q := r.URL.Query()
	if len(q["state"]) != 1 || q.Get("state") == "" {
		return nil, newError(ErrState, errors.New("no single state parameter"))
	}
	state := q.Get("state")
	name := cookieName(c.secure, state)
	ck, err := r.Cookie(name)
	if err != nil {
		for _, other := range r.Cookies() {
			if isLoginCookie(c.secure, other.Name) {
				return nil, newError(ErrState, errors.New("state matches no login cookie"))
			}
		}
		return nil, newError(ErrCookie, errors.New("no login cookie"))
	}
	http.SetCookie(w, c.cookie(name, "", -1))
	ls, err := decodeLoginState(ck.Value)
	if err != nil {
		return nil, newError(ErrCookie, err)
	}
	if ls.expired(c.now()) {
		return nil, newError(ErrCookie, errors.New("login cookie expired"))
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(ls.State)) != 1 {
		return nil, newError(ErrState, errors.New("state differs from the login cookie's"))
	}

	if q.Has("error") {
		e := newError(ErrDenied, nil)
		e.OAuthError = knownAuthError(q.Get("error"))
		return nil, e
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		return nil, newError(ErrCode, errors.New("no single code parameter"))
	}

	ctx, cancel := context.WithTimeout(r.Context(), exchangeTimeout)
	defer cancel()
	if c.http != nil {
		ctx = oidc.ClientContext(ctx, c.http)
	}
	tok, err := c.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			// The code is unknown, spent, expired, or bound to another
			// verifier or redirect URI: the request's fault, not the
			// provider's.
			return nil, newError(ErrCode, err)
		}
		return nil, newError(ErrProvider, fmt.Errorf("token request: %w", err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, newError(ErrProvider, errors.New("token response has no id_token"))
	}
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, newError(ErrProvider, fmt.Errorf("id_token: %w", err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(ls.Nonce)) != 1 {
		return nil, newError(ErrNonce, errors.New("id_token nonce differs from the login cookie's"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, newError(ErrProvider, fmt.Errorf("id_token at_hash: %w", err))
		}
	}
	claims, err := decodeClaims(idt)
	if err != nil {
		return nil, newError(ErrProvider, fmt.Errorf("id_token claims: %w", err))
	}
	return &Result{Token: tok, IDToken: idt, Claims: claims, ReturnTo: safeReturnTo(ls.ReturnTo)}, nil
}

func decodeClaims(idt *oidc.IDToken) (Claims, error) {
	var raw struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&raw); err != nil {
		return Claims{}, err
	}
	return Claims{
		Subject: idt.Subject,
		Email:   raw.Email,
		// Some providers send the string "true" (seen in the wild, and
		// tolerated by go-oidc for userinfo); anything else is unverified.
		EmailVerified: raw.EmailVerified == true || raw.EmailVerified == "true",
		Name:          raw.Name,
	}, nil
}

func renderError(w http.ResponseWriter, _ *http.Request, err *Error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(err.Status)
	_, _ = io.WriteString(w, err.Message+"\n") //nolint:gosec // G705: a fixed message as text/plain with nosniff
}

// Package authflow drives the authorization code flow with PKCE without a
// browser, for the load harness and the soak test: it signs in on the
// login page (once per session), answers a consent page with "allow" and
// redeems the code.
package authflow

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

var hiddenField = regexp.MustCompile(`name="(csrf_token|request)"\s+value="([^"]*)"`)

// Config names the client and the user of the flow.
type Config struct {
	// Base is the issuer URL.
	Base                   string
	ClientID, ClientSecret string
	RedirectURI            string
	Username, Password     string
}

// Client runs flows for one user, keeping the browser session's cookie.
type Client struct {
	cfg   Config
	b     *browserClient
	oauth oauth2.Config
	ctx   context.Context //nolint:containedctx // carries the HTTP client for x/oauth2
}

// New returns a Client whose requests go through rt.
func New(rt http.RoundTripper, cfg Config) (*Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	b := &browserClient{base: cfg.Base, redirect: cfg.RedirectURI, c: &http.Client{Transport: rt, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	conf := oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: cfg.Base + "/oauth/authorize", TokenURL: cfg.Base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "offline_access"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt, Timeout: 30 * time.Second})
	return &Client{cfg: cfg, b: b, oauth: conf, ctx: ctx}, nil
}

// Grant runs one authorization code flow and returns its tokens.
func (c *Client) Grant() (*oauth2.Token, error) {
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	cb, err := c.b.authorize(c.ctx, c.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), c.cfg.Username, c.cfg.Password)
	if err != nil {
		return nil, err
	}
	q := cb.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("redirected with error=%s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("code") == "" {
		return nil, fmt.Errorf("callback %s: want a code and state %s", cb.Redacted(), state)
	}
	tok, err := c.oauth.Exchange(c.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("code exchange: %w", err)
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("code exchange returned no refresh_token (client needs the refresh_token grant and offline_access)")
	}
	return tok, nil
}

// UserGrants drives the authorization code flow with PKCE n times, without
// a browser, and returns n refresh tokens of n distinct grants. The user
// signs in once (the login page's password hash is deliberately expensive);
// the later authorizations ride on the session cookie. The client must be
// registered with --skip-consent (a consent page is answered "allow" anyway).
func UserGrants(rt http.RoundTripper, cfg Config, n int) ([]string, error) {
	c, err := New(rt, cfg)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for range n {
		tok, err := c.Grant()
		if err != nil {
			return nil, err
		}
		out = append(out, tok.RefreshToken)
	}
	return out, nil
}

type browserClient struct {
	base, redirect string
	c              *http.Client
}

// authorize follows the authorization request through the login (and
// consent) pages until the server redirects to the client's redirect URI.
func (b *browserClient) authorize(ctx context.Context, authURL, username, password string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	for range 20 {
		resp, err := b.c.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close() // the body is read; a close error changes nothing
		if err != nil {
			return nil, err
		}
		page := string(body)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("%d from %s without Location", resp.StatusCode, req.URL.Path)
			}
			if strings.HasPrefix(loc.String(), b.redirect) {
				return loc, nil
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil); err != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `name="password"`):
			f, err := formFields(page)
			if err != nil {
				return nil, fmt.Errorf("login page: %w", err)
			}
			f.Set("username", username)
			f.Set("password", password)
			if req, err = b.postForm(ctx, "/login", f); err != nil {
				return nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(page, `value="allow"`):
			f, err := formFields(page)
			if err != nil {
				return nil, fmt.Errorf("consent page: %w", err)
			}
			f.Set("decision", "allow")
			if req, err = b.postForm(ctx, "/consent", f); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s %s: status %d: %.300s", req.Method, req.URL.Path, resp.StatusCode, page)
		}
	}
	return nil, errors.New("more than 20 steps without reaching the redirect URI")
}

func (b *browserClient) postForm(ctx context.Context, path string, f url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return req, nil
}

// formFields extracts the hidden csrf_token and request fields of a page.
func formFields(page string) (url.Values, error) {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf_token") == "" || v.Get("request") == "" {
		return nil, fmt.Errorf("no csrf_token/request fields in: %.300s", page)
	}
	return v, nil
}

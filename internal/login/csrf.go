package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// CSRF protects the HTML forms with a signed double-submit token: the
// browser holds a random value in an HttpOnly cookie and each form carries
// an HMAC of it under a server key, so a cross-site page can neither read
// nor forge the pair (OWASP CSRF Cheat Sheet). The Origin header, when
// sent, must also be our own.
type CSRF struct {
	key     []byte
	cookies Cookies
	origin  string
}

// NewCSRF returns a CSRF guard with a 32-byte key and the issuer's origin.
func NewCSRF(key []byte, cookies Cookies, issuer string) *CSRF {
	origin := issuer
	if u, err := url.Parse(issuer); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	return &CSRF{key: key, cookies: cookies, origin: origin}
}

// Token returns the form token for this browser, setting the cookie first
// if the browser has none.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request) string { return c.TokenFor(w, r, "") }

// TokenFor is Token bound to one form: a token for one binding (a pending
// request and the session shown it) does not check for any other, so a
// token taken from one page cannot approve another page's request.
func (c *CSRF) TokenFor(w http.ResponseWriter, r *http.Request, binding string) string {
	ck, err := r.Cookie(c.cookies.CSRFName())
	v := ""
	if err == nil && len(ck.Value) == 43 {
		v = ck.Value
	} else {
		v = secret.Token()
		http.SetCookie(w, c.cookies.cookie(c.cookies.CSRFName(), v, 0))
	}
	return c.sign(v, binding)
}

func (c *CSRF) sign(v, binding string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf:" + v))
	if binding != "" {
		m.Write([]byte{0})
		m.Write([]byte(binding))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports whether a POST carries a valid token for this browser and,
// if it sends an Origin, comes from our own origin. Browsers send
// "Origin: null" for form posts from pages with Referrer-Policy no-referrer
// (Fetch §3.2.5), as ours are, so "null" carries no information and only
// the token decides.
func (c *CSRF) Check(r *http.Request) bool { return c.CheckFor(r, "") }

// CheckFor is Check for a token made by TokenFor with binding.
func (c *CSRF) CheckFor(r *http.Request, binding string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != c.origin {
		return false
	}
	ck, err := r.Cookie(c.cookies.CSRFName())
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	want := c.sign(ck.Value, binding)
	return hmac.Equal([]byte(want), []byte(r.PostFormValue("csrf_token")))
}

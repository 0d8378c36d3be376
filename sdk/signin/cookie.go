package signin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/sdk"
)

const (
	// cookiePrefix needs __Host- (RFC 6265bis §4.1.3.2): the browser then
	// accepts the cookie only if Secure, from a secure origin, with Path=/
	// and no Domain, so a sibling subdomain cannot plant one.
	cookiePrefix         = "__Host-gh_signin_"
	insecureCookiePrefix = "gh_signin_"

	// maxPending bounds the logins kept per browser; each costs about
	// 300 bytes of Cookie header on every request to the site.
	maxPending = 5

	// maxReturnTo keeps the cookie well under the 4096 bytes browsers
	// store per cookie.
	maxReturnTo = 1024

	// maxCookieValue is checked before decoding anything. With the name
	// and attributes it stays under the 4096 bytes browsers keep.
	maxCookieValue = 3072
)

// cookieName names a login's cookie after a hash of its state, so the
// callback finds its own login among several started in one browser. The
// hash keeps the name short; the full state is still compared.
func cookieName(secure bool, state string) string {
	sum := sha256.Sum256([]byte(state))
	suffix := base64.RawURLEncoding.EncodeToString(sum[:6])
	if secure {
		return cookiePrefix + suffix
	}
	return insecureCookiePrefix + suffix
}

func isLoginCookie(secure bool, name string) bool {
	if secure {
		return strings.HasPrefix(name, cookiePrefix)
	}
	return strings.HasPrefix(name, insecureCookiePrefix)
}

// loginState is what a login keeps in its cookie between Login and
// Callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r,omitempty"`
	// Expires is checked on the server: the cookie's Max-Age is only
	// advice to the browser.
	Expires int64 `json:"e"`
}

var errMalformed = errors.New("malformed login cookie")

func (ls loginState) encode() string {
	b, err := json.Marshal(ls)
	if err != nil {
		// Strings and an integer always marshal.
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeLoginState parses a cookie value that came from the browser, so
// anything may be in it: it is size-limited, decoded strictly and every
// field checked for the shape Login gives it.
func decodeLoginState(v string) (loginState, error) {
	if len(v) > maxCookieValue {
		return loginState{}, errMalformed
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return loginState{}, errMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ls loginState
	if err := dec.Decode(&ls); err != nil || dec.More() {
		return loginState{}, errMalformed
	}
	if !isRandomValue(ls.State) || !isRandomValue(ls.Nonce) || !sdk.ValidVerifier(ls.Verifier) ||
		ls.Expires <= 0 || (ls.ReturnTo != "" && safeReturnTo(ls.ReturnTo) != ls.ReturnTo) {
		return loginState{}, errMalformed
	}
	return ls, nil
}

// isRandomValue reports whether s looks like sdk.NewState or sdk.NewNonce
// output: 43 base64url characters.
func isRandomValue(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func (ls loginState) expired(now time.Time) bool {
	return now.Unix() >= ls.Expires
}

// safeReturnTo returns p if it is a path on this site, else "/". A path
// must start with exactly one "/" because "//host" and "/\host" are
// network-path references to another host in browsers (backslash counts
// as a slash), and it must hold no control byte because browsers strip
// tabs and newlines, which turns "/\t/host" into "//host".
func safeReturnTo(p string) string {
	if p == "" || len(p) > maxReturnTo || p[0] != '/' {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	return p
}

package sdk

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// TokenVerifier checks an access token. *Verifier implements it. A
// rejection of the token must wrap ErrInvalidToken (answered 401); any
// other error is taken as an outage of the verifier (answered 503).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

var _ TokenVerifier = (*Verifier)(nil)

// Router is an http.ServeMux whose every route carries a Policy. Routes
// are declared in one table, each with the policy that guards it, and the
// policy is enforced before the handler runs (authorisation is never left
// to handler bodies). Routes() lists the table for audits.
//
// Requests are matched by ServeMux itself (by the real method, never a
// method-override header; HEAD reaches a GET route under that route's
// policy; an unregistered OPTIONS gets 405 or 404). Paths ServeMux would
// clean ("//", "/./", "/../") are redirected by it to the clean path,
// which is then checked like any request; paths with an encoded "." "/" or
// "\", a NUL or other control byte, or a ";" are refused with 400 before
// any handler, so no spelling of a path reaches a route's handler under
// another route's policy.
type Router struct {
	v    TokenVerifier
	keys TokenVerifier // API keys; nil refuses them
	mux  *http.ServeMux

	mu     sync.Mutex
	routes []Route
}

// Route is one entry of Router.Routes.
type Route struct {
	Method  string // "GET", "DELETE", ...
	Pattern string // the pattern after the method: "/products/{id}"
	Policy  string // Policy.String()
}

// RouterOption configures a Router.
type RouterOption func(*Router)

// AcceptAPIKeys makes the Router's guarded routes accept Gatehouse API
// keys, checked by k (an *APIKeyVerifier), besides access tokens. A key is
// read from "Authorization: Bearer sk_..." or from one "X-API-Key" header,
// never from the query string; a request carrying both headers is refused.
// Policies apply to a key's roles, scopes and permissions as to a token's.
func AcceptAPIKeys(k TokenVerifier) RouterOption {
	if k == nil {
		panic("sdk: AcceptAPIKeys: nil verifier")
	}
	return func(rt *Router) { rt.keys = k }
}

// NewRouter returns an empty Router that verifies tokens with v. It panics
// if v is nil.
func NewRouter(v TokenVerifier, opts ...RouterOption) *Router {
	if v == nil {
		panic("sdk: NewRouter: nil TokenVerifier")
	}
	rt := &Router{v: v, mux: http.NewServeMux()}
	for _, o := range opts {
		o(rt)
	}
	return rt
}

// Handle registers h for pattern, an http.ServeMux pattern that must name
// a method ("GET /products/{id}"), guarded by p. Registration mistakes
// are programming errors and panic: the zero Policy ("sdk: route %q
// registered without a policy"), a pattern without a method, a nil
// handler, and anything http.ServeMux.Handle rejects.
func (rt *Router) Handle(pattern string, p Policy, h http.Handler) {
	if p.IsZero() {
		panic(fmt.Sprintf("sdk: route %q registered without a policy", pattern))
	}
	if h == nil {
		panic(fmt.Sprintf("sdk: route %q registered with a nil handler", pattern))
	}
	i := strings.IndexAny(pattern, " \t")
	if i <= 0 {
		panic(fmt.Sprintf("sdk: route %q has no method (write e.g. \"GET /path\")", pattern))
	}
	method, rest := pattern[:i], strings.TrimLeft(pattern[i:], " \t")
	rt.mux.Handle(pattern, rt.guard(p, h)) // panics on a bad or conflicting pattern
	rt.mu.Lock()
	rt.routes = append(rt.routes, Route{Method: method, Pattern: rest, Policy: p.String()})
	rt.mu.Unlock()
}

// HandleFunc is Handle for a handler function.
func (rt *Router) HandleFunc(pattern string, p Policy, f func(http.ResponseWriter, *http.Request)) {
	if f == nil {
		panic(fmt.Sprintf("sdk: route %q registered with a nil handler", pattern))
	}
	rt.Handle(pattern, p, http.HandlerFunc(f))
}

// Routes returns every registered route with its policy, in registration
// order.
func (rt *Router) Routes() []Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]Route(nil), rt.routes...)
}

// ServeHTTP refuses unclean paths with 400, then dispatches through the
// ServeMux, whose route handlers enforce their policies.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if suspiciousPath(r) {
		writeError(w, http.StatusBadRequest, "", "invalid_request", "the request path is not in canonical form")
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// suspiciousPath reports whether r's path holds something that could spell
// one route as another once decoded or normalised by a later component:
// an encoded dot, slash, backslash, semicolon or NUL, a semicolon (path
// parameters), a backslash, or a control byte, in the raw or the decoded
// path (so double encodings such as "%252e" are refused too).
func suspiciousPath(r *http.Request) bool {
	if r.URL == nil {
		return true
	}
	for _, s := range []string{r.URL.EscapedPath(), r.URL.Path} {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c < 0x20 || c == 0x7f || c == ';' || c == '\\':
				return true
			case c == '%' && i+2 < len(s):
				switch strings.ToLower(s[i+1 : i+3]) {
				case "2e", "2f", "5c", "00", "3b":
					return true
				}
			}
		}
	}
	return false
}

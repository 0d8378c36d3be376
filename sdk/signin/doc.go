// Package signin signs users in to a Go web application with Gatehouse or
// any other OpenID Connect provider, using the authorization code flow
// (OpenID Connect Core §3.1, RFC 6749 §4.1) with PKCE S256 (RFC 7636). It
// is built on golang.org/x/oauth2 and github.com/coreos/go-oidc/v3 and adds
// the parts that every application otherwise writes by hand and often gets
// wrong: binding the flow to the browser, checking "state" before the code
// is spent, and checking the id_token "nonce".
//
// # Setting up
//
// Register the application with the provider as a confidential client
// (with a secret) or a public one (without), with one redirect URI, and
// build a Client once at start-up:
//
//	c, err := signin.New(ctx, signin.Config{
//		Issuer:       "https://gatehouse.example.com",
//		ClientID:     "shop",
//		ClientSecret: os.Getenv("SHOP_CLIENT_SECRET"),
//		RedirectURL:  "https://shop.example.com/auth/callback",
//		Scopes:       []string{"email", "profile"},
//	})
//
// New fetches the provider's discovery document (OpenID Connect Discovery
// §4), whose "issuer" must equal Config.Issuer exactly. Then route two
// paths:
//
//	mux.HandleFunc("GET /auth/login", c.Login)
//	mux.Handle("GET /auth/callback", c.Callback(func(w http.ResponseWriter, r *http.Request, res *signin.Result) {
//		// res.Claims.Subject identifies the user: start your own session here.
//		http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
//	}))
//
// # What Login does
//
// Login (or LoginTo, for middleware that sends an anonymous user straight
// to the provider) draws a fresh state, nonce and PKCE verifier, stores
// them in a cookie and redirects to the provider's authorization endpoint
// with the state, the nonce and the S256 code challenge. The cookie is
// HttpOnly, SameSite=Lax (so it comes back on the provider's top-level
// redirect), lasts ten minutes, and is named with the __Host- prefix and
// marked Secure, so neither scripts, nor plain-HTTP responses, nor sibling
// subdomains can read or plant it. Each login gets its own cookie, named
// after a hash of its state, so sign-ins started in several tabs of one
// browser all complete; at most five are kept, the oldest dropped first,
// so a redirect loop cannot grow the Cookie header without bound.
//
// The cookie is neither encrypted nor signed, and needs not be: it only
// ever goes back to the browser that started the login, and a key would
// not stop an attacker from obtaining a valid cookie of their own. What
// protects the flow is that the cookie cannot be planted in someone else's
// browser (__Host-, Secure) and that the provider binds the code to the
// verifier and the nonce.
//
// A "return to" path may be passed through the flow (the return_to query
// parameter of Login, or LoginTo's argument). Only a local path is kept:
// it must start with a single "/" and contain no backslash or control
// byte, so "//evil.example" and "/\evil.example" cannot turn the app into
// an open redirector (RFC 6749 §10.15). Anything else becomes "/".
//
// # What Callback checks
//
// The handler returned by Callback takes the authorization response
// (RFC 6749 §4.1.2) and, in this order:
//
//  1. finds the login's cookie from "state" and clears it whatever the
//     outcome, so every login is single use;
//  2. rejects a missing cookie, one that does not decode, or one older
//     than ten minutes by the Config.Now clock;
//  3. compares "state" with the cookie's in constant time (RFC 6749
//     §10.12), so a forged or replayed response is refused before
//     anything else, error responses included;
//  4. reports an error response (RFC 6749 §4.1.2.1, such as access_denied);
//  5. exchanges the code together with the PKCE verifier (RFC 7636 §4.5);
//  6. verifies the id_token with go-oidc: signature against the provider's
//     JWKS with an algorithm the provider advertises, "iss" equal to the
//     issuer, "aud" containing the client_id, and "exp"; then "at_hash"
//     when present (OpenID Connect Core §3.1.3.6);
//  7. checks that the id_token "nonce" equals the cookie's, in constant
//     time (OpenID Connect Core §15.5.2), which stops a code stolen from
//     another login from being redeemed here.
//
// On success it calls the function passed to Callback with a Result. On
// failure it answers 400 (502 when the provider is unreachable or sends
// something invalid) with a fixed plain-text message that never echoes
// the request, or calls Config.ErrorHandler, whose *Error says what went
// wrong (errors.Is with ErrState, ErrCookie, ...) and carries the cause
// for the application's own logs. The package never logs.
//
// # Local development
//
// Browsers do not keep __Host- or Secure cookies set over plain HTTP by
// every host, so for a RedirectURL on http://localhost set
// Config.InsecureCookies, which drops both. New refuses an http
// RedirectURL without it, and an http Issuer whose host is not a loopback
// address.
package signin

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

const (
	// realm is the realm of every Bearer challenge.
	realm = `Bearer realm="api"`
	// retryAfter is the Retry-After, in seconds, of a 503 answered when the
	// verifier fails for a reason other than the token.
	retryAfter = "5"
)

// Client-safe descriptions. They never echo the request or the cause.
const (
	descMissing       = "an access token is required"
	descMalformed     = "the Authorization header must be a single Bearer token"
	descInvalid       = "the access token or API key is invalid, expired or revoked"
	descUnavailable   = "the access token cannot be checked right now; try again later"
	descOneCredential = "send one credential: an Authorization header or an X-API-Key header" //nolint:gosec // G101: an error description
	descNoKeys        = "API keys are not accepted here"
)

// apiKeyHeader is the header that may carry an API key.
const apiKeyHeader = "X-API-Key" //nolint:gosec // G101: a header name

type claimsKey struct{}

// ClaimsFrom returns the verified claims of the request whose context is
// ctx, as stored by a Router route guarded by any policy other than
// Public. The handler may modify them.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// guard wraps h with the enforcement of p. Public routes are not wrapped.
// Otherwise, following RFC 6750 §3:
//   - no Authorization header: 401, challenge without an error code;
//   - a header that is not exactly one "Bearer <b64token>", or a token the
//     verifier rejects (ErrInvalidToken): 401 invalid_token;
//   - any other verifier failure (JWKS outage, canceled context): 503 with
//     Retry-After, so an outage never turns into a 200 or a 401;
//   - claims that do not satisfy p: 403 insufficient_scope, naming the
//     policy's scopes, if any, in the challenge's scope attribute, and
//     what p requires in error_description (challenge and JSON body);
//   - else h runs with the claims in its context (ClaimsFrom).
func (rt *Router) guard(p Policy, h http.Handler) http.Handler {
	if p.public() {
		return h
	}
	descForbidden := p.requirement()
	forbidden := realm + `, error="insufficient_scope", error_description="` + descForbidden + `"`
	if len(p.n.scopes) > 0 {
		forbidden += `, scope="` + strings.Join(p.n.scopes, " ") + `"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, present, ok := bearerToken(r.Header)
		keys := r.Header.Values(apiKeyHeader)
		switch {
		case len(keys) > 0 && (present || len(keys) > 1):
			writeError(w, http.StatusUnauthorized, invalidTokenChallenge(descOneCredential), "invalid_token", descOneCredential)
			return
		case len(keys) == 1:
			tok, present, ok = keys[0], true, true
		}
		switch {
		case !present:
			writeError(w, http.StatusUnauthorized, realm, "unauthorized", descMissing)
			return
		case !ok:
			writeError(w, http.StatusUnauthorized, invalidTokenChallenge(descMalformed), "invalid_token", descMalformed)
			return
		}
		verifier := rt.v
		if strings.HasPrefix(tok, APIKeyPrefix) {
			if rt.keys == nil {
				writeError(w, http.StatusUnauthorized, invalidTokenChallenge(descNoKeys), "invalid_token", descNoKeys)
				return
			}
			verifier = rt.keys
		} else if len(keys) == 1 {
			// X-API-Key carries API keys only, never access tokens.
			writeError(w, http.StatusUnauthorized, invalidTokenChallenge(descInvalid), "invalid_token", descInvalid)
			return
		}
		c, err := verifier.Verify(r.Context(), tok)
		switch {
		case errors.Is(err, ErrInvalidToken):
			writeError(w, http.StatusUnauthorized, invalidTokenChallenge(descInvalid), "invalid_token", descInvalid)
			return
		case err != nil || c == nil:
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusServiceUnavailable, "", "temporarily_unavailable", descUnavailable)
			return
		case !p.allows(c):
			writeError(w, http.StatusForbidden, forbidden, "insufficient_scope", descForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

func invalidTokenChallenge(desc string) string {
	return realm + `, error="invalid_token", error_description="` + desc + `"`
}

// bearerToken extracts the token of the request's one Authorization
// header, "Bearer" (any case), one or more spaces and a b64token (RFC 6750
// §2.1). present is false when there is no Authorization header; ok is
// false when it is not exactly one well-formed Bearer credential. Tokens
// are never taken from the query string, a form body or a cookie.
func bearerToken(h http.Header) (tok string, present, ok bool) {
	vals := h.Values("Authorization")
	if len(vals) == 0 {
		return "", false, false
	}
	if len(vals) > 1 {
		return "", true, false
	}
	scheme, rest, found := strings.Cut(vals[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", true, false
	}
	tok = strings.TrimLeft(rest, " ")
	if tok == "" || len(tok) > MaxTokenSize || !isB64Token(tok) {
		return "", true, false
	}
	return tok, true, true
}

// isB64Token reports whether s matches
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// writeError writes status with a JSON error body and, when challenge is
// not empty, a WWW-Authenticate header.
func writeError(w http.ResponseWriter, status int, challenge, code, desc string) {
	hd := w.Header()
	if challenge != "" {
		hd.Set("WWW-Authenticate", challenge)
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct { // the status is sent; nothing to do about a failed write
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
)

// PathUserinfo is the userinfo endpoint (DESIGN.md §3).
const PathUserinfo = "/userinfo"

// AccessTokenVerifier verifies Gatehouse access tokens, revocation list
// included (token.Endpoint). A nil error means valid; an *oauth.Error means
// the check could not be made (the revocation list is unavailable); any
// other error means the token is not acceptable.
type AccessTokenVerifier interface {
	VerifyAccessToken(ctx context.Context, tok string) (*token.AccessClaims, error)
}

// UserLookup finds users by ID (the "sub" of their tokens).
type UserLookup interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// bearerRealm names the protection space in every challenge.
const bearerRealm = "gatehouse"

// UserinfoHandler serves GET and POST /userinfo (OIDC Core §5.3). The
// access token is taken from the Authorization header only (RFC 6750
// §2.1): a token in a URL ends up in logs and Referer headers, and the
// form-body method of §2.2 is not offered. Errors follow RFC 6750 §3:
//
//   - no bearer token: 401 with a bare `Bearer realm="gatehouse"` challenge;
//   - a malformed Authorization header: 400 invalid_request;
//   - a token that is invalid, expired, revoked, not one of our access
//     tokens, or whose user is gone or disabled: 401 invalid_token;
//   - a token without the "openid" scope, or without a user (a
//     client_credentials token): 403 insufficient_scope;
//   - the revocation list or the store unavailable: 503, never a guess.
//
// The answer is the user's current claims, selected by the token's scopes.
func UserinfoHandler(tokens AccessTokenVerifier, users UserLookup, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &userinfo{tokens: tokens, users: users, log: log}
	return http.HandlerFunc(u.serve)
}

type userinfo struct {
	tokens AccessTokenVerifier
	users  UserLookup
	log    *slog.Logger
}

// UserinfoResponse is the userinfo body: "sub" and the released claims.
type UserinfoResponse struct {
	Sub string `json:"sub"`
	token.UserClaims
}

// bearerError is an RFC 6750 §3 error: rendered as a WWW-Authenticate
// challenge and, for client libraries that read bodies, as JSON.
type bearerError struct {
	status      int
	code        string // empty for a request without credentials (§3.1)
	description string
	scope       string
	cause       error
}

func (e *bearerError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.description + ": " + e.cause.Error()
	}
	return e.code + ": " + e.description
}

func (e *bearerError) Unwrap() error { return e.cause }

func (e *bearerError) challenge() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bearer realm=%q", bearerRealm)
	if e.code != "" {
		// Codes and descriptions are constants in the RFC 6750 charset:
		// nothing from the request reaches the header.
		fmt.Fprintf(&b, ", error=%q, error_description=%q", e.code, e.description)
	}
	if e.scope != "" {
		fmt.Fprintf(&b, ", scope=%q", e.scope)
	}
	return b.String()
}

var (
	errNoToken = &bearerError{status: http.StatusUnauthorized,
		description: "a Bearer access token in the Authorization header is required"}
	errMalformedAuth = &bearerError{status: http.StatusBadRequest, code: oauth.CodeInvalidRequest,
		description: "the Authorization header is malformed"}
	errUserinfoScope = &bearerError{status: http.StatusForbidden, code: oauth.CodeInsufficientScope,
		description: "the access token was not issued for userinfo (openid scope, a user)", scope: token.ScopeOpenID}
)

func invalidToken(cause error) *bearerError {
	return &bearerError{status: http.StatusUnauthorized, code: oauth.CodeInvalidToken,
		description: "the access token is invalid, expired or revoked", cause: cause}
}

func (u *userinfo) serve(w http.ResponseWriter, r *http.Request) {
	resp, err := u.lookup(r)
	httpx.NoStore(w)
	if be, ok := errors.AsType[*bearerError](err); ok {
		w.Header().Set("WWW-Authenticate", be.challenge())
		body := struct {
			Error       string `json:"error,omitempty"`
			Description string `json:"error_description,omitempty"`
		}{be.code, be.description}
		httpx.WriteJSON(w, be.status, body)
		return
	}
	if err != nil {
		httpx.WriteError(w, r, u.log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}

func (u *userinfo) lookup(r *http.Request) (*UserinfoResponse, error) {
	tok, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	c, err := u.tokens.VerifyAccessToken(ctx, tok)
	switch {
	case err == nil:
	case errors.Is(err, keys.ErrInvalidOptions):
		// Our configuration, not the token: a server error.
		return nil, err
	default:
		if oe, ok := errors.AsType[*oauth.Error](err); ok {
			return nil, oe // the revocation list could not answer: fail closed
		}
		return nil, invalidToken(err)
	}
	scopes := strings.Fields(c.Scope)
	// A client_credentials token is about its client (sub == client_id),
	// which has no userinfo even when it was allowed "openid".
	if c.Subject == "" || c.Subject == c.ClientID || !slices.Contains(scopes, token.ScopeOpenID) {
		return nil, errUserinfoScope
	}
	usr, err := u.users.GetUser(ctx, c.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidToken(err)
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("userinfo: load user: %w", err))
	case usr.Disabled:
		return nil, invalidToken(errors.New("user disabled"))
	}
	return &UserinfoResponse{Sub: usr.ID, UserClaims: token.ClaimsFor(usr, scopes)}, nil
}

// bearerToken extracts the token of an `Authorization: Bearer` header
// (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", errNoToken
	case len(hs) > 1:
		return "", errMalformedAuth
	}
	scheme, tok, _ := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Other schemes (Basic, ...) carry no bearer token.
		return "", errNoToken
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", errMalformedAuth
	}
	return tok, nil
}

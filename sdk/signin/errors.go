package signin

import (
	"errors"
	"net/http"
)

// The kinds of callback failure, to be told apart with errors.Is on an
// *Error.
var (
	// ErrState: "state" is missing, or matches no login started in this
	// browser (a forged, replayed or cross-browser response).
	ErrState = errors.New("signin: state missing or not from this browser")
	// ErrCookie: the login cookie is missing, malformed or expired
	// (cookies blocked, login older than ten minutes, callback reused).
	ErrCookie = errors.New("signin: login cookie missing, malformed or expired")
	// ErrDenied: the provider answered with an error (RFC 6749 §4.1.2.1),
	// such as the user refusing consent; see Error.OAuthError.
	ErrDenied = errors.New("signin: provider refused the authorization request")
	// ErrCode: no code, or the token endpoint rejected it (invalid_grant).
	ErrCode = errors.New("signin: authorization code missing or rejected")
	// ErrNonce: the id_token belongs to another login, as when a code
	// obtained elsewhere is injected into this callback.
	ErrNonce = errors.New("signin: id_token nonce does not match the login")
	// ErrProvider: the token endpoint failed or could not be reached, or
	// its id_token did not verify (signature, iss, aud, exp, at_hash).
	ErrProvider = errors.New("signin: provider failed or sent an invalid response")
)

// messages are fixed texts safe to show to the user: none includes request
// input, so the error page cannot be used to reflect content.
var messages = map[error]string{
	ErrState:    "Sign-in failed: this response does not belong to a sign-in started in this browser. Please sign in again.",
	ErrCookie:   "Sign-in failed: the sign-in expired or cookies are blocked. Please sign in again.",
	ErrDenied:   "Sign-in was cancelled or refused.",
	ErrCode:     "Sign-in failed: the authorization code was not accepted. Please sign in again.",
	ErrNonce:    "Sign-in failed: the identity token does not belong to this sign-in. Please sign in again.",
	ErrProvider: "Sign-in failed: the identity provider could not be reached or answered incorrectly. Please try again later.",
}

// Error is a failed callback. errors.Is reports its kind (ErrState,
// ErrCookie, ...) and, through the cause, errors from oauth2 and go-oidc.
type Error struct {
	// Status is the HTTP status to answer: 502 for ErrProvider, else 400.
	Status int
	// Message is a fixed text for the user, free of request input.
	Message string
	// OAuthError is, for ErrDenied, the provider's "error" code when it is
	// one registered by RFC 6749 §4.1.2.1 or OpenID Connect Core §3.1.2.6
	// (so "login_required" can trigger an interactive retry), else empty.
	OAuthError string

	kind  error
	cause error
}

func newError(kind, cause error) *Error {
	status := http.StatusBadRequest
	if errors.Is(kind, ErrProvider) {
		status = http.StatusBadGateway
	}
	return &Error{Status: status, Message: messages[kind], kind: kind, cause: cause}
}

// Error returns the kind and the cause, for the application's logs; it may
// include provider responses, so do not show it to the user.
func (e *Error) Error() string {
	s := e.kind.Error()
	if e.OAuthError != "" {
		s += ": " + e.OAuthError
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// knownAuthError keeps the registered error codes only, so OAuthError is
// never attacker-chosen text.
func knownAuthError(code string) string {
	switch code {
	case "invalid_request", "unauthorized_client", "access_denied",
		"unsupported_response_type", "invalid_scope", "server_error",
		"temporarily_unavailable", "interaction_required", "login_required",
		"account_selection_required", "consent_required",
		"invalid_request_uri", "invalid_request_object",
		"request_not_supported", "request_uri_not_supported",
		"registration_not_supported":
		return code
	}
	return ""
}

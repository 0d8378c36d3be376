// Package oauth holds the protocol vocabulary shared by Gatehouse's
// endpoints: the RFC 6749 §5.2 error type (also used for RFC 6750, 7009,
// 7662 and 8628 error codes) and its JSON rendering.
//
// An Error carries two texts: Description, which is safe to send to the
// client, and Cause, which is logged and never leaves the server.
package oauth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes from RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 8628 §3.5
// and RFC 8693 §2.2.2.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeInvalidTarget           = "invalid_target"
	CodeSlowDown                = "slow_down"
	CodeAuthorizationPending    = "authorization_pending"
	CodeExpiredToken            = "expired_token"
)

// Error is an OAuth protocol error. Its zero Status means 400.
type Error struct {
	// Code is the RFC 6749 "error" value.
	Code string
	// Description is the client-facing "error_description". It must use the
	// RFC 6749 charset (printable ASCII except '"' and '\') and never echo
	// request input.
	Description string
	// Status is the HTTP status; 0 means 400 Bad Request.
	Status int
	// Header holds extra response headers such as WWW-Authenticate or
	// Retry-After.
	Header http.Header
	// Cause is the internal reason, for logs only.
	Cause error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// HTTPStatus returns the status to send.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// DescriptionText keeps s within RFC 6749 §5.2's error_description
// characters (printable ASCII but '"' and '\'), replacing the rest with
// '_'. Renderers apply it, so a description built from a library's message
// cannot break a strict client's parser.
func DescriptionText(s string) string {
	outside := func(c byte) bool { return c < 0x20 || c > 0x7e || c == '"' || c == '\\' }
	b := []byte(nil)
	for i := range len(s) {
		if outside(s[i]) {
			if b == nil {
				b = []byte(s)
			}
			b[i] = '_'
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// NewError returns a 400 error with the given code and description.
func NewError(code, description string) *Error {
	return &Error{Code: code, Description: description}
}

// Errorf returns a 400 error whose description is formatted. Arguments must
// not come from the request.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// ServerError wraps an internal failure as a 500 server_error that tells the
// client nothing about the cause.
func ServerError(cause error) *Error {
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError,
		Description: "the server could not complete the request", Cause: cause}
}

// Unavailable wraps a dependency outage (store, cache) as a 503
// temporarily_unavailable with Retry-After, so clients retry instead of
// treating the answer as final.
func Unavailable(cause error) *Error {
	h := http.Header{}
	h.Set("Retry-After", "2")
	return &Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "a backing service is unavailable; retry shortly", Header: h, Cause: cause}
}

// As returns err as an *Error, converting any other error into ServerError.
func As(err error) *Error {
	if oe, ok := errors.AsType[*Error](err); ok {
		return oe
	}
	return ServerError(err)
}

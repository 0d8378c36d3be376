package adminapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/httpx"
)

// The API's error codes: the "error" member of every error answer. They
// are the admin API's own, documented in docs/admin-api.md, not a
// protocol's; some are spelt as RFC 6749 spells a code of the same meaning
// (invalid_request), and the two of RFC 7591 §3.2.2 name refusals of a
// client's metadata, as a registration endpoint would.
const (
	// CodeInvalidRequest: a malformed body, an unknown field, a value out
	// of range, a validation failure (400).
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidRedirectURI: a client's redirect or post-logout redirect
	// URI is refused (400).
	CodeInvalidRedirectURI = "invalid_redirect_uri"
	// CodeInvalidClientMetadata: another field of a client is refused
	// (400).
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// CodeForbidden: the caller would hand out more than it holds, or act
	// on a holder of more (403). It is spelt insufficient_scope, as the
	// router's 403 for a route's permission is (RFC 6750 §3.1), so that a
	// client tells every 403 of the API by one code.
	CodeForbidden = "insufficient_scope"
	// CodeNotFound: no such user, client, role, key, session or policy
	// (404).
	CodeNotFound = "not_found"
	// CodeConflict: the name or id is taken, or the API key is revoked or
	// expired (409).
	CodeConflict = "conflict"
	// CodeInUse: the role is still held (409).
	CodeInUse = "in_use"
	// CodeRotationPending: a signing key rotation of the algorithm is
	// pending (409).
	CodeRotationPending = "rotation_pending"
	// CodeTooManyRequests: too many failed API key checks; see
	// Retry-After (429).
	CodeTooManyRequests = "too_many_requests"
	// CodeServerError: the server failed (500); the cause is logged, never
	// sent.
	CodeServerError = "server_error"
	// CodeUnavailable: a change was made but what must follow it did not
	// complete, or a backing service is down: retry (503, Retry-After).
	CodeUnavailable = "temporarily_unavailable"
)

// Problem is an error answer of the API.
type Problem struct {
	Status      int
	Code        string
	Description string
	// Cause is logged with a 5xx answer, never sent.
	Cause error
}

func (p *Problem) Error() string {
	if p.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", p.Code, p.Description, p.Cause)
	}
	return p.Code + ": " + p.Description
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Cause }

// badRequest is the answer to a request that cannot be decoded or is out
// of range before the admin service sees it.
func badRequest(format string, args ...any) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: fmt.Sprintf(format, args...)}
}

// refusal is the answer to one kind of refusal of the admin service.
type refusal struct {
	kind   admin.Kind
	status int
	code   string
}

// refusals lists every kind's answer; where kinds share a code, the first
// one listed is the code's own.
func refusals() []refusal {
	return []refusal{
		{admin.ErrInvalid, http.StatusBadRequest, CodeInvalidRequest},
		{admin.ErrInvalidRedirectURI, http.StatusBadRequest, CodeInvalidRedirectURI},
		{admin.ErrInvalidClientMetadata, http.StatusBadRequest, CodeInvalidClientMetadata},
		{admin.ErrUnknownRole, http.StatusBadRequest, CodeInvalidRequest},
		{admin.ErrForbidden, http.StatusForbidden, CodeForbidden},
		{admin.ErrNotFound, http.StatusNotFound, CodeNotFound},
		{admin.ErrConflict, http.StatusConflict, CodeConflict},
		{admin.ErrInUse, http.StatusConflict, CodeInUse},
		{admin.ErrRotationPending, http.StatusConflict, CodeRotationPending},
		{admin.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable},
	}
}

// StatusAndCode is the HTTP status and the API's error code of a refusal
// of kind k. The command line's --json uses the same codes.
func StatusAndCode(k admin.Kind) (int, string) {
	for _, r := range refusals() {
		if r.kind == k {
			return r.status, r.code
		}
	}
	return http.StatusInternalServerError, CodeServerError
}

// KindOfCode is the kind of refusal an answer's error code stands for, so
// that a client of the API can tell refusals apart as the service does.
func KindOfCode(code string) (admin.Kind, bool) {
	for _, r := range refusals() {
		if r.code == code {
			return r.kind, true
		}
	}
	return 0, false
}

// problemOf maps any error a handler returns to its answer: the API's own
// problems as they are, the admin service's refusals by their kind, and
// anything else to a 500 whose cause is only logged.
func problemOf(err error) *Problem {
	if p, ok := errors.AsType[*Problem](err); ok {
		return p
	}
	if e, ok := errors.AsType[*admin.Error](err); ok {
		status, code := StatusAndCode(e.Kind)
		return &Problem{Status: status, Code: code, Description: e.Message, Cause: err}
	}
	return &Problem{Status: http.StatusInternalServerError, Code: CodeServerError,
		Description: "the server could not complete the request", Cause: err}
}

// handle adapts a handler that returns its error.
func (a *API) handle(fn httpx.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// writeError renders err as {"error", "error_description"} with its
// status, and logs it when it is the server's fault.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if httpx.ClientClosed(w, r, a.cfg.Logger, err) {
		return
	}
	p := problemOf(err)
	if p.Status >= 500 {
		a.cfg.Logger.ErrorContext(r.Context(), "request failed", slog.String("error", p.Code), slog.Any("cause", p.Cause))
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	httpx.NoStore(w)
	httpx.WriteJSON(w, p.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{p.Code, p.Description})
}

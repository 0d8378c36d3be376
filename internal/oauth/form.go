package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Form is a parsed application/x-www-form-urlencoded request body in which
// every parameter appears at most once (RFC 6749 §3.1, §3.2), except those
// the caller allows to repeat (RFC 8707 "resource").
type Form struct {
	values url.Values
}

// Get returns the parameter's value or "".
func (f Form) Get(name string) string { return f.values.Get(name) }

// Has reports whether the parameter was sent (even empty).
func (f Form) Has(name string) bool { return f.values.Has(name) }

// All returns every value of a repeatable parameter.
func (f Form) All(name string) []string { return f.values[name] }

// maxFormBytes bounds a form body independently of the server-wide body
// limit: no legitimate OAuth request comes near it.
const maxFormBytes = 64 << 10

// ParseForm reads a POST body per RFC 6749 §3.2: the content type must be
// application/x-www-form-urlencoded, the query string must be empty
// (credentials must not travel in URLs, RFC 6749 §2.3.1), and no parameter
// other than those in repeatable may repeat. Errors are invalid_request
// (413 for an oversized body).
func ParseForm(r *http.Request, repeatable ...string) (Form, error) {
	if r.URL.RawQuery != "" {
		return Form{}, NewError(CodeInvalidRequest, "parameters must be sent in the request body, not the URL")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return Form{}, NewError(CodeInvalidRequest, "the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Form{}, &Error{Code: CodeInvalidRequest, Description: "the request body is too large", Status: http.StatusRequestEntityTooLarge}
		}
		return Form{}, NewError(CodeInvalidRequest, "the request body could not be read")
	}
	if len(body) > maxFormBytes {
		return Form{}, &Error{Code: CodeInvalidRequest, Description: "the request body is too large", Status: http.StatusRequestEntityTooLarge}
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return Form{}, NewError(CodeInvalidRequest, "the request body is not valid form encoding")
	}
	if err := checkValues(values, repeatable); err != nil {
		return Form{}, err
	}
	return Form{values: values}, nil
}

// FormFromValues wraps already-parsed values after the same repeat check
// (for GET requests such as /oauth/authorize).
func FormFromValues(values url.Values, repeatable ...string) (Form, error) {
	if err := checkValues(values, repeatable); err != nil {
		return Form{}, err
	}
	return Form{values: values}, nil
}

// checkValues refuses repeated parameters (unless repeatable) and names or
// values that are not text every store can hold, so that a NUL byte in a
// client_id is a bad request on every backend rather than a database error.
func checkValues(values url.Values, repeatable []string) error {
	for name, vs := range values {
		if len(vs) > 1 && !contains(repeatable, name) {
			return NewError(CodeInvalidRequest, "a parameter was sent more than once")
		}
		if !ValidParams(name) || !ValidParams(vs...) {
			return NewError(CodeInvalidRequest, "parameters must be UTF-8 text without NUL characters")
		}
	}
	return nil
}

// ValidParams reports whether every string given is store.ValidText.
func ValidParams(ss ...string) bool {
	for _, s := range ss {
		if !store.ValidText(s) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

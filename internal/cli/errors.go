package cli

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/adminclient"
	"github.com/gatehouse/gatehouse/internal/keys"
)

// The command line's own error codes, for what only happens here; the
// JSON error object of a failing command carries these or the admin API's
// (adminapi.Code*: from the server in remote mode, for the same refusal
// locally).
const (
	codeInvalidConfig = "invalid_configuration"
	codeUnavailable   = "unavailable"
)

// jsonError is what a command given --json prints on stdout when it fails.
type jsonError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// configError marks a configuration that cannot be loaded or is invalid.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// unavailableError marks a store or server that could not be reached.
type unavailableError struct{ error }

func (e unavailableError) Unwrap() error { return e.error }

// reportedError marks a failure the command has already described in its
// --json output (config check's problem list): no error object follows.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// describedError says what went wrong in the command's words and keeps
// the cause (a store error, or the admin API's answer) for errors.Is and
// errorCode.
type describedError struct {
	msg   string
	cause error
}

func (e describedError) Error() string { return e.msg }
func (e describedError) Unwrap() error { return e.cause }

// errorCode is the stable code of err for the JSON error object: the
// admin API's code for the admin service's refusals, in both modes.
func errorCode(err error) string {
	if api, ok := errors.AsType[*adminclient.Error](err); ok {
		return remoteCode(api)
	}
	kind, refused := admin.KindOf(err)
	switch {
	case errors.As(err, new(usageError)):
		return adminapi.CodeInvalidRequest
	case errors.As(err, new(configError)), errors.Is(err, keys.ErrSealedKey), errors.Is(err, keys.ErrInvalidMasterKey),
		errors.Is(err, keys.ErrMasterKeyMissing), errors.Is(err, keys.ErrMasterKeyFileMode):
		return codeInvalidConfig
	case errors.As(err, new(unavailableError)), errors.Is(err, admin.ErrUnavailable):
		return codeUnavailable // the store, or the server, could not be reached
	case errors.As(err, new(*url.Error)):
		return codeUnavailable // the admin API could not be reached
	case refused:
		_, code := adminapi.StatusAndCode(kind)
		return code
	}
	return adminapi.CodeServerError
}

// remoteCode is the admin API's error code, or one from the status when
// the answer had none (a proxy's page).
func remoteCode(e *adminclient.Error) string {
	switch {
	case e.Code != "":
		return e.Code
	case e.Status == http.StatusUnauthorized:
		return "invalid_token"
	case e.Status == http.StatusTooManyRequests:
		return adminapi.CodeTooManyRequests
	case e.Status >= 500:
		return codeUnavailable
	}
	if k, ok := e.Kind(); ok {
		_, code := adminapi.StatusAndCode(k)
		return code
	}
	return adminapi.CodeInvalidRequest
}

// wantsJSON reports whether the failed command was asked for --json. A
// flag error can stop parsing before --json, so the arguments are
// looked at too.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("json")
	if f == nil {
		return false
	}
	if f.Value.String() == "true" {
		return true
	}
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	return slices.Contains(args, "--json") || slices.Contains(args, "--json=true")
}

// printJSONError writes err as one JSON error object, unless the command
// already reported it in its output.
func printJSONError(w io.Writer, err error) {
	if errors.As(err, new(reportedError)) {
		return
	}
	_ = printJSON(w, jsonError{Error: errorCode(err), Description: err.Error()}) // the exit status reports the failure anyway
}

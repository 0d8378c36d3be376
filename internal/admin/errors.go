package admin

import (
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Kind says why an admin action was refused. Kinds are constants, so no
// caller can change what another one compares against; test for them with
// errors.Is (errors.Is(err, admin.ErrNotFound)). The admin API maps each
// kind to one status and error code, and so does the command line's --json.
type Kind uint8

// The kinds of refusal.
const (
	// ErrInvalid: the request is wrong (a name, a field, a password).
	ErrInvalid Kind = iota + 1
	// ErrInvalidRedirectURI: a client's redirect or post-logout redirect
	// URI is refused (RFC 7591 §3.2.2 invalid_redirect_uri). Is ErrInvalid.
	ErrInvalidRedirectURI
	// ErrInvalidClientMetadata: another field of a client is refused
	// (RFC 7591 §3.2.2 invalid_client_metadata). Is ErrInvalid.
	ErrInvalidClientMetadata
	// ErrUnknownRole: a role given to a user, a client, an API key or a
	// federation policy does not exist. Is ErrInvalid.
	ErrUnknownRole
	// ErrForbidden: the principal would hand out more than it holds, or
	// act on a holder of more.
	ErrForbidden
	// ErrNotFound: the user, client, role, key or policy does not exist.
	ErrNotFound
	// ErrConflict: the name or id is taken, or the API key is revoked or
	// expired.
	ErrConflict
	// ErrInUse: the role is still held and cannot be deleted.
	ErrInUse
	// ErrRotationPending: a signing key rotation of the algorithm waits
	// for its key to activate.
	ErrRotationPending
	// ErrUnavailable: the change was made, but what must follow it
	// (refusing older tokens) failed; retry.
	ErrUnavailable
)

func (k Kind) Error() string {
	switch k {
	case ErrInvalid:
		return "admin: invalid"
	case ErrInvalidRedirectURI:
		return "admin: invalid redirect URI"
	case ErrInvalidClientMetadata:
		return "admin: invalid client metadata"
	case ErrUnknownRole:
		return "admin: unknown role"
	case ErrForbidden:
		return "admin: forbidden"
	case ErrNotFound:
		return "admin: not found"
	case ErrConflict:
		return "admin: conflict"
	case ErrInUse:
		return "admin: in use"
	case ErrRotationPending:
		return "admin: rotation pending"
	case ErrUnavailable:
		return "admin: incomplete, retry"
	}
	return "admin: unknown kind"
}

// Is makes the refinements of ErrInvalid match it too.
func (k Kind) Is(target error) bool {
	t, ok := target.(Kind)
	return ok && (t == k || t == ErrInvalid && (k == ErrInvalidRedirectURI || k == ErrInvalidClientMetadata || k == ErrUnknownRole))
}

// Error is a refused admin action: Kind says why, Message says what, in
// words that may be shown to whoever asked.
type Error struct {
	Kind Kind
	// Message is safe to show the caller: it names nothing internal.
	Message string
	// Err is the cause, if any (a store error, a password policy error):
	// for errors.Is and errors.As, and for logs.
	Err error
}

// Error is the Message; for ErrUnavailable, whose cause the caller is
// asked to work around, the cause follows it.
func (e *Error) Error() string {
	if e.Kind == ErrUnavailable && e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind (or ErrInvalid, for its
// refinements).
func (e *Error) Is(target error) bool { return e.Kind.Is(target) }

// KindOf returns the kind of refusal err is: an *Error's, or a Kind's
// found in its chain.
func KindOf(err error) (Kind, bool) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind, true
	}
	return errors.AsType[Kind](err)
}

// refuse returns an *Error of kind with a formatted message.
func refuse(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// invalid is an ErrInvalid whose message starts "invalid: ", as validation
// failures always have.
func invalid(format string, args ...any) *Error {
	return invalidAs(ErrInvalid, format, args...)
}

// invalidAs is invalid of kind, one of ErrInvalid's refinements.
func invalidAs(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: "invalid: " + fmt.Sprintf(format, args...)}
}

// incomplete is the ErrUnavailable of a change made whose follow-up, such
// as refusing older tokens, failed with err.
func incomplete(err error, format string, args ...any) *Error {
	return &Error{Kind: ErrUnavailable, Message: fmt.Sprintf(format, args...), Err: err}
}

// kindOfStore classifies the store's and the API key service's sentinel
// errors. Their text names internals, so each kind gets a fixed message.
func kindOfStore(err error) *Error {
	e := func(kind Kind, msg string) *Error { return &Error{Kind: kind, Message: msg, Err: err} }
	switch {
	case errors.Is(err, store.ErrNotFound):
		return e(ErrNotFound, "no such resource")
	case errors.Is(err, store.ErrInUse):
		return e(ErrInUse, "the role is in use: a user, a client or an unrevoked API key holds it; take it from them first")
	case errors.Is(err, store.ErrConflict):
		return e(ErrConflict, "a resource with this name or id already exists")
	case errors.Is(err, store.ErrRevoked):
		return e(ErrConflict, "the API key is revoked")
	case errors.Is(err, store.ErrExpired):
		return e(ErrConflict, "the API key has expired")
	case errors.Is(err, apikey.ErrInvalidRequest):
		// The API key service's validation: its text says what is wrong.
		return e(ErrInvalid, err.Error())
	}
	return nil
}

// classify returns err as an *Error when it is a refusal (already one, or
// a store or API key service sentinel), and unchanged otherwise: an
// unexpected failure, for the caller to log and answer 500.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	if e := kindOfStore(err); e != nil {
		return e
	}
	return err
}

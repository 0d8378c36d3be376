// Package admin is Gatehouse's administration: clients, users, roles and
// who holds them, API keys, browser sessions, signing keys and federation
// policies.
//
// Service is the one way to change them. The command line (on the local
// store) and the admin API (/admin/v1, package adminapi) both call it, as a
// Principal: the API's caller, or the operator of the command line, who
// holds every permission. For every change the Service validates the
// request, refuses what would hand out more than the principal holds (or
// act on a holder of more), writes the revocation entries the change
// implies (a role taken away, a user disabled, a client deleted) and hands
// them to the process's own list, and records an "admin_change" audit
// event naming the principal. So a change made on the command line is
// checked, revoked and audited like one made through the API.
//
// Refusals are *Error values whose Kind (ErrInvalid, ErrNotFound,
// ErrForbidden, ...) callers test with errors.Is; the admin API and the
// command line's --json map each kind to one error code. Any other error is
// an unexpected failure of the store or another dependency.
//
// The package-level functions (CreateClient, CreateUser, CreateRole, ...)
// are the store-level steps the Service is made of, with validation but
// without principal, revocation or audit: tests use them to fill a store.
package admin

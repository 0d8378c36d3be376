// Package sdk is the Go SDK for services that sign users in with Gatehouse
// or protect their APIs with it.
//
// This first part provides the client-side helpers of RFC 7636 (PKCE, S256
// only) and the random "state" and "nonce" values of RFC 6749 §10.12 and
// OpenID Connect Core §3.1.2.1. The resource-server middleware (token
// verification, revocation checks, per-route policies) builds on it.
//
// The core package imports only the standard library and small, audited
// modules: never Gatehouse's server packages, a database driver or a Redis
// client (see deps_test.go).
package sdk

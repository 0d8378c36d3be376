// Package sdk is the Go SDK for services that sign users in with Gatehouse
// or protect their APIs with it.
//
// # Client helpers
//
// NewPKCE, VerifyS256 and the state and nonce helpers implement the
// client side of RFC 7636 (PKCE, S256 only) and the random "state" and
// "nonce" values of RFC 6749 §10.12 and OpenID Connect Core §3.1.2.1.
//
// # Verifying access tokens
//
// A Verifier checks Gatehouse access tokens, which are JWTs in the RFC 9068
// profile, following the JWT best current practices of RFC 8725. NewVerifier
// takes a Config whose Issuer, Audience and Algorithms (a subset of ES256,
// RS256 and EdDSA) are required; it finds the key set through OpenID
// Connect Discovery (whose "issuer" must equal Config.Issuer byte for byte)
// and fetches the JWKS (RFC 7517). Every fetch has a 5 s timeout and a
// 1 MiB body limit.
//
// Verify fails closed. It rejects tokens over MaxTokenSize unparsed; an
// "alg" outside the allowlist (so "none" and every HS* algorithm) or other
// than the algorithm of the key named by "kid"; a "typ" other than at+jwt,
// so id_tokens are refused; the jku, jwk, x5u, x5c and crit headers, whose
// URLs are never fetched; a bad signature (reported as ErrSignature even
// when the token has also expired); and then a wrong "iss" or "aud", a
// missing or passed "exp", a future "nbf" or "iat" (all with a leeway of at
// most 60 s) and a missing "jti". A token naming an unknown kid triggers
// one JWKS refetch, shared by all concurrent callers and at most once per
// Config.RefreshCooldown, which is how rotated-in keys are picked up.
//
// Every rejection wraps ErrInvalidToken and one specific error (ErrExpired,
// ErrSignature, ...), to be told apart with errors.Is; a resource server
// answers any of them with 401 invalid_token (RFC 6750 §3.1). The SDK never
// logs.
//
// Tokens that verified are kept in a bounded in-memory cache, keyed by the
// token itself, until they expire, so a token seen again skips the
// signature check (about half a microsecond instead of tens).
//
// # Revocation
//
// A JWT stays valid until its "exp" unless the resource server asks
// whether it was revoked, so Verify asks the Config.Revocation checker
// about every token, cached ones included; a revoked token fails with
// ErrRevoked (a 401) and leaves the cache. Gatehouse revokes a single
// token ("jti": /oauth/revoke, refresh-token reuse), a browser session
// ("sid": logout) or every token of a subject issued before a time ("sub":
// a disabled user, a password change). Two checkers answer from memory, so
// a check costs no network round trip in steady state:
//
//   - FeedChecker follows Gatehouse's revocation feed (GET /oauth/revocations,
//     long-polled, authenticated as a confidential client whose roles grant
//     "revocations:read") into an in-memory set. A check is a few map
//     lookups (about 0.1 us, no allocation). If the feed cannot be reached for FeedConfig.StaleAfter,
//     checks of tokens it does not know to be revoked fail with
//     ErrRevocationUnavailable.
//   - Package redisrevocation reads the entries Gatehouse mirrors to Redis,
//     with client-side caching that Redis invalidates when an entry is
//     written; losing Redis fails checks the same way.
//
// InsecureNoRevocation opts out, by name. The Config has no default: a
// Verifier that silently ignored logout would be the worst kind of
// default. Measured end to end with two Gatehouse nodes, a revocation
// reaches two SDK instances in well under a second with either checker
// (see the README).
//
// Outages never turn into a 200 or a 401: ErrRevocationUnavailable, and
// ErrKeysUnavailable (an unknown kid while the JWKS cannot be fetched), do
// not wrap ErrInvalidToken, and a Router answers them with 503.
//
// # Protecting routes
//
// A Router is an http.ServeMux (method patterns such as
// "DELETE /products/{id}") in which every route is registered with a
// Policy: Public, Authenticated, RequireRoles (any of), RequireScopes and
// RequirePermissions (all of), and their combinations AllOf and AnyOf.
// There is no way to register a route without one: the zero Policy, a
// pattern without a method and a nil handler panic at registration, and
// Routes lists the table for audits. For every route but the Public ones
// the token is read only from a single "Authorization: Bearer" header
// (RFC 6750 §2.1) and the answers follow RFC 6750 §3: 401 with a bare
// Bearer challenge when no token was sent, 401 invalid_token for a
// malformed header or a token the verifier rejects, 403
// insufficient_scope when the policy is not met, and 503 with Retry-After
// when the verifier fails for another reason, so an outage is never let
// through. Handlers read the verified claims with ClaimsFrom. Requests
// whose path ServeMux would clean are redirected by it, and paths with an
// encoded ".", "/" or "\", a ";", or a control byte are refused with 400
// before any handler, so no spelling of a path bypasses its policy.
//
// # API keys
//
// A Router built with AcceptAPIKeys(k), k an APIKeyVerifier, also accepts
// Gatehouse API keys ("sk_..."), from "Authorization: Bearer" or one
// "X-API-Key" header, never from the query string. The verifier asks
// Gatehouse's introspection endpoint (RFC 7662) once per key, single
// flight, caches the answer for APIKeyConfig.CacheTTL (30 s by default,
// at most 5 minutes) and asks the revocation checker on every request, so
// a key revoked in Gatehouse fails at once. The claims of a key (APIKey
// set, its roles, scopes and permissions) meet policies like a token's.
//
// # Testing
//
// Package sdktest is a fake Gatehouse issuer (discovery, JWKS, token
// minting, key rotation and revocation) for testing handlers protected by
// a Router.
//
// # Signing users in
//
// Package signin is the other side: a Go web application that signs users
// in with Gatehouse (authorization code with PKCE, "state" and "nonce"
// bound to the browser by a cookie, the id_token verified with go-oidc).
//
// The core package imports only the standard library and small, audited
// modules: never Gatehouse's server packages, a database driver or a Redis
// client (see deps_test.go).
package sdk

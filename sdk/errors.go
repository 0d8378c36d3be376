package sdk

import (
	"errors"
	"fmt"
)

// Token verification errors. Every rejection returned by Verify wraps
// ErrInvalidToken and exactly one of the more specific errors below, so
// callers can answer 401 invalid_token (RFC 6750 §3.1) on
// errors.Is(err, ErrInvalidToken) and still tell the cases apart in metrics.
// The error text is for the caller's logs, never for clients.
var (
	// ErrInvalidToken is wrapped by every token rejection.
	ErrInvalidToken = errors.New("sdk: invalid token")
	// ErrTooLarge: the token is longer than MaxTokenSize and was not parsed.
	ErrTooLarge = fmt.Errorf("%w: too large", ErrInvalidToken)
	// ErrMalformed: not three base64url segments of JSON objects, a header
	// parameter or claim of the wrong type, or a required claim (exp, jti)
	// missing.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalidToken)
	// ErrHeader: a header parameter the SDK never honours (jku, jwk, x5u,
	// x5c, crit). Keys come only from the issuer's JWKS.
	ErrHeader = fmt.Errorf("%w: forbidden header parameter", ErrInvalidToken)
	// ErrAlgorithm: "alg" is not in Config.Algorithms (this covers "none"
	// in every spelling and every HS* algorithm) or is not the algorithm
	// of the key named by "kid".
	ErrAlgorithm = fmt.Errorf("%w: algorithm not allowed", ErrInvalidToken)
	// ErrType: "typ" is not "at+jwt" (RFC 9068 §2.1); id_tokens and other
	// JWTs are not access tokens.
	ErrType = fmt.Errorf("%w: not an access token (typ)", ErrInvalidToken)
	// ErrUnknownKey: the token has no "kid", or no key of the issuer's
	// JWKS has it, even after a refetch.
	ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrInvalidToken)
	// ErrSignature: the signature does not verify. A token that is both
	// badly signed and expired reports ErrSignature, never ErrExpired:
	// claims are only looked at once the signature holds.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	// ErrInvalidIssuer: "iss" is missing or not byte-equal to Config.Issuer.
	ErrInvalidIssuer = fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	// ErrInvalidAudience: "aud" does not contain Config.Audience.
	ErrInvalidAudience = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	// ErrExpired: "exp" has passed, beyond the leeway.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrNotYetValid: "nbf" or "iat" lies in the future, beyond the leeway.
	ErrNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	// ErrRevoked: the Config.Revocation checker reports the token revoked
	// (its jti, its session, or every token of its subject issued before
	// a time).
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)
)

// Outage errors. They do not wrap ErrInvalidToken: the token may be fine,
// but the Verifier cannot tell, so it fails closed and a resource server
// answers 503 (the Router does) rather than 401 or 200.
var (
	// ErrKeysUnavailable: the token names a kid the Verifier does not hold
	// and the issuer's JWKS could not be fetched to look for it.
	ErrKeysUnavailable = errors.New("sdk: issuer keys unavailable")
	// ErrRevocationUnavailable: the revocation checker cannot answer (a
	// feed beyond its staleness bound, Redis unreachable).
	ErrRevocationUnavailable = errors.New("sdk: revocation list unavailable")
)

// ErrInvalidConfig reports a Config that would verify too little (no
// issuer, audience or algorithm allowlist, or an unsupported algorithm). It
// is the caller's bug, not a token's fault, so it does not wrap
// ErrInvalidToken.
var ErrInvalidConfig = errors.New("sdk: invalid verifier config")

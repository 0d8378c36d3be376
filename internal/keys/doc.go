// Package keys manages Gatehouse's JWS signing keys and wraps token signing
// and verification around them.
//
// It generates asymmetric keys (ES256 on P-256, RS256 on RSA-2048, EdDSA on
// Ed25519; RFC 7518 section 3 and RFC 8037), names each by its RFC 7638
// SHA-256 JWK thumbprint, and seals the private half (PKCS#8 DER) at rest with
// AES-256-GCM under the operator's master key, so the store never holds a
// usable private key. A Manager keeps the active signer per algorithm and the
// published verification keys in an immutable snapshot, rotates keys while
// keeping retired public keys in the JWK Set (RFC 7517 section 5, members per
// RFC 7518 section 6) until every token they signed has expired, and serves
// the JWK Set as pre-rendered bytes.
//
// Sign and Verify are the only way the rest of Gatehouse should touch
// golang-jwt: Sign sets the "kid" and explicit "typ" headers (RFC 9068
// "at+jwt" for access tokens, RFC 8725 section 3.11), and Verify always
// applies an algorithm allowlist bound to the key, issuer, expiry and "typ"
// checks, so that no caller can forget one (RFC 8725 section 3).
package keys

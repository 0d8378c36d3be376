package oauth

// Grant types (RFC 6749 §4.1.3, §4.4.2, §6; RFC 8628 §3.4; RFC 8693 §2.1;
// RFC 7523 §2.1): the one list the token endpoint, client registration and
// discovery share.
//
//nolint:gosec // G101: protocol URNs, not credentials
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// GrantTypes lists every grant type above: those the token endpoint
// implements and a client may be registered for.
func GrantTypes() []string {
	return []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode,
		GrantTokenExchange, GrantJWTBearer}
}

// Token type identifiers of token exchange (RFC 8693 §3).
//
//nolint:gosec // G101: protocol URNs, not credentials
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

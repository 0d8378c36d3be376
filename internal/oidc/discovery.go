// Package oidc serves the provider metadata of OpenID Connect Discovery 1.0
// §3 and RFC 8414 §2, the JWKS document, and the userinfo endpoint (OpenID
// Connect Core §5.3).
//
// The discovery document depends only on configuration and on which
// endpoints the server mounts, so it is rendered once at start and served as
// fixed bytes.
package oidc

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/httpx"
)

// Paths of the endpoints Gatehouse serves (DESIGN.md §3).
const (
	PathDiscovery     = "/.well-known/openid-configuration"
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
	PathJWKS          = "/.well-known/jwks.json"
)

// Metadata is the provider metadata document. Fields left empty are omitted:
// the document lists exactly what this server implements.
type Metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string `json:"token_endpoint,omitempty"`
	UserinfoEndpoint      string `json:"userinfo_endpoint,omitempty"`
	JWKSURI               string `json:"jwks_uri"`
	RevocationEndpoint    string `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	DeviceAuthEndpoint    string `json:"device_authorization_endpoint,omitempty"`
	EndSessionEndpoint    string `json:"end_session_endpoint,omitempty"`

	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// RFC 8414 §2: the methods each endpoint really accepts.
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	ClaimsSupported                           []string `json:"claims_supported,omitempty"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	// Request objects are not supported. OpenID Connect Discovery §3
	// makes request_uri_parameter_supported default to true, so both are
	// always stated.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	// AuthorizationResponseIssParameterSupported is RFC 9207 §3.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// Features says which optional endpoints and grants the server has mounted.
// Only what is listed appears in the document.
type Features struct {
	Authorization bool
	Token         bool
	Userinfo      bool
	Revocation    bool
	Introspection bool
	Device        bool
	EndSession    bool
	// GrantTypes lists the grant_type values the token endpoint accepts.
	GrantTypes []string
	// TokenAuthMethods, IntrospectionAuthMethods and
	// RevocationAuthMethods list the client authentication methods each
	// endpoint accepts.
	TokenAuthMethods         []string
	IntrospectionAuthMethods []string
	RevocationAuthMethods    []string
	Scopes                   []string
	// Claims lists every claim Gatehouse issues in id_tokens, access
	// tokens and userinfo.
	Claims []string
}

// NewMetadata builds the document for issuer. id_tokens are signed with
// RS256 (OpenID Connect Core §15.1 makes it the mandatory algorithm) or, for
// clients that register it, ES256; and
// only S256 PKCE is accepted (RFC 9700 §2.1.1).
func NewMetadata(issuer string, f Features) Metadata {
	m := Metadata{
		Issuer:                            issuer,
		JWKSURI:                           issuer + PathJWKS,
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256", "ES256"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		GrantTypesSupported:               f.GrantTypes,
		TokenEndpointAuthMethodsSupported: f.TokenAuthMethods,
		ScopesSupported:                   f.Scopes,
		ClaimsSupported:                   f.Claims,
	}
	endpoint := func(on bool, path string) string {
		if on {
			return issuer + path
		}
		return ""
	}
	m.AuthorizationEndpoint = endpoint(f.Authorization, "/oauth/authorize")
	m.TokenEndpoint = endpoint(f.Token, "/oauth/token")
	m.UserinfoEndpoint = endpoint(f.Userinfo, "/userinfo")
	m.RevocationEndpoint = endpoint(f.Revocation, "/oauth/revoke")
	m.IntrospectionEndpoint = endpoint(f.Introspection, "/oauth/introspect")
	if f.Revocation {
		m.RevocationEndpointAuthMethodsSupported = f.RevocationAuthMethods
	}
	if f.Introspection {
		m.IntrospectionEndpointAuthMethodsSupported = f.IntrospectionAuthMethods
	}
	m.DeviceAuthEndpoint = endpoint(f.Device, "/oauth/device_authorization")
	m.EndSessionEndpoint = endpoint(f.EndSession, "/oauth/logout")
	if f.Authorization {
		m.ResponseModesSupported = []string{"query"}
		m.AuthorizationResponseIssParameterSupported = true
	}
	return m
}

// Render returns the indented JSON document, ending in a newline.
func (m Metadata) Render() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("oidc: render metadata: %w", err)
	}
	return append(b, '\n'), nil
}

// StaticJSON serves fixed JSON bytes with a public cache lifetime. It never
// touches the store, so discovery keeps answering during a database outage.
func StaticJSON(body []byte, maxAge int) http.Handler {
	cc := fmt.Sprintf("public, max-age=%d", maxAge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cc)
		httpx.WriteJSONBytes(w, http.StatusOK, body)
	})
}

// JWKSHandler serves the key set returned by jwks on each request; jwks must
// return pre-rendered bytes (package keys swaps them on rotation).
func JWKSHandler(jwks func() []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Shorter than signing.key_prepublish (1m by default), so that a
		// copy cached just before a rotation has expired before the new
		// key signs anything.
		w.Header().Set("Cache-Control", "public, max-age=30")
		httpx.WriteJSONBytes(w, http.StatusOK, jwks())
	})
}

package store

import (
	"context"
	"time"
)

// FederationPolicy trusts tokens of an external OpenID Connect issuer (a CI
// platform, a Kubernetes cluster, another Gatehouse) for workloads: a
// token from Issuer, for Audience, whose claims meet Conditions, may be
// exchanged for a Gatehouse access token with the policy's Subject, Roles,
// Scopes and Audiences (RFC 8693 token exchange, RFC 7523 JWT bearer).
// Package federation validates and applies policies; the store keeps them.
type FederationPolicy struct {
	// Name identifies the policy; it is recorded in issued tokens and
	// audit events.
	Name string `json:"name"`
	// Issuer is the external "iss", compared byte for byte.
	Issuer string `json:"issuer"`
	// JWKSURI is where the issuer's keys are; empty means the jwks_uri of
	// the issuer's discovery document. JWKS, when set, holds the keys
	// themselves (clusters without public discovery) and nothing is fetched.
	JWKSURI string `json:"jwks_uri,omitempty"`
	JWKS    []byte `json:"jwks,omitempty"`
	// Audience is the "aud" the external token must carry.
	Audience string `json:"audience"`
	// Algorithms is the allowlist of JWS algorithms (asymmetric only).
	Algorithms []string `json:"algorithms,omitempty"`
	// Conditions maps claim names (or /-separated paths into nested
	// claims) to the value they must have: exact, or a glob where * stands
	// for any run of characters and ? for one.
	Conditions map[string]string `json:"conditions,omitempty"`
	// Subject is the "sub" of issued tokens; "{sub}" in it stands for the
	// external subject.
	Subject string `json:"subject"`
	// Roles, Scopes and Audiences are what issued tokens carry.
	Roles     []string `json:"roles,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	// TokenTTL caps the lifetime of issued tokens.
	TokenTTL time.Duration `json:"token_ttl,omitempty"`
	// MaxLifetime caps exp - iat of accepted external tokens.
	MaxLifetime time.Duration `json:"max_lifetime,omitempty"`
	// AllowReuse accepts one external token (one "jti") more than once
	// during its life, as Kubernetes pods reuse their projected token;
	// otherwise each jti is exchanged once.
	AllowReuse bool `json:"allow_reuse,omitempty"`
	// AllowPrivateNetwork lets the keys be fetched from loopback, private
	// and link-local addresses (an in-cluster issuer, tests).
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// FederationPolicies persists federation policies.
type FederationPolicies interface {
	// CreateFederationPolicy inserts p; ErrConflict when the name exists.
	CreateFederationPolicy(ctx context.Context, p FederationPolicy) error
	// GetFederationPolicy returns the policy or ErrNotFound.
	GetFederationPolicy(ctx context.Context, name string) (FederationPolicy, error)
	// ListFederationPolicies returns every policy ordered by name.
	ListFederationPolicies(ctx context.Context) ([]FederationPolicy, error)
	// UpdateFederationPolicy replaces the policy named name with what fn
	// returns (the name may not change), atomically; ErrNotFound when absent.
	UpdateFederationPolicy(ctx context.Context, name string, fn func(FederationPolicy) (FederationPolicy, error)) (FederationPolicy, error)
	// DeleteFederationPolicy deletes the policy; ErrNotFound when absent.
	DeleteFederationPolicy(ctx context.Context, name string) error
}

package adminapi

import (
	"cmp"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The JSON shapes of the API. Lists are never null; times are RFC 3339 and
// left out when unset. No view has a field for a stored hash: secrets
// appear only in the answer that creates them.

// ClientFields are a client's registration metadata: what a request to
// create a client gives, and what a view shows.
type ClientFields struct {
	Name                    string   `json:"name"`
	Public                  bool     `json:"public"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	Scopes                  []string `json:"scopes"`
	Audiences               []string `json:"audiences"`
	Roles                   []string `json:"roles"`
	SkipConsent             bool     `json:"skip_consent"`
	RefreshGraceSeconds     int      `json:"refresh_grace_seconds"`
	IDTokenAlg              string   `json:"id_token_signed_response_alg"`
	OmitRefreshIDToken      bool     `json:"omit_refresh_id_token"`
}

// ClientRequest is the body of POST /clients.
type ClientRequest struct {
	// ClientID is optional (a random one is generated).
	ClientID string `json:"client_id"`
	ClientFields
}

// NewClientRequest is the body that asks for a client of spec.
func NewClientRequest(spec admin.ClientSpec) ClientRequest {
	return ClientRequest{ClientID: spec.ID, ClientFields: ClientFields{Name: spec.Name, Public: spec.Public,
		TokenEndpointAuthMethod: spec.AuthMethod, RedirectURIs: spec.RedirectURIs,
		PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, GrantTypes: spec.GrantTypes, Scopes: spec.Scopes,
		Audiences: spec.Audiences, Roles: spec.Roles, SkipConsent: spec.SkipConsent,
		RefreshGraceSeconds: int(spec.RefreshGrace / time.Second), IDTokenAlg: spec.IDTokenAlg,
		OmitRefreshIDToken: spec.OmitRefreshIDToken}}
}

// ClientView is a client.
type ClientView struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"` // only when created or rotated
	ClientFields
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// NewClientView is the view of c, with its secret when just created.
func NewClientView(c store.Client, secret string) ClientView {
	return ClientView{ClientID: c.ID, ClientSecret: secret, ClientFields: ClientFields{
		Name: c.Name, Public: c.Public, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Audiences: nonNil(c.Audiences),
		Roles: nonNil(c.Roles), SkipConsent: c.SkipConsent, RefreshGraceSeconds: int(c.RefreshGrace / time.Second),
		IDTokenAlg: cmp.Or(c.IDTokenAlg, "RS256"), OmitRefreshIDToken: c.OmitRefreshIDToken},
		CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: c.UpdatedAt.UTC().Format(time.RFC3339),
	}
}

// UserView is a user, without the password hash.
type UserView struct {
	ID            string   `json:"id"`
	Username      string   `json:"username"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified"`
	Roles         []string `json:"roles"`
	Disabled      bool     `json:"disabled"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

// NewUserView is the view of u.
func NewUserView(u store.User) UserView {
	return UserView{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		Roles: nonNil(u.Roles), Disabled: u.Disabled,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: u.UpdatedAt.UTC().Format(time.RFC3339)}
}

// RoleView is a role.
type RoleView struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewRoleView is the view of r.
func NewRoleView(r store.Role) RoleView {
	return RoleView{Name: r.Name, Description: r.Description, Permissions: nonNil(r.Permissions),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// APIKeyView is an API key: its prefix and metadata, and the key itself
// only in the answer that creates it.
type APIKeyView struct {
	ID         string    `json:"id"`
	Key        string    `json:"key,omitempty"` // only when created or rotated
	Prefix     string    `json:"prefix"`        // "sk_<first 8 characters>…"
	Name       string    `json:"name"`
	Roles      []string  `json:"roles"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// NewAPIKeyView is the view of k, with its plaintext when just created.
func NewAPIKeyView(k apikey.Key, plain string) APIKeyView {
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC()
	}
	return APIKeyView{ID: k.ID, Key: plain, Prefix: "sk_" + k.Prefix + "…", Name: k.Name, Roles: nonNil(k.Roles),
		Scopes: nonNil(k.Scopes), CreatedAt: utc(k.CreatedAt), ExpiresAt: utc(k.ExpiresAt),
		LastUsedAt: utc(k.LastUsedAt), RevokedAt: utc(k.RevokedAt)}
}

// SessionView is a browser session.
type SessionView struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	AuthTime  time.Time `json:"auth_time"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewSessionView is the view of s, without its cookie's hash.
func NewSessionView(s store.Session) SessionView {
	return SessionView{ID: s.ID, UserID: s.UserID, AuthTime: s.AuthTime, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}
}

// NewSigningKeyView is the view of a signing key: its id, algorithm and
// life cycle, never key material (public keys are in the JWKS).
func NewSigningKeyView(k store.SigningKey) keys.KeyInfo {
	return keys.KeyInfo{KID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt,
		RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil, ActivateAt: k.ActivateAt}
}

// AuditView is an audit event.
type AuditView struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	ClientID  string            `json:"client_id,omitempty"`
	UserID    string            `json:"user_id,omitempty"`
	SessionID string            `json:"sid,omitempty"`
	IP        string            `json:"ip,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// NewAuditView is the view of e.
func NewAuditView(e store.AuditEvent) AuditView {
	return AuditView{ID: e.ID, Time: e.Time.UTC(), Type: e.Type, ClientID: e.ClientID, UserID: e.UserID,
		SessionID: e.SessionID, IP: e.IP, RequestID: e.RequestID, Details: e.Details}
}

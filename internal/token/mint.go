package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TypAccessToken is the JOSE "typ" of RFC 9068 access tokens.
const TypAccessToken = "at+jwt"

// AccessClaims are the claims of an RFC 9068 access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	// Permissions of the roles, when tokens.permissions_claim is on.
	Permissions []string `json:"permissions,omitempty"`
	// SID is the browser session the token descends from (user grants).
	SID      string `json:"sid,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Email    string `json:"email,omitempty"`
	// Act names who acts for the subject in a token obtained by
	// delegation (RFC 8693 §4.1).
	Act *Actor `json:"act,omitempty"`
	// MayAct names who may exchange this token to act for its subject
	// (RFC 8693 §4.4). Gatehouse reads it; it issues none itself.
	MayAct *Actor `json:"may_act,omitempty"`
	// Fed records the external identity a federated token was issued for.
	Fed *Federated `json:"fed,omitempty"`
}

// Actor is an RFC 8693 §4.1 actor: the party acting, and the actor it in
// turn acted for, if any.
type Actor struct {
	Sub      string `json:"sub,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// Federated is the "fed" claim of a token issued by workload identity
// federation: the external token's issuer and subject and the policy that
// accepted it.
type Federated struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Policy  string `json:"policy"`
}

// GetID returns the jti (keys.IdentifiedClaims).
func (c *AccessClaims) GetID() string { return c.ID }

// Minter signs access tokens and id_tokens.
type Minter struct {
	Issuer    string
	AccessTTL time.Duration
	// IDTokenTTL is the lifetime of id_tokens.
	IDTokenTTL time.Duration
	// Alg signs access tokens; id_tokens are always RS256.
	Alg    string
	Signer Signer
	Now    func() time.Time
	// Permissions, when set, expands the roles of a token into the
	// "permissions" claim (tokens.permissions_claim).
	Permissions func(ctx context.Context, roles []string) ([]string, error)
}

// permissionsOf returns the permissions claim for roles, or nil when the
// claim is off. An error means the role definitions cannot be read: the
// token request fails (503) rather than issue a token without them.
func (m *Minter) permissionsOf(ctx context.Context, roles []string) ([]string, error) {
	if m.Permissions == nil || len(roles) == 0 {
		return nil, nil
	}
	ps, err := m.Permissions(ctx, roles)
	if err != nil {
		return nil, oauth.Unavailable(err)
	}
	return ps, nil
}

// Access is what goes into one access token.
type Access struct {
	Subject     string
	ClientID    string
	Audiences   []string
	Scopes      []string
	Roles       []string
	Permissions []string
	SID         string
	AuthTime    time.Time
	Email       string
	// TTL, when positive and shorter than the configured lifetime, is the
	// token's lifetime.
	TTL time.Duration
	Act *Actor
	Fed *Federated
	// ID and IssuedAt, when set, are the token's jti and iat, decided
	// before signing so that a store transaction can record the token
	// first (see Minter.NextAccess); otherwise fresh ones are taken.
	ID       string
	IssuedAt time.Time
}

// Minted is a signed access token.
type Minted struct {
	Token     string
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Access signs an access token for a.
func (m *Minter) Access(a Access) (Minted, error) {
	if a.ID == "" {
		a.ID = secret.OrderedID()
	}
	if a.IssuedAt.IsZero() {
		a.IssuedAt = m.Now().Truncate(time.Second)
	}
	now := a.IssuedAt
	exp := m.accessExpiry(a)
	c := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Issuer,
			Subject:   a.Subject,
			Audience:  a.Audiences,
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        a.ID,
		},
		ClientID:    a.ClientID,
		Scope:       strings.Join(a.Scopes, " "),
		Roles:       a.Roles,
		Permissions: a.Permissions,
		SID:         a.SID,
		Email:       a.Email,
		Act:         a.Act,
		Fed:         a.Fed,
	}
	if !a.AuthTime.IsZero() {
		c.AuthTime = a.AuthTime.Unix()
	}
	tok, err := m.Signer.Sign(m.Alg, TypAccessToken, c)
	if err != nil {
		return Minted{}, fmt.Errorf("token: sign access token: %w", err)
	}
	return Minted{Token: tok, JTI: c.ID, IssuedAt: now, ExpiresAt: exp}, nil
}

// nextAccess returns the jti and iat of a new access token.
func (m *Minter) nextAccess() (string, time.Time) {
	return secret.OrderedID(), m.Now().Truncate(time.Second)
}

// accessExpiry is the "exp" of the access token a (with IssuedAt set).
func (m *Minter) accessExpiry(a Access) time.Time {
	ttl := m.AccessTTL
	if a.TTL > 0 && a.TTL < ttl {
		ttl = a.TTL
	}
	return a.IssuedAt.Add(ttl)
}

// userGrant is what one token response of a user grant (authorization_code,
// refresh_token) is minted from.
type userGrant struct {
	Client    store.Client
	User      store.User
	Scopes    []string
	Audiences []string
	SID       string
	AuthTime  time.Time
	// Nonce is echoed in the id_token (code grant only: OIDC Core §12.2
	// leaves it out of refreshed id_tokens).
	Nonce string
	// NoIDToken leaves the id_token out even with the "openid" scope (a
	// refresh for a client that asked for that: OIDC Core §12.2).
	NoIDToken bool
}

// forUser signs the access token and, with the "openid" scope, the
// id_token of a user grant, and returns the response without its refresh
// token. Both are signed before the store transaction that records them,
// so the transaction holds its locks only for the writes.
//
// The user's roles, and their permissions when that claim is on, are the
// ones read now, not copied from the grant (RBAC-05): a role change
// reaches the user's tokens at the next refresh.
func (m *Minter) forUser(ctx context.Context, g userGrant) (Minted, *Response, error) {
	a, err := m.userAccess(ctx, g)
	if err != nil {
		return Minted{}, nil, err
	}
	return m.signForUser(g, a)
}

// userAccess is the access token of a user grant, with a fresh jti and
// iat, unsigned.
func (m *Minter) userAccess(ctx context.Context, g userGrant) (Access, error) {
	perms, err := m.permissionsOf(ctx, g.User.Roles)
	if err != nil {
		return Access{}, err
	}
	a := Access{Subject: g.User.ID, ClientID: g.Client.ID, Audiences: g.Audiences, Scopes: g.Scopes,
		Roles: g.User.Roles, Permissions: perms, SID: g.SID, AuthTime: g.AuthTime}
	if slices.Contains(g.Scopes, ScopeEmail) {
		a.Email = g.User.Email
	}
	a.ID, a.IssuedAt = m.nextAccess()
	return a, nil
}

// signForUser signs a (see userAccess) and, with the "openid" scope, the
// id_token of g, and returns the response without its refresh token.
func (m *Minter) signForUser(g userGrant, a Access) (Minted, *Response, error) {
	at, err := m.Access(a)
	if err != nil {
		return Minted{}, nil, err
	}
	resp := &Response{AccessToken: at.Token, TokenType: "Bearer", ExpiresIn: int64(m.AccessTTL.Seconds()),
		Scope: oauth.JoinScope(g.Scopes)}
	if slices.Contains(g.Scopes, ScopeOpenID) && !g.NoIDToken {
		resp.IDToken, err = m.IDToken(IDToken{ClientID: g.Client.ID, User: g.User, Scopes: g.Scopes, Alg: g.Client.IDTokenAlg,
			SID: g.SID, AuthTime: g.AuthTime, Nonce: g.Nonce, AccessToken: at.Token})
		if err != nil {
			return Minted{}, nil, err
		}
	}
	return at, resp, nil
}

// issuedAccess is how the store records an access token of a grant. The
// recorded expiry includes the verifiers' leeway: revoking the grant turns
// it into a revocation entry, which must outlive every verifier's
// acceptance of the token.
func issuedAccess(at Minted) store.IssuedAccessToken {
	return store.IssuedAccessToken{JTI: at.JTI, ExpiresAt: at.ExpiresAt.Add(keys.MaxLeeway)}
}

// issuedAccessOf is issuedAccess for a token not signed yet.
func (m *Minter) issuedAccessOf(a Access) store.IssuedAccessToken {
	return store.IssuedAccessToken{JTI: a.ID, ExpiresAt: m.accessExpiry(a).Add(keys.MaxLeeway)}
}

package token

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TypIDToken is the JOSE "typ" of id_tokens. OpenID Connect defines no
// explicit type, so they carry the generic "JWT", which also keeps them
// from ever passing for an "at+jwt" access token.
const TypIDToken = "JWT"

// Scopes with a meaning to the token endpoint (OIDC Core §3.1.2.1, §5.4).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
)

// UserClaims are the standard claims (OIDC Core §5.1) Gatehouse releases
// about a user, each only with the scope that asks for it (§5.4). The
// id_token and the userinfo response share them.
type UserClaims struct {
	// PreferredUsername and Name come with "profile". Name is the username
	// until users have a display name.
	PreferredUsername string `json:"preferred_username,omitempty"`
	Name              string `json:"name,omitempty"`
	// Email and EmailVerified come with "email" when the user has an
	// address; EmailVerified is a pointer so that false is still sent.
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
}

// ClaimsFor returns the claims of u released by scopes.
func ClaimsFor(u store.User, scopes []string) UserClaims {
	var c UserClaims
	if slices.Contains(scopes, ScopeProfile) {
		c.PreferredUsername, c.Name = u.Username, u.Username
	}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		verified := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &verified
	}
	return c
}

// IDClaims are the claims of an id_token (OIDC Core §2, §3.1.3.6). "aud"
// is a one-element array holding the client_id, which §2 allows. "jti" is
// not required by OpenID Connect but is set so that the id_token verifies
// with keys.Manager.Verify (which requires one), for example as an
// id_token_hint at logout.
type IDClaims struct {
	jwt.RegisteredClaims
	// AuthTime is when the user last authenticated; always present.
	AuthTime int64  `json:"auth_time"`
	Nonce    string `json:"nonce,omitempty"`
	// AtHash binds the id_token to the access token issued with it.
	AtHash string `json:"at_hash,omitempty"`
	SID    string `json:"sid,omitempty"`
	UserClaims
}

// GetID returns the jti (keys.IdentifiedClaims).
func (c *IDClaims) GetID() string { return c.ID }

// IDToken is what goes into one id_token.
type IDToken struct {
	ClientID string
	User     store.User
	// Scopes select the user claims (ClaimsFor).
	Scopes   []string
	SID      string
	AuthTime time.Time
	// Nonce is the authorization request's nonce, if any.
	Nonce string
	// AccessToken is the access token issued alongside, for at_hash.
	AccessToken string
	// Alg is the client's id_token_signed_response_alg; empty is RS256.
	Alg string
}

// errNoAuthTime reports a grant without an authentication time, which only
// a broken authorization step can produce: refuse rather than invent one.
var errNoAuthTime = errors.New("token: id_token without auth_time")

// IDToken signs an id_token with the client's registered algorithm:
// RS256 unless it registered ES256 (OpenID Connect Registration §2 makes
// RS256 the default, and OIDC Core §15.1 the one every relying party
// supports). ES256 costs about a thirtieth of RS256 to sign, which is what
// a client that refreshes often saves.
func (m *Minter) IDToken(t IDToken) (string, error) {
	if t.AuthTime.IsZero() {
		return "", errNoAuthTime
	}
	now := m.Now().Truncate(time.Second)
	c := &IDClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Issuer,
			Subject:   t.User.ID,
			Audience:  jwt.ClaimStrings{t.ClientID},
			ExpiresAt: jwt.NewNumericDate(now.Add(m.IDTokenTTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        secret.ID(),
		},
		AuthTime:   t.AuthTime.Unix(),
		Nonce:      t.Nonce,
		SID:        t.SID,
		UserClaims: ClaimsFor(t.User, t.Scopes),
	}
	if t.AccessToken != "" {
		c.AtHash = AtHash(t.AccessToken)
	}
	alg := keys.RS256
	if t.Alg == keys.ES256 {
		alg = keys.ES256
	}
	tok, err := m.Signer.Sign(alg, TypIDToken, c)
	if err != nil {
		return "", fmt.Errorf("token: sign id_token: %w", err)
	}
	return tok, nil
}

// AtHash is the "at_hash" of an access token signed with an algorithm
// using SHA-256 (RS256 here): the base64url encoding of the left-most half
// of the SHA-256 of its ASCII octets (OIDC Core §3.1.3.6).
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

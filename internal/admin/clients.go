package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// DefaultUserScopes are allowed for a browser client registered without
// explicit scopes.
func DefaultUserScopes() []string { return []string{"openid", "profile", "email", "offline_access"} }

// ClientSpec describes a client to create or the new state of one.
type ClientSpec struct {
	// ID is optional at creation (a random one is generated).
	ID                     string
	Name                   string
	Public                 bool
	AuthMethod             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string
	Audiences              []string
	Roles                  []string
	SkipConsent            bool
	RefreshGrace           time.Duration
	// IDTokenAlg is id_token_signed_response_alg: RS256 (the default, and
	// OpenID Connect's) or ES256, about 30 times cheaper to sign.
	IDTokenAlg string
	// OmitRefreshIDToken leaves the id_token out of refresh responses
	// (OpenID Connect Core §12.2); the client keeps the one of its sign-in.
	OmitRefreshIDToken bool
}

// ClientPatch is a change to a client: the fields that are not nil replace
// the client's. The command line builds one from its flags, the admin API
// from a PATCH body (which has no roles: they change through the role
// routes, one grant at a time).
type ClientPatch struct {
	Name, AuthMethod                     *string
	RedirectURIs, PostLogoutRedirectURIs *[]string
	GrantTypes, Scopes, Audiences, Roles *[]string
	SkipConsent                          *bool
	RefreshGrace                         *time.Duration
	IDTokenAlg                           *string
	OmitRefreshIDToken                   *bool
}

// apply changes s as p says.
func (p ClientPatch) apply(s *ClientSpec) {
	set(&s.Name, p.Name)
	set(&s.AuthMethod, p.AuthMethod)
	set(&s.RedirectURIs, p.RedirectURIs)
	set(&s.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
	set(&s.GrantTypes, p.GrantTypes)
	set(&s.Scopes, p.Scopes)
	set(&s.Audiences, p.Audiences)
	set(&s.Roles, p.Roles)
	set(&s.SkipConsent, p.SkipConsent)
	set(&s.RefreshGrace, p.RefreshGrace)
	set(&s.IDTokenAlg, p.IDTokenAlg)
	set(&s.OmitRefreshIDToken, p.OmitRefreshIDToken)
}

func set[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// IDTokenAlgs are the id_token signing algorithms a client may register:
// Gatehouse always holds keys for both.
func IDTokenAlgs() []string { return []string{"RS256", "ES256"} }

// ClientStore is what client administration needs from the store.
type ClientStore interface {
	CreateClient(ctx context.Context, c store.Client) error
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error)
	DeleteClient(ctx context.Context, id string) error
	// GetUser keeps client ids apart from user ids.
	GetUser(ctx context.Context, id string) (store.User, error)
}

// CreateClient validates spec, generates the client secret (confidential
// clients) and stores only its hash. The returned secret is the only time
// it exists in clear: show it once.
func CreateClient(ctx context.Context, st ClientStore, spec ClientSpec, now time.Time) (store.Client, string, error) {
	if spec.ID == "" {
		spec.ID = secret.ID()
	}
	c, err := buildClient(spec)
	if err != nil {
		return store.Client{}, "", err
	}
	// A client's machine tokens carry its id as "sub", as user tokens carry
	// the user's id and API keys their own: an id shared with a user or in
	// the API keys' namespace would let one stand for the other at resource
	// servers, and in the revocation list.
	if strings.HasPrefix(c.ID, "ak_") {
		return store.Client{}, "", invalidAs(ErrInvalidClientMetadata, "client ids may not start with %q (API key ids do)", "ak_")
	}
	switch _, err := st.GetUser(ctx, c.ID); {
	case err == nil:
		return store.Client{}, "", invalidAs(ErrInvalidClientMetadata, "client id %q is taken", c.ID)
	case !errors.Is(err, store.ErrNotFound):
		return store.Client{}, "", err
	}
	var plain string
	if !c.Public {
		plain = secret.Token()
		c.SecretHash = secret.Hash(plain)
	}
	c.CreatedAt, c.UpdatedAt = now, now
	if err := st.CreateClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Client{}, "", invalidAs(ErrInvalidClientMetadata, "client id %q is taken", c.ID)
		}
		return store.Client{}, "", err
	}
	return c, plain, nil
}

// UpdateClient applies change to the stored client and validates the
// result. Switching between public and confidential is refused: it would
// need a new secret (delete and recreate the client instead).
func UpdateClient(ctx context.Context, st ClientStore, id string, change func(*ClientSpec), now time.Time) (store.Client, error) {
	return st.UpdateClient(ctx, id, func(old store.Client) (store.Client, error) {
		spec := specOf(old)
		change(&spec)
		if spec.Public != old.Public {
			return old, invalidAs(ErrInvalidClientMetadata, "a client cannot switch between public and confidential")
		}
		spec.ID = old.ID
		c, err := buildClientHolding(spec, old.Roles)
		if err != nil {
			return old, err
		}
		c.SecretHash, c.CreatedAt, c.UpdatedAt = old.SecretHash, old.CreatedAt, now
		return c, nil
	})
}

// RotateClientSecret replaces a confidential client's secret and returns
// the new one (shown once). The old secret stops working at once.
func RotateClientSecret(ctx context.Context, st ClientStore, id string, now time.Time) (string, error) {
	plain := secret.Token()
	_, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		if c.Public {
			return c, invalid("public clients have no secret")
		}
		c.SecretHash, c.UpdatedAt = secret.Hash(plain), now
		return c, nil
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

func specOf(c store.Client) ClientSpec {
	return ClientSpec{
		ID: c.ID, Name: c.Name, Public: c.Public, AuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, Audiences: c.Audiences, Roles: c.Roles,
		SkipConsent: c.SkipConsent, RefreshGrace: c.RefreshGrace, IDTokenAlg: c.IDTokenAlg,
		OmitRefreshIDToken: c.OmitRefreshIDToken,
	}
}

// buildClient validates spec and fills defaults. Every problem is reported.
func buildClient(spec ClientSpec) (store.Client, error) { return buildClientHolding(spec, nil) }

// buildClientHolding is buildClient for a change to a client that holds
// the roles held: those pass as they are, so that a role name stored
// before the rule was as strict as it is now does not block every other
// change to the client.
func buildClientHolding(spec ClientSpec, held []string) (store.Client, error) {
	var problems []string
	uriRefused := false
	bad := func(format string, args ...any) {
		problems = append(problems, "invalid: "+fmt.Sprintf(format, args...))
	}
	badURI := func(format string, args ...any) {
		bad(format, args...)
		uriRefused = true
	}

	if !validIdentifier(spec.ID, 128) {
		bad("client id must be 1-128 characters of letters, digits, '-', '_', '.'")
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 100 {
		bad("name must be 1-100 characters")
	}
	if len(spec.GrantTypes) == 0 {
		spec.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	}
	spec.GrantTypes = dedupe(spec.GrantTypes)
	for _, g := range spec.GrantTypes {
		if !slices.Contains(oauth.GrantTypes(), g) {
			bad("grant type %q is not supported (supported: %s)", g, strings.Join(oauth.GrantTypes(), ", "))
		}
	}
	hasCode := slices.Contains(spec.GrantTypes, oauth.GrantAuthorizationCode)
	// Grants a user makes to the client, as opposed to the client's own.
	userGrants := hasCode || slices.Contains(spec.GrantTypes, oauth.GrantDeviceCode)
	if slices.Contains(spec.GrantTypes, oauth.GrantRefreshToken) && !userGrants {
		bad("refresh_token needs authorization_code or the device grant (client_credentials clients get no refresh tokens)")
	}

	switch {
	case spec.Public:
		if spec.AuthMethod == "" {
			spec.AuthMethod = store.AuthNone
		}
		if spec.AuthMethod != store.AuthNone {
			bad("public clients authenticate with %q only", store.AuthNone)
		}
		if slices.Contains(spec.GrantTypes, oauth.GrantClientCredentials) {
			bad("public clients cannot use client_credentials")
		}
	default:
		if spec.AuthMethod == "" {
			spec.AuthMethod = store.AuthClientSecretBasic
		}
		if spec.AuthMethod != store.AuthClientSecretBasic && spec.AuthMethod != store.AuthClientSecretPost {
			bad("confidential clients use %s or %s", store.AuthClientSecretBasic, store.AuthClientSecretPost)
		}
	}

	spec.RedirectURIs = dedupe(spec.RedirectURIs)
	if hasCode && len(spec.RedirectURIs) == 0 {
		badURI("authorization_code needs at least one redirect URI")
	}
	for _, u := range spec.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			badURI("%v", err)
		}
	}
	spec.PostLogoutRedirectURIs = dedupe(spec.PostLogoutRedirectURIs)
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			badURI("post-logout %v", err)
		}
	}
	if len(spec.Scopes) == 0 && userGrants {
		spec.Scopes = DefaultUserScopes()
	}
	spec.Scopes = dedupe(spec.Scopes)
	for _, s := range spec.Scopes {
		if !oauth.ValidScopeToken(s) {
			bad("scope %q has characters RFC 6749 §3.3 does not allow", s)
		}
	}
	spec.Audiences = dedupe(spec.Audiences)
	for _, a := range spec.Audiences {
		if a == "" || strings.ContainsAny(a, " \t\r\n") || len(a) > 512 {
			bad("audience %q must be a non-empty string without spaces", a)
		}
	}
	spec.Roles = dedupe(spec.Roles)
	for _, r := range spec.Roles {
		if err := rbac.ValidateRoleName(r); err != nil && !slices.Contains(held, r) {
			bad("%v", err)
		}
	}
	// A client's roles go into its client_credentials tokens and decide
	// what the client itself may do (read the revocation feed): a public
	// client proves nothing about itself, so it holds none.
	if len(spec.Roles) > 0 && spec.Public {
		bad("public clients cannot hold roles: they cannot authenticate")
	}
	if spec.RefreshGrace < 0 || spec.RefreshGrace > 5*time.Minute {
		bad("refresh grace must be between 0 and 5m")
	}
	if spec.IDTokenAlg == "RS256" {
		spec.IDTokenAlg = "" // the default: stored as such
	}
	if spec.IDTokenAlg != "" && !slices.Contains(IDTokenAlgs(), spec.IDTokenAlg) {
		bad("id_token_signed_response_alg must be one of %s", strings.Join(IDTokenAlgs(), ", "))
	}
	if len(problems) > 0 {
		// One code for the whole answer: a redirect URI's, when one of
		// them is refused.
		kind := ErrInvalidClientMetadata
		if uriRefused {
			kind = ErrInvalidRedirectURI
		}
		return store.Client{}, &Error{Kind: kind, Message: strings.Join(problems, "\n")}
	}
	return store.Client{
		ID: spec.ID, Name: spec.Name, Public: spec.Public, TokenEndpointAuthMethod: spec.AuthMethod,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, Audiences: spec.Audiences, Roles: spec.Roles,
		SkipConsent: spec.SkipConsent, RefreshGrace: spec.RefreshGrace, IDTokenAlg: spec.IDTokenAlg,
		OmitRefreshIDToken: spec.OmitRefreshIDToken,
	}, nil
}

// validateRedirectURI checks a redirect or post-logout redirect URI at
// registration: oauth.ValidateRedirectURI's rules, and a port, when one is
// given, from 1 to 65535. (url.Parse takes any run of digits as a port, so
// port 0 or 99999 would be registered and then never reached.)
func validateRedirectURI(raw string) error {
	if err := oauth.ValidateRedirectURI(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q is not a URL", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("redirect URI %q has port %s: a port must be 1 to 65535", raw, p)
		}
	}
	return nil
}

func validIdentifier(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// dedupe drops empty and repeated values, keeping order.
func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ListClients returns every client.
func (a Actions) ListClients(ctx context.Context) ([]store.Client, error) {
	cs, err := a.s.cfg.Store.ListClients(ctx)
	return cs, fail(err)
}

// GetClient returns the client with that id.
func (a Actions) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := a.s.cfg.Store.GetClient(ctx, id)
	return c, fail(err)
}

// CreateClient registers a client (see CreateClient): its roles must
// exist and be covered by the principal's permissions, and only a holder
// of every permission registers a client of the admin audience. The
// secret is returned in clear this once.
func (a Actions) CreateClient(ctx context.Context, spec ClientSpec) (store.Client, string, error) {
	if err := a.mayGrantRoles(ctx, spec.Roles); err != nil {
		return store.Client{}, "", fail(err)
	}
	if err := a.mayTouchAdminAudience(spec.Audiences); err != nil {
		return store.Client{}, "", err
	}
	c, plain, err := CreateClient(ctx, a.s.cfg.Store, spec, a.now())
	a.record(ctx, err, "client.create", clientTarget(c.ID))
	return c, plain, fail(err)
}

// clientFor loads the client id and checks the principal may act on it:
// it covers the client's roles, and the client is not of the admin
// audience unless the principal holds every permission.
func (a Actions) clientFor(ctx context.Context, id string) (store.Client, error) {
	c, err := a.s.cfg.Store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, fail(err)
	}
	if err := a.mayActOn(ctx, c.Roles); err != nil {
		return store.Client{}, fail(err)
	}
	if err := a.mayTouchAdminAudience(c.Audiences); err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// UpdateClient changes the client id as p says. Roles added must exist and
// be covered; a role taken away also refuses the client's older tokens
// (RBAC-05), as RevokeRole does.
func (a Actions) UpdateClient(ctx context.Context, id string, p ClientPatch) (store.Client, error) {
	before, err := a.clientFor(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if p.Audiences != nil {
		if err := a.mayTouchAdminAudience(*p.Audiences); err != nil {
			return store.Client{}, err
		}
	}
	if p.Roles != nil {
		var added []string
		for _, r := range *p.Roles {
			if !slices.Contains(before.Roles, strings.TrimSpace(r)) {
				added = append(added, r)
			}
		}
		if err := a.mayGrantRoles(ctx, added); err != nil {
			return store.Client{}, fail(err)
		}
	}
	c, err := UpdateClient(ctx, a.s.cfg.Store, id, p.apply, a.now())
	if err == nil {
		err = a.endRoles(ctx, before, c)
	}
	a.record(ctx, err, "client.update", clientTarget(id))
	return c, fail(err)
}

// endRoles refuses the older tokens of a client that lost a role.
func (a Actions) endRoles(ctx context.Context, before, after store.Client) error {
	for _, r := range before.Roles {
		if !slices.Contains(after.Roles, r) {
			revs, err := revokeSubjectTokens(ctx, a.s.cfg.Store, after.ID, a.now(), a.s.cfg.AccessTTL)
			if err != nil {
				return incomplete(err, "client %s updated, but its older tokens (with role %s) could not be revoked (retry)", after.ID, r)
			}
			a.apply(revs)
			return nil
		}
	}
	return nil
}

// DeleteClient deletes the client id and refuses the access tokens it was
// issued until now (machine tokens have no grant to revoke).
func (a Actions) DeleteClient(ctx context.Context, id string) error {
	c, err := a.clientFor(ctx, id)
	if err != nil {
		return err
	}
	err = a.s.cfg.Store.DeleteClient(ctx, c.ID)
	if err == nil {
		err = a.endClientTokens(ctx, c.ID)
	}
	a.record(ctx, err, "client.delete", clientTarget(c.ID))
	return fail(err)
}

// RotateClientSecret replaces a confidential client's secret, returned in
// clear this once, and refuses the access tokens it was issued until now:
// whoever held the old secret may hold tokens minted with it.
func (a Actions) RotateClientSecret(ctx context.Context, id string) (string, error) {
	c, err := a.clientFor(ctx, id)
	if err != nil {
		return "", err
	}
	plain, err := RotateClientSecret(ctx, a.s.cfg.Store, c.ID, a.now())
	if err == nil {
		err = a.endClientTokens(ctx, c.ID)
	}
	a.record(ctx, err, "client.rotate_secret", clientTarget(c.ID))
	return plain, fail(err)
}

// endClientTokens refuses every access token issued to a client until now.
func (a Actions) endClientTokens(ctx context.Context, id string) error {
	revs, err := revokeSubjectTokens(ctx, a.s.cfg.Store, id, a.now(), a.s.cfg.AccessTTL)
	if err != nil {
		return incomplete(err, "client %s changed, but its older tokens could not be revoked (retry)", id)
	}
	a.apply(revs)
	return nil
}

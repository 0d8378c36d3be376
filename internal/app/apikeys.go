package app

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
)

// apiKeyIntrospection answers introspection requests for API keys, which
// is how resource servers using the SDK check them.
type apiKeyIntrospection struct {
	keys   *apikey.Service
	roles  *rbac.Resolver
	issuer string
}

func (x apiKeyIntrospection) IntrospectAPIKey(ctx context.Context, key string) (*token.Introspection, error) {
	// No client address: the caller is a resource server checking its own
	// callers' keys, and must not be locked out by them; failures still
	// count against the key's prefix.
	k, err := x.keys.Verify(ctx, key, "")
	switch {
	case errors.Is(err, apikey.ErrInvalidKey):
		return nil, nil
	case err != nil:
		// Throttled too: "inactive" would make the resource server refuse
		// (and cache the refusal of) a key that may well be good.
		return nil, oauth.Unavailable(err)
	}
	perms, err := x.roles.Expand(ctx, k.Roles)
	if err != nil {
		return nil, oauth.Unavailable(err)
	}
	res := &token.Introspection{Active: true, TokenType: "api_key", Sub: k.ID, JTI: k.ID, Iss: x.issuer,
		Scope: strings.Join(k.Scopes, " "), Roles: k.Roles, Permissions: perms.Permissions(), Iat: k.CreatedAt.Unix()}
	if !k.ExpiresAt.IsZero() {
		res.Exp = k.ExpiresAt.Unix()
	}
	return res, nil
}

// permissionsClaim expands roles for the access tokens' "permissions"
// claim when tokens.permissions_claim is on; nil leaves the claim out.
func permissionsClaim(on bool, roles *rbac.Resolver) func(context.Context, []string) ([]string, error) {
	if !on {
		return nil
	}
	return func(ctx context.Context, held []string) ([]string, error) {
		set, err := roles.Expand(ctx, held)
		if err != nil {
			return nil, err
		}
		return set.Permissions(), nil
	}
}

// feedAccess lets a client read the revocation feed when its roles grant
// revocation.FeedPermission.
func (a *App) feedAccess(ctx context.Context, c store.Client) (bool, error) {
	set, err := a.roles.Expand(ctx, c.Roles)
	if err != nil {
		return false, err
	}
	return set.Allows(revocation.FeedPermission), nil
}

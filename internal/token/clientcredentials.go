package token

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// clientCredentials is RFC 6749 §4.4: a confidential client gets an access
// token for itself, with its roles, and no refresh token. Nothing is
// written to the store: the token is revocable by its jti.
type clientCredentials struct {
	minter  *Minter
	auditor Auditor
}

func (g *clientCredentials) grant(ctx context.Context, r *http.Request, f oauth.Form, c store.Client) (*Response, error) {
	if c.Public {
		return nil, oauth.NewError(oauth.CodeUnauthorizedClient, "public clients cannot use client_credentials")
	}
	scopes, err := requestedScopes(f, c.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := requestedAudiences(f, c)
	if err != nil {
		return nil, err
	}
	perms, err := g.minter.permissionsOf(ctx, c.Roles)
	if err != nil {
		return nil, err
	}
	m, err := g.minter.Access(Access{Subject: c.ID, ClientID: c.ID, Audiences: aud, Scopes: scopes, Roles: c.Roles,
		Permissions: perms})
	if err != nil {
		return nil, err
	}
	// Machine tokens are audited as a count per client and minute: a row
	// per token would cost more than minting it.
	g.auditor.Count("token_issued", c.ID, oauth.GrantClientCredentials)
	return &Response{AccessToken: m.Token, TokenType: "Bearer", ExpiresIn: int64(g.minter.AccessTTL.Seconds()),
		Scope: oauth.JoinScope(scopes)}, nil
}

// requestedScopes returns the requested scopes, all of which the client
// must be allowed; an omitted scope means every allowed scope (RFC 6749
// §3.3 lets the server pick a default).
func requestedScopes(f oauth.Form, allowed []string) ([]string, error) {
	if !f.Has("scope") {
		return allowed, nil
	}
	req, err := oauth.ParseScope(f.Get("scope"))
	if err != nil {
		return nil, err
	}
	for _, s := range req {
		if !slices.Contains(allowed, s) {
			return nil, oauth.NewError(oauth.CodeInvalidScope, "a requested scope is not allowed for this client")
		}
	}
	return req, nil
}

// requestedAudiences picks the token audience from RFC 8707 "resource"
// parameters or the "audience" parameter, each of which must be registered
// for the client; with neither, every registered audience; with none
// registered, the client itself.
func requestedAudiences(f oauth.Form, c store.Client) ([]string, error) {
	req := requestedResources(f)
	if len(req) == 0 {
		if len(c.Audiences) == 0 {
			return []string{c.ID}, nil
		}
		return c.Audiences, nil
	}
	var out []string
	for _, a := range req {
		if !slices.Contains(c.Audiences, a) {
			return nil, oauth.NewError(oauth.CodeInvalidTarget, "a requested audience or resource is not allowed for this client")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// requestedResources is what a token request asks its token to be for:
// every RFC 8707 "resource" and every space-separated value of every
// "audience" (RFC 8693 §2.1 lets it repeat).
func requestedResources(f oauth.Form) []string {
	req := f.All("resource")
	for _, a := range f.All("audience") {
		req = append(req, strings.Fields(a)...)
	}
	return req
}

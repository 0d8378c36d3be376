package token

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/federation"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Federator validates external tokens against the federation policies
// (package federation).
type Federator interface {
	Validate(ctx context.Context, token string) (federation.Identity, error)
}

// optionalClientGrant is a grant that may be used without client
// authentication: the token presented is the credential. c is nil for an
// anonymous request.
type optionalClientGrant interface {
	grant(ctx context.Context, r *http.Request, f oauth.Form, c *store.Client) (*Response, error)
}

// hasClientCredentials reports whether a token request tries to
// authenticate a client at all.
func hasClientCredentials(r *http.Request, f oauth.Form) bool {
	_, _, basic := r.BasicAuth()
	return basic || r.Header.Get("Authorization") != "" || f.Has("client_id") || f.Has("client_secret") ||
		f.Has("client_assertion") || f.Has("client_assertion_type")
}

// exchange serves RFC 8693 token exchange and the RFC 7523 JWT bearer
// grant. An external token (subject_token_type jwt or id_token, or a JWT
// bearer assertion) is workload identity federation: a policy that trusts
// its issuer decides, with or without client authentication. A Gatehouse
// access token (subject_token_type access_token) is delegation: an
// authenticated confidential client to which the token was issued (its
// aud, or its may_act) gets a token for its own audiences, acting for the
// token's subject, with no more than the token carried.
type exchange struct {
	cfg    *Config
	minter *Minter
	// verify checks a Gatehouse access token, revocation included.
	verify func(ctx context.Context, tok string) (*AccessClaims, error)
	// bearer marks the RFC 7523 grant (assertion) rather than RFC 8693.
	bearer bool
}

func (g *exchange) grant(ctx context.Context, _ *http.Request, f oauth.Form, c *store.Client) (*Response, error) {
	var subject, subjectType string
	if g.bearer {
		subject, subjectType = f.Get("assertion"), oauth.TokenTypeJWT
		if subject == "" {
			return nil, oauth.NewError(oauth.CodeInvalidRequest, "assertion is required")
		}
	} else {
		subject, subjectType = f.Get("subject_token"), f.Get("subject_token_type")
		switch {
		case subject == "" || subjectType == "":
			return nil, oauth.NewError(oauth.CodeInvalidRequest, "subject_token and subject_token_type are required")
		case f.Has("actor_token") || f.Has("actor_token_type"):
			return nil, oauth.NewError(oauth.CodeInvalidRequest, "actor_token is not supported: the authenticated client is the actor")
		case f.Has("requested_token_type") && f.Get("requested_token_type") != oauth.TokenTypeAccessToken:
			return nil, oauth.NewError(oauth.CodeInvalidRequest, "only access tokens are issued (requested_token_type "+oauth.TokenTypeAccessToken+")")
		}
	}
	var resp *Response
	var err error
	switch subjectType {
	case oauth.TokenTypeJWT, oauth.TokenTypeIDToken:
		resp, err = g.federate(ctx, f, subject, c)
	case oauth.TokenTypeAccessToken:
		resp, err = g.delegate(ctx, f, subject, c)
	default:
		return nil, oauth.NewError(oauth.CodeInvalidRequest, "subject_token_type must be "+oauth.TokenTypeJWT+", "+oauth.TokenTypeIDToken+" or "+oauth.TokenTypeAccessToken)
	}
	if err != nil {
		return nil, err
	}
	if !g.bearer {
		resp.IssuedTokenType = oauth.TokenTypeAccessToken
	}
	return resp, nil
}

// federate issues a token for an external workload token that a policy
// accepts.
func (g *exchange) federate(ctx context.Context, f oauth.Form, subject string, c *store.Client) (*Response, error) {
	if g.cfg.Federator == nil {
		return nil, oauth.NewError(oauth.CodeUnsupportedGrantType, "workload identity federation is not enabled")
	}
	grant := oauth.GrantTokenExchange
	if g.bearer {
		grant = oauth.GrantJWTBearer
	}
	id, err := g.cfg.Federator.Validate(ctx, subject)
	var rej *federation.Rejection
	switch {
	case errors.As(err, &rej):
		g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "federation_refused", ClientID: clientIDOf(c),
			Details: map[string]string{"grant_type": grant, "policy": rej.Policy, "reason": rej.Reason}})
		return nil, oauth.NewError(oauth.CodeInvalidGrant, oauth.DescriptionText(rej.Reason))
	case errors.Is(err, federation.ErrKeysUnavailable):
		e := oauth.Unavailable(err)
		e.Description = "the external issuer's keys cannot be fetched now; retry shortly"
		return nil, e
	case err != nil:
		return nil, oauth.Unavailable(err)
	}
	p := id.Policy
	scopes, err := narrowed(f, "scope", p.Scopes, oauth.CodeInvalidScope)
	if err != nil {
		return nil, err
	}
	aud, err := narrowAudiences(f, p.Audiences)
	if err != nil {
		return nil, err
	}
	perms, err := g.minter.permissionsOf(ctx, p.Roles)
	if err != nil {
		return nil, err
	}
	clientID := "federation:" + p.Name
	if c != nil {
		clientID = c.ID
	}
	sub := federation.SubjectFor(p, id.Subject)
	at, err := g.minter.Access(Access{Subject: sub, ClientID: clientID, Audiences: aud, Scopes: scopes, Roles: p.Roles,
		Permissions: perms, TTL: p.TokenTTL, Fed: &Federated{Issuer: id.Issuer, Subject: id.Subject, Policy: p.Name}})
	if err != nil {
		return nil, err
	}
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "token_issued", ClientID: clientID, Details: map[string]string{
		"grant_type": grant, "policy": p.Name, "external_issuer": id.Issuer, "external_subject": id.Subject,
		"sub": sub, "jti": at.JTI}})
	return &Response{AccessToken: at.Token, TokenType: "Bearer", ExpiresIn: int64(at.ExpiresAt.Sub(at.IssuedAt) / time.Second),
		Scope: oauth.JoinScope(scopes)}, nil
}

// delegate issues a token for the client acting for the subject of one of
// our access tokens (RFC 8693 §1.1 delegation), with no privilege gain:
// the subject's roles and at most its scopes, audiences the client is
// registered for, a lifetime within the subject token's, and the act
// claim naming the client.
func (g *exchange) delegate(ctx context.Context, f oauth.Form, subject string, c *store.Client) (*Response, error) {
	if c == nil || c.Public {
		return nil, errClientAuth(errors.New("delegation needs an authenticated confidential client"))
	}
	claims, err := g.verify(ctx, subject)
	if err != nil {
		if oe, ok := errors.AsType[*oauth.Error](err); ok && oe.HTTPStatus() >= 500 {
			return nil, err
		}
		return nil, oauth.NewError(oauth.CodeInvalidGrant, "the subject token is not a valid, unrevoked access token of this issuer")
	}
	mayAct := claims.MayAct != nil && (claims.MayAct.ClientID == c.ID || claims.MayAct.Sub == c.ID)
	if !slices.Contains(claims.Audience, c.ID) && !mayAct {
		return nil, oauth.NewError(oauth.CodeInvalidGrant, "the subject token was not issued to this client (its aud or may_act must name it)")
	}
	scopes, err := narrowed(f, "scope", strings.Fields(claims.Scope), oauth.CodeInvalidScope)
	if err != nil {
		return nil, err
	}
	registered, _ := requestedAudiences(oauth.Form{}, *c)
	aud, err := narrowAudiences(f, registered)
	if err != nil {
		return nil, err
	}
	now := g.cfg.Now()
	left := claims.ExpiresAt.Sub(now)
	if left <= 0 {
		return nil, oauth.NewError(oauth.CodeInvalidGrant, "the subject token has expired")
	}
	a := Access{Subject: claims.Subject, ClientID: c.ID, Audiences: aud, Scopes: scopes, Roles: claims.Roles,
		Permissions: claims.Permissions, SID: claims.SID, Email: claims.Email, TTL: left,
		Act: &Actor{ClientID: c.ID, Act: claims.Act}, Fed: claims.Fed}
	if claims.AuthTime > 0 {
		a.AuthTime = time.Unix(claims.AuthTime, 0)
	}
	at, err := g.minter.Access(a)
	if err != nil {
		return nil, err
	}
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "token_exchanged", ClientID: c.ID, SessionID: claims.SID,
		Details: map[string]string{"grant_type": oauth.GrantTokenExchange, "sub": claims.Subject, "subject_jti": claims.ID, "jti": at.JTI}})
	return &Response{AccessToken: at.Token, TokenType: "Bearer", ExpiresIn: int64(at.ExpiresAt.Sub(at.IssuedAt) / time.Second),
		Scope: oauth.JoinScope(scopes)}, nil
}

// narrowed returns the space-separated values of parameter name, each of
// which must be in allowed, or all of allowed when it is absent.
func narrowed(f oauth.Form, name string, allowed []string, code string) ([]string, error) {
	if !f.Has(name) {
		return allowed, nil
	}
	req, err := oauth.ParseScope(f.Get(name))
	if err != nil {
		return nil, err
	}
	for _, v := range req {
		if !slices.Contains(allowed, v) {
			return nil, oauth.NewError(code, "a requested "+name+" is not granted by the presented token")
		}
	}
	return req, nil
}

func clientIDOf(c *store.Client) string {
	if c == nil {
		return ""
	}
	return c.ID
}

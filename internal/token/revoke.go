package token

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// RevocationHandler serves POST /oauth/revoke (RFC 7009).
func (e *Endpoint) RevocationHandler() http.Handler {
	return httpx.Handle(e.cfg.Logger, e.revoke)
}

// revoke answers 200 for unknown, malformed, expired and already revoked
// tokens (RFC 7009 §2.2), refuses another client's token, and answers 503,
// never 200, when a revocation could not be recorded.
func (e *Endpoint) revoke(w http.ResponseWriter, r *http.Request) error {
	f, err := parseAuthenticatedForm(r)
	if err != nil {
		return err
	}
	c, err := e.cfg.Clients.Authenticate(r, f)
	if err != nil {
		return err
	}
	tok := f.Get("token")
	if tok == "" {
		return oauth.NewError(oauth.CodeInvalidRequest, "token is required")
	}
	if looksLikeJWT(tok) {
		err = e.revokeAccess(r, tok, c)
	} else {
		err = e.revokeRefresh(r, tok, c)
	}
	if err != nil {
		return err
	}
	httpx.NoStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}

var errNotOwner = oauth.NewError(oauth.CodeUnauthorizedClient, "the token was not issued to this client")

func (e *Endpoint) revokeAccess(r *http.Request, tok string, c store.Client) error {
	var claims AccessClaims
	err := e.cfg.Signer.VerifyClaims(tok, keys.VerifyOptions{
		Algorithms: []string{e.cfg.AccessAlg}, Typ: TypAccessToken, Issuer: e.cfg.Issuer, Leeway: keys.MaxLeeway,
	}, &claims)
	if err != nil {
		// Not ours, forged, or already expired: nothing to revoke.
		return nil
	}
	if claims.ClientID != c.ID {
		return errNotOwner
	}
	exp := claims.ExpiresAt.Time.Add(keys.MaxLeeway)
	if err := e.cfg.Revocations.Revoke(r.Context(), store.Revocation{Kind: store.RevokeJTI, Value: claims.ID, ExpiresAt: exp}); err != nil {
		return oauth.Unavailable(err)
	}
	e.cfg.Auditor.Record(r.Context(), store.AuditEvent{Type: "token_revoked", ClientID: c.ID, UserID: userOf(claims),
		SessionID: claims.SID, Details: map[string]string{"jti": claims.ID, "token_type": "access_token"}})
	return nil
}

func (e *Endpoint) revokeRefresh(r *http.Request, tok string, c store.Client) error {
	ctx := r.Context()
	_, g, err := e.cfg.Store.GetRefreshToken(ctx, secret.OrderedHash(tok))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return oauth.Unavailable(err)
	}
	if g.ClientID != c.ID {
		return errNotOwner
	}
	rs, err := e.cfg.Store.RevokeGrant(ctx, g.ID, e.cfg.Now())
	if err != nil {
		return oauth.Unavailable(fmt.Errorf("revoke grant: %w", err))
	}
	e.cfg.Revocations.Apply(rs)
	e.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "token_revoked", ClientID: c.ID, UserID: g.UserID,
		SessionID: g.SessionID, Details: map[string]string{"grant_id": g.ID, "token_type": "refresh_token"}})
	return nil
}

func userOf(c AccessClaims) string {
	if c.Subject == c.ClientID {
		return ""
	}
	return c.Subject
}

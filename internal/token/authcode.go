package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// authorizationCode is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6) and
// the code-replay rules of RFC 9700 §4.5: the code is bound to its client,
// its redirect URI and its PKCE challenge, is single use, and a second use
// revokes everything the first one issued.
type authorizationCode struct {
	cfg    *Config
	minter *Minter
}

var (
	// One answer for every unusable code, so a caller cannot tell an unknown
	// code from someone else's (RFC 6749 §5.2 invalid_grant).
	errBadCode = oauth.NewError(oauth.CodeInvalidGrant, "the authorization code is invalid, expired or already used")
	// Mismatches of what the code is bound to get their own text, since
	// only the code's rightful holder gets that far.
	errRedirectMismatch = oauth.NewError(oauth.CodeInvalidGrant, "redirect_uri does not match the authorization request")
	errPKCE             = oauth.NewError(oauth.CodeInvalidGrant, "code_verifier does not match the code_challenge")
	errPKCEDowngrade    = oauth.NewError(oauth.CodeInvalidGrant, "code_verifier sent for a code issued without a code_challenge")
	errUserGone         = oauth.NewError(oauth.CodeInvalidGrant, "the user of this grant no longer exists or is disabled")
)

func (g *authorizationCode) grant(ctx context.Context, _ *http.Request, f oauth.Form, c store.Client) (*Response, error) {
	code := f.Get("code")
	if code == "" {
		return nil, oauth.NewError(oauth.CodeInvalidRequest, "code is required")
	}
	hash := secret.Hash(code)
	ac, err := g.cfg.Store.GetAuthCode(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errBadCode
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("load code: %w", err))
	}
	// CODE-03: a code is redeemable only by the client it was issued to.
	// Another client presenting it learns nothing and changes nothing.
	if ac.ClientID != c.ID {
		return nil, errBadCode
	}
	now := g.cfg.Now()
	// CODE-01: a second use, by whoever holds the code, revokes what the
	// first use issued (RFC 6749 §4.1.2). This comes before the redirect
	// and PKCE checks so that a stolen code replayed without the verifier
	// still triggers it.
	if !ac.UsedAt.IsZero() || ac.GrantID != "" {
		return nil, g.replayed(ctx, hash, ac, now)
	}
	// CODE-04: byte equality, no normalisation, and required even though
	// the client has only one registered URI (RFC 9700 §4.1.3).
	if !f.Has("redirect_uri") || f.Get("redirect_uri") != ac.RedirectURI {
		return nil, errRedirectMismatch
	}
	if err := checkPKCE(f, ac.CodeChallenge); err != nil {
		return nil, err
	}
	if !now.Before(ac.ExpiresAt) { // CODE-05
		return nil, errBadCode
	}
	u, err := activeUser(ctx, g.cfg.Store, ac.UserID)
	if err != nil {
		return nil, err
	}

	// Codes carry no audience when the authorization request named no
	// resource: the client's registered audiences (or itself) apply, as
	// for client_credentials. Audiences taken from the client since the
	// code was issued are dropped.
	base, aud, err := tokenAudiences(f, ac.Audiences, c)
	if err != nil {
		return nil, err
	}
	at, resp, err := g.minter.forUser(ctx, userGrant{Client: c, User: u, Scopes: ac.Scopes, Audiences: aud,
		SID: ac.SessionID, AuthTime: ac.AuthTime, Nonce: ac.Nonce})
	if err != nil {
		return nil, err
	}

	gr := store.Grant{ID: secret.ID(), ClientID: c.ID, UserID: u.ID, SessionID: ac.SessionID,
		Scopes: ac.Scopes, Audiences: base, AuthTime: ac.AuthTime, CreatedAt: now, ExpiresAt: now.Add(g.cfg.RefreshTTL)}
	iss := store.Issue{AccessToken: issuedAccess(at)}
	var refresh string
	if slices.Contains(c.GrantTypes, oauth.GrantRefreshToken) {
		refresh = secret.OrderedToken()
		iss.RefreshToken = newRefreshToken(refresh, gr, now, g.cfg.RefreshIdleTTL)
	}
	revs, err := g.cfg.Store.RedeemAuthCode(ctx, hash, now, gr, iss)
	switch {
	case errors.Is(err, store.ErrReused):
		// A concurrent redemption won the race: this one is the replay.
		g.reuseDetected(ctx, ac, revs)
		return nil, errBadCode
	case errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
		return nil, errBadCode
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("redeem code: %w", err))
	}
	resp.RefreshToken = refresh
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "token_issued", ClientID: c.ID, UserID: u.ID, SessionID: ac.SessionID,
		Details: map[string]string{"grant_type": oauth.GrantAuthorizationCode, "grant_id": gr.ID, "jti": at.JTI}})
	return resp, nil
}

// replayed handles a code that was already redeemed. The store revokes the
// grant of the first redemption before it answers ErrReused; the zero
// grant and issue are never written, since a used code stays used.
func (g *authorizationCode) replayed(ctx context.Context, hash []byte, ac store.AuthCode, now time.Time) error {
	revs, err := g.cfg.Store.RedeemAuthCode(ctx, hash, now, store.Grant{}, store.Issue{})
	switch {
	case errors.Is(err, store.ErrReused):
		g.reuseDetected(ctx, ac, revs)
		return errBadCode
	case errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
		return errBadCode
	case err != nil:
		// The first redemption's tokens may still be valid: make the client
		// retry rather than accept a final answer.
		return oauth.Unavailable(fmt.Errorf("revoke replayed code's grant: %w", err))
	}
	return oauth.ServerError(errors.New("token: a used code was redeemed again"))
}

func (g *authorizationCode) reuseDetected(ctx context.Context, ac store.AuthCode, revs []store.Revocation) {
	// The entries are durable already; this only makes this node's copy
	// see them before its next poll of the feed.
	g.cfg.Revocations.Apply(revs)
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "authorization_code_reuse_detected", ClientID: ac.ClientID,
		UserID: ac.UserID, SessionID: ac.SessionID,
		Details: map[string]string{"grant_id": ac.GrantID, "revoked_tokens": fmt.Sprint(len(revs))}})
}

// checkPKCE applies RFC 7636 §4.6 and the downgrade rule of RFC 9700
// §4.8.2: a verifier for a code issued without a challenge is refused, or
// an attacker could inject a code obtained without PKCE into a session that
// uses it.
func checkPKCE(f oauth.Form, challenge string) error {
	verifier, sent := f.Get("code_verifier"), f.Has("code_verifier")
	if challenge == "" {
		if sent {
			return errPKCEDowngrade
		}
		return nil
	}
	// VerifyPKCE rejects a malformed verifier, an empty one included.
	if !oauth.VerifyPKCE(verifier, challenge) {
		return errPKCE
	}
	return nil
}

// activeUser returns the grant's user, who must still exist and be enabled.
func activeUser(ctx context.Context, st Store, id string) (store.User, error) {
	u, err := st.GetUser(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, errUserGone
	case err != nil:
		return store.User{}, oauth.Unavailable(fmt.Errorf("load user: %w", err))
	case u.Disabled:
		return store.User{}, errUserGone
	}
	return u, nil
}

// narrowAudiences applies RFC 8707 "resource" (or "audience") parameters
// of a token request for a user grant: the access token gets the named
// audiences, each of which must be among those granted; without
// parameters, all of them.
func narrowAudiences(f oauth.Form, granted []string) ([]string, error) {
	req := requestedResources(f)
	if len(req) == 0 {
		return granted, nil
	}
	var out []string
	for _, a := range req {
		if !slices.Contains(granted, a) {
			return nil, oauth.NewError(oauth.CodeInvalidTarget, "a requested audience or resource was not granted")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// newRefreshToken returns the stored form of refresh token plain of grant
// gr: its hash, and an idle expiry that never passes the grant's end.
func newRefreshToken(plain string, gr store.Grant, now time.Time, idle time.Duration) *store.RefreshToken {
	exp := now.Add(idle)
	if exp.After(gr.ExpiresAt) {
		exp = gr.ExpiresAt
	}
	return &store.RefreshToken{Hash: secret.OrderedHash(plain), GrantID: gr.ID, CreatedAt: now, ExpiresAt: exp}
}

package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// refreshToken is RFC 6749 §6 with the rotation of RFC 9700 §4.14.2: every
// use returns a new refresh token in the same family (grant), inside one
// store transaction, and presenting a spent one (outside the client's grace
// window) is taken as theft: the whole family and its browser session are
// revoked.
type refreshToken struct {
	cfg    *Config
	minter *Minter
}

var errBadRefresh = oauth.NewError(oauth.CodeInvalidGrant, "the refresh token is invalid, expired or revoked")

func (g *refreshToken) grant(ctx context.Context, _ *http.Request, f oauth.Form, c store.Client) (*Response, error) {
	plain := f.Get("refresh_token")
	if plain == "" {
		return nil, oauth.NewError(oauth.CodeInvalidRequest, "refresh_token is required")
	}
	now := g.cfg.Now()
	next := secret.OrderedToken()
	var (
		ug userGrant
		a  Access
	)
	// The store reads the token, its grant and user, has plan decide
	// (no signing, which would hold the write lock on SQLite) and writes
	// the rotation with the planned access token's jti; the tokens are
	// signed once it has committed.
	plan := func(_ store.RefreshToken, gr store.Grant, u store.User) (store.Issue, error) {
		// RT-03: bound to its client (RFC 6749 §6); another client learns
		// nothing and changes nothing.
		if gr.ClientID != c.ID {
			return store.Issue{}, errBadRefresh
		}
		// Spent, expired and revoked tokens are left to the store, which
		// decides under its lock; a revoked family is refused here only
		// to skip the work for a token that can never be rotated.
		if !gr.RevokedAt.IsZero() {
			return store.Issue{}, errBadRefresh
		}
		scopes, err := refreshScopes(f, gr.Scopes, c.Scopes)
		if err != nil {
			return store.Issue{}, err
		}
		// RT-07: a disabled or deleted user's grants stop working at once.
		if u.ID == "" || u.Disabled {
			return store.Issue{}, errUserGone
		}
		_, aud, err := tokenAudiences(f, gr.Audiences, c)
		if err != nil {
			return store.Issue{}, err
		}
		ug = userGrant{Client: c, User: u, Scopes: scopes, Audiences: aud, SID: gr.SessionID, AuthTime: gr.AuthTime,
			NoIDToken: c.OmitRefreshIDToken}
		if a, err = g.minter.userAccess(ctx, ug); err != nil {
			return store.Issue{}, err
		}
		return store.Issue{RefreshToken: newRefreshToken(next, gr, now, g.cfg.RefreshIdleTTL),
			AccessToken: g.minter.issuedAccessOf(a)}, nil
	}
	rotated, revs, err := g.cfg.Store.RotateRefreshTokenWith(ctx, secret.OrderedHash(plain), now, c.RefreshGrace, plan)
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe):
		return nil, err
	case errors.Is(err, store.ErrReused):
		g.reuseDetected(ctx, rotated, revs)
		return nil, errBadRefresh
	case errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrNotFound):
		return nil, errBadRefresh
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("rotate refresh token: %w", err))
	}
	// Signing fails only without a key for the algorithm, which the keys
	// manager ensures at start; the rotation has committed by then, and a
	// client that retries within its refresh grace window gets new tokens.
	_, resp, err := g.minter.signForUser(ug, a)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = next
	// Refreshes are counted, not stored one by one: every signed-in user
	// refreshes every 15 minutes, and the rotation itself is on record in
	// the grant's refresh tokens. Sign-ins, reuse and revocations are
	// recorded in full.
	g.cfg.Auditor.Count("token_issued", c.ID, oauth.GrantRefreshToken)
	return resp, nil
}

// reuseDetected finishes what the store began when it revoked the family
// of a replayed refresh token: it publishes the revocations to this node's
// list and ends the browser session the family came from, since whoever
// replayed the token may hold that session's other grants too (DESIGN.md
// §4: "reuse of a spent token revokes the family and its session").
func (g *refreshToken) reuseDetected(ctx context.Context, gr store.Grant, revs []store.Revocation) {
	g.cfg.Revocations.Apply(revs)
	details := map[string]string{"grant_id": gr.ID, "revoked_tokens": fmt.Sprint(len(revs))}
	if gr.SessionID != "" {
		now := g.cfg.Now()
		// The sid entry must outlive every access token of the session,
		// including the verifiers' leeway.
		srevs, err := g.cfg.Store.EndSession(ctx, gr.SessionID, now, now.Add(g.cfg.AccessTTL+keys.MaxLeeway))
		if err != nil {
			// The family is revoked already (that committed with the
			// reuse); the answer stays invalid_grant, and the failure to
			// end the session is for operators to see.
			details["session_end_failed"] = "true"
			g.cfg.Logger.ErrorContext(ctx, "ending the session of a reused refresh token failed",
				slog.String("sid", gr.SessionID), slog.Any("error", err))
		} else {
			g.cfg.Revocations.Apply(srevs)
		}
	}
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "refresh_token_reuse_detected", ClientID: gr.ClientID,
		UserID: gr.UserID, SessionID: gr.SessionID, Details: details})
}

// refreshScopes returns the scopes of the refreshed access token: those
// requested, which must all have been granted (RFC 6749 §6), or else the
// whole grant; in both cases only scopes the client is still allowed.
// A scope removed from the client is dropped silently when implied and
// refused when asked for by name.
func refreshScopes(f oauth.Form, granted, allowed []string) ([]string, error) {
	want := granted
	if f.Has("scope") {
		req, err := oauth.ParseScope(f.Get("scope"))
		if err != nil {
			return nil, err
		}
		for _, s := range req {
			if !slices.Contains(granted, s) || !slices.Contains(allowed, s) {
				return nil, oauth.NewError(oauth.CodeInvalidScope, "a requested scope exceeds the original grant")
			}
		}
		if len(req) > 0 {
			want = req
		}
	}
	var out []string
	for _, s := range want {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// tokenAudiences returns what a grant (or code) may still issue tokens for
// (base: see grantAudiences) and, within it, what this request's RFC 8707
// resource parameters ask for (aud).
func tokenAudiences(f oauth.Form, granted []string, c store.Client) (base, aud []string, err error) {
	if base, err = grantAudiences(granted, c); err != nil {
		return nil, nil, err
	}
	if aud, err = narrowAudiences(f, base); err != nil {
		return nil, nil, err
	}
	return base, aud, nil
}

// grantAudiences is what a grant's tokens may be for now: the audiences it
// was granted that the client still has (an administrator may have taken
// some away since), or the client's registered audiences for a grant made
// without any. A grant none of whose audiences the client keeps can no
// longer issue tokens.
func grantAudiences(granted []string, c store.Client) ([]string, error) {
	if len(granted) == 0 {
		aud, _ := requestedAudiences(oauth.Form{}, c)
		return aud, nil
	}
	var out []string
	for _, a := range granted {
		if slices.Contains(c.Audiences, a) || a == c.ID {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, oauth.NewError(oauth.CodeInvalidGrant, "the client may no longer obtain tokens for this grant's audiences")
	}
	return out, nil
}

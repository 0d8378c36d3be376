package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Defaults of the device grant (RFC 8628 §3.2).
const (
	DefaultDeviceCodeTTL      = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
)

// DeviceAuthorizationPath is the device authorization endpoint.
const DeviceAuthorizationPath = "/oauth/device_authorization"

// DeviceVerificationPath is where the user enters the user code.
const DeviceVerificationPath = "/device"

// DeviceAuthorizationResponse is RFC 8628 §3.2.
type DeviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorizationHandler serves POST /oauth/device_authorization (RFC
// 8628 §3.1-3.2): an authenticated client that may use the device grant
// gets a device code for itself and a user code for its user. Both are
// stored only as hashes; the user code is unique among live codes.
func (e *Endpoint) DeviceAuthorizationHandler() http.Handler {
	return httpx.Handle(e.cfg.Logger, func(w http.ResponseWriter, r *http.Request) error {
		f, err := oauth.ParseForm(r, "resource")
		if err != nil {
			return err
		}
		c, err := e.cfg.Clients.Authenticate(r, f)
		if err != nil {
			return err
		}
		if !slices.Contains(c.GrantTypes, oauth.GrantDeviceCode) {
			return oauth.NewError(oauth.CodeUnauthorizedClient, "the client is not allowed to use the device authorization grant")
		}
		scopes, err := requestedScopes(f, c.Scopes)
		if err != nil {
			return err
		}
		// Like codes, a device code carries only the audiences asked for:
		// without any, the client's audiences at redemption apply.
		var aud []string
		if len(requestedResources(f)) > 0 {
			if aud, err = requestedAudiences(f, c); err != nil {
				return err
			}
		}
		now := e.cfg.Now()
		ttl, interval := e.cfg.DeviceCodeTTL, e.cfg.DevicePollInterval
		deviceCode := secret.Token()
		var userCode string
		// A user code collides with a live one about once in 2^34 / live
		// codes; a few retries make that irrelevant.
		for attempt := 0; ; attempt++ {
			userCode = secret.UserCode()
			normalized, _ := secret.NormalizeUserCode(userCode)
			err = e.cfg.Store.CreateDeviceCode(r.Context(), store.DeviceCode{
				Hash: secret.Hash(deviceCode), UserCodeHash: secret.Hash(normalized), ClientID: c.ID,
				Scopes: scopes, Audiences: aud, CreatedAt: now, ExpiresAt: now.Add(ttl), Interval: interval,
			}, now)
			if err == nil || !errors.Is(err, store.ErrConflict) || attempt == 3 {
				break
			}
		}
		if err != nil {
			return oauth.Unavailable(fmt.Errorf("store device code: %w", err))
		}
		verify := e.cfg.Issuer + DeviceVerificationPath
		httpx.NoStore(w)
		httpx.WriteJSON(w, http.StatusOK, DeviceAuthorizationResponse{
			DeviceCode: deviceCode, UserCode: userCode, VerificationURI: verify,
			VerificationURIComplete: verify + "?" + url.Values{"user_code": {userCode}}.Encode(),
			ExpiresIn:               int64(ttl / time.Second), Interval: int64(interval / time.Second),
		})
		return nil
	})
}

// deviceCode is RFC 8628 §3.4-3.5: the device polls with its device code
// until the user approves or denies it on the verification page; an
// approved code is redeemable once, by the client it was issued to, for a
// grant like a code redemption's (access token, refresh token when the
// client may refresh, id_token with openid), in the approving browser
// session so that logging out there ends it.
type deviceCode struct {
	cfg    *Config
	minter *Minter
}

var (
	// One answer for every code that is not ours to redeem, as for codes.
	errBadDeviceCode = oauth.NewError(oauth.CodeInvalidGrant, "the device code is invalid, was issued to another client or was already used")
	errDevicePending = &oauth.Error{Code: oauth.CodeAuthorizationPending, Description: "the user has not yet approved the request"}
	errDeviceSlow    = &oauth.Error{Code: oauth.CodeSlowDown, Description: "polling too fast: wait 5 seconds longer between requests"}
	errDeviceDenied  = &oauth.Error{Code: oauth.CodeAccessDenied, Description: "the user denied the request"}
	errDeviceExpired = &oauth.Error{Code: oauth.CodeExpiredToken, Description: "the device code has expired; start again"}
)

func (g *deviceCode) grant(ctx context.Context, _ *http.Request, f oauth.Form, c store.Client) (*Response, error) {
	code := f.Get("device_code")
	if code == "" {
		return nil, oauth.NewError(oauth.CodeInvalidRequest, "device_code is required")
	}
	hash, now := secret.Hash(code), g.cfg.Now()
	d, err := g.cfg.Store.PollDeviceCode(ctx, hash, c.ID, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errBadDeviceCode
	case errors.Is(err, store.ErrExpired):
		return nil, errDeviceExpired
	case errors.Is(err, store.ErrSlowDown):
		return nil, errDeviceSlow
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("poll device code: %w", err))
	}
	switch {
	case d.Status == store.DevicePending:
		return nil, errDevicePending
	case d.Status == store.DeviceDenied:
		return nil, errDeviceDenied
	case !d.UsedAt.IsZero() || d.GrantID != "":
		return nil, g.replayed(ctx, hash, d, now)
	}
	u, err := activeUser(ctx, g.cfg.Store, d.UserID)
	if err != nil {
		return nil, err
	}
	base, aud, err := tokenAudiences(f, d.Audiences, c)
	if err != nil {
		return nil, err
	}
	at, resp, err := g.minter.forUser(ctx, userGrant{Client: c, User: u, Scopes: d.Scopes, Audiences: aud,
		SID: d.SessionID, AuthTime: d.AuthTime})
	if err != nil {
		return nil, err
	}
	gr := store.Grant{ID: secret.ID(), ClientID: c.ID, UserID: u.ID, SessionID: d.SessionID,
		Scopes: d.Scopes, Audiences: base, AuthTime: d.AuthTime, CreatedAt: now, ExpiresAt: now.Add(g.cfg.RefreshTTL)}
	iss := store.Issue{AccessToken: issuedAccess(at)}
	var refresh string
	if slices.Contains(c.GrantTypes, oauth.GrantRefreshToken) {
		refresh = secret.OrderedToken()
		iss.RefreshToken = newRefreshToken(refresh, gr, now, g.cfg.RefreshIdleTTL)
	}
	revs, err := g.cfg.Store.RedeemDeviceCode(ctx, hash, now, gr, iss)
	switch {
	case errors.Is(err, store.ErrReused):
		g.reuseDetected(ctx, d, revs)
		return nil, errBadDeviceCode
	case errors.Is(err, store.ErrExpired):
		return nil, errDeviceExpired
	case errors.Is(err, store.ErrNotFound):
		// The approving session ended, or the user was signed out, in
		// between: the approval went with it.
		return nil, errBadDeviceCode
	case err != nil:
		return nil, oauth.Unavailable(fmt.Errorf("redeem device code: %w", err))
	}
	resp.RefreshToken = refresh
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "token_issued", ClientID: c.ID, UserID: u.ID, SessionID: d.SessionID,
		Details: map[string]string{"grant_type": oauth.GrantDeviceCode, "grant_id": gr.ID, "jti": at.JTI}})
	return resp, nil
}

// replayed handles a device code that was already redeemed: the store
// revokes the grant of the first redemption, as for a replayed code.
func (g *deviceCode) replayed(ctx context.Context, hash []byte, d store.DeviceCode, now time.Time) error {
	revs, err := g.cfg.Store.RedeemDeviceCode(ctx, hash, now, store.Grant{}, store.Issue{})
	switch {
	case errors.Is(err, store.ErrReused):
		g.reuseDetected(ctx, d, revs)
		return errBadDeviceCode
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired):
		return errBadDeviceCode
	case err != nil:
		return oauth.Unavailable(fmt.Errorf("revoke replayed device code's grant: %w", err))
	}
	return oauth.ServerError(errors.New("token: a used device code was redeemed again"))
}

func (g *deviceCode) reuseDetected(ctx context.Context, d store.DeviceCode, revs []store.Revocation) {
	g.cfg.Revocations.Apply(revs)
	g.cfg.Auditor.Record(ctx, store.AuditEvent{Type: "device_code_reuse_detected", ClientID: d.ClientID,
		UserID: d.UserID, SessionID: d.SessionID,
		Details: map[string]string{"grant_id": d.GrantID, "revoked_tokens": fmt.Sprint(len(revs))}})
}

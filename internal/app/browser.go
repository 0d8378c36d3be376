package app

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/authorize"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/web"
)

// pendingRequestTTL bounds how long a user may take to sign in and consent.
const pendingRequestTTL = 15 * time.Minute

// initBrowserFlow builds the authorization endpoint and the login, consent
// and logout pages. Their keys derive from the master key, so every node
// can open what another node sealed.
func (a *App) initBrowserFlow(masterKey []byte) error {
	sealKey, err := keys.DeriveKey(masterKey, "gatehouse authorize: request seal v1")
	if err != nil {
		return err
	}
	csrfKey, err := keys.DeriveKey(masterKey, "gatehouse login: csrf v1")
	if err != nil {
		return err
	}
	sealer, err := authorize.NewSealer(sealKey, pendingRequestTTL, a.now)
	if err != nil {
		return err
	}
	if a.pages, err = web.New(); err != nil {
		return fmt.Errorf("pages: %w", err)
	}
	cookies := login.Cookies{Secure: !a.cfg.DevMode()}
	if !cookies.Secure {
		a.log.Warn("dev mode: browser cookies are sent without Secure and the __Host- prefix over plain http")
	}
	sessions := login.NewSessions(a.store, cookies, a.cfg.Tokens.SessionTTL, a.now)
	a.authorize = authorize.New(authorize.Config{
		Issuer: a.cfg.Issuer, CodeTTL: a.cfg.Tokens.CodeTTL, Store: a.store, Sessions: sessions,
		Sealer: sealer, Pages: a.pages, Logger: a.log, Now: a.now,
	})
	a.login = login.New(login.Config{
		Issuer:           a.cfg.Issuer,
		Store:            a.store,
		Sessions:         sessions,
		CSRF:             login.NewCSRF(csrfKey, cookies, a.cfg.Issuer),
		Hasher:           login.NewHasher(login.OWASPParams(), 0),
		Pages:            a.pages,
		Sealer:           sealer,
		Authorize:        a.authorize,
		Devices:          a.store,
		Revocations:      a.revocations,
		Auditor:          a.audit,
		VerifyHint:       a.verifyIDTokenHint,
		SIDRevocationTTL: a.cfg.Tokens.AccessTTL + keys.MaxLeeway,
		Logger:           a.log,
		Now:              a.now,
	})
	return nil
}

// hintClaims are the id_token claims logout needs.
type hintClaims struct {
	jwt.RegisteredClaims
	SID string `json:"sid"`
}

func (c *hintClaims) GetID() string { return c.ID }

// verifyIDTokenHint checks an id_token_hint: one of our RS256 id_tokens,
// unexpired, for exactly one client.
func (a *App) verifyIDTokenHint(tok string) (clientID, sub, sid string, err error) {
	var c hintClaims
	err = a.keys.VerifyClaims(tok, keys.VerifyOptions{
		Algorithms: []string{keys.RS256, keys.ES256}, Typ: "JWT", Issuer: a.cfg.Issuer, Leeway: keys.MaxLeeway,
	}, &c)
	if err != nil {
		return "", "", "", err
	}
	if len(c.Audience) != 1 {
		return "", "", "", fmt.Errorf("id_token_hint has %d audiences", len(c.Audience))
	}
	return c.Audience[0], c.Subject, c.SID, nil
}

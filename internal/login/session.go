package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// SessionStore is what browser sessions need from the store.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	GetSessionByTokenHash(ctx context.Context, h []byte, now time.Time) (store.Session, error)
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Cookies names and flags the browser cookies. In production they carry the
// __Host- prefix (Secure, Path=/, no Domain: the browser refuses to let a
// subdomain or plain-http page set them). A plain-http loopback issuer (dev
// mode) cannot use Secure cookies, so there the prefix and flag are dropped.
type Cookies struct {
	Secure bool
}

// SessionName is the session cookie's name.
func (c Cookies) SessionName() string { return c.prefix() + "gh_session" }

// CSRFName is the CSRF cookie's name.
func (c Cookies) CSRFName() string { return c.prefix() + "gh_csrf" }

func (c Cookies) prefix() string {
	if c.Secure {
		return "__Host-"
	}
	return ""
}

func (c Cookies) cookie(name, value string, maxAge int) *http.Cookie {
	//nolint:gosec // G124: HttpOnly, SameSite=Lax; Secure unless dev mode (http:// loopback issuer)
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: c.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// Sessions manages browser sessions: a random secret in a cookie, stored
// only as its SHA-256.
type Sessions struct {
	st      SessionStore
	cookies Cookies
	ttl     time.Duration
	now     func() time.Time
}

// NewSessions returns a session manager.
func NewSessions(st SessionStore, cookies Cookies, ttl time.Duration, now func() time.Time) *Sessions {
	return &Sessions{st: st, cookies: cookies, ttl: ttl, now: now}
}

// Current returns the browser's session and its user. A missing, unknown,
// expired or planted cookie, a deleted user and a disabled user all mean
// "not signed in".
func (s *Sessions) Current(r *http.Request) (store.Session, store.User, bool, error) {
	ck, err := r.Cookie(s.cookies.SessionName())
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return store.Session{}, store.User{}, false, nil
	}
	sess, err := s.st.GetSessionByTokenHash(r.Context(), secret.Hash(ck.Value), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, store.User{}, false, nil
	}
	if err != nil {
		return store.Session{}, store.User{}, false, fmt.Errorf("login: load session: %w", err)
	}
	u, err := s.st.GetUser(r.Context(), sess.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return store.Session{}, store.User{}, false, nil
	}
	if err != nil {
		return store.Session{}, store.User{}, false, fmt.Errorf("login: load session user: %w", err)
	}
	return sess, u, true, nil
}

// Start creates a new session for u and sets its cookie. The id is always
// new, so a cookie planted before sign-in never becomes authenticated
// (session fixation, ASVS 7.2.4).
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, u store.User) (store.Session, error) {
	now := s.now()
	tok := secret.Token()
	sess := store.Session{ID: secret.ID(), TokenHash: secret.Hash(tok), UserID: u.ID,
		AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(s.ttl)}
	if err := s.st.CreateSession(r.Context(), sess); err != nil {
		return store.Session{}, fmt.Errorf("login: create session: %w", err)
	}
	http.SetCookie(w, s.cookies.cookie(s.cookies.SessionName(), tok, int(s.ttl.Seconds())))
	return sess, nil
}

// Clear removes the session cookie from the browser.
func (s *Sessions) Clear(w http.ResponseWriter) {
	http.SetCookie(w, s.cookies.cookie(s.cookies.SessionName(), "", -1))
}

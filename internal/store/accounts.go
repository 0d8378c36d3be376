package store

import (
	"context"
	"time"
)

// Token endpoint client authentication methods (RFC 7591 §2).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
)

// Client is a registered OAuth client.
type Client struct {
	// ID is the client_id.
	ID   string
	Name string
	// SecretHash is the SHA-256 of the client secret (secrets are >= 256-bit
	// random values, so a fast hash suffices); nil for public clients.
	SecretHash []byte
	// Public clients cannot keep a secret and must use PKCE.
	Public bool
	// TokenEndpointAuthMethod is one of the Auth* constants.
	TokenEndpointAuthMethod string
	// RedirectURIs are matched exactly at /oauth/authorize (loopback
	// redirect URIs accept any port, RFC 8252 §7.3).
	RedirectURIs []string
	// PostLogoutRedirectURIs are matched exactly at /oauth/logout.
	PostLogoutRedirectURIs []string
	// GrantTypes the client may use at the token endpoint.
	GrantTypes []string
	// Scopes the client may request.
	Scopes []string
	// Audiences the client may request tokens for ("aud" of access tokens).
	Audiences []string
	// Roles carried by client_credentials tokens, which also decide what
	// the client itself may do (read the revocation feed).
	Roles []string
	// SkipConsent marks first-party clients whose users are not asked.
	SkipConsent bool
	// RefreshGrace is how long a just-rotated refresh token may be replayed
	// (a lost response) before replay counts as reuse. Zero by default.
	RefreshGrace time.Duration
	// IDTokenAlg is the client's id_token_signed_response_alg (OpenID
	// Connect Registration §2); empty means RS256.
	IDTokenAlg string
	// OmitRefreshIDToken leaves the id_token out of the client's refresh
	// responses (OpenID Connect Core §12.2 allows it), saving a signature
	// per refresh for clients that read the user from their first id_token.
	OmitRefreshIDToken bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Clients persists OAuth clients.
//
// Throughout the store, an empty list, map or byte string (SecretHash,
// RedirectURIs, ...) may read back as nil.
type Clients interface {
	// CreateClient inserts c; ErrConflict when the ID exists.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by ID (bytewise).
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient atomically reads the client, applies fn and writes the
	// result. ErrNotFound when absent; fn's error is returned unchanged and
	// nothing is written. The ID cannot change: an fn that changes it gets
	// an error and nothing is written. fn runs with the row locked, so it
	// must be quick and must not call the store; the store does not set
	// UpdatedAt, fn does.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// DeleteClient removes the client; ErrNotFound when absent. In the same
	// transaction it deletes the client's consents and codes and revokes its
	// grants as RevokeGrant does, so that a client registered later under
	// the same ID inherits neither consent nor refresh tokens. The RevokeJTI
	// entries written are not returned (followers get them through
	// RevocationsSince) and are timed by the system clock.
	DeleteClient(ctx context.Context, id string) error
}

// User is an end user who signs in with a password.
type User struct {
	// ID is an opaque, stable identifier: the "sub" claim.
	ID string
	// Username is unique, compared case-insensitively (Unicode simple
	// folding is not required: ASCII case-insensitivity is enough; the SQL
	// backends fold with strings.ToLower). It must not be empty.
	Username string
	// Email is unique case-insensitively when not empty.
	Email         string
	EmailVerified bool
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// PasswordChangedAt is when PasswordHash last changed.
	PasswordChangedAt time.Time
}

// Users persists end users.
type Users interface {
	// CreateUser inserts u; ErrConflict when the ID, the username or the
	// e-mail (case-insensitively) is taken by another user, including a
	// username equal to another user's e-mail or the reverse.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByLogin finds the user whose username or e-mail equals login
	// case-insensitively, or ErrNotFound.
	GetUserByLogin(ctx context.Context, login string) (User, error)
	// ListUsers returns every user ordered by username, case-insensitively
	// (by the folded username, bytewise).
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser is the read-modify-write of UpdateClient for users, with
	// the same rules; ErrConflict when the new username or e-mail is taken
	// (as for CreateUser), and then nothing is written.
	UpdateUser(ctx context.Context, id string, fn func(User) (User, error)) (User, error)
	// DeleteUser removes the user with their sessions and consents;
	// ErrNotFound when absent. In the same transaction it also deletes the
	// user's codes and revokes their grants as RevokeGrant does (entries not
	// returned, timed by the system clock, as for DeleteClient). It writes
	// no RevokeSID or RevokeSubject entry: callers that want the user's
	// outstanding access tokens dead at once add a RevokeSubject entry.
	DeleteUser(ctx context.Context, id string) error
}

// Session is a browser login session at Gatehouse.
type Session struct {
	// ID is the public session identifier: the "sid" claim.
	ID string
	// TokenHash is the SHA-256 of the secret in the session cookie; unique.
	TokenHash []byte
	UserID    string
	// AuthTime is when the user last authenticated with a password.
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Sessions persists browser sessions.
type Sessions interface {
	// CreateSession inserts s; ErrConflict on a duplicate ID or TokenHash.
	CreateSession(ctx context.Context, s Session) error
	// GetSessionByTokenHash returns the session whose cookie hashes to h,
	// or ErrNotFound (also when it has expired by now: a session, like
	// everything with an ExpiresAt, has expired once now >= ExpiresAt).
	GetSessionByTokenHash(ctx context.Context, h []byte, now time.Time) (Session, error)
	// ListUserSessions returns the user's unexpired sessions, newest first.
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// Consent records the scopes a user granted a client.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// Consents persists consent decisions.
type Consents interface {
	// GetConsent returns the consent or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent inserts or replaces (every field, CreatedAt included)
	// the consent for (UserID, ClientID).
	SaveConsent(ctx context.Context, c Consent) error
	// DeleteConsent removes it; ErrNotFound when absent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// AuditEvent is one security-relevant event.
type AuditEvent struct {
	// ID is assigned by the store, increasing with insertion order.
	ID        int64
	Time      time.Time
	Type      string // e.g. "login_failed", "refresh_token_reuse_detected"
	ClientID  string
	UserID    string
	SessionID string
	IP        string
	RequestID string
	// Details holds extra non-secret facts.
	Details map[string]string
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	// Limit caps the result (1..1000; 0 means 100). Values outside the
	// range are clamped: below 1 means 100, above 1000 means 1000.
	Limit int
	// BeforeID, when > 0, returns only events with ID < BeforeID (paging).
	BeforeID int64
	// Type, UserID and ClientID filter when not empty.
	Type     string
	UserID   string
	ClientID string
}

// Audit persists audit events.
type Audit interface {
	// AppendAuditEvent stores e (ignoring e.ID) and returns its assigned ID.
	AppendAuditEvent(ctx context.Context, e AuditEvent) (int64, error)
	// AppendAuditEvents stores every event of es in one transaction, in
	// order (IDs increase along es); all or none are stored.
	AppendAuditEvents(ctx context.Context, es []AuditEvent) error
	// ListAuditEvents returns matching events, newest (highest ID) first.
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

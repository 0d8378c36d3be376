package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the grant life cycle.
var (
	// ErrReused reports that a single-use credential (authorization code,
	// rotated refresh token) was presented again. The store has already
	// revoked the grant it belongs to when it returns this.
	ErrReused = errors.New("store: credential reused")
	// ErrRevoked reports that the grant was revoked.
	ErrRevoked = errors.New("store: revoked")
	// ErrExpired reports that the credential or its grant has expired.
	ErrExpired = errors.New("store: expired")
)

// AuthCode is an issued authorization code, stored by hash.
type AuthCode struct {
	// Hash is the SHA-256 of the code; the code itself is never stored.
	Hash        []byte
	ClientID    string
	UserID      string
	SessionID   string
	RedirectURI string
	Scopes      []string
	Audiences   []string
	Nonce       string
	// CodeChallenge is the S256 PKCE challenge, empty when none was sent.
	CodeChallenge string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// UsedAt is zero until the code is redeemed.
	UsedAt time.Time
	// GrantID is the grant created when the code was redeemed.
	GrantID string
}

// Grant is one authorization (a refresh-token family): everything issued
// from one code redemption shares it.
type Grant struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string
	Scopes    []string
	Audiences []string
	AuthTime  time.Time
	CreatedAt time.Time
	// ExpiresAt is the family's absolute end.
	ExpiresAt time.Time
	// RevokedAt is zero while the grant is valid.
	RevokedAt time.Time
}

// RefreshToken is one refresh token of a grant, stored by hash.
type RefreshToken struct {
	Hash      []byte
	GrantID   string
	CreatedAt time.Time
	// ExpiresAt is the idle expiry, never after the grant's ExpiresAt.
	ExpiresAt time.Time
	// UsedAt is zero until the token is rotated.
	UsedAt time.Time
}

// IssuedAccessToken records an access token minted for a grant so that
// revoking the grant can revoke its still-valid access tokens by jti.
type IssuedAccessToken struct {
	JTI       string
	ExpiresAt time.Time
}

// Issue is what one token response writes: the refresh token (nil when
// none is issued) and the access token's jti.
//
// The store writes the refresh token unused, into the grant being issued
// from (a GrantID naming another grant is an error; an empty one is
// filled in), with its ExpiresAt cut to the grant's ExpiresAt. The access
// token must have a JTI and an ExpiresAt, since otherwise revoking the
// grant could not revoke it; without them the whole call fails.
type Issue struct {
	RefreshToken *RefreshToken
	AccessToken  IssuedAccessToken
}

// RotationPlan decides what a refresh-token rotation issues, or refuses it
// with an error; see Grants.RotateRefreshTokenWith.
type RotationPlan func(rt RefreshToken, g Grant, u User) (Issue, error)

// Revocation kinds (DESIGN.md §4).
const (
	// RevokeJTI revokes one token by its "jti".
	RevokeJTI = "jti"
	// RevokeSID revokes every token carrying this "sid".
	RevokeSID = "sid"
	// RevokeSubject revokes every token of this "sub" issued ("iat")
	// before NotBefore.
	RevokeSubject = "sub"
)

// Revocation is an entry of the revocation list. Entries are unique by
// (Kind, Value); adding an existing one keeps the later NotBefore and
// ExpiresAt (each independently) and the original CreatedAt.
type Revocation struct {
	// Seq is assigned by the store, strictly increasing with every insert or
	// update, so followers can ask for "everything after Seq". Seqs become
	// visible in order: once an entry can be read, no entry with a smaller
	// Seq can appear later, so a follower never skips one.
	Seq   int64
	Kind  string
	Value string
	// NotBefore is used by RevokeSubject entries only.
	NotBefore time.Time
	// ExpiresAt is when the entry may be dropped: after the longest-lived
	// token it covers has expired.
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Grants persists codes, grants, refresh tokens and the revocation list.
// Every method that issues tokens does all its writes in one transaction.
//
// Something with an ExpiresAt has expired once now >= ExpiresAt (a zero
// ExpiresAt has always expired). Methods that record now as a marker
// (UsedAt, RevokedAt) refuse the zero time with an error, since it would
// read back as "not set".
type Grants interface {
	// CreateAuthCode stores a new code; ErrConflict on a duplicate hash.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code (used or not) or ErrNotFound.
	GetAuthCode(ctx context.Context, hash []byte) (AuthCode, error)
	// RedeemAuthCode marks the code used, creates g (GrantID of the code
	// becomes g.ID) and writes iss, in one transaction; exactly one of any
	// number of concurrent calls succeeds. A code that was already used
	// returns ErrReused, after revoking (as RevokeGrant) the grant its
	// first redemption created; the revocations written are returned so the
	// caller can publish them to caches. ErrNotFound when absent;
	// ErrExpired when past ExpiresAt at now. A used code is reuse even once
	// it has expired. ErrConflict when g.ID, the refresh token or the jti
	// exists; nothing is written then.
	RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g Grant, iss Issue) ([]Revocation, error)

	// CreateGrant creates a grant and writes iss in one transaction (for
	// grants that start without a code, such as the device grant).
	CreateGrant(ctx context.Context, g Grant, iss Issue) error
	// GetGrant returns the grant or ErrNotFound.
	GetGrant(ctx context.Context, id string) (Grant, error)
	// GetRefreshToken returns the token and its grant, or ErrNotFound.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, Grant, error)
	// RotateRefreshToken redeems the refresh token with the given hash and
	// writes iss (whose RefreshToken has GrantID set to the same grant), in
	// one transaction, and returns the grant. Exactly one of concurrent
	// rotations of an unused token succeeds. When the token was already
	// used: within grace of its UsedAt the rotation succeeds again (a lost
	// response); otherwise the grant is revoked as by RevokeGrant and
	// ErrReused is returned with the revocations written. ErrNotFound when
	// absent; ErrRevoked when the grant is revoked; ErrExpired when the
	// token or grant has expired at now.
	//
	// Precisely, in this order: ErrNotFound; ErrRevoked (nothing written);
	// used and not within grace, where within grace means grace > 0 and
	// now - UsedAt <= grace (so grace <= 0 makes every replay reuse):
	// ErrReused, even when the token or grant has expired meanwhile;
	// ErrExpired. A replay within grace does not mark anything again. With
	// ErrRevoked, ErrExpired and ErrReused the grant is returned too (with
	// ErrReused, revoked), so that the caller can audit whose family it
	// was; nothing may be issued from it.
	RotateRefreshToken(ctx context.Context, hash []byte, now time.Time, grace time.Duration, iss Issue) (Grant, []Revocation, error)
	// RotateRefreshTokenWith is RotateRefreshToken with iss decided by
	// plan from the token, its grant and the grant's user (the zero User
	// when the user no longer exists; without its PasswordHash, which no
	// token needs), as read at the start of the rotation. An error from
	// plan is returned as it is, with nothing written; plan must not call
	// the store. ErrNotFound when the token is absent (plan is not called).
	RotateRefreshTokenWith(ctx context.Context, hash []byte, now time.Time, grace time.Duration, plan RotationPlan) (Grant, []Revocation, error)
	// RevokeGrant marks the grant revoked, so none of its refresh tokens
	// works again, and adds a RevokeJTI entry for each of its access tokens
	// still unexpired at now; it returns the entries written. Revoking a
	// revoked grant succeeds and writes nothing. ErrNotFound when absent.
	RevokeGrant(ctx context.Context, id string, now time.Time) ([]Revocation, error)
	// EndSession deletes the browser session, revokes every grant carrying
	// its SessionID (as RevokeGrant) and adds a RevokeSID entry expiring at
	// sidExpiresAt, in one transaction; it returns the entries written. An
	// absent session still gets the RevokeSID entry. It also deletes the
	// session's unused codes, so that a code issued just before the end
	// cannot start a new grant in it (used ones stay: see PruneExpired).
	// sid and sidExpiresAt must not be empty or zero.
	EndSession(ctx context.Context, sid string, now, sidExpiresAt time.Time) ([]Revocation, error)

	// RevokeUserGrants signs a user out everywhere, in one transaction: it
	// deletes the user's browser sessions and unused codes, revokes every
	// grant of the user (as RevokeGrant) and adds extra entries (typically a
	// RevokeSubject not-before); it returns the entries written. Used when a
	// password changes or an account is disabled.
	RevokeUserGrants(ctx context.Context, userID string, now time.Time, extra ...Revocation) ([]Revocation, error)

	// AddRevocations upserts entries (see Revocation) and returns them with
	// Seq and CreatedAt (now, for new entries) assigned, as stored, in input
	// order. Every entry needs a known Kind, a Value and an ExpiresAt (an
	// entry without one would be dropped at once); otherwise it fails and
	// writes nothing.
	AddRevocations(ctx context.Context, rs []Revocation, now time.Time) ([]Revocation, error)
	// RevocationsSince returns unexpired entries (at now) with Seq > seq in
	// Seq order, at most limit of them. limit must be positive: it is an
	// error otherwise, lest "asked for nothing" read as "nothing new".
	RevocationsSince(ctx context.Context, seq int64, now time.Time, limit int) ([]Revocation, error)
	// IsRevoked reports whether a token with these claims is revoked by an
	// unexpired entry: its jti, its sid (when not empty), or a subject
	// entry for sub whose NotBefore is after iat (a zero iat is before every
	// NotBefore).
	IsRevoked(ctx context.Context, jti, sid, sub string, iat, now time.Time) (bool, error)
	// PruneExpired deletes revocation entries, codes, refresh tokens,
	// grants and sessions whose expiry is at or before now, and returns how
	// many rows it deleted. It also deletes the records of issued access
	// tokens that have expired. Used codes and used refresh tokens are kept
	// past their own expiry until their grant is deleted, so that a late
	// replay is still detected as reuse and revokes the grant.
	PruneExpired(ctx context.Context, now time.Time) (int, error)
}

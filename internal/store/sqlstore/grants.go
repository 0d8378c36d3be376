package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Lock order. Every transaction that writes to the grant tables takes its
// row locks (PostgreSQL; SQLite serializes writers) in this order, so that
// concurrent ones cannot deadlock: session, then codes, then grants
// (several in ID order), then refresh token, then the revocation_seq row,
// which is always last and held until commit.

const authCodeColumns = `hash, client_id, user_id, session_id, redirect_uri, scopes, audiences,
nonce, code_challenge, auth_time, created_at, expires_at, used_at, grant_id`

const grantColumns = `id, client_id, user_id, session_id, scopes, audiences,
auth_time, created_at, expires_at, revoked_at`

const refreshTokenColumns = `hash, grant_id, created_at, expires_at, used_at`

const (
	insertAuthCode = `INSERT INTO auth_codes (` + authCodeColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

	selectAuthCode = `SELECT ` + authCodeColumns + ` FROM auth_codes WHERE hash = $1`

	// The used_at = 0 guard makes the update a compare-and-set even where
	// the row lock is missing.
	markAuthCodeUsed = `UPDATE auth_codes SET used_at = $2, grant_id = $3
WHERE hash = $1 AND used_at = 0 AND grant_id = ''`

	insertGrant = `INSERT INTO grants (` + grantColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

	selectGrant = `SELECT ` + grantColumns + ` FROM grants WHERE id = $1`

	selectGrantRevokedAt = `SELECT revoked_at FROM grants WHERE id = $1`

	markGrantRevoked = `UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`

	// The unrevoked grants of a session, user or client, in ID order so that
	// concurrent revokers lock them in the same order.
	selectGrantIDsBySession = `SELECT id FROM grants WHERE session_id = $1 AND revoked_at = 0 ORDER BY id`
	selectGrantIDsByUser    = `SELECT id FROM grants WHERE user_id = $1 AND revoked_at = 0 ORDER BY id`
	selectGrantIDsByClient  = `SELECT id FROM grants WHERE client_id = $1 AND revoked_at = 0 ORDER BY id`

	insertRefreshToken = `INSERT INTO refresh_tokens (` + refreshTokenColumns + `) VALUES ($1, $2, $3, $4, 0)`

	selectRefreshToken = `SELECT ` + refreshTokenColumns + ` FROM refresh_tokens WHERE hash = $1`

	selectRefreshTokenAndGrant = `SELECT r.hash, r.grant_id, r.created_at, r.expires_at, r.used_at,
g.id, g.client_id, g.user_id, g.session_id, g.scopes, g.audiences,
g.auth_time, g.created_at, g.expires_at, g.revoked_at
FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
WHERE r.hash = $1`

	markRefreshTokenUsed = `UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at = 0`

	selectRefreshTokenGrantID = `SELECT grant_id FROM refresh_tokens WHERE hash = $1`

	// The user columns read as their zero values when the user is gone.
	// The token's hash and grant ID are the caller's and the grant's, and
	// the password hash is left out (RotationPlan): every column read costs
	// allocations on each refresh.
	selectRefreshTokenGrantUser = `SELECT r.created_at, r.expires_at, r.used_at,
g.id, g.client_id, g.user_id, g.session_id, g.scopes, g.audiences,
g.auth_time, g.created_at, g.expires_at, g.revoked_at,
COALESCE(u.id, ''), COALESCE(u.username, ''), COALESCE(u.email, ''), COALESCE(u.email_verified, false),
COALESCE(u.roles, '[]'), COALESCE(u.disabled, false),
COALESCE(u.created_at, 0), COALESCE(u.updated_at, 0), COALESCE(u.password_changed_at, 0)
FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id LEFT JOIN users u ON u.id = g.user_id
WHERE r.hash = $1`

	insertAccessToken = `INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)`

	selectLiveAccessTokens = `SELECT jti, expires_at FROM access_tokens
WHERE grant_id = $1 AND expires_at > $2
ORDER BY expires_at, jti`

	deleteSession = `DELETE FROM sessions WHERE id = $1`

	// Used codes stay: a replay must still find them to revoke their grant.
	deleteSessionUnusedCodes = `DELETE FROM auth_codes WHERE session_id = $1 AND used_at = 0`
)

// expired reports whether something expiring at exp has expired at now.
// Stored times are whole microseconds, so comparing the instants agrees
// with the "expires_at <= now" of the queries; the zero time counts as
// expired.
func expired(exp, now time.Time) bool { return !now.Before(exp) }

// CreateAuthCode implements store.Grants. UsedAt and GrantID are stored
// as given.
func (s *DB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.q.ExecContext(ctx, insertAuthCode, c.Hash, c.ClientID, c.UserID, c.SessionID,
		c.RedirectURI, encodeList(c.Scopes), encodeList(c.Audiences), c.Nonce, c.CodeChallenge,
		toMicros(c.AuthTime), toMicros(c.CreatedAt), toMicros(c.ExpiresAt), toMicros(c.UsedAt), c.GrantID)
	if err != nil {
		return fmt.Errorf("sqlstore: create auth code: %w", s.conflict(err))
	}
	return nil
}

// GetAuthCode implements store.Grants.
func (s *DB) GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	c, err := scanAuthCode(s.q.QueryRowContext(ctx, selectAuthCode, hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("sqlstore: get auth code: %w", err)
	}
	return c, nil
}

// RedeemAuthCode implements store.Grants. The code row is read with
// Dialect.ForUpdate, so a concurrent redemption waits for the first to
// commit and then sees the code used, with the GrantID whose grant it
// revokes. A used code is reused whether or not it has since expired.
func (s *DB) RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g store.Grant, iss store.Issue) ([]store.Revocation, error) {
	if now.IsZero() {
		return nil, fmt.Errorf("sqlstore: redeem auth code: %w", errZeroNow)
	}
	var (
		revs   []store.Revocation
		reused bool
	)
	err := s.inTx(ctx, func(tx cachedTx) error {
		c, err := scanAuthCode(tx.QueryRowContext(ctx, selectAuthCode+s.dialect.ForUpdate, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !c.UsedAt.IsZero() || c.GrantID != "" {
			reused = true
			if c.GrantID == "" {
				return nil
			}
			entries, err := s.revokeGrantTx(ctx, tx, c.GrantID, now)
			if errors.Is(err, store.ErrNotFound) {
				return nil // the grant was pruned: nothing left to revoke
			}
			if err != nil {
				return err
			}
			revs, err = s.addRevocationsTx(ctx, tx, entries, now)
			return err
		}
		if expired(c.ExpiresAt, now) {
			return store.ErrExpired
		}
		if err := s.insertGrantTx(ctx, tx, g); err != nil {
			return err
		}
		n, err := exec(ctx, tx, markAuthCodeUsed, hash, toMicros(now), g.ID)
		if err != nil {
			return err
		}
		if n != 1 {
			// Unreachable with the row lock (or SQLite's write lock).
			return errors.New("code changed during redemption")
		}
		return s.writeIssue(ctx, tx, g, iss)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: redeem auth code: %w", s.conflict(err))
	}
	if reused {
		return revs, fmt.Errorf("sqlstore: redeem auth code: %w", store.ErrReused)
	}
	return nil, nil
}

// CreateGrant implements store.Grants.
func (s *DB) CreateGrant(ctx context.Context, g store.Grant, iss store.Issue) error {
	err := s.inTx(ctx, func(tx cachedTx) error {
		if err := s.insertGrantTx(ctx, tx, g); err != nil {
			return err
		}
		return s.writeIssue(ctx, tx, g, iss)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create grant %q: %w", g.ID, s.conflict(err))
	}
	return nil
}

func (s *DB) insertGrantTx(ctx context.Context, tx cachedTx, g store.Grant) error {
	_, err := tx.ExecContext(ctx, insertGrant, g.ID, g.ClientID, g.UserID, g.SessionID,
		encodeList(g.Scopes), encodeList(g.Audiences), toMicros(g.AuthTime), toMicros(g.CreatedAt),
		toMicros(g.ExpiresAt), toMicros(g.RevokedAt))
	return err
}

// writeIssue records what a token response issues for g. The refresh
// token is stored unused, its GrantID set to g.ID (a different non-empty
// GrantID is an error) and its ExpiresAt clamped to g.ExpiresAt. The
// access token must have a jti and an expiry, since without them revoking
// the grant could not revoke it.
func (s *DB) writeIssue(ctx context.Context, tx cachedTx, g store.Grant, iss store.Issue) error {
	if iss.AccessToken.JTI == "" {
		return errors.New("issue: access token has no jti")
	}
	if iss.AccessToken.ExpiresAt.IsZero() {
		return errors.New("issue: access token has no expiry")
	}
	if rt := iss.RefreshToken; rt != nil {
		if rt.GrantID != "" && rt.GrantID != g.ID {
			return fmt.Errorf("issue: refresh token for grant %q written to grant %q", rt.GrantID, g.ID)
		}
		exp := rt.ExpiresAt
		if exp.After(g.ExpiresAt) {
			exp = g.ExpiresAt
		}
		if _, err := tx.ExecContext(ctx, insertRefreshToken, rt.Hash, g.ID,
			toMicros(rt.CreatedAt), toMicros(exp)); err != nil {
			return fmt.Errorf("issue: refresh token: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, insertAccessToken, iss.AccessToken.JTI, g.ID,
		toMicros(iss.AccessToken.ExpiresAt)); err != nil {
		return fmt.Errorf("issue: access token: %w", err)
	}
	return nil
}

// GetGrant implements store.Grants.
func (s *DB) GetGrant(ctx context.Context, id string) (store.Grant, error) {
	if !store.ValidText(id) {
		return store.Grant{}, fmt.Errorf("sqlstore: get grant %q: %w", id, store.ErrNotFound)
	}
	g, err := scanGrant(s.q.QueryRowContext(ctx, selectGrant, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("sqlstore: get grant %q: %w", id, err)
	}
	return g, nil
}

// GetRefreshToken implements store.Grants. A token whose grant no longer
// exists is not found.
func (s *DB) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.Grant, error) {
	var (
		rr refreshTokenRow
		gr grantRow
	)
	err := s.q.QueryRowContext(ctx, selectRefreshTokenAndGrant, hash).Scan(append(rr.dest(), gr.dest()...)...)
	var g store.Grant
	if err == nil {
		g, err = gr.grant()
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, store.Grant{}, fmt.Errorf("sqlstore: get refresh token: %w", err)
	}
	return rr.token(), g, nil
}

// RotateRefreshToken implements store.Grants. A first use (unused,
// unexpired token of a live grant) writes without deciding anything else:
// one statement on PostgreSQL (rotateFirstUse), or one compare-and-set in
// the transaction. Anything else is decided in a transaction that locks
// the grant and then the token (Dialect.ForUpdate), so that concurrent
// rotations and revocations of one grant run one after the other; see
// decideRotation for the checks and their order.
func (s *DB) RotateRefreshToken(ctx context.Context, hash []byte, now time.Time, grace time.Duration, iss store.Issue) (store.Grant, []store.Revocation, error) {
	if now.IsZero() {
		return store.Grant{}, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", errZeroNow)
	}
	// UsedAt comes back truncated to the microsecond: truncate now alike so
	// that the grace window is measured between instants of one precision.
	now = now.Truncate(time.Microsecond)
	wantGrant := ""
	if iss.RefreshToken != nil {
		wantGrant = iss.RefreshToken.GrantID
	}
	if s.dialect.WritableCTEs {
		var (
			rtHash              []byte
			rtCreated, rtExpiry int64
		)
		if rt := iss.RefreshToken; rt != nil {
			rtHash, rtCreated, rtExpiry = rt.Hash, toMicros(rt.CreatedAt), toMicros(rt.ExpiresAt)
		}
		g, err := scanGrant(s.q.QueryRowContext(ctx, s.sql.rotateFirstUse, hash, toMicros(now), wantGrant,
			rtHash, rtCreated, rtExpiry, iss.AccessToken.JTI, toMicros(iss.AccessToken.ExpiresAt)))
		switch {
		case err == nil:
			return g, nil, nil
		case !errors.Is(err, sql.ErrNoRows):
			return store.Grant{}, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", s.conflict(err))
		}
		// Anything but a first use is decided below, under locks.
	}
	var r rotation
	err := s.inTx(ctx, func(tx cachedTx) error {
		if !s.dialect.WritableCTEs {
			var gid string
			err := tx.QueryRowContext(ctx, s.sql.markRotated, hash, toMicros(now), wantGrant).Scan(&gid)
			if err == nil {
				if r.g, err = scanGrant(tx.QueryRowContext(ctx, selectGrant, gid)); err != nil {
					return err
				}
				return s.writeIssue(ctx, tx, r.g, iss)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// Lock the grant, then the token (the lock order). A token's
		// grant_id never changes, so it may be read unlocked.
		var gid string
		err := tx.QueryRowContext(ctx, selectRefreshTokenGrantID, hash).Scan(&gid)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		g, err := scanGrant(tx.QueryRowContext(ctx, selectGrant+s.dialect.ForUpdate, gid))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var rr refreshTokenRow
		err = tx.QueryRowContext(ctx, selectRefreshToken+s.dialect.ForUpdate, hash).Scan(rr.dest()...)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.decideRotation(ctx, tx, rr.token(), g, now, grace, iss, &r)
	})
	return r.result(s, err)
}

// RotateRefreshTokenWith implements store.Grants. Where writes are
// serialized (SQLite) everything happens in one transaction on the
// writer, whose connection has every page it needs cached: the joined
// read, plan, and the writes. Elsewhere the token, grant and user are
// read without locks, plan runs, and RotateRefreshToken rechecks and
// writes (one round trip for a first use).
func (s *DB) RotateRefreshTokenWith(ctx context.Context, hash []byte, now time.Time, grace time.Duration, plan store.RotationPlan) (store.Grant, []store.Revocation, error) {
	if now.IsZero() {
		return store.Grant{}, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", errZeroNow)
	}
	if s.w == nil {
		rt, g, u, err := readRotation(ctx, s.q, hash)
		if err != nil {
			return store.Grant{}, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", err)
		}
		iss, err := plan(rt, g, u)
		if err != nil {
			return store.Grant{}, nil, err
		}
		return s.RotateRefreshToken(ctx, hash, now, grace, iss)
	}
	now = now.Truncate(time.Microsecond)
	var (
		r       rotation
		planErr error
	)
	err := s.inTx(ctx, func(tx cachedTx) error {
		rt, g, u, err := readRotation(ctx, tx, hash)
		if err != nil {
			return err
		}
		iss, err := plan(rt, g, u)
		if err != nil {
			planErr = err
			return err
		}
		return s.decideRotation(ctx, tx, rt, g, now, grace, iss, &r)
	})
	if planErr != nil {
		return store.Grant{}, nil, planErr
	}
	return r.result(s, err)
}

// rotation is what a rotation transaction found and did.
type rotation struct {
	g      store.Grant
	revs   []store.Revocation
	reused bool
}

// result is RotateRefreshToken's answer for a transaction that ended with
// err.
func (r *rotation) result(s *DB, err error) (store.Grant, []store.Revocation, error) {
	switch {
	case errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrExpired):
		return r.g, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", err)
	case err != nil:
		return store.Grant{}, nil, fmt.Errorf("sqlstore: rotate refresh token: %w", s.conflict(err))
	case r.reused:
		return r.g, r.revs, fmt.Errorf("sqlstore: rotate refresh token: %w", store.ErrReused)
	}
	return r.g, nil, nil
}

// decideRotation rotates rt of grant g, both read under the transaction's
// locks, at now (microsecond precision), in this order: grant revoked
// (ErrRevoked, nothing written); token used and not within grace (revoke
// the grant, record the revocations, r.reused); token or grant expired
// (ErrExpired); otherwise mark the token used (unless this is a replay
// within grace) and write iss. A used token is thus reuse even once it or
// its grant has expired.
func (s *DB) decideRotation(ctx context.Context, tx cachedTx, rt store.RefreshToken, g store.Grant, now time.Time, grace time.Duration, iss store.Issue, r *rotation) error {
	r.g = g
	if !g.RevokedAt.IsZero() {
		return store.ErrRevoked
	}
	used := !rt.UsedAt.IsZero()
	if used && (grace <= 0 || now.Sub(rt.UsedAt) > grace) {
		r.reused = true
		entries, err := s.revokeGrantTx(ctx, tx, g.ID, now)
		if err != nil {
			return err
		}
		r.g.RevokedAt = fromMicros(toMicros(now))
		r.revs, err = s.addRevocationsTx(ctx, tx, entries, now)
		return err
	}
	// Refresh tokens never outlive their grant (writeIssue clamps), so
	// the first check only guards rows written otherwise.
	if expired(g.ExpiresAt, now) || expired(rt.ExpiresAt, now) {
		return store.ErrExpired
	}
	if !used {
		n, err := exec(ctx, tx, markRefreshTokenUsed, rt.Hash, toMicros(now))
		if err != nil {
			return err
		}
		if n != 1 {
			// Unreachable with the row lock (or SQLite's write lock).
			return errors.New("refresh token changed during rotation")
		}
	}
	return s.writeIssue(ctx, tx, g, iss)
}

// readRotation reads a refresh token with its grant and the grant's user
// (the zero User when the user no longer exists), or ErrNotFound.
func readRotation(ctx context.Context, q querier, hash []byte) (store.RefreshToken, store.Grant, store.User, error) {
	var (
		rr refreshTokenRow
		gr grantRow
		ur userRow
	)
	dest := append([]any{&rr.createdAt, &rr.expiresAt, &rr.usedAt}, gr.dest()...)
	dest = append(dest, &ur.u.ID, &ur.u.Username, &ur.u.Email, &ur.u.EmailVerified, &ur.roles,
		&ur.u.Disabled, &ur.createdAt, &ur.updatedAt, &ur.passwordChangedAt)
	err := q.QueryRowContext(ctx, selectRefreshTokenGrantUser, hash).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, store.Grant{}, store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.RefreshToken{}, store.Grant{}, store.User{}, err
	}
	rr.t.Hash, rr.t.GrantID = hash, gr.g.ID
	g, err := gr.grant()
	if err != nil {
		return store.RefreshToken{}, store.Grant{}, store.User{}, err
	}
	u, err := ur.user()
	if err != nil {
		return store.RefreshToken{}, store.Grant{}, store.User{}, err
	}
	return rr.token(), g, u, nil
}

// RevokeGrant implements store.Grants.
func (s *DB) RevokeGrant(ctx context.Context, id string, now time.Time) ([]store.Revocation, error) {
	if !store.ValidText(id) {
		return nil, fmt.Errorf("sqlstore: revoke grant %q: %w", id, store.ErrNotFound)
	}
	if now.IsZero() {
		return nil, fmt.Errorf("sqlstore: revoke grant %q: %w", id, errZeroNow)
	}
	var revs []store.Revocation
	err := s.inTx(ctx, func(tx cachedTx) error {
		entries, err := s.revokeGrantTx(ctx, tx, id, now)
		if err != nil {
			return err
		}
		revs, err = s.addRevocationsTx(ctx, tx, entries, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: revoke grant %q: %w", id, err)
	}
	return revs, nil
}

// RevokeUserGrants implements store.Grants.
func (s *DB) RevokeUserGrants(ctx context.Context, userID string, now time.Time, extra ...store.Revocation) ([]store.Revocation, error) {
	if !store.ValidText(userID) {
		return nil, fmt.Errorf("sqlstore: revoke grants of user %q: %w", userID, store.ErrNotFound)
	}
	if now.IsZero() {
		return nil, fmt.Errorf("sqlstore: revoke grants of user %q: %w", userID, errZeroNow)
	}
	var revs []store.Revocation
	err := s.inTx(ctx, func(tx cachedTx) error {
		for _, q := range []string{deleteUserSessions, deleteUserCodes, deleteUserUnusedDeviceCodes} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		var err error
		revs, err = s.revokeGrantsTx(ctx, tx, selectGrantIDsByUser, userID, now, extra...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: revoke grants of user %q: %w", userID, err)
	}
	return revs, nil
}

// EndSession implements store.Grants. It also deletes the session's unused
// codes, so that a code issued just before logout cannot start a new grant
// in the ended session; used ones stay for reuse detection.
func (s *DB) EndSession(ctx context.Context, sid string, now, sidExpiresAt time.Time) ([]store.Revocation, error) {
	switch {
	case sid == "":
		return nil, errors.New("sqlstore: end session: empty session id")
	case now.IsZero():
		return nil, fmt.Errorf("sqlstore: end session %q: %w", sid, errZeroNow)
	case sidExpiresAt.IsZero():
		return nil, fmt.Errorf("sqlstore: end session %q: sid entry has no expiry", sid)
	}
	var revs []store.Revocation
	err := s.inTx(ctx, func(tx cachedTx) error {
		if _, err := tx.ExecContext(ctx, deleteSession, sid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, deleteSessionUnusedCodes, sid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, deleteSessionUnusedDeviceCodes, sid); err != nil {
			return err
		}
		var err error
		revs, err = s.revokeGrantsTx(ctx, tx, selectGrantIDsBySession, sid, now, store.Revocation{
			Kind: store.RevokeSID, Value: sid, ExpiresAt: sidExpiresAt,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: end session %q: %w", sid, err)
	}
	return revs, nil
}

// rotateCondition is the WHERE clause that selects, for a refresh token hash $1, the time $2 and
// an expected grant ID $3 (or ”), the unused, unexpired token of a live
// grant: the only case in which a rotation writes without deciding
// anything else. The grant's row is locked (shared, where ForShare is not
// empty) before the token's, in the lock order: a concurrent revocation
// then waits for the rotation's commit and revokes the access token it
// wrote, or the rotation waits for the revocation's and finds nothing.
// A refresh token's grant_id never changes, so it may be read unlocked.
func rotateCondition(d Dialect) string {
	return `hash = $1 AND used_at = 0 AND expires_at > $2 AND grant_id = (
SELECT g.id FROM grants g
WHERE g.id = (SELECT r.grant_id FROM refresh_tokens r WHERE r.hash = $1)
AND ($3 = '' OR g.id = $3) AND g.revoked_at = 0 AND g.expires_at > $2` + d.ForShare + `)`
}

// markRotated marks the token of rotateCondition used and returns its
// grant ID.
func markRotated(d Dialect) string {
	return `UPDATE refresh_tokens SET used_at = $2 WHERE ` + rotateCondition(d) + ` RETURNING grant_id`
}

// rotateFirstUse rotates an unused token of a live grant in one statement
// (Dialect.WritableCTEs): it marks the token used, writes the new refresh
// token (its expiry clamped to the grant's, $4 NULL for none) and the
// access token, and returns the grant; no row when rotateCondition does
// not hold, and nothing written.
func rotateFirstUse(d Dialect) string {
	return `WITH u AS (
` + markRotated(d) + `
), g AS (
SELECT ` + grantColumns + ` FROM grants WHERE id = (SELECT grant_id FROM u)
), nr AS (
INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
SELECT $4::bytea, g.id, $5::bigint, LEAST($6::bigint, g.expires_at), 0 FROM g WHERE $4::bytea IS NOT NULL
), na AS (
INSERT INTO access_tokens (jti, grant_id, expires_at) SELECT $7::text, g.id, $8::bigint FROM g
)
SELECT ` + grantColumns + ` FROM g`
}

// revokeGrantTx marks grant id revoked at now and returns, not yet
// written, a RevokeJTI entry for each of its access tokens unexpired at
// now. An already revoked grant yields no entries; an absent one
// store.ErrNotFound.
func (s *DB) revokeGrantTx(ctx context.Context, tx cachedTx, id string, now time.Time) ([]store.Revocation, error) {
	var revokedAt int64
	err := tx.QueryRowContext(ctx, selectGrantRevokedAt+s.dialect.ForUpdate, id).Scan(&revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if revokedAt != 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, markGrantRevoked, id, toMicros(now)); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, selectLiveAccessTokens, id, toMicros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []store.Revocation
	for rows.Next() {
		var (
			jti string
			exp int64
		)
		if err := rows.Scan(&jti, &exp); err != nil {
			return nil, err
		}
		entries = append(entries, store.Revocation{Kind: store.RevokeJTI, Value: jti, ExpiresAt: fromMicros(exp)})
	}
	return entries, rows.Err()
}

// revokeGrantsTx revokes every unrevoked grant that query (one of the
// selectGrantIDsBy* queries) selects for arg, and writes their entries
// together with extra; it returns the entries written.
func (s *DB) revokeGrantsTx(ctx context.Context, tx cachedTx, query, arg string, now time.Time, extra ...store.Revocation) ([]store.Revocation, error) {
	ids, err := selectIDs(ctx, tx, query+s.dialect.ForUpdate, arg)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	var entries []store.Revocation
	for _, id := range ids {
		e, err := s.revokeGrantTx(ctx, tx, id, now)
		if err != nil {
			return nil, fmt.Errorf("grant %q: %w", id, err)
		}
		entries = append(entries, e...)
	}
	return s.addRevocationsTx(ctx, tx, append(entries, extra...), now)
}

// selectIDs reads a single string column to the end, so that the
// transaction's connection is free for the next statement.
func selectIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                                      store.AuthCode
		scopes, auds                           string
		authTime, createdAt, expiresAt, usedAt int64
	)
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &scopes, &auds,
		&c.Nonce, &c.CodeChallenge, &authTime, &createdAt, &expiresAt, &usedAt, &c.GrantID); err != nil {
		return store.AuthCode{}, err
	}
	var err error
	if c.Scopes, err = decodeList(scopes); err != nil {
		return store.AuthCode{}, err
	}
	if c.Audiences, err = decodeList(auds); err != nil {
		return store.AuthCode{}, err
	}
	c.AuthTime = fromMicros(authTime)
	c.CreatedAt = fromMicros(createdAt)
	c.ExpiresAt = fromMicros(expiresAt)
	c.UsedAt = fromMicros(usedAt)
	return c, nil
}

// grantRow holds the raw columns of grantColumns while scanning.
type grantRow struct {
	g                                         store.Grant
	scopes, auds                              string
	authTime, createdAt, expiresAt, revokedAt int64
}

func (r *grantRow) dest() []any {
	return []any{&r.g.ID, &r.g.ClientID, &r.g.UserID, &r.g.SessionID, &r.scopes, &r.auds,
		&r.authTime, &r.createdAt, &r.expiresAt, &r.revokedAt}
}

func (r *grantRow) grant() (store.Grant, error) {
	g := r.g
	var err error
	if g.Scopes, err = decodeList(r.scopes); err != nil {
		return store.Grant{}, err
	}
	if g.Audiences, err = decodeList(r.auds); err != nil {
		return store.Grant{}, err
	}
	g.AuthTime = fromMicros(r.authTime)
	g.CreatedAt = fromMicros(r.createdAt)
	g.ExpiresAt = fromMicros(r.expiresAt)
	g.RevokedAt = fromMicros(r.revokedAt)
	return g, nil
}

func scanGrant(row scanner) (store.Grant, error) {
	var r grantRow
	if err := row.Scan(r.dest()...); err != nil {
		return store.Grant{}, err
	}
	return r.grant()
}

// refreshTokenRow holds the raw columns of refreshTokenColumns while
// scanning.
type refreshTokenRow struct {
	t                            store.RefreshToken
	createdAt, expiresAt, usedAt int64
}

func (r *refreshTokenRow) dest() []any {
	return []any{&r.t.Hash, &r.t.GrantID, &r.createdAt, &r.expiresAt, &r.usedAt}
}

func (r *refreshTokenRow) token() store.RefreshToken {
	t := r.t
	t.CreatedAt = fromMicros(r.createdAt)
	t.ExpiresAt = fromMicros(r.expiresAt)
	t.UsedAt = fromMicros(r.usedAt)
	return t
}

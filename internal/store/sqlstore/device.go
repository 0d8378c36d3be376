package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const deviceCodeColumns = `hash, user_code_hash, client_id, scopes, audiences, created_at, expires_at,
poll_interval, last_polled_at, status, user_id, session_id, auth_time, decided_at, used_at, grant_id`

const (
	insertDeviceCode = `INSERT INTO device_codes (` + deviceCodeColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 'pending', '', '', 0, 0, 0, '')`

	deleteExpiredUserCode = `DELETE FROM device_codes WHERE user_code_hash = $1 AND expires_at <= $2`

	selectDeviceCode = `SELECT ` + deviceCodeColumns + ` FROM device_codes WHERE hash = $1`

	selectDeviceCodeByUserCode = `SELECT ` + deviceCodeColumns + ` FROM device_codes WHERE user_code_hash = $1`

	// The status guard makes the decision a compare-and-set.
	decideDeviceCode = `UPDATE device_codes
SET status = $2, user_id = $3, session_id = $4, auth_time = $5, decided_at = $6
WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6`

	pollDeviceCode = `UPDATE device_codes SET last_polled_at = $2, poll_interval = $3 WHERE hash = $1`

	markDeviceCodeUsed = `UPDATE device_codes SET used_at = $2, grant_id = $3
WHERE hash = $1 AND status = 'approved' AND used_at = 0 AND grant_id = ''`

	// Approved but unredeemed codes die with their session or user, as
	// unused authorization codes do; used ones stay for reuse detection.
	deleteSessionUnusedDeviceCodes = `DELETE FROM device_codes WHERE session_id = $1 AND used_at = 0`
	deleteUserUnusedDeviceCodes    = `DELETE FROM device_codes WHERE user_id = $1 AND used_at = 0`
	deleteClientDeviceCodes        = `DELETE FROM device_codes WHERE client_id = $1`
)

// CreateDeviceCode implements store.DeviceCodes.
func (s *DB) CreateDeviceCode(ctx context.Context, d store.DeviceCode, now time.Time) error {
	if d.Interval <= 0 {
		return errors.New("sqlstore: create device code: the poll interval must be positive")
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		if _, err := tx.ExecContext(ctx, deleteExpiredUserCode, d.UserCodeHash, toMicros(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertDeviceCode, d.Hash, d.UserCodeHash, d.ClientID,
			encodeList(d.Scopes), encodeList(d.Audiences), toMicros(d.CreatedAt), toMicros(d.ExpiresAt),
			d.Interval.Microseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create device code: %w", s.conflict(err))
	}
	return nil
}

// GetDeviceCodeByUserCode implements store.DeviceCodes.
func (s *DB) GetDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte, now time.Time) (store.DeviceCode, error) {
	d, err := scanDeviceCode(s.q.QueryRowContext(ctx, selectDeviceCodeByUserCode, userCodeHash))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && expired(d.ExpiresAt, now)) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.DeviceCode{}, fmt.Errorf("sqlstore: get device code by user code: %w", err)
	}
	return d, nil
}

// DecideDeviceCode implements store.DeviceCodes.
func (s *DB) DecideDeviceCode(ctx context.Context, userCodeHash []byte, approve bool, userID, sessionID string, authTime, now time.Time) error {
	if now.IsZero() {
		return fmt.Errorf("sqlstore: decide device code: %w", errZeroNow)
	}
	status := store.DeviceDenied
	if approve {
		status = store.DeviceApproved
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		n, err := exec(ctx, tx, decideDeviceCode, userCodeHash, status, userID, sessionID, toMicros(authTime), toMicros(now))
		if err != nil || n == 1 {
			return err
		}
		// Nothing changed: tell a decided code from an absent one.
		d, err := scanDeviceCode(tx.QueryRowContext(ctx, selectDeviceCodeByUserCode, userCodeHash))
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && expired(d.ExpiresAt, now)):
			return store.ErrNotFound
		case err != nil:
			return err
		}
		return store.ErrConflict
	})
	if err != nil {
		return fmt.Errorf("sqlstore: decide device code: %w", err)
	}
	return nil
}

// PollDeviceCode implements store.DeviceCodes. It reads the row with
// Dialect.ForUpdate, so concurrent polls of one code are judged one after
// the other against the interval.
func (s *DB) PollDeviceCode(ctx context.Context, hash []byte, clientID string, now time.Time) (store.DeviceCode, error) {
	if now.IsZero() {
		return store.DeviceCode{}, fmt.Errorf("sqlstore: poll device code: %w", errZeroNow)
	}
	var d store.DeviceCode
	slow := false
	err := s.inTx(ctx, func(tx cachedTx) error {
		var err error
		d, err = scanDeviceCode(tx.QueryRowContext(ctx, selectDeviceCode+s.dialect.ForUpdate, hash))
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && d.ClientID != clientID):
			return store.ErrNotFound
		case err != nil:
			return err
		case expired(d.ExpiresAt, now):
			return store.ErrExpired
		}
		interval := d.Interval
		if d.Status == store.DevicePending && !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval {
			slow = true
			interval += store.SlowDownStep
		}
		if _, err := tx.ExecContext(ctx, pollDeviceCode, hash, toMicros(now), interval.Microseconds()); err != nil {
			return err
		}
		d.LastPolledAt, d.Interval = now, interval
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("sqlstore: poll device code: %w", err)
	}
	if slow {
		return d, fmt.Errorf("sqlstore: poll device code: %w", store.ErrSlowDown)
	}
	return d, nil
}

// RedeemDeviceCode implements store.DeviceCodes, like RedeemAuthCode.
func (s *DB) RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, g store.Grant, iss store.Issue) ([]store.Revocation, error) {
	if now.IsZero() {
		return nil, fmt.Errorf("sqlstore: redeem device code: %w", errZeroNow)
	}
	var (
		revs   []store.Revocation
		reused bool
	)
	err := s.inTx(ctx, func(tx cachedTx) error {
		d, err := scanDeviceCode(tx.QueryRowContext(ctx, selectDeviceCode+s.dialect.ForUpdate, hash))
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && d.Status != store.DeviceApproved):
			return store.ErrNotFound
		case err != nil:
			return err
		}
		if !d.UsedAt.IsZero() || d.GrantID != "" {
			reused = true
			entries, err := s.revokeGrantTx(ctx, tx, d.GrantID, now)
			if errors.Is(err, store.ErrNotFound) {
				return nil // the grant was pruned: nothing left to revoke
			}
			if err != nil {
				return err
			}
			revs, err = s.addRevocationsTx(ctx, tx, entries, now)
			return err
		}
		if expired(d.ExpiresAt, now) {
			return store.ErrExpired
		}
		if err := s.insertGrantTx(ctx, tx, g); err != nil {
			return err
		}
		n, err := exec(ctx, tx, markDeviceCodeUsed, hash, toMicros(now), g.ID)
		if err != nil {
			return err
		}
		if n != 1 {
			return errors.New("device code changed during redemption")
		}
		return s.writeIssue(ctx, tx, g, iss)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: redeem device code: %w", s.conflict(err))
	}
	if reused {
		return revs, fmt.Errorf("sqlstore: redeem device code: %w", store.ErrReused)
	}
	return nil, nil
}

func scanDeviceCode(row scanner) (store.DeviceCode, error) {
	var (
		d                                  store.DeviceCode
		scopes, auds                       string
		created, expires, interval, polled int64
		authTime, decided, used            int64
	)
	if err := row.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &scopes, &auds, &created, &expires,
		&interval, &polled, &d.Status, &d.UserID, &d.SessionID, &authTime, &decided, &used, &d.GrantID); err != nil {
		return store.DeviceCode{}, err
	}
	var err error
	if d.Scopes, err = decodeList(scopes); err != nil {
		return store.DeviceCode{}, err
	}
	if d.Audiences, err = decodeList(auds); err != nil {
		return store.DeviceCode{}, err
	}
	d.CreatedAt, d.ExpiresAt = fromMicros(created), fromMicros(expires)
	d.Interval = time.Duration(interval) * time.Microsecond
	d.LastPolledAt, d.AuthTime = fromMicros(polled), fromMicros(authTime)
	d.DecidedAt, d.UsedAt = fromMicros(decided), fromMicros(used)
	return d, nil
}

package store

import (
	"context"
	"errors"
	"time"
)

// Device code states (RFC 8628 §3.5: pending until the user decides).
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// ErrSlowDown reports a device-code poll that came sooner than the code's
// interval after the previous one (RFC 8628 §3.5 slow_down); the store has
// already raised the interval.
var ErrSlowDown = errors.New("store: polled too fast")

// SlowDownStep is how much each slow_down raises a device code's interval
// (RFC 8628 §3.5).
const SlowDownStep = 5 * time.Second

// DeviceCode is a device authorization (RFC 8628 §3.2), stored by the
// hashes of its device code and user code.
type DeviceCode struct {
	// Hash is the SHA-256 of the device_code.
	Hash []byte
	// UserCodeHash is the SHA-256 of the normalized user_code.
	UserCodeHash []byte
	ClientID     string
	Scopes       []string
	Audiences    []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Interval is the least time between two polls; each slow_down raises
	// it by SlowDownStep.
	Interval     time.Duration
	LastPolledAt time.Time
	// Status is DevicePending until the user decides.
	Status string
	// UserID, SessionID and AuthTime say who decided, in which browser
	// session, signed in when; DecidedAt when.
	UserID    string
	SessionID string
	AuthTime  time.Time
	DecidedAt time.Time
	// UsedAt and GrantID are set when an approved code is redeemed.
	UsedAt  time.Time
	GrantID string
}

// DeviceCodes persists device authorizations.
type DeviceCodes interface {
	// CreateDeviceCode stores d as pending. Codes that have expired at now
	// and share d's user code are deleted first, so that a user code is
	// unique among live codes only; ErrConflict when d's hash or a live
	// code's user code hash exists.
	CreateDeviceCode(ctx context.Context, d DeviceCode, now time.Time) error
	// GetDeviceCodeByUserCode returns the code with this user code hash,
	// or ErrNotFound when there is none or it has expired at now.
	GetDeviceCodeByUserCode(ctx context.Context, userCodeHash []byte, now time.Time) (DeviceCode, error)
	// DecideDeviceCode records the user's decision on a pending code:
	// approved or denied, by userID in sessionID (signed in at authTime).
	// ErrNotFound when absent or expired at now; ErrConflict when it was
	// already decided. Exactly one of concurrent decisions succeeds.
	DecideDeviceCode(ctx context.Context, userCodeHash []byte, approve bool, userID, sessionID string, authTime, now time.Time) error
	// PollDeviceCode records a poll of the code with hash by clientID and
	// returns the code. ErrNotFound when absent or issued to another
	// client (nothing is recorded then); ErrExpired when expired at now.
	// A pending code polled less than its Interval after the previous
	// poll gets its Interval raised by SlowDownStep and ErrSlowDown.
	PollDeviceCode(ctx context.Context, hash []byte, clientID string, now time.Time) (DeviceCode, error)
	// RedeemDeviceCode marks an approved code used, creates g (the code's
	// GrantID becomes g.ID) and writes iss, in one transaction; exactly
	// one of concurrent calls succeeds. A code already used returns
	// ErrReused after revoking the grant its redemption created (the
	// revocations written are returned). ErrNotFound when absent or not
	// approved; ErrExpired when expired at now.
	RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, g Grant, iss Issue) ([]Revocation, error)
}

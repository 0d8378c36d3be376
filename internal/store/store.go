// Package store holds Gatehouse's domain types, the storage interfaces every
// backend implements, and the sentinel errors they return.
//
// Backends live in sub-packages (sqlite, postgres) and share their query code
// through sqlstore; storetest is the conformance suite each backend must pass.
// Consumers declare the small subset of methods they call as their own
// interface rather than depending on Store as a whole.
//
// Times are stored with microsecond precision; callers should not rely on
// finer resolution surviving a round trip.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them (test with errors.Is) and never return
// driver errors for these conditions.
var (
	// ErrNotFound reports that the addressed record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports that a write would violate a uniqueness rule,
	// for example a duplicate id or a second active key for one algorithm.
	ErrConflict = errors.New("store: conflict")
)

// KeyState is the life-cycle state of a signing key.
type KeyState string

// Signing key states.
const (
	// KeyActive keys sign new tokens; there is at most one per algorithm.
	KeyActive KeyState = "active"
	// KeyRetired keys no longer sign but stay published in the JWKS until
	// PublishUntil so that tokens they signed still verify.
	KeyRetired KeyState = "retired"
	// KeyNext keys are published and verify, but sign nothing until their
	// ActivateAt, when they become active and the active key retires: every
	// node and every verifier learns a key before any token carries it.
	// There is at most one per algorithm.
	KeyNext KeyState = "next"
)

// SigningKey is an asymmetric JWS signing key as persisted. The private half
// is only ever stored sealed (AES-256-GCM under the master key, see package
// keys); the store never sees plaintext private key material.
type SigningKey struct {
	// ID is the JWS "kid": the RFC 7638 SHA-256 thumbprint of the public key.
	ID string
	// Algorithm is the JWS "alg" this key signs with (ES256, RS256, EdDSA).
	Algorithm string
	State     KeyState
	// PublicJWK is the JSON encoding of the public JWK.
	PublicJWK []byte
	// SealedPrivate is the sealed private key.
	SealedPrivate []byte
	CreatedAt     time.Time
	// RetiredAt is zero while the key is active.
	RetiredAt time.Time
	// PublishUntil is zero while the key is active; once retired, the key
	// leaves the JWKS at this instant and may then be pruned.
	PublishUntil time.Time
	// ActivateAt is when a next key is due to become active; zero for the
	// other states.
	ActivateAt time.Time
}

// SigningKeys persists signing keys.
type SigningKeys interface {
	// CreateSigningKey inserts k. It returns ErrConflict when the ID exists,
	// when k is active and an active key for k.Algorithm already exists, or
	// when k is next and a next key for k.Algorithm already exists.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// GetSigningKey returns the key with the given ID or ErrNotFound.
	GetSigningKey(ctx context.Context, id string) (SigningKey, error)
	// ListSigningKeys returns every stored key, oldest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey atomically retires every active and next key of
	// next.Algorithm (RetiredAt = next.CreatedAt, PublishUntil =
	// publishUntil) and inserts next as the active key: the immediate
	// rotation, for a compromised key. Concurrent rotations of one
	// algorithm leave exactly one active key. ErrConflict when next.ID
	// already exists.
	RotateSigningKey(ctx context.Context, next SigningKey, publishUntil time.Time) error
	// ActivateSigningKey makes the next key id active: every active key of
	// its algorithm retires (RetiredAt = the key's ActivateAt, PublishUntil
	// = publishUntil) in the same transaction. Activating a key that is
	// already active does nothing, so every node may try; ErrNotFound when
	// id is neither next nor active.
	ActivateSigningKey(ctx context.Context, id string, publishUntil time.Time) error
	// PruneSigningKeys deletes retired keys whose PublishUntil is at or
	// before now and returns how many it deleted.
	PruneSigningKeys(ctx context.Context, now time.Time) (int, error)
}

// Store is everything a backend provides.
type Store interface {
	SigningKeys
	Clients
	Users
	Sessions
	Consents
	Audit
	Grants
	Roles
	APIKeys
	OneTimeUses
	DeviceCodes
	FederationPolicies
	Pruning
	// Ping reports whether the backend can serve queries now.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

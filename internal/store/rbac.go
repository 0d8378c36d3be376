package store

import (
	"context"
	"errors"
	"time"
)

// ErrInUse reports that a record cannot be deleted because others still
// refer to it, for example a role that users, clients or API keys hold.
var ErrInUse = errors.New("store: in use")

// Role is a named set of permissions. Users, clients and API keys hold
// roles by name (their Roles lists); package rbac expands the names into
// permissions and checks permission syntax. The store checks neither the
// name's nor the permissions' syntax: callers validate (rbac.ValidateRole).
type Role struct {
	// Name is the primary key.
	Name        string
	Description string
	// Permissions are "resource:action" strings.
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Roles persists roles.
type Roles interface {
	// CreateRole inserts r; ErrConflict when the name exists.
	CreateRole(ctx context.Context, r Role) error
	// GetRole returns the role or ErrNotFound.
	GetRole(ctx context.Context, name string) (Role, error)
	// ListRoles returns every role ordered by name (bytewise).
	ListRoles(ctx context.Context) ([]Role, error)
	// UpdateRole is the read-modify-write of UpdateClient for roles, with
	// the same rules: the name cannot change, fn runs with the row locked
	// and sets UpdatedAt itself, fn's error is returned unchanged.
	UpdateRole(ctx context.Context, name string, fn func(Role) (Role, error)) (Role, error)
	// DeleteRole removes the role. It refuses, with an error wrapping
	// ErrInUse, while any user, any client or any unrevoked API key (expired
	// or not, since an expiry can be moved) holds the role, and then deletes
	// nothing; ErrNotFound when absent. The check and the delete are atomic
	// with respect to concurrent writes of users, clients and API keys, so
	// a role is never deleted while a holder is being added.
	DeleteRole(ctx context.Context, name string) error
}

// API key hash algorithms (APIKey.HashAlg).
const (
	// APIKeyHashArgon2id stores an argon2id PHC string (as bytes).
	APIKeyHashArgon2id = "argon2id"
	// APIKeyHashHMACSHA256 stores HMAC-SHA-256(pepper, key), 32 bytes,
	// under a pepper the server holds outside the database.
	APIKeyHashHMACSHA256 = "hmac-sha256"
)

// APIKey is a long-lived credential for machines, stored by hash. The key
// itself ("sk_" + random) is never stored; Prefix, a few characters of its
// random part, finds the row.
type APIKey struct {
	// ID is an opaque identifier, stable across the key's life.
	ID string
	// Prefix is unique and identifies the key in listings and logs.
	Prefix string
	Name   string
	// Hash is the stored hash of the whole key, in the form HashAlg says.
	Hash    []byte
	HashAlg string
	// Roles and Scopes are what a request authenticated by the key holds.
	Roles     []string
	Scopes    []string
	CreatedAt time.Time
	// ExpiresAt is zero for a key that never expires; the key has expired
	// once now >= ExpiresAt.
	ExpiresAt time.Time
	// LastUsedAt is zero until the first TouchAPIKey.
	LastUsedAt time.Time
	// RevokedAt is zero while the key is not revoked.
	RevokedAt time.Time
}

// APIKeys persists API keys.
type APIKeys interface {
	// CreateAPIKey inserts k; ErrConflict when the ID or the Prefix exists
	// (callers generate a new key and retry on a prefix collision).
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns the key with that ID or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// GetAPIKeyByPrefix returns the key with that prefix or ErrNotFound,
	// revoked and expired keys included (the caller decides).
	GetAPIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	// ListAPIKeys returns every key, revoked and expired ones included,
	// oldest first (ties by ID).
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey sets RevokedAt to now unless the key is already revoked
	// (the first revocation time stays). ErrNotFound when absent.
	RevokeAPIKey(ctx context.Context, id string, now time.Time) error
	// SetAPIKeyExpiry sets ExpiresAt (zero: never). ErrNotFound when
	// absent; ErrRevoked when the key is revoked, which nothing undoes.
	SetAPIKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error
	// RotateAPIKey atomically inserts next and moves the expiry of the key
	// oldID to oldExpiresAt, or leaves it where it is when it is already
	// earlier (a rotation never extends a key's life). ErrNotFound when
	// oldID is absent, ErrRevoked when it is revoked, ErrConflict when
	// next's ID or Prefix exists; nothing is written in those cases.
	RotateAPIKey(ctx context.Context, oldID string, oldExpiresAt time.Time, next APIKey) error
	// TouchAPIKey records a use: LastUsedAt becomes now unless it is
	// already later. ErrNotFound when absent.
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
}

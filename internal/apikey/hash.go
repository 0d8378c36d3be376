package apikey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Hasher hashes keys for storage and verifies presented keys.
type Hasher interface {
	// Alg is the store.APIKeyHash* name stored with each hash.
	Alg() string
	// Hash returns the form of key to store.
	Hash(ctx context.Context, key string) ([]byte, error)
	// Verify reports, in constant time with respect to the contents,
	// whether key hashes to stored. A nil stored (no such key) runs a dummy
	// verification of the same cost and reports false.
	Verify(ctx context.Context, key string, stored []byte) (bool, error)
}

// ErrBadHash reports a stored hash this package cannot read.
var ErrBadHash = errors.New("apikey: unreadable stored hash")

// Argon2Params are argon2id cost parameters.
type Argon2Params = secret.Argon2Params

// OWASPParams are the parameters package login uses for passwords: 19 MiB,
// 2 passes, 1 thread (OWASP Password Storage Cheat Sheet).
func OWASPParams() Argon2Params { return secret.OWASPArgon2() }

// Argon2id stores keys as argon2id PHC strings: secret.Argon2, the hasher
// passwords use, with its cap on concurrent hashes.
type Argon2id struct {
	argon *secret.Argon2
}

var _ Hasher = (*Argon2id)(nil)

// NewArgon2id returns an argon2id Hasher allowing concurrency parallel
// hashes (0 means GOMAXPROCS).
func NewArgon2id(params Argon2Params, concurrency int) *Argon2id {
	return &Argon2id{argon: secret.NewArgon2(params, concurrency)}
}

// Alg implements Hasher.
func (h *Argon2id) Alg() string { return store.APIKeyHashArgon2id }

// Hash implements Hasher.
func (h *Argon2id) Hash(ctx context.Context, key string) ([]byte, error) {
	phc, err := h.argon.Hash(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	return []byte(phc), nil
}

// Verify implements Hasher. A nil stored is secret.Argon2's missing hash;
// an empty non-nil one is unreadable, like any other it cannot decode.
func (h *Argon2id) Verify(ctx context.Context, key string, stored []byte) (bool, error) {
	if stored != nil && len(stored) == 0 {
		return false, ErrBadHash
	}
	ok, err := h.argon.Verify(ctx, key, string(stored))
	if errors.Is(err, secret.ErrBadPHC) {
		return false, ErrBadHash
	}
	return ok, err
}

// MinPepperBytes is the shortest HMAC pepper accepted (the hash's output
// size, as RFC 2104 §3 recommends).
const MinPepperBytes = 32

// HMACSHA256 stores HMAC-SHA-256(pepper, key). Without the pepper a
// database dump reveals nothing, and with 256-bit random keys no slow hash
// is needed, so a verification costs about a microsecond.
type HMACSHA256 struct {
	pepper []byte
	dummy  []byte
}

var _ Hasher = (*HMACSHA256)(nil)

// NewHMACSHA256 returns an HMAC-SHA-256 Hasher; pepper must have at least
// MinPepperBytes bytes.
func NewHMACSHA256(pepper []byte) (*HMACSHA256, error) {
	if len(pepper) < MinPepperBytes {
		return nil, fmt.Errorf("apikey: HMAC pepper has %d bytes, want at least %d", len(pepper), MinPepperBytes)
	}
	return &HMACSHA256{pepper: append([]byte(nil), pepper...), dummy: randomBytes(sha256.Size)}, nil
}

// Alg implements Hasher.
func (h *HMACSHA256) Alg() string { return store.APIKeyHashHMACSHA256 }

// Hash implements Hasher.
func (h *HMACSHA256) Hash(_ context.Context, key string) ([]byte, error) { return h.sum(key), nil }

// Verify implements Hasher.
func (h *HMACSHA256) Verify(_ context.Context, key string, stored []byte) (bool, error) {
	unknown := stored == nil
	if unknown {
		stored = h.dummy
	}
	return hmac.Equal(h.sum(key), stored) && !unknown, nil
}

func (h *HMACSHA256) sum(key string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(key))
	return m.Sum(nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return b
}

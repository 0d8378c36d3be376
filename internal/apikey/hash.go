package apikey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"

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

const (
	saltLen = 16
	keyLen  = 32
)

// Argon2id stores keys as argon2id PHC strings (package secret's encoding,
// shared with passwords). It runs at most a fixed number of hashes at
// once, since each takes MemoryKiB of memory. (Package login's password
// hasher is not reused: login brings the HTML pages with it, and its Hash
// applies the password policy.)
type Argon2id struct {
	params Argon2Params
	slots  chan struct{}
	dummy  []byte
}

var _ Hasher = (*Argon2id)(nil)

// NewArgon2id returns an argon2id Hasher allowing concurrency parallel
// hashes (0 means GOMAXPROCS).
func NewArgon2id(params Argon2Params, concurrency int) *Argon2id {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Argon2id{params: params, slots: make(chan struct{}, concurrency)}
	// Verified for unknown prefixes. Its key is random: it never has to
	// match, so no argon2 run is spent computing it.
	h.dummy = h.encode(randomBytes(saltLen), randomBytes(keyLen))
	return h
}

// Alg implements Hasher.
func (h *Argon2id) Alg() string { return store.APIKeyHashArgon2id }

// Hash implements Hasher.
func (h *Argon2id) Hash(ctx context.Context, key string) ([]byte, error) {
	salt := randomBytes(saltLen)
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	p := h.params
	return h.encode(salt, argon2.IDKey([]byte(key), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)), nil
}

// Verify implements Hasher.
func (h *Argon2id) Verify(ctx context.Context, key string, stored []byte) (bool, error) {
	unknown := stored == nil
	if unknown {
		stored = h.dummy
	}
	p, salt, want, err := secret.DecodePHC(string(stored))
	if err != nil {
		return false, ErrBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(key), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want))) //nolint:gosec // G115: DecodePHC caps the hash at 64 bytes
	return subtle.ConstantTimeCompare(got, want) == 1 && !unknown, nil
}

func (h *Argon2id) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("apikey: waiting to hash: %w", ctx.Err())
	}
}

func (h *Argon2id) release() { <-h.slots }

func (h *Argon2id) encode(salt, key []byte) []byte {
	return []byte(secret.EncodePHC(h.params, salt, key))
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

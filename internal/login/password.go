package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// Password length bounds, in characters (Unicode code points). Passwords
// are never truncated: a longer one is refused rather than silently cut.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// ErrPasswordPolicy reports a password outside the length bounds.
var ErrPasswordPolicy = fmt.Errorf("password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)

// ErrCommonPassword reports a password on the list of common breached
// passwords (see IsCommonPassword; OWASP ASVS 5.0 6.2.4). It is checked
// only when a password is set: existing ones keep working at login.
var ErrCommonPassword = errors.New("this password is one of the most common passwords found in data breaches; choose another")

// ErrBadHash reports a stored password hash Gatehouse cannot read.
var ErrBadHash = errors.New("login: unreadable password hash")

// Argon2Params are argon2id cost parameters.
type Argon2Params = secret.Argon2Params

// OWASPParams is the OWASP Password Storage Cheat Sheet's first argon2id
// configuration: 19 MiB, 2 passes, 1 thread (about 26 ms per hash here).
func OWASPParams() Argon2Params { return secret.OWASPArgon2() }

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id, running at most a
// fixed number of hashes at once: each takes MemoryKiB of memory, so an
// unbounded login flood would otherwise exhaust RAM.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
	dummy  string
}

// NewHasher returns a Hasher with params, allowing concurrency parallel
// hashes (0 means GOMAXPROCS).
func NewHasher(params Argon2Params, concurrency int) *Hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: params, slots: make(chan struct{}, concurrency)}
	// Verified when the user does not exist so that unknown users cost the
	// same argon2 run. Its key is random rather than a real hash: it never
	// has to match, and computing one would cost every start 19 MiB.
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	h.dummy = h.encode(salt, key)
	return h
}

// CheckPolicy reports whether pw may be set as a password: it must meet
// the length policy (ErrPasswordPolicy) and not be a common breached
// password (ErrCommonPassword).
func CheckPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || n > MaxPasswordLen || !utf8.ValidString(pw) {
		return ErrPasswordPolicy
	}
	if IsCommonPassword(pw) {
		return ErrCommonPassword
	}
	return nil
}

// Hash returns the PHC-format argon2id hash of pw, after checking policy.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := CheckPolicy(pw); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return h.encode(salt, key), nil
}

// Verify reports whether pw matches the stored PHC hash. An empty stored
// hash (unknown user) is checked against a dummy hash so the answer takes
// as long as a real one; it never matches.
func (h *Hasher) Verify(ctx context.Context, pw, stored string) (bool, error) {
	unknown := stored == ""
	if unknown {
		stored = h.dummy
	}
	p, salt, want, err := secret.DecodePHC(stored)
	if err != nil {
		return false, ErrBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want))) //nolint:gosec // G115: DecodePHC caps the hash at 64 bytes
	return subtle.ConstantTimeCompare(got, want) == 1 && !unknown, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("login: waiting to hash a password: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

func (h *Hasher) encode(salt, key []byte) string { return secret.EncodePHC(h.params, salt, key) }

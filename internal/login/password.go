package login

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

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

// Hasher hashes and verifies passwords with argon2id (secret.Argon2, with
// its cap on concurrent hashes), applying the password policy to every
// password it hashes.
type Hasher struct {
	argon *secret.Argon2
}

// NewHasher returns a Hasher with params, allowing concurrency parallel
// hashes (0 means GOMAXPROCS).
func NewHasher(params Argon2Params, concurrency int) *Hasher {
	return &Hasher{argon: secret.NewArgon2(params, concurrency)}
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
	return h.argon.Hash(ctx, pw)
}

// Verify reports whether pw matches the stored PHC hash. An empty stored
// hash (unknown user) is checked against a dummy hash so the answer takes
// as long as a real one; it never matches. An unreadable one is ErrBadHash.
func (h *Hasher) Verify(ctx context.Context, pw, stored string) (bool, error) {
	ok, err := h.argon.Verify(ctx, pw, stored)
	if errors.Is(err, secret.ErrBadPHC) {
		return false, ErrBadHash
	}
	return ok, err
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// PasswordHasher hashes passwords (package login's Hasher).
type PasswordHasher interface {
	Hash(ctx context.Context, pw string) (string, error)
}

// UserStore is what user administration needs from the store.
type UserStore interface {
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByLogin(ctx context.Context, login string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
	RevokeUserGrants(ctx context.Context, userID string, now time.Time, extra ...store.Revocation) ([]store.Revocation, error)
}

// UserSpec describes a user to create.
type UserSpec struct {
	Username      string
	Email         string
	EmailVerified bool
	Password      string
	Roles         []string
}

// CreateUser validates spec, hashes the password with argon2id and stores
// the user under a new random ID.
func CreateUser(ctx context.Context, st UserStore, h PasswordHasher, spec UserSpec, now time.Time) (store.User, error) {
	u := store.User{
		ID:            secret.ID(),
		Username:      strings.TrimSpace(spec.Username),
		Email:         strings.TrimSpace(spec.Email),
		EmailVerified: spec.EmailVerified,
		Roles:         dedupe(spec.Roles),
		CreatedAt:     now, UpdatedAt: now, PasswordChangedAt: now,
	}
	if err := validateUser(u); err != nil {
		return store.User{}, err
	}
	hash, err := hashPassword(ctx, h, spec.Password)
	if err != nil {
		return store.User{}, err
	}
	u.PasswordHash = hash
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, invalid("username or e-mail is already taken")
		}
		return store.User{}, err
	}
	return u, nil
}

// hashPassword hashes pw. A refusal by the password policy (too short or
// long, or a common breached password: login.ErrPasswordPolicy,
// login.ErrCommonPassword) wraps ErrInvalid and the hasher's error, so
// callers can tell which with errors.Is; a canceled wait for a hashing slot
// stays what it is.
func hashPassword(ctx context.Context, h PasswordHasher, pw string) (string, error) {
	hash, err := h.Hash(ctx, pw)
	switch {
	case err == nil:
		return hash, nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "", err
	}
	return "", fmt.Errorf("%w: %w", ErrInvalid, err)
}

// FindUser resolves a user by ID, username or e-mail.
func FindUser(ctx context.Context, st UserStore, ref string) (store.User, error) {
	u, err := st.GetUser(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = st.GetUserByLogin(ctx, ref)
	}
	return u, err
}

// SetPassword replaces a user's password hash and signs the user out
// everywhere (see SignOutEverywhere): whoever knew the old password must
// not keep a session or token (ASVS 7.4.3).
func SetPassword(ctx context.Context, st UserStore, h PasswordHasher, id, pw string, now time.Time, accessTTL time.Duration) (store.User, error) {
	hash, err := hashPassword(ctx, h, pw)
	if err != nil {
		return store.User{}, err
	}
	u, err := st.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		return u, nil
	})
	if err != nil {
		return store.User{}, err
	}
	if _, err := SignOutEverywhere(ctx, st, id, now, accessTTL); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// SetDisabled disables or re-enables a user. Disabling also signs the user
// out everywhere, so existing tokens stop working at once.
func SetDisabled(ctx context.Context, st UserStore, id string, disabled bool, now time.Time, accessTTL time.Duration) (store.User, error) {
	u, err := st.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		u.Disabled, u.UpdatedAt = disabled, now
		return u, nil
	})
	if err != nil || !disabled {
		return u, err
	}
	if _, err := SignOutEverywhere(ctx, st, id, now, accessTTL); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// SignOutEverywhere ends every browser session and grant of a user and adds
// a subject not-before entry to the revocation list, so every access token
// issued to the user until now is refused by every node as soon as it
// follows the list. accessTTL bounds how long the entry must be kept. It
// returns the entries written (callers running inside a server apply them
// to their own list; other nodes follow the store's feed).
func SignOutEverywhere(ctx context.Context, st UserStore, id string, now time.Time, accessTTL time.Duration) ([]store.Revocation, error) {
	sub := store.Revocation{Kind: store.RevokeSubject, Value: id, NotBefore: revocation.SubjectNotBefore(now),
		ExpiresAt: now.Add(accessTTL + keys.MaxLeeway)}
	revs, err := st.RevokeUserGrants(ctx, id, now, sub)
	if err != nil {
		return nil, fmt.Errorf("sign user %s out: %w", id, err)
	}
	return revs, nil
}

func validateUser(u store.User) error {
	var errs []error
	if n := len(u.Username); n == 0 || n > 64 || !validUsername(u.Username) {
		errs = append(errs, invalid("username must be 1-64 characters of letters, digits, '.', '_', '-', '+' (and '@')"))
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || len(u.Email) > 254 {
			errs = append(errs, invalid("e-mail %q is not a plain address like name@example.com", u.Email))
		}
	}
	for _, r := range u.Roles {
		if err := rbac.ValidateRoleName(r); err != nil {
			errs = append(errs, invalid("%v", err))
		}
	}
	return errors.Join(errs...)
}

func validUsername(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '+' || c == '@'
		if !ok {
			return false
		}
	}
	return true
}

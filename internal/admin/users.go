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
// login.ErrCommonPassword) is an ErrInvalid wrapping the hasher's error,
// so callers can tell which with errors.Is; a canceled wait for a hashing
// slot stays what it is.
func hashPassword(ctx context.Context, h PasswordHasher, pw string) (string, error) {
	hash, err := h.Hash(ctx, pw)
	switch {
	case err == nil:
		return hash, nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "", err
	}
	return "", &Error{Kind: ErrInvalid, Message: "invalid: " + err.Error(), Err: err}
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
	u, _, err := setPassword(ctx, st, h, id, pw, now, accessTTL)
	return u, err
}

// setPassword is SetPassword returning the revocation entries written.
func setPassword(ctx context.Context, st UserStore, h PasswordHasher, id, pw string, now time.Time, accessTTL time.Duration) (store.User, []store.Revocation, error) {
	hash, err := hashPassword(ctx, h, pw)
	if err != nil {
		return store.User{}, nil, err
	}
	u, err := st.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		return u, nil
	})
	if err != nil {
		return store.User{}, nil, err
	}
	revs, err := signOutEverywhere(ctx, st, id, now, accessTTL)
	if err != nil {
		return u, nil, incomplete(err, "the password of user %s is changed, but the user could not be signed out everywhere (sign them out)", id)
	}
	return u, revs, nil
}

// SetDisabled disables or re-enables a user. Disabling also signs the user
// out everywhere, so existing tokens stop working at once.
func SetDisabled(ctx context.Context, st UserStore, id string, disabled bool, now time.Time, accessTTL time.Duration) (store.User, error) {
	u, _, err := setDisabled(ctx, st, id, disabled, now, accessTTL)
	return u, err
}

// setDisabled is SetDisabled returning the revocation entries written.
func setDisabled(ctx context.Context, st UserStore, id string, disabled bool, now time.Time, accessTTL time.Duration) (store.User, []store.Revocation, error) {
	u, err := st.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		u.Disabled, u.UpdatedAt = disabled, now
		return u, nil
	})
	if err != nil || !disabled {
		return u, nil, err
	}
	revs, err := signOutEverywhere(ctx, st, id, now, accessTTL)
	if err != nil {
		return u, nil, incomplete(err, "user %s is disabled, but could not be signed out everywhere (retry)", id)
	}
	return u, revs, nil
}

// signOutEverywhere ends every browser session and grant of a user and
// adds a subject not-before entry to the revocation list, so every access
// token issued to the user until now is refused by every node as soon as
// it follows the list. accessTTL bounds how long the entry must be kept.
// It returns the entries written (a server applies them to its own list;
// other nodes follow the store's feed).
func signOutEverywhere(ctx context.Context, st UserStore, id string, now time.Time, accessTTL time.Duration) ([]store.Revocation, error) {
	sub := store.Revocation{Kind: store.RevokeSubject, Value: id, NotBefore: revocation.SubjectNotBefore(now),
		ExpiresAt: now.Add(accessTTL + keys.MaxLeeway)}
	revs, err := st.RevokeUserGrants(ctx, id, now, sub)
	if err != nil {
		return nil, fmt.Errorf("sign user %s out: %w", id, err)
	}
	return revs, nil
}

// validateUser reports every problem of u at once.
func validateUser(u store.User) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, invalid(format, args...).Message) }
	if n := len(u.Username); n == 0 || n > 64 || !validUsername(u.Username) {
		bad("username must be 1-64 characters of letters, digits, '.', '_', '-', '+' (and '@')")
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || len(u.Email) > 254 {
			bad("e-mail %q is not a plain address like name@example.com", u.Email)
		}
	}
	for _, r := range u.Roles {
		if err := rbac.ValidateRoleName(r); err != nil {
			bad("%v", err)
		}
	}
	if len(problems) > 0 {
		return &Error{Kind: ErrInvalid, Message: strings.Join(problems, "\n")}
	}
	return nil
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

// ListUsers returns every user.
func (a Actions) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := a.s.cfg.Store.ListUsers(ctx)
	return us, fail(err)
}

// FindUser returns the user ref names: an id, a username or an e-mail
// address.
func (a Actions) FindUser(ctx context.Context, ref string) (store.User, error) {
	u, err := FindUser(ctx, a.s.cfg.Store, ref)
	return u, fail(err)
}

// CreateUser creates a user (see CreateUser) whose roles exist and are
// covered by the principal's permissions.
func (a Actions) CreateUser(ctx context.Context, spec UserSpec) (store.User, error) {
	if err := a.mayGrantRoles(ctx, spec.Roles); err != nil {
		return store.User{}, fail(err)
	}
	u, err := CreateUser(ctx, a.s.cfg.Store, a.s.cfg.Passwords, spec, a.now())
	a.record(ctx, err, "user.create", userTarget(u.ID))
	return u, fail(err)
}

// userFor finds the user ref names and checks the principal covers the
// roles it holds.
func (a Actions) userFor(ctx context.Context, ref string) (store.User, error) {
	u, err := FindUser(ctx, a.s.cfg.Store, ref)
	if err != nil {
		return store.User{}, fail(err)
	}
	if err := a.mayActOn(ctx, u.Roles); err != nil {
		return store.User{}, fail(err)
	}
	return u, nil
}

// UserPatch is a change to a user: the fields that are not nil replace the
// user's.
type UserPatch struct {
	// Disabled disables the user, ending every session and grant of it and
	// refusing its access tokens, or enables it again.
	Disabled *bool
}

// UpdateUser changes the user ref names as p says and returns it.
func (a Actions) UpdateUser(ctx context.Context, ref string, p UserPatch) (store.User, error) {
	u, err := a.userFor(ctx, ref)
	if err != nil || p.Disabled == nil {
		return u, err
	}
	u, revs, err := setDisabled(ctx, a.s.cfg.Store, u.ID, *p.Disabled, a.now(), a.s.cfg.AccessTTL)
	a.apply(revs)
	action := "user.enable"
	if *p.Disabled {
		action = "user.disable"
	}
	a.record(ctx, err, action, userTarget(u.ID))
	return u, fail(err)
}

// SetUserPassword sets the password of the user ref names, under the
// password policy, and signs the user out everywhere.
func (a Actions) SetUserPassword(ctx context.Context, ref, password string) (store.User, error) {
	u, err := a.userFor(ctx, ref)
	if err != nil {
		return store.User{}, err
	}
	u, revs, err := setPassword(ctx, a.s.cfg.Store, a.s.cfg.Passwords, u.ID, password, a.now(), a.s.cfg.AccessTTL)
	a.apply(revs)
	a.record(ctx, err, "user.set_password", userTarget(u.ID))
	return u, fail(err)
}

// DeleteUser deletes the user ref names, with its sessions and consents.
func (a Actions) DeleteUser(ctx context.Context, ref string) error {
	u, err := a.userFor(ctx, ref)
	if err != nil {
		return err
	}
	err = a.s.cfg.Store.DeleteUser(ctx, u.ID)
	a.record(ctx, err, "user.delete", userTarget(u.ID))
	return fail(err)
}

// ListSessions returns the live browser sessions of the user ref names.
func (a Actions) ListSessions(ctx context.Context, ref string) ([]store.Session, error) {
	u, err := FindUser(ctx, a.s.cfg.Store, ref)
	if err != nil {
		return nil, fail(err)
	}
	ss, err := a.s.cfg.Store.ListUserSessions(ctx, u.ID, a.now())
	return ss, fail(err)
}

// SignOutEverywhere ends every browser session and grant of the user ref
// names and refuses every access token it was issued until now.
func (a Actions) SignOutEverywhere(ctx context.Context, ref string) error {
	u, err := a.userFor(ctx, ref)
	if err != nil {
		return err
	}
	revs, err := signOutEverywhere(ctx, a.s.cfg.Store, u.ID, a.now(), a.s.cfg.AccessTTL)
	a.apply(revs)
	a.record(ctx, err, "user.sign_out_everywhere", userTarget(u.ID))
	return fail(err)
}

// EndSession ends one browser session and refuses the access tokens issued
// under it. A session that is gone already is no error.
func (a Actions) EndSession(ctx context.Context, sid string) error {
	now := a.now()
	revs, err := a.s.cfg.Store.EndSession(ctx, sid, now, now.Add(a.s.cfg.AccessTTL+keys.MaxLeeway))
	a.apply(revs)
	a.record(ctx, err, "session.end", target{kind: "session", id: sid})
	return fail(err)
}

package admin

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/rbac"
	"github.com/gatehouse/gatehouse/internal/revocation"
	"github.com/gatehouse/gatehouse/internal/store"
)

// RoleStore is what role administration needs from the store.
type RoleStore interface {
	CreateRole(ctx context.Context, r store.Role) error
	GetRole(ctx context.Context, name string) (store.Role, error)
	UpdateRole(ctx context.Context, name string, fn func(store.Role) (store.Role, error)) (store.Role, error)
	DeleteRole(ctx context.Context, name string) error
	UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error)
	UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error)
	AddRevocations(ctx context.Context, rs []store.Revocation, now time.Time) ([]store.Revocation, error)
}

// CreateRole validates and stores a role. store.ErrConflict if the name
// is taken.
func CreateRole(ctx context.Context, st RoleStore, name, description string, perms []string, now time.Time) (store.Role, error) {
	r := store.Role{Name: name, Description: description, Permissions: dedupe(perms), CreatedAt: now, UpdatedAt: now}
	if err := rbac.ValidateRole(r); err != nil {
		return store.Role{}, invalid("%v", err)
	}
	if err := st.CreateRole(ctx, r); err != nil {
		return store.Role{}, err
	}
	return r, nil
}

// setRolePermissions replaces a role's permissions (and its description,
// when description is not nil).
func setRolePermissions(ctx context.Context, st RoleStore, name string, perms []string, description *string, now time.Time) (store.Role, error) {
	return st.UpdateRole(ctx, name, func(r store.Role) (store.Role, error) {
		r.Permissions, r.UpdatedAt = dedupe(perms), now
		set(&r.Description, description)
		if err := rbac.ValidateRole(r); err != nil {
			return store.Role{}, invalid("%v", err)
		}
		return r, nil
	})
}

// validPermissions checks permissions one by one before anything else
// about them, so that the first malformed one is named as it is.
func validPermissions(perms []string) error {
	for _, p := range perms {
		if err := rbac.ValidatePermission(p); err != nil {
			return &Error{Kind: ErrInvalid, Message: err.Error(), Err: err}
		}
	}
	return nil
}

// Role holders.
const (
	HolderUser   = "user"
	HolderClient = "client"
)

// RoleReader looks roles up by name (the store).
type RoleReader interface {
	GetRole(ctx context.Context, name string) (store.Role, error)
}

// CheckRolesExist returns ErrUnknownRole, naming every one, if any of roles
// does not exist (a name no role can have, the empty one included, is
// among them). Roles are given only once defined: a misspelt role would
// grant nothing, and later whatever a role of that name is created with.
// Names are compared trimmed, as they are stored.
func CheckRolesExist(ctx context.Context, st RoleReader, roles []string) error {
	var missing, seen []string
	for _, r := range roles {
		if r = strings.TrimSpace(r); slices.Contains(seen, r) {
			continue
		}
		seen = append(seen, r)
		if rbac.ValidateRoleName(r) != nil {
			missing = append(missing, strconv.Quote(r))
			continue
		}
		switch _, err := st.GetRole(ctx, r); {
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, strconv.Quote(r))
		case err != nil:
			return err
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return refuse(ErrUnknownRole, "role %s does not exist", missing[0])
	}
	return refuse(ErrUnknownRole, "roles %s do not exist", strings.Join(missing, ", "))
}

// grantRole gives an existing role to a user or a client. Tokens issued
// from now on carry it (a refresh picks it up).
func grantRole(ctx context.Context, st RoleStore, holder, id, role string, now time.Time) ([]string, error) {
	role = strings.TrimSpace(role)
	if err := CheckRolesExist(ctx, st, []string{role}); err != nil {
		return nil, err
	}
	return updateRoles(ctx, st, holder, id, now, func(roles []string) []string {
		if slices.Contains(roles, role) {
			return roles
		}
		return append(roles, role)
	})
}

// revokeRole takes a role from a user or a client and adds a subject
// not-before entry to the revocation list, so every access token issued to
// it before now, which names the role, is refused at once; refresh tokens
// live on, and the next refresh carries the remaining roles (RBAC-05). It
// returns the holder's roles and the entries written, for a server to
// apply to its own list. An ErrUnavailable says the role is gone but the
// older tokens are not refused yet.
func revokeRole(ctx context.Context, st RoleStore, holder, id, role string, now time.Time, accessTTL time.Duration) ([]string, []store.Revocation, error) {
	held := false
	roles, err := updateRoles(ctx, st, holder, id, now, func(roles []string) []string {
		held = slices.Contains(roles, role)
		return slices.DeleteFunc(roles, func(r string) bool { return r == role })
	})
	if err != nil || !held {
		return roles, nil, err
	}
	revs, err := revokeSubjectTokens(ctx, st, id, now, accessTTL)
	if err != nil {
		// The role is gone from new tokens, but older ones still carry it:
		// say so rather than report success.
		return roles, nil, incomplete(err, "role %s removed from %s %s, but its older tokens could not be revoked (retry)", role, holder, id)
	}
	return roles, revs, nil
}

func updateRoles(ctx context.Context, st RoleStore, holder, id string, now time.Time, change func([]string) []string) ([]string, error) {
	switch holder {
	case HolderUser:
		u, err := st.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
			u.Roles, u.UpdatedAt = change(slices.Clone(u.Roles)), now
			return u, nil
		})
		return u.Roles, err
	case HolderClient:
		c, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
			c.Roles, c.UpdatedAt = change(slices.Clone(c.Roles)), now
			return c, nil
		})
		return c.Roles, err
	}
	return nil, invalid("role holder must be %q or %q", HolderUser, HolderClient)
}

// revokeSubjectTokens adds a subject not-before entry for id (a user or a
// client): every access token issued to it until now is refused by every
// node and SDK that follows the list. accessTTL bounds how long the entry
// must be kept. It returns the entries written.
//
// The not-before is one second later than revocation.SubjectNotBefore: a
// token request that read the holder's roles just before this change may
// sign its token up to a moment after it, and such a token, which names the
// role taken away, must be covered too. A token issued in the second that
// follows is refused once; its client asks again.
func revokeSubjectTokens(ctx context.Context, st RevocationWriter, id string, now time.Time, accessTTL time.Duration) ([]store.Revocation, error) {
	sub := store.Revocation{Kind: store.RevokeSubject, Value: id, NotBefore: revocation.SubjectNotBefore(now.Add(time.Second)),
		ExpiresAt: now.Add(accessTTL + keys.MaxLeeway)}
	return st.AddRevocations(ctx, []store.Revocation{sub}, now)
}

// ListRoles returns every role.
func (a Actions) ListRoles(ctx context.Context) ([]store.Role, error) {
	rs, err := a.s.cfg.Store.ListRoles(ctx)
	return rs, fail(err)
}

// GetRole returns the role of that name.
func (a Actions) GetRole(ctx context.Context, name string) (store.Role, error) {
	r, err := a.s.cfg.Store.GetRole(ctx, name)
	return r, fail(err)
}

// CreateRole creates a role whose permissions the principal holds.
func (a Actions) CreateRole(ctx context.Context, name, description string, perms []string) (store.Role, error) {
	if err := validPermissions(perms); err != nil {
		return store.Role{}, err
	}
	if err := a.mayGrantPermissions(perms); err != nil {
		return store.Role{}, err
	}
	r, err := CreateRole(ctx, a.s.cfg.Store, name, description, perms, a.now())
	a.record(ctx, err, "role.create", target{kind: "role", id: name})
	return r, fail(err)
}

// SetRolePermissions replaces a role's permissions (and its description,
// when description is not nil). The principal must hold both the old
// permissions and the new. Holders' access tokens carry role names, so the
// change reaches the admin API at once and other APIs through the tokens
// issued from now on.
func (a Actions) SetRolePermissions(ctx context.Context, name string, perms []string, description *string) (store.Role, error) {
	if err := validPermissions(perms); err != nil {
		return store.Role{}, err
	}
	if err := a.mayGrantPermissions(perms); err != nil {
		return store.Role{}, err
	}
	if err := a.mayActOn(ctx, []string{name}); err != nil {
		return store.Role{}, fail(err)
	}
	r, err := setRolePermissions(ctx, a.s.cfg.Store, name, perms, description, a.now())
	a.record(ctx, err, "role.update", target{kind: "role", id: name})
	return r, fail(err)
}

// DeleteRole deletes a role no user, client or unrevoked API key holds
// (ErrInUse otherwise), if the principal holds its permissions.
func (a Actions) DeleteRole(ctx context.Context, name string) error {
	if err := a.mayActOn(ctx, []string{name}); err != nil {
		return fail(err)
	}
	err := a.s.cfg.Store.DeleteRole(ctx, name)
	a.record(ctx, err, "role.delete", target{kind: "role", id: name})
	return fail(err)
}

// holderTarget resolves the holder ref names (a user by id, username or
// e-mail; a client by id) and checks the principal may act on it.
func (a Actions) holderTarget(ctx context.Context, holder, ref string) (target, error) {
	switch holder {
	case HolderClient:
		c, err := a.clientFor(ctx, ref)
		return clientTarget(c.ID), err
	case HolderUser:
		u, err := a.userFor(ctx, ref)
		return userTarget(u.ID), err
	}
	return target{}, invalid("role holder must be %q or %q", HolderUser, HolderClient)
}

// GrantRole gives an existing role, whose permissions the principal holds,
// to a user or a client (holder is HolderUser or HolderClient) and returns
// the holder's roles. Tokens issued from now on carry it.
func (a Actions) GrantRole(ctx context.Context, holder, ref, role string) ([]string, error) {
	if err := a.mayGrantRoles(ctx, []string{role}); err != nil {
		return nil, fail(err)
	}
	t, err := a.holderTarget(ctx, holder, ref)
	if err != nil {
		return nil, err
	}
	roles, err := grantRole(ctx, a.s.cfg.Store, holder, t.id, role, a.now())
	t.details = map[string]string{"role": role}
	a.record(ctx, err, "role.grant", t)
	return roles, fail(err)
}

// RevokeRole takes a role from a user or a client and refuses its access
// tokens issued until now, which name the role (RBAC-05); it returns the
// holder's roles. Taking a role not held changes nothing and is no error.
func (a Actions) RevokeRole(ctx context.Context, holder, ref, role string) ([]string, error) {
	t, err := a.holderTarget(ctx, holder, ref)
	if err != nil {
		return nil, err
	}
	roles, revs, err := revokeRole(ctx, a.s.cfg.Store, holder, t.id, role, a.now(), a.s.cfg.AccessTTL)
	a.apply(revs)
	t.details = map[string]string{"role": role}
	a.record(ctx, err, "role.revoke", t)
	return roles, fail(err)
}

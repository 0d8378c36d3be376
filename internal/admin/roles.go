package admin

import (
	"context"
	"errors"
	"fmt"
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

// SetRolePermissions replaces a role's permissions (and its description,
// when description is not nil). Holders' access tokens carry role names,
// so the change reaches the admin API at once and other APIs through
// tokens issued from now on.
func SetRolePermissions(ctx context.Context, st RoleStore, name string, perms []string, description *string, now time.Time) (store.Role, error) {
	return st.UpdateRole(ctx, name, func(r store.Role) (store.Role, error) {
		r.Permissions, r.UpdatedAt = dedupe(perms), now
		if description != nil {
			r.Description = *description
		}
		if err := rbac.ValidateRole(r); err != nil {
			return store.Role{}, invalid("%v", err)
		}
		return r, nil
	})
}

// DeleteRole deletes a role no user, client or live API key holds
// (store.ErrInUse otherwise).
func DeleteRole(ctx context.Context, st RoleStore, name string) error {
	return st.DeleteRole(ctx, name)
}

// Role holders.
const (
	HolderUser   = "user"
	HolderClient = "client"
)

// ErrUnknownRole reports a role, given to a user, a client or an API key,
// that does not exist. It wraps ErrInvalid.
var ErrUnknownRole = fmt.Errorf("%w", ErrInvalid)

// RoleReader looks roles up by name (the store).
type RoleReader interface {
	GetRole(ctx context.Context, name string) (store.Role, error)
}

// CheckRolesExist returns ErrUnknownRole, naming every one, if any of roles
// does not exist. Roles are given only once defined: a misspelt role would
// grant nothing, and later whatever a role of that name is created with.
// GrantRole and the command line's local mode apply it; the admin API
// refuses the same roles (400 invalid_request) before it compares the
// caller's permissions, and the API key service refuses them too.
func CheckRolesExist(ctx context.Context, st RoleReader, roles []string) error {
	var missing, seen []string
	for _, r := range roles {
		if r = strings.TrimSpace(r); slices.Contains(seen, r) {
			continue
		}
		seen = append(seen, r)
		if rbac.ValidateRoleName(r) != nil {
			// No role can have this name (an empty one included).
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
		return invalidAs(ErrUnknownRole, "role %s does not exist", missing[0])
	}
	return invalidAs(ErrUnknownRole, "roles %s do not exist", strings.Join(missing, ", "))
}

// GrantRole gives an existing role to a user or a client. Tokens issued
// from now on carry it (a refresh picks it up).
func GrantRole(ctx context.Context, st RoleStore, holder, id, role string, now time.Time) ([]string, error) {
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

// RevokeRole takes a role from a user or a client and adds a subject
// not-before entry to the revocation list, so every access token issued to
// it before now, which names the role, is refused at once; refresh tokens
// live on, and the next refresh carries the remaining roles (RBAC-05). It
// returns the holder's roles and the entries written, for a server to
// apply to its own list.
func RevokeRole(ctx context.Context, st RoleStore, holder, id, role string, now time.Time, accessTTL time.Duration) ([]string, []store.Revocation, error) {
	held := false
	roles, err := updateRoles(ctx, st, holder, id, now, func(roles []string) []string {
		held = slices.Contains(roles, role)
		return slices.DeleteFunc(roles, func(r string) bool { return r == role })
	})
	if err != nil || !held {
		return roles, nil, err
	}
	revs, err := RevokeSubjectTokens(ctx, st, id, now, accessTTL)
	if err != nil {
		// The role is gone from new tokens, but older ones still carry it:
		// say so rather than report success.
		return roles, nil, fmt.Errorf("role %s removed from %s %s, but its older tokens could not be revoked (retry): %w", role, holder, id, err)
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

// RevokeSubjectTokens adds a subject not-before entry for id (a user or a
// client): every access token issued to it until now is refused by every
// node and SDK that follows the list. accessTTL bounds how long the entry
// must be kept. It returns the entries written.
//
// The not-before is one second later than revocation.SubjectNotBefore: a
// token request that read the holder's roles just before this change may
// sign its token up to a moment after it, and such a token, which names the
// role taken away, must be covered too. A token issued in the second that
// follows is refused once; its client asks again.
func RevokeSubjectTokens(ctx context.Context, st RevocationWriter, id string, now time.Time, accessTTL time.Duration) ([]store.Revocation, error) {
	sub := store.Revocation{Kind: store.RevokeSubject, Value: id, NotBefore: revocation.SubjectNotBefore(now.Add(time.Second)),
		ExpiresAt: now.Add(accessTTL + keys.MaxLeeway)}
	return st.AddRevocations(ctx, []store.Revocation{sub}, now)
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/rbac"
)

// Bootstrap's role.
const (
	adminRole       = "admin"
	adminPermission = rbac.Wildcard + ":" + rbac.Wildcard
)

// bootstrapJSON is the --json answer of bootstrap: User or APIKey is set.
type bootstrapJSON struct {
	Role        string         `json:"role"`
	RoleCreated bool           `json:"role_created"`
	User        *userJSON      `json:"user,omitempty"`
	APIKey      *newAPIKeyJSON `json:"api_key,omitempty"`
}

func (e *env) bootstrapCommand() *cobra.Command {
	var spec admin.UserSpec
	var fromStdin, withKey, asJSON bool
	var keyName string
	expires := newDurationValue(defaultKeyLifetime, parseLifetime)
	cmd := &cobra.Command{
		Use:   "bootstrap (--username NAME | --api-key)",
		Short: "Create the first administrator of an empty store",
		Long: `Create the first administrator of a store that has no users and no API keys.

Ensures the role "admin" exists with permission *:* (creating it if absent),
then creates either a user holding it (--username; password from
--password-stdin or a prompt) or an API key holding it (--api-key; the key
is printed once).`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			changed := cmd.Flags().Changed
			switch {
			case changed("username") == withKey:
				return usageError{errors.New("give exactly one of --username and --api-key")}
			case withKey && (changed("email") || changed("password-stdin")):
				return usageError{errors.New("--email and --password-stdin go with --username, not --api-key")}
			case !withKey && (changed("name") || changed("expires-in")):
				return usageError{errors.New("--name and --expires-in go with --api-key, not --username")}
			}
			return nil
		},
		RunE: e.withStore(func(cmd *cobra.Command, _ []string, st app.Store, cfg *config.Config) error {
			ctx := cmd.Context()
			if err := checkEmpty(cmd, st); err != nil {
				return err
			}
			keys := newLazyAPIKeys(st, cfg)
			if withKey {
				// The pepper file, if any, is read before anything is
				// written.
				if _, err := keys.get(); err != nil {
					return err
				}
			} else {
				pw, err := e.readPassword(fromStdin)
				if err != nil {
					return err
				}
				spec.Password, spec.Roles = pw, []string{adminRole}
			}
			b := e.localAdmin(st, cfg, keys)
			created, err := ensureAdminRole(ctx, b)
			if err != nil {
				return err
			}
			out := bootstrapJSON{Role: adminRole, RoleCreated: created}
			if withKey {
				plain, k, err := b.CreateAPIKey(ctx, apikey.CreateRequest{Name: keyName, Roles: []string{adminRole}, ExpiresIn: expires.d})
				if err != nil {
					return err
				}
				if !asJSON {
					e.printRoleNote(created)
					return printNewKey(e.stdout, plain, k, false)
				}
				out.APIKey = &newAPIKeyJSON{Key: plain, apiKeyJSON: toAPIKeyJSON(k, time.Now())}
				return printJSON(e.stdout, out)
			}
			u, err := b.CreateUser(ctx, spec)
			if err != nil {
				return err
			}
			if !asJSON {
				e.printRoleNote(created)
				return e.printUser(u, false)
			}
			j := toUserJSON(u)
			out.User = &j
			return printJSON(e.stdout, out)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&spec.Username, "username", "", "create an admin user with this login name")
	f.StringVar(&spec.Email, "email", "", "the admin user's e-mail address")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the admin user's password from the first line of stdin")
	f.BoolVar(&withKey, "api-key", false, "create an admin API key instead of a user")
	f.StringVar(&keyName, "name", "bootstrap admin", "the admin API key's name")
	f.Var(expires, "expires-in", `the admin API key's lifetime: a duration such as 90d or 12h; "0" or "never" for no expiry`)
	jsonFlag(cmd, &asJSON)
	return cmd
}

// checkEmpty refuses a store that has users or API keys, saying which.
func checkEmpty(cmd *cobra.Command, st app.Store) error {
	users, err := st.ListUsers(cmd.Context())
	if err != nil {
		return err
	}
	keys, err := st.ListAPIKeys(cmd.Context())
	if err != nil {
		return err
	}
	var has []string
	if n := len(users); n > 0 {
		has = append(has, fmt.Sprintf("%d user(s)", n))
	}
	if n := len(keys); n > 0 {
		has = append(has, fmt.Sprintf("%d API key(s)", n))
	}
	if len(has) > 0 {
		return describedError{msg: fmt.Sprintf("the store already has %s: bootstrap only sets up an empty store (use `gatehouse roles grant`, `gatehouse apikeys create`)",
			strings.Join(has, " and ")), cause: admin.ErrConflict}
	}
	return nil
}

// ensureAdminRole creates the admin role unless it exists, and refuses an
// existing one that does not grant *:* rather than widen it: clients may
// hold it already.
func ensureAdminRole(ctx context.Context, b adminBackend) (created bool, err error) {
	_, err = b.CreateRole(ctx, adminRole, "Full access (created by gatehouse bootstrap)", []string{adminPermission})
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, admin.ErrConflict) {
		return false, err
	}
	r, err := b.GetRole(ctx, adminRole)
	if err != nil {
		return false, err
	}
	if !slices.Contains(r.Permissions, adminPermission) {
		return false, describedError{msg: fmt.Sprintf("role %q exists without permission %s; add it (`gatehouse roles set-permissions %s`) or delete the role, then run bootstrap again",
			adminRole, adminPermission, adminRole), cause: admin.ErrConflict}
	}
	return false, nil
}

// printRoleNote ignores a write error: the key or user printed next reports it.
func (e *env) printRoleNote(created bool) {
	if created {
		_, _ = fmt.Fprintf(e.stdout, "created role %s (%s)\n\n", adminRole, adminPermission)
	} else {
		_, _ = fmt.Fprintf(e.stdout, "role %s exists (%s)\n\n", adminRole, adminPermission)
	}
}

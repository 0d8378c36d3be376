package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/store"
)

// roleJSON is the --json shape of a role.
type roleJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func toRoleJSON(r store.Role) roleJSON {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return roleJSON{Name: r.Name, Description: r.Description, Permissions: perms,
		CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: r.UpdatedAt.UTC().Format(time.RFC3339)}
}

func (e *env) rolesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Short: "Manage roles (named sets of resource:action permissions), locally or with --server"}
	e.serverFlag(cmd)
	cmd.AddCommand(e.rolesCreate(), e.rolesList(), e.rolesGet(), e.rolesSetPermissions(), e.rolesDelete(),
		e.rolesGrant(), e.rolesRevoke())
	return cmd
}

// permissionsFlag declares --permissions (`--permissions ""` is the empty
// list).
func permissionsFlag(cmd *cobra.Command, perms *[]string) {
	cmd.Flags().StringSliceVar(perms, "permissions", nil, `permissions, resource:action with whole-segment * (e.g. clients:read,users:*); "" for none`)
}

// requireFlags returns a usage error naming the first of flags not given.
func requireFlags(cmd *cobra.Command, flags ...string) error {
	for _, f := range flags {
		if !cmd.Flags().Changed(f) {
			return usageError{fmt.Errorf("--%s is required", f)}
		}
	}
	return nil
}

func (e *env) rolesCreate() *cobra.Command {
	var perms []string
	var description string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a role",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return requireFlags(cmd, "permissions")
		},
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			r, err := b.CreateRole(cmd.Context(), args[0], description, perms)
			if errors.Is(err, admin.ErrConflict) {
				return describedError{msg: fmt.Sprintf("role %q already exists", args[0]), cause: err}
			}
			if err != nil {
				return err
			}
			return e.printRole(r, asJSON)
		}),
	}
	permissionsFlag(cmd, &perms)
	cmd.Flags().StringVar(&description, "description", "", "what the role is for")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) printRole(r store.Role, asJSON bool) error {
	j := toRoleJSON(r)
	if asJSON {
		return printJSON(e.stdout, j)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\ndescription:\t%s\npermissions:\t%s\ncreated:\t%s\nupdated:\t%s\n",
		j.Name, j.Description, strings.Join(j.Permissions, " "), j.CreatedAt, j.UpdatedAt)
	return tw.Flush()
}

func (e *env) rolesList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List roles",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			list, err := b.ListRoles(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]roleJSON, 0, len(list))
				for _, r := range list {
					out = append(out, toRoleJSON(r))
				}
				return printJSON(e.stdout, map[string]any{"roles": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPERMISSIONS\tDESCRIPTION")
			for _, r := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, dash(strings.Join(r.Permissions, ",")), r.Description)
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) rolesGet() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a role",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			r, err := b.GetRole(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "role", args[0])
			}
			return e.printRole(r, asJSON)
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) rolesSetPermissions() *cobra.Command {
	var perms []string
	var description string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "set-permissions NAME",
		Short: "Replace a role's permissions (holders' new tokens carry the change)",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return requireFlags(cmd, "permissions")
		},
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			var desc *string
			if cmd.Flags().Changed("description") {
				desc = &description
			}
			r, err := b.SetRolePermissions(cmd.Context(), args[0], perms, desc)
			if err != nil {
				return notFound(err, "role", args[0])
			}
			return e.printRole(r, asJSON)
		}),
	}
	permissionsFlag(cmd, &perms)
	cmd.Flags().StringVar(&description, "description", "", "also replace the description")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) rolesDelete() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a role no user, client or unrevoked API key holds",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			err := b.DeleteRole(cmd.Context(), args[0])
			if errors.Is(err, admin.ErrInUse) {
				return fmt.Errorf("cannot delete role %q while a user, client or unrevoked API key holds it "+
					"(take it away with `gatehouse roles revoke` or `gatehouse apikeys revoke` first): %w", args[0], err)
			}
			if err != nil {
				return notFound(err, "role", args[0])
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"deleted": args[0]})
			}
			_, err = fmt.Fprintf(e.stdout, "deleted role %s\n", args[0])
			return err
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// holderFlags selects who a role is granted to or taken from.
type holderFlags struct {
	user, client string
}

func (h *holderFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&h.user, "user", "", "the user (id, username or e-mail)")
	cmd.Flags().StringVar(&h.client, "client", "", "the client (client_id)")
}

// holder is a resolved role holder.
type holder struct {
	kind, id, label string
	roles           []string // held when resolved
}

// resolve looks the holder up: a user by id, username or e-mail, a client
// by client_id.
func (h *holderFlags) resolve(cmd *cobra.Command, b adminBackend) (holder, error) {
	if (h.user == "") == (h.client == "") {
		return holder{}, usageError{errors.New("give exactly one of --user and --client")}
	}
	if h.client != "" {
		c, err := b.GetClient(cmd.Context(), h.client)
		if err != nil {
			return holder{}, notFound(err, "client", h.client)
		}
		return holder{kind: admin.HolderClient, id: c.ID, label: c.ID, roles: c.Roles}, nil
	}
	u, err := b.FindUser(cmd.Context(), h.user)
	if err != nil {
		return holder{}, notFound(err, "user", h.user)
	}
	return holder{kind: admin.HolderUser, id: u.ID, label: u.Username, roles: u.Roles}, nil
}

// holderJSON is the --json answer of grant and revoke.
type holderJSON struct {
	Role   string   `json:"role"`
	Holder string   `json:"holder"`
	ID     string   `json:"id"`
	Roles  []string `json:"roles"`
	// Changed is false when the holder already had (grant) or did not
	// have (revoke) the role.
	Changed bool `json:"changed"`
}

func (e *env) printHolder(j holderJSON, label string, asJSON bool) error {
	if j.Roles == nil {
		j.Roles = []string{}
	}
	if asJSON {
		return printJSON(e.stdout, j)
	}
	_, err := fmt.Fprintf(e.stdout, "%s %s (%s) roles: %s\n", j.Holder, label, j.ID, dash(strings.Join(j.Roles, " ")))
	return err
}

func (e *env) rolesGrant() *cobra.Command {
	var h holderFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "grant ROLE (--user USER | --client CLIENT_ID)",
		Short: "Give a role to a user or a client (their next tokens carry it)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			who, err := h.resolve(cmd, b)
			if err != nil {
				return err
			}
			roles, err := b.GrantRole(cmd.Context(), who.kind, who.id, args[0])
			if err != nil {
				return notFound(err, who.kind, who.id)
			}
			return e.printHolder(holderJSON{Role: args[0], Holder: who.kind, ID: who.id, Roles: roles,
				Changed: !slices.Contains(who.roles, args[0])}, who.label, asJSON)
		}),
	}
	h.bind(cmd)
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) rolesRevoke() *cobra.Command {
	var h holderFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke ROLE (--user USER | --client CLIENT_ID)",
		Short: "Take a role from a user or a client; their older access tokens are refused at once",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			who, err := h.resolve(cmd, b)
			if err != nil {
				return err
			}
			roles, err := b.RevokeRole(cmd.Context(), who.kind, who.id, args[0])
			if err != nil {
				return notFound(err, who.kind, who.id)
			}
			held := slices.Contains(who.roles, args[0])
			if !asJSON && !held {
				_, _ = fmt.Fprintf(e.stderr, "%s %s did not hold role %s\n", who.kind, who.label, args[0]) // a note; the result follows on stdout
			}
			return e.printHolder(holderJSON{Role: args[0], Holder: who.kind, ID: who.id, Roles: roles, Changed: held}, who.label, asJSON)
		}),
	}
	h.bind(cmd)
	jsonFlag(cmd, &asJSON)
	return cmd
}

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/login"
	"github.com/gatehouse/gatehouse/internal/store"
)

// userJSON is the --json shape of a user: the admin API's.
type userJSON = adminapi.UserView

func toUserJSON(u store.User) userJSON { return adminapi.NewUserView(u) }

func (e *env) usersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage end users (locally, or on a server with --server)"}
	e.serverFlag(cmd)
	cmd.AddCommand(e.usersCreate(), e.usersList(), e.usersGet(), e.usersSetDisabled(true), e.usersSetDisabled(false),
		e.usersSetPassword(), e.usersDelete())
	return cmd
}

func newHasher() *login.Hasher { return login.NewHasher(login.OWASPParams(), 0) }

// readPassword reads the password from stdin (one line) with --password-stdin,
// or prompts twice without echo when stdin is a terminal.
func (e *env) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{errors.New("no terminal to prompt for the password: pass it on stdin with --password-stdin")}
	}
	// Prompts: a failed write does not stop the terminal read.
	_, _ = fmt.Fprint(e.stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	_, _ = fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	_, _ = fmt.Fprint(e.stderr, "Repeat password: ")
	again, err := term.ReadPassword(int(f.Fd()))
	_, _ = fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if string(pw) != string(again) {
		return "", errors.New("passwords do not match")
	}
	return string(pw), nil
}

func (e *env) usersCreate() *cobra.Command {
	var spec admin.UserSpec
	var fromStdin, asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a user (password from --password-stdin or a prompt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := e.readPassword(fromStdin)
			if err != nil {
				return err
			}
			spec.Password = pw
			b, done, err := e.openAdmin(cmd)
			if err != nil {
				return err
			}
			defer done()
			u, err := b.CreateUser(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return e.printUser(u, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Username, "username", "", "login name (unique, case-insensitive)")
	f.StringVar(&spec.Email, "email", "", "e-mail address (unique; may also be used to log in)")
	f.BoolVar(&spec.EmailVerified, "email-verified", false, "mark the e-mail address as verified")
	f.StringSliceVar(&spec.Roles, "roles", nil, "roles carried in the user's access tokens")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (e *env) printUser(u store.User, asJSON bool) error {
	j := toUserJSON(u)
	if asJSON {
		return printJSON(e.stdout, j)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nusername:\t%s\nemail:\t%s\nroles:\t%s\ndisabled:\t%v\ncreated:\t%s\n",
		j.ID, j.Username, j.Email, strings.Join(j.Roles, " "), j.Disabled, j.CreatedAt)
	return tw.Flush()
}

func (e *env) usersList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			list, err := b.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]userJSON, 0, len(list))
				for _, u := range list {
					out = append(out, toUserJSON(u))
				}
				return printJSON(e.stdout, map[string]any{"users": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tROLES\tDISABLED")
			for _, u := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", u.ID, u.Username, u.Email, strings.Join(u.Roles, ","), u.Disabled)
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) usersGet() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get USER",
		Short: "Show a user (by id, username or e-mail)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			u, err := b.FindUser(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "user", args[0])
			}
			return e.printUser(u, asJSON)
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) usersSetDisabled(disable bool) *cobra.Command {
	var asJSON bool
	use, short := "disable USER", "Disable a user: end their sessions and grants, refuse their tokens"
	if !disable {
		use, short = "enable USER", "Re-enable a disabled user"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			u, err := b.FindUser(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "user", args[0])
			}
			u, err = b.UpdateUser(cmd.Context(), u.ID, admin.UserPatch{Disabled: &disable})
			if err != nil {
				return err
			}
			return e.printUser(u, asJSON)
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) usersSetPassword() *cobra.Command {
	var fromStdin, asJSON bool
	cmd := &cobra.Command{
		Use:   "set-password USER",
		Short: "Set a user's password (from --password-stdin or a prompt)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := e.readPassword(fromStdin)
			if err != nil {
				return err
			}
			b, done, err := e.openAdmin(cmd)
			if err != nil {
				return err
			}
			defer done()
			u, err := b.FindUser(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "user", args[0])
			}
			u, err = b.SetUserPassword(cmd.Context(), u.ID, pw)
			if err != nil {
				return err
			}
			return e.printUser(u, asJSON)
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) usersDelete() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user with their sessions and consents",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			u, err := b.FindUser(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "user", args[0])
			}
			if err := b.DeleteUser(cmd.Context(), u.ID); err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"deleted": u.ID})
			}
			_, err = fmt.Fprintf(e.stdout, "deleted user %s (%s)\n", u.Username, u.ID)
			return err
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

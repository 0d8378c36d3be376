package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/store"
)

// clientJSON is the --json shape of a client: the admin API's, so that
// local and remote output cannot drift. The secret appears only in the
// answer to create and rotate-secret; the stored hash never appears.
type clientJSON = adminapi.ClientView

func toClientJSON(c store.Client, plainSecret string) clientJSON {
	return adminapi.NewClientView(c, plainSecret)
}

func (e *env) clientsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth clients (locally, or on a server with --server)"}
	e.serverFlag(cmd)
	cmd.AddCommand(e.clientsCreate(), e.clientsList(), e.clientsGet(), e.clientsUpdate(), e.clientsDelete(), e.clientsRotateSecret())
	return cmd
}

// clientFlags binds the flags shared by create and update.
type clientFlags struct {
	spec  admin.ClientSpec
	grace time.Duration
}

func (f *clientFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.spec.Name, "name", "", "display name shown on the consent page")
	fs.StringVar(&f.spec.AuthMethod, "auth-method", "", "token endpoint auth: client_secret_basic (default), client_secret_post, none (public)")
	fs.StringSliceVar(&f.spec.RedirectURIs, "redirect-uri", nil, "redirect URI (repeatable; exact match, https or loopback http)")
	fs.StringSliceVar(&f.spec.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	fs.StringSliceVar(&f.spec.GrantTypes, "grant-types", nil, "grant types: authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code")
	fs.StringSliceVar(&f.spec.Scopes, "scopes", nil, "scopes the client may request")
	fs.StringSliceVar(&f.spec.Audiences, "audience", nil, "audience (API identifier) the client may get tokens for (repeatable)")
	fs.StringSliceVar(&f.spec.Roles, "roles", nil, "roles of the client: in its client_credentials tokens, and for what it may do itself (resource-server: read the revocation feed)")
	fs.BoolVar(&f.spec.SkipConsent, "skip-consent", false, "first-party client: do not ask users for consent")
	fs.DurationVar(&f.grace, "refresh-grace", 0, "how long a rotated refresh token may be replayed (lost response), e.g. 10s")
	fs.StringVar(&f.spec.IDTokenAlg, "id-token-alg", "", "id_token_signed_response_alg: RS256 (default) or ES256 (about 30 times cheaper to sign; the client must accept it)")
	fs.BoolVar(&f.spec.OmitRefreshIDToken, "omit-refresh-id-token", false, "leave the id_token out of refresh responses (OpenID Connect Core 12.2): one signature less per refresh, for clients that keep their sign-in id_token")
}

// update is the change the flags given ask for.
func (f *clientFlags) update(changed func(flag string) bool) admin.ClientPatch {
	var u admin.ClientPatch
	n := f.spec
	if changed("name") {
		u.Name = &n.Name
	}
	if changed("auth-method") {
		u.AuthMethod = &n.AuthMethod
	}
	lists := map[string]struct {
		dst **[]string
		v   *[]string
	}{
		"redirect-uri":             {&u.RedirectURIs, &n.RedirectURIs},
		"post-logout-redirect-uri": {&u.PostLogoutRedirectURIs, &n.PostLogoutRedirectURIs},
		"grant-types":              {&u.GrantTypes, &n.GrantTypes},
		"scopes":                   {&u.Scopes, &n.Scopes},
		"audience":                 {&u.Audiences, &n.Audiences},
		"roles":                    {&u.Roles, &n.Roles},
	}
	for flag, l := range lists {
		if changed(flag) {
			*l.dst = l.v
		}
	}
	if changed("skip-consent") {
		u.SkipConsent = &n.SkipConsent
	}
	if changed("refresh-grace") {
		u.RefreshGrace = &f.grace
	}
	if changed("id-token-alg") {
		u.IDTokenAlg = &n.IDTokenAlg
	}
	if changed("omit-refresh-id-token") {
		u.OmitRefreshIDToken = &n.OmitRefreshIDToken
	}
	return u
}

func (e *env) clientsCreate() *cobra.Command {
	var f clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			f.spec.RefreshGrace = f.grace
			c, plain, err := b.CreateClient(cmd.Context(), f.spec)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, toClientJSON(c, plain))
			}
			if _, err := fmt.Fprintf(e.stdout, "client_id:     %s\n", c.ID); err != nil {
				return err
			}
			if plain != "" {
				_, err = fmt.Fprintf(e.stdout, "client_secret: %s\n\nStore the secret now: it is shown only once and kept only as a hash.\n", plain)
			}
			return err
		}),
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVar(&f.spec.ID, "id", "", "client_id (default: random)")
	cmd.Flags().BoolVar(&f.spec.Public, "public", false, "public client (no secret; PKCE required)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) clientsList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			list, err := b.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]clientJSON, 0, len(list))
				for _, c := range list {
					out = append(out, toClientJSON(c, ""))
				}
				return printJSON(e.stdout, map[string]any{"clients": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tGRANT TYPES")
			for _, c := range list {
				kind := "confidential"
				if c.Public {
					kind = "public"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","))
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) clientsGet() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show a client (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			c, err := b.GetClient(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "client", args[0])
			}
			return e.printClient(c, asJSON)
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) printClient(c store.Client, asJSON bool) error {
	j := toClientJSON(c, "")
	if asJSON {
		return printJSON(e.stdout, j)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("client_id", j.ClientID)
	row("name", j.Name)
	row("public", j.Public)
	row("auth method", j.TokenEndpointAuthMethod)
	row("redirect URIs", strings.Join(j.RedirectURIs, " "))
	row("post-logout URIs", strings.Join(j.PostLogoutRedirectURIs, " "))
	row("grant types", strings.Join(j.GrantTypes, " "))
	row("scopes", strings.Join(j.Scopes, " "))
	row("audiences", strings.Join(j.Audiences, " "))
	row("roles", strings.Join(j.Roles, " "))
	row("skip consent", j.SkipConsent)
	row("refresh grace", time.Duration(j.RefreshGraceSeconds)*time.Second)
	row("id_token alg", j.IDTokenAlg)
	row("omit refresh id_token", j.OmitRefreshIDToken)
	row("created", j.CreatedAt)
	return tw.Flush()
}

func (e *env) clientsUpdate() *cobra.Command {
	var f clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client; only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			c, err := b.UpdateClient(cmd.Context(), args[0], f.update(cmd.Flags().Changed))
			if err != nil {
				return notFound(err, "client", args[0])
			}
			return e.printClient(c, asJSON)
		}),
	}
	f.bind(cmd.Flags())
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) clientsDelete() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			if err := b.DeleteClient(cmd.Context(), args[0]); err != nil {
				return notFound(err, "client", args[0])
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"deleted": args[0]})
			}
			_, err := fmt.Fprintf(e.stdout, "deleted client %s\n", args[0])
			return err
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) clientsRotateSecret() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Replace a confidential client's secret (printed once; the old one stops working)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			plain, err := b.RotateClientSecret(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "client", args[0])
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"client_id": args[0], "client_secret": plain})
			}
			_, err = fmt.Fprintf(e.stdout, "client_secret: %s\n", plain)
			return err
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

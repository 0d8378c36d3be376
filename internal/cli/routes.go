package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
)

type routeJSON struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Policy string `json:"policy"`
}

// routesCommand prints the server's whole HTTP surface with the access
// policy of every route, for audits.
func (e *env) routesCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Print every HTTP route with its access policy",
		Long: `Print every HTTP route of the server with its access policy: public, client
(OAuth client authentication), bearer (an access token), or, for the admin API,
the permission it requires. It builds the server from the configuration (store
and signing keys included) without listening.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			a, err := app.New(cmd.Context(), cfg, slog.New(slog.DiscardHandler), app.Options{})
			if err != nil {
				return err
			}
			defer func() { _ = a.Close() }()
			var out []routeJSON
			for _, r := range a.Routes() {
				if r.Access == app.Admin {
					for _, ar := range a.AdminRoutes() {
						out = append(out, routeJSON{ar.Method, ar.Pattern, ar.Policy})
					}
					continue
				}
				method, path := splitPattern(r.Pattern)
				out = append(out, routeJSON{method, path, string(r.Access)})
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(map[string]any{"routes": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "METHOD\tPATH\tPOLICY")
			for _, r := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Method, r.Path, r.Policy)
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func splitPattern(p string) (method, path string) {
	for i := range len(p) {
		if p[i] == ' ' {
			return p[:i], p[i+1:]
		}
	}
	return "*", p
}

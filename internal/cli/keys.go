package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/store"
)

func (e *env) keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate token signing keys (locally, or on a server with --server)"}
	e.serverFlag(cmd)
	cmd.AddCommand(e.keysListCommand(), e.keysRotateCommand())
	return cmd
}

// keyJSON is the --json shape of a signing key. It never includes key
// material: public keys are in the JWKS.
type keyJSON struct {
	Kid          string     `json:"kid"`
	Alg          string     `json:"alg"`
	State        string     `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"publish_until,omitempty"`
	ActivateAt   *time.Time `json:"activate_at,omitempty"`
}

func toKeyJSON(k store.SigningKey) keyJSON {
	j := keyJSON{Kid: k.ID, Alg: k.Algorithm, State: string(k.State), CreatedAt: k.CreatedAt}
	if !k.RetiredAt.IsZero() {
		j.RetiredAt = &k.RetiredAt
	}
	if !k.PublishUntil.IsZero() {
		j.PublishUntil = &k.PublishUntil
	}
	if !k.ActivateAt.IsZero() {
		j.ActivateAt = &k.ActivateAt
	}
	return j
}

func (e *env) keysListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List signing keys (active, next and retired-but-published)",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			list, err := b.ListSigningKeys(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortStableFunc(list, func(a, b store.SigningKey) int {
				if a.Algorithm != b.Algorithm {
					return strings.Compare(a.Algorithm, b.Algorithm)
				}
				return a.CreatedAt.Compare(b.CreatedAt)
			})
			if asJSON {
				out := make([]keyJSON, 0, len(list))
				for _, k := range list {
					out = append(out, toKeyJSON(k))
				}
				return printJSON(e.stdout, map[string]any{"keys": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNS FROM\tPUBLISHED UNTIL")
			for _, k := range list {
				from, until := "-", "-"
				if !k.ActivateAt.IsZero() {
					from = k.ActivateAt.Format(time.RFC3339)
				}
				if !k.PublishUntil.IsZero() {
					until = k.PublishUntil.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, k.CreatedAt.Format(time.RFC3339), from, until)
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) keysRotateCommand() *cobra.Command {
	var asJSON, immediate bool
	var algs []string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate token signing keys: publish new keys now, sign with them after signing.key_prepublish",
		Long: `Create a new signing key for each algorithm in use (or those named with
--alg). Every node publishes the new key in the JWKS and accepts it within
signing.key_refresh_interval, but nothing signs with it until
signing.key_prepublish has passed (default 1m): by then every node and every
resource server that refetches the JWKS knows it, so no valid token is
refused during the rotation. Then the new key signs, and the key it replaces
stays in the JWKS until every token it signed has expired.

--immediate makes the new keys sign at once, for a key that must stop
signing now (a compromised key). Until every node has refreshed and every
verifier has refetched the JWKS, tokens from the new key may be refused.`,
		Args: cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			newKeys, err := b.RotateSigningKeys(cmd.Context(), algs, immediate)
			if err != nil {
				return err
			}
			var rotated []keyJSON
			for _, k := range newKeys {
				rotated = append(rotated, toKeyJSON(k))
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"rotated": rotated})
			}
			for _, k := range rotated {
				line := fmt.Sprintf("rotated %s: new kid %s, signing now\n", k.Alg, k.Kid)
				if k.ActivateAt != nil {
					line = fmt.Sprintf("rotated %s: new kid %s, published now, signing from %s\n",
						k.Alg, k.Kid, k.ActivateAt.Format(time.RFC3339))
				}
				if _, err := fmt.Fprint(e.stdout, line); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	jsonFlag(cmd, &asJSON)
	cmd.Flags().StringSliceVar(&algs, "alg", nil, "algorithms to rotate (default: every asymmetric algorithm in use)")
	cmd.Flags().BoolVar(&immediate, "immediate", false, "sign with the new keys at once (compromised key); valid tokens may be refused briefly")
	return cmd
}

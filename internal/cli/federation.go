package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/federation"
)

func (e *env) federationCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Manage workload identity federation policies (trusted external issuers), locally or with --server",
		Long: `A federation policy lets workloads (CI jobs, Kubernetes pods, services of another
issuer) exchange the OpenID Connect token their platform gives them for a Gatehouse
access token, with no stored secret. Policies are written as YAML or JSON documents
and applied with "federation apply"; see docs/federation.md.`,
	}
	e.serverFlag(cmd)
	cmd.AddCommand(e.federationList(), e.federationGet(), e.federationApply(), e.federationDelete())
	return cmd
}

func (e *env) federationList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List federation policies",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			ps, err := b.ListFederationPolicies(cmd.Context())
			if err != nil {
				return err
			}
			docs := make([]federation.Document, 0, len(ps))
			for _, p := range ps {
				docs = append(docs, federation.DocumentOf(p))
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"policies": nonNil(docs)})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tISSUER\tAUDIENCE\tSUBJECT\tROLES")
			for _, d := range docs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Issuer, d.Audience, d.Subject, strings.Join(d.Roles, ","))
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) federationGet() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a federation policy as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			p, err := b.GetFederationPolicy(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, "federation policy", args[0])
			}
			return printJSON(e.stdout, federation.DocumentOf(p))
		}),
	}
	cmd.Flags().Bool("json", true, "print JSON (always)")
	return cmd
}

func (e *env) federationApply() *cobra.Command {
	var file string
	var prune, asJSON bool
	cmd := &cobra.Command{
		Use:   "apply --file FILE",
		Short: "Create or replace the federation policies of a YAML or JSON file",
		Long: `Create the policies of FILE (a list, or an object with a "policies" list) that do not
exist and replace those that do, each validated first; with --prune, also delete every
policy the file does not name. Every node follows within a second.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return requireFlags(cmd, "file")
		},
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			data, err := os.ReadFile(file) //nolint:gosec // G304: the operator names the file
			if err != nil {
				return err
			}
			docs, err := federation.ParseDocuments(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			// Every document is checked before any is applied.
			names := make([]string, 0, len(docs))
			for _, d := range docs {
				if _, err := federation.Normalize(d.Policy()); err != nil {
					return fmt.Errorf("%s: policy %q: %w", file, d.Name, err)
				}
				if slices.Contains(names, d.Name) {
					return fmt.Errorf("%s: policy %q appears twice", file, d.Name)
				}
				names = append(names, d.Name)
			}
			type change struct {
				Name   string `json:"name"`
				Action string `json:"action"`
			}
			var changes []change
			for _, d := range docs {
				_, created, err := b.PutFederationPolicy(cmd.Context(), d.Policy())
				if err != nil {
					return fmt.Errorf("policy %q: %w", d.Name, err)
				}
				action := "replaced"
				if created {
					action = "created"
				}
				changes = append(changes, change{d.Name, action})
			}
			if prune {
				existing, err := b.ListFederationPolicies(cmd.Context())
				if err != nil {
					return err
				}
				for _, p := range existing {
					if slices.Contains(names, p.Name) {
						continue
					}
					if err := b.DeleteFederationPolicy(cmd.Context(), p.Name); err != nil {
						return fmt.Errorf("policy %q: %w", p.Name, err)
					}
					changes = append(changes, change{p.Name, "deleted"})
				}
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"changes": nonNil(changes)})
			}
			for _, c := range changes {
				if _, err := fmt.Fprintf(e.stdout, "%s %s\n", c.Action, c.Name); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file of policies")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete the policies the file does not name")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) federationDelete() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a federation policy",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			if err := b.DeleteFederationPolicy(cmd.Context(), args[0]); err != nil {
				return notFound(err, "federation policy", args[0])
			}
			_, err := fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
			return err
		}),
	}
}

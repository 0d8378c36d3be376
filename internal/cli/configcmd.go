package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/keys"
)

func (e *env) configCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Load the configuration and print every problem; exit non-zero if any",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			problems := e.configProblems(cmd)
			if asJSON {
				list := make([]string, 0, len(problems))
				for _, p := range problems {
					list = append(list, p.Error())
				}
				if err := printJSON(e.stdout, map[string]any{"ok": len(problems) == 0, "problems": list}); err != nil {
					return err
				}
			} else if len(problems) == 0 {
				if _, err := fmt.Fprintln(e.stdout, "configuration OK"); err != nil {
					return err
				}
			} else {
				// Write errors change nothing here: the command fails below.
				_, _ = fmt.Fprintf(e.stdout, "%d configuration problem(s):\n", len(problems))
				for _, p := range problems {
					_, _ = fmt.Fprintf(e.stdout, "  - %s\n", strings.ReplaceAll(p.Error(), "\n", "\n    "))
				}
			}
			if len(problems) > 0 {
				// The output lists the problems already (in JSON with --json).
				return reportedError{errors.New("configuration is invalid")}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.AddCommand(check)
	return cmd
}

// configProblems lists every problem: load errors (unknown keys, bad types),
// validation errors, and the master key's format.
func (e *env) configProblems(cmd *cobra.Command) []error {
	cfg, err := e.loadUnvalidated(cmd)
	problems := unjoin(err)
	if cfg == nil {
		return problems
	}
	problems = append(problems, unjoin(cfg.Validate())...)
	switch {
	case cfg.MasterKey != "":
		if _, err := keys.ParseMasterKey(cfg.MasterKey); err != nil {
			problems = append(problems, fmt.Errorf("master_key: %w", err))
		}
	case !cfg.DevMode():
		// Outside dev mode the file must already exist: check it is usable.
		if _, _, err := keys.LoadOrCreateMasterKeyFile(cfg.MasterKeyFile, false); err != nil {
			problems = append(problems, fmt.Errorf("master_key_file: %w", err))
		}
	}
	return problems
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
)

func (e *env) migrateCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending store migrations (serve also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			st, err := app.OpenStoreNoMigrate(cmd.Context(), cfg)
			if err != nil {
				return unavailableError{err}
			}
			defer func() { _ = st.Close() }()
			applied, err := st.Migrate(cmd.Context())
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if asJSON {
				if applied == nil {
					applied = []int64{}
				}
				return printJSON(e.stdout, map[string]any{"store": cfg.RedactedStore(), "applied": applied})
			}
			if len(applied) == 0 {
				_, err = fmt.Fprintf(e.stdout, "%s: up to date\n", cfg.RedactedStore())
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s: applied migrations %v\n", cfg.RedactedStore(), applied)
			return err
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

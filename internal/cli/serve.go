package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
)

func (e *env) serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (migrates the store and creates signing keys as needed)",
		Long: `Run the Gatehouse server until SIGINT or SIGTERM.

With no configuration it serves http://127.0.0.1:8080 in dev mode from an
embedded SQLite store in ./gatehouse-data, creating a master key file and
signing keys there on first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg.Log, e.stderr)
			a, err := app.New(cmd.Context(), cfg, log, app.Options{Version: ReadBuildInfo().String()})
			if err != nil {
				return err
			}
			defer func() { _ = a.Close() }()
			return a.Run(cmd.Context(), nil)
		},
	}
	f := cmd.Flags()
	e.configFlag(f.String, "listen", "listen", "", "listen address host:port")
	e.configFlag(f.String, "issuer", "issuer", "", "issuer URL")
	e.configFlag(f.String, "log-format", "log.format", "", "log format: json or text")
	e.configFlag(f.String, "log-level", "log.level", "", "log level: debug, info, warn, error")
	return cmd
}

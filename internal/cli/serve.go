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
signing keys there on first start. Without an issuer (file, environment or
--issuer), a loopback --listen address names the dev issuer
(--listen 127.0.0.1:9000 serves http://127.0.0.1:9000); any other listen
address needs an https issuer.

One server at a time runs on a SQLite store: serve locks the folder of the
store (gatehouse.lock) and refuses to start while another server holds it.
The admin verbs keep working beside the running server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			// Only serve locks the folder of a SQLite store: the admin
			// verbs must keep working beside a running server.
			lock, err := app.LockDataDir(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = lock.Release() }()
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

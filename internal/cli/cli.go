// Package cli implements the gatehouse command line: serve, migrate,
// config check, keys, bootstrap and the admin verbs. Every verb prints
// human-readable text by default and exactly one JSON object with --json.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/httpx"
)

// Version is the build version, set with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks errors caused by how the command was invoked.
type usageError struct{ error }

// env is what every subcommand shares.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFile     string
	// server is --server of the admin verbs: the admin API to run
	// against instead of the local store.
	server string
	// flagKeys maps a flag name to the config key it sets.
	flagKeys map[string]string
}

// Main runs the command line with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, flagKeys: map[string]string{}}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, admin.ErrUnknownRole) {
		err = describedError{msg: err.Error() + ": create roles first (gatehouse roles create NAME --permissions ...)", cause: err}
	}
	_, _ = fmt.Fprintln(stderr, "gatehouse:", err) // the exit status reports the failure anyway
	if wantsJSON(cmd, args) {
		printJSONError(stdout, err)
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return exitUsage
	}
	return exitError
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: OAuth 2.0 authorization server and OpenID Connect provider",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       ReadBuildInfo().String(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&e.configFile, "config", "c", "", "YAML configuration file")
	e.configFlag(pf.String, "data-dir", "data_dir", "", "data directory (embedded store, dev master key)")
	e.configFlag(pf.String, "store", "store", "", "store: sqlite:PATH or a postgres:// URL")

	root.AddCommand(e.serveCommand(), e.migrateCommand(), e.configCommand(), e.keysCommand(),
		e.clientsCommand(), e.usersCommand(), e.rolesCommand(), e.apikeysCommand(), e.bootstrapCommand(), e.auditCommand(), e.routesCommand(),
		e.federationCommand(), e.versionCommand())
	return root
}

// configFlag declares a string flag that, when set, overrides config key.
func (e *env) configFlag(def func(name, value, usage string) *string, flag, key, value, usage string) {
	def(flag, value, usage+" (config key "+key+", env "+config.EnvName(key)+")")
	e.flagKeys[flag] = key
}

// loadConfig loads and validates the configuration for cmd.
func (e *env) loadConfig(cmd *cobra.Command) (*config.Config, error) {
	cfg, err := e.loadUnvalidated(cmd)
	if err != nil {
		return nil, configError{err}
	}
	if err := cfg.Validate(); err != nil {
		return nil, configError{fmt.Errorf("invalid configuration (run `gatehouse config check`):\n%w", err)}
	}
	return cfg, nil
}

func (e *env) loadUnvalidated(cmd *cobra.Command) (*config.Config, error) {
	flags := map[string]string{}
	for name, key := range e.flagKeys {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			flags[key] = f.Value.String()
		}
	}
	return config.Load(config.FromProcess(e.configFile, flags))
}

// newLogger builds the process logger; records logged with a request's
// context carry its request ID.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpx.LogHandler(h))
}

// printJSON writes v as one JSON object.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// withStore adapts a command body that needs the store and configuration:
// it opens (and migrates) the store first and closes it afterwards.
func (e *env) withStore(fn func(cmd *cobra.Command, args []string, st app.Store, cfg *config.Config) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		st, cfg, done, err := e.openStoreConfig(cmd)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd, args, st, cfg)
	}
}

// jsonFlag declares the --json flag every admin verb has.
func jsonFlag(cmd *cobra.Command, asJSON *bool) {
	cmd.Flags().BoolVar(asJSON, "json", false, "print one JSON object")
}

// openStoreConfig loads the configuration and opens (and migrates) the
// store; done closes it.
func (e *env) openStoreConfig(cmd *cobra.Command) (app.Store, *config.Config, func(), error) {
	cfg, err := e.loadConfig(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := app.OpenStore(cmd.Context(), cfg, newLogger(cfg.Log, e.stderr))
	if err != nil {
		return nil, nil, nil, unavailableError{err}
	}
	return st, cfg, func() { _ = st.Close() }, nil
}

// notFound turns admin.ErrNotFound into a message naming what was missing
// (still wrapping err).
func notFound(err error, kind, id string) error {
	if errors.Is(err, admin.ErrNotFound) {
		return describedError{msg: fmt.Sprintf("no %s %q", kind, id), cause: err}
	}
	return err
}

// nonNil makes an absent list print as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

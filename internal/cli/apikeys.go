package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
	"github.com/gatehouse/gatehouse/internal/apikey"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

// defaultKeyLifetime is how long a key lives unless --expires-in says
// otherwise: keys that never expire must be asked for.
const defaultKeyLifetime = "90d"

// parseDays parses a Go duration ("12h", "90m") or a whole number of days
// ("90d"). Negative values are refused.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 90d, 12h or 30m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative duration", s)
	}
	return d, nil
}

// parseLifetime is parseDays that also takes "0" and "never" for a key
// that never expires (the zero duration).
func parseLifetime(s string) (time.Duration, error) {
	if s == "never" {
		return 0, nil
	}
	return parseDays(s)
}

// durationValue is a pflag.Value for parseDays or parseLifetime, so that a
// bad value is a usage error at flag parsing.
type durationValue struct {
	text  string
	d     time.Duration
	parse func(string) (time.Duration, error)
}

func newDurationValue(def string, parse func(string) (time.Duration, error)) *durationValue {
	d, err := parse(def)
	if err != nil {
		panic(err) // a bad default is a programming error
	}
	return &durationValue{text: def, d: d, parse: parse}
}

func (v *durationValue) String() string { return v.text }
func (v *durationValue) Type() string   { return "duration" }
func (v *durationValue) Set(s string) error {
	d, err := v.parse(s)
	if err != nil {
		return err
	}
	v.text, v.d = s, d
	return nil
}

// apiKeyJSON is the --json shape of an API key. The key itself appears only
// in the answer to create, rotate and bootstrap; the hash never appears.
type apiKeyJSON struct {
	ID string `json:"id"`
	// Prefix is the key's visible start, "sk_<prefix>…".
	Prefix string   `json:"prefix"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles"`
	Scopes []string `json:"scopes"`
	// State is active, expired or revoked.
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, LastUsedAt and RevokedAt are null for never.
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// newAPIKeyJSON is apiKeyJSON with the key, for the answers that show it.
type newAPIKeyJSON struct {
	Key string `json:"key"`
	apiKeyJSON
}

func displayPrefix(p string) string { return apikey.KeyPrefix + p + "…" }

func toAPIKeyJSON(k apikey.Key, now time.Time) apiKeyJSON {
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	state := "active"
	switch {
	case !k.RevokedAt.IsZero():
		state = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		state = "expired"
	}
	return apiKeyJSON{ID: k.ID, Prefix: displayPrefix(k.Prefix), Name: k.Name, Roles: nz(k.Roles), Scopes: nz(k.Scopes),
		State: state, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: opt(k.ExpiresAt), LastUsedAt: opt(k.LastUsedAt), RevokedAt: opt(k.RevokedAt)}
}

func fmtTime(t *time.Time, zero string) string {
	if t == nil {
		return zero
	}
	return t.Format(time.RFC3339)
}

// newAPIKeyService builds the API key service the configuration describes.
func newAPIKeyService(st app.Store, cfg *config.Config) (*apikey.Service, error) {
	svc, err := apikey.NewFromSettings(st, apikey.Settings{Hash: cfg.APIKeys.Hash, PepperFile: cfg.APIKeys.PepperFile}, time.Now)
	if err != nil {
		return nil, configError{err} // the pepper file
	}
	return svc, nil
}

// apiKeyError names the key in store errors.
func apiKeyError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrRevoked):
		return describedError{msg: fmt.Sprintf("API key %q is revoked", id), cause: err}
	case errors.Is(err, store.ErrExpired):
		return describedError{msg: fmt.Sprintf("API key %q has expired", id), cause: err}
	}
	if e, ok := errors.AsType[*adminclient.Error](err); ok && e.Status == http.StatusConflict {
		return fmt.Errorf("API key %q: %w", id, err) // revoked or expired, as the server says
	}
	return notFound(err, "API key", id)
}

func (e *env) apikeysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "apikeys", Short: "Manage API keys (long-lived credentials for machines), locally or with --server"}
	e.serverFlag(cmd)
	cmd.AddCommand(e.apikeysCreate(), e.apikeysList(), e.apikeysGet(), e.apikeysRevoke(), e.apikeysRotate())
	return cmd
}

// printNewKey prints a key that has just been made: the only time it is
// shown.
func printNewKey(w io.Writer, plain string, k apikey.Key, asJSON bool) error {
	j := toAPIKeyJSON(k, time.Now())
	if asJSON {
		return printJSON(w, newAPIKeyJSON{Key: plain, apiKeyJSON: j})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nname:\t%s\nroles:\t%s\nscopes:\t%s\nexpires:\t%s\n", j.ID, j.Name,
		dash(strings.Join(j.Roles, " ")), dash(strings.Join(j.Scopes, " ")), fmtTime(j.ExpiresAt, "never"))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n\nStore the key now: it is shown only once and kept only as a hash.\n", plain)
	return err
}

func (e *env) apikeysCreate() *cobra.Command {
	var req apikey.CreateRequest
	var asJSON bool
	expires := newDurationValue(defaultKeyLifetime, parseLifetime)
	cmd := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create an API key; the key is printed once",
		Args:  cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return requireFlags(cmd, "name")
		},
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			req.ExpiresIn = expires.d
			plain, k, err := b.CreateAPIKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printNewKey(e.stdout, plain, k, asJSON)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "label for people (required)")
	f.StringSliceVar(&req.Roles, "roles", nil, "roles the key holds (they must exist)")
	f.StringSliceVar(&req.Scopes, "scopes", nil, "scopes the key holds")
	f.Var(expires, "expires-in", `lifetime: a duration such as 90d, 12h or 30m; "0" or "never" for no expiry`)
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) printAPIKey(k apikey.Key, asJSON bool) error {
	j := toAPIKeyJSON(k, time.Now())
	if asJSON {
		return printJSON(e.stdout, j)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("id", j.ID)
	row("prefix", j.Prefix)
	row("name", j.Name)
	row("roles", dash(strings.Join(j.Roles, " ")))
	row("scopes", dash(strings.Join(j.Scopes, " ")))
	row("state", j.State)
	row("created", j.CreatedAt.Format(time.RFC3339))
	row("expires", fmtTime(j.ExpiresAt, "never"))
	row("last used", fmtTime(j.LastUsedAt, "never"))
	row("revoked", fmtTime(j.RevokedAt, "-"))
	return tw.Flush()
}

func (e *env) apikeysList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys, revoked and expired ones included (never the keys)",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			list, err := b.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			out := make([]apiKeyJSON, 0, len(list))
			for _, k := range list {
				out = append(out, toAPIKeyJSON(k, now))
			}
			if asJSON {
				return printJSON(e.stdout, map[string]any{"api_keys": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tROLES\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
			for _, j := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Prefix, j.Name,
					dash(strings.Join(j.Roles, ",")), dash(strings.Join(j.Scopes, ",")), j.CreatedAt.Format(time.RFC3339),
					fmtTime(j.ExpiresAt, "never"), fmtTime(j.LastUsedAt, "never"), fmtTime(j.RevokedAt, "-"))
			}
			return tw.Flush()
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) apikeysGet() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show an API key (never the key)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			k, err := b.GetAPIKey(cmd.Context(), args[0])
			if err != nil {
				return apiKeyError(err, args[0])
			}
			return e.printAPIKey(k, asJSON)
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (e *env) apikeysRevoke() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key at once (resource servers refuse it when they next read the revocation list)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			if err := b.RevokeAPIKey(cmd.Context(), args[0]); err != nil {
				return apiKeyError(err, args[0])
			}
			k, err := b.GetAPIKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, toAPIKeyJSON(k, time.Now()))
			}
			_, err = fmt.Fprintf(e.stdout, "revoked API key %s (%s, %s)\n", k.ID, displayPrefix(k.Prefix), k.Name)
			return err
		}),
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// rotateJSON is the --json answer of rotate: the new key, once, and the
// old key with its new expiry.
type rotateJSON struct {
	newAPIKeyJSON
	Replaces apiKeyJSON `json:"replaces"`
}

func (e *env) apikeysRotate() *cobra.Command {
	var asJSON bool
	overlap := newDurationValue("1h", parseDays)
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Issue a successor key (printed once; same name, roles, scopes and lifetime); the old key ends after --overlap",
		Args:  cobra.ExactArgs(1),
		RunE: e.withAdmin(func(cmd *cobra.Command, args []string, b adminBackend) error {
			plain, next, err := b.RotateAPIKey(cmd.Context(), args[0], overlap.d)
			if err != nil {
				return apiKeyError(err, args[0])
			}
			old, err := b.GetAPIKey(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("new key %s created: %w", next.ID, err)
			}
			now := time.Now()
			oldJ := toAPIKeyJSON(old, now)
			if asJSON {
				return printJSON(e.stdout, rotateJSON{newAPIKeyJSON{Key: plain, apiKeyJSON: toAPIKeyJSON(next, now)}, oldJ})
			}
			if err := printNewKey(e.stdout, plain, next, false); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "The old key %s (%s) now expires at %s.\n", oldJ.ID, oldJ.Prefix, fmtTime(oldJ.ExpiresAt, "never"))
			return err
		}),
	}
	cmd.Flags().Var(overlap, "overlap", `how long the old key keeps working: a duration such as 1h or 7d; "0" ends it now`)
	jsonFlag(cmd, &asJSON)
	return cmd
}

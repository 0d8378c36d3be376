package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (e *env) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log (locally, or on a server with --server)"}
	e.serverFlag(cmd)
	var q store.AuditQuery
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Args:  cobra.NoArgs,
		RunE: e.withAdmin(func(cmd *cobra.Command, _ []string, b adminBackend) error {
			events, err := b.ListAuditEvents(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]adminapi.AuditView, 0, len(events))
				for _, ev := range events {
					out = append(out, adminapi.NewAuditView(ev))
				}
				return printJSON(e.stdout, map[string]any{"events": out})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tTYPE\tCLIENT\tUSER\tDETAILS")
			for _, ev := range events {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.ID, ev.Time.UTC().Format(time.RFC3339), ev.Type,
					dash(ev.ClientID), dash(ev.UserID), details(ev.Details))
			}
			return tw.Flush()
		}),
	}
	f := list.Flags()
	f.StringVar(&q.Type, "type", "", "only events of this type (e.g. login_failed, refresh_token_reuse_detected)")
	f.StringVar(&q.UserID, "user", "", "only events of this user id")
	f.StringVar(&q.ClientID, "client", "", "only events of this client id")
	f.IntVar(&q.Limit, "limit", 100, "at most this many events (1-1000)")
	f.Int64Var(&q.BeforeID, "before", 0, "only events older than this id (paging)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.AddCommand(list)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func details(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

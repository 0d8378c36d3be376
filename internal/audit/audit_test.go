package audit

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testsvc"
)

func TestEventsAreStoredInBatches(t *testing.T) {
	st := testsvc.SQLite(t)
	l := New(st, slog.New(slog.DiscardHandler), nil)
	for range 1000 {
		l.Record(t.Context(), store.AuditEvent{Type: "token_issued", ClientID: "cc"})
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	cancel() // Run stores what is queued before it returns.
	<-done
	es, err := st.ListAuditEvents(t.Context(), store.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1000 || es[0].Time.IsZero() || l.Dropped() != 0 {
		t.Fatalf("stored %d events (dropped %d), want 1000 with times", len(es), l.Dropped())
	}
}

func TestCountedEventsAreSummarised(t *testing.T) {
	st := testsvc.SQLite(t)
	l := New(st, slog.New(slog.DiscardHandler), nil)
	for range 500 {
		l.Count("token_issued", "cc1", "client_credentials")
	}
	l.Count("token_issued", "cc2", "client_credentials")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	cancel()
	<-done
	es, err := st.ListAuditEvents(t.Context(), store.AuditQuery{Type: "token_issued"})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]string{}
	for _, e := range es {
		counts[e.ClientID] = e.Details["count"]
	}
	if len(es) != 2 || counts["cc1"] != "500" || counts["cc2"] != "1" {
		t.Fatalf("summaries %+v, want one per client with counts 500 and 1", es)
	}
}

// TestOnEventSeesEveryOccurrence: the event hook (metrics) hears each
// recorded event and each counted occurrence once, with its grant type,
// and never the summaries of counted events.
func TestOnEventSeesEveryOccurrence(t *testing.T) {
	st := testsvc.SQLite(t)
	l := New(st, slog.New(slog.DiscardHandler), nil)
	seen := map[string]int{}
	l.OnEvent(func(typ, grant string) { seen[typ+"/"+grant]++ })
	for range 3 {
		l.Count("token_issued", "cc", "client_credentials")
	}
	l.Record(t.Context(), store.AuditEvent{Type: "token_issued", Details: map[string]string{"grant_type": "refresh_token"}})
	l.Record(t.Context(), store.AuditEvent{Type: "login_failed"})
	l.Flush(t.Context())
	want := map[string]int{"token_issued/client_credentials": 3, "token_issued/refresh_token": 1, "login_failed/": 1}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%s seen %d times, want %d (all: %v)", k, seen[k], n, seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("seen %v, want %v", seen, want)
	}
}

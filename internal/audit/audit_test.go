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

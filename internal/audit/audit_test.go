package audit

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

func TestEventsAreStoredInBatches(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
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

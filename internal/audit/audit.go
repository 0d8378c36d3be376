// Package audit records security events (logins, token issuance, refresh
// token reuse, revocations, logouts): each is logged at once and stored by
// a background writer, so recording never adds a database round trip to
// the request that caused it.
package audit

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Store appends events.
type Store interface {
	AppendAuditEvents(ctx context.Context, es []store.AuditEvent) error
}

// Log records audit events.
type Log struct {
	st      Store
	log     *slog.Logger
	now     func() time.Time
	queue   chan store.AuditEvent
	dropped atomic.Int64

	mu     sync.Mutex
	counts map[countKey]*countEntry
	// onEvent, when set, hears of every event as it happens (metrics).
	onEvent func(typ, grant string)
}

// countKey groups counted events.
type countKey struct{ typ, clientID, grant string }

type countEntry struct {
	n     int64
	first time.Time
}

// CountWindow is how often counted events are summarised.
const CountWindow = time.Minute

// queueSize bounds the events waiting to be stored. A burst beyond it is
// still logged but not stored, and counted.
const queueSize = 8192

// New returns a Log; Run must be running for events to reach the store.
func New(st Store, log *slog.Logger, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{st: st, log: log, now: now, queue: make(chan store.AuditEvent, queueSize), counts: map[countKey]*countEntry{}}
}

// OnEvent makes fn hear of every event as it happens, counted ones each
// time (not their summaries), with the event's grant type when it has one:
// the source of the event metrics. Call it before the Log is used.
func (l *Log) OnEvent(fn func(typ, grant string)) { l.onEvent = fn }

// Count records one occurrence of a high-volume event (a client_credentials
// token, which is issued thousands of times a second and has no user or
// session to trace): occurrences are summed per event type, client and
// grant type, and one event with details "count", "from" and "to" is
// recorded per CountWindow. It never blocks and costs no I/O per call.
func (l *Log) Count(typ, clientID, grant string) {
	if l.onEvent != nil {
		l.onEvent(typ, grant)
	}
	k := countKey{typ, clientID, grant}
	l.mu.Lock()
	e := l.counts[k]
	if e == nil {
		e = &countEntry{first: l.now()}
		l.counts[k] = e
	}
	e.n++
	l.mu.Unlock()
}

// flushCounts records one summary event per counted key and resets them.
func (l *Log) flushCounts(ctx context.Context) {
	l.mu.Lock()
	counts := l.counts
	l.counts = map[countKey]*countEntry{}
	l.mu.Unlock()
	now := l.now()
	for k, e := range counts {
		l.record(ctx, store.AuditEvent{Type: k.typ, ClientID: k.clientID, Time: now, Details: map[string]string{
			"grant_type": k.grant, "count": strconv.FormatInt(e.n, 10),
			"from": e.first.UTC().Format(time.RFC3339), "to": now.UTC().Format(time.RFC3339)}})
	}
}

// Record logs e and queues it for storage. It never blocks.
func (l *Log) Record(ctx context.Context, e store.AuditEvent) {
	if l.onEvent != nil {
		l.onEvent(e.Type, e.Details["grant_type"])
	}
	l.record(ctx, e)
}

func (l *Log) record(ctx context.Context, e store.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if e.RequestID == "" {
		e.RequestID = httpx.RequestID(ctx)
	}
	attrs := []slog.Attr{slog.String("event", e.Type)}
	for k, v := range map[string]string{"client_id": e.ClientID, "user_id": e.UserID, "sid": e.SessionID, "ip": e.IP} {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	if len(e.Details) > 0 {
		attrs = append(attrs, slog.Any("details", e.Details))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	select {
	case l.queue <- e:
	default:
		if l.dropped.Add(1)%1000 == 1 {
			l.log.Warn("audit queue full: events logged but not stored", slog.Int64("dropped_total", l.dropped.Load()))
		}
	}
}

// Dropped returns how many events were logged but not stored.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// batchSize bounds the events written in one transaction.
const batchSize = 256

// Run stores queued events until ctx ends, then stores what is left
// (bounded by a few seconds). Events are written in batches: whatever has
// queued up while the previous batch was written goes in one transaction.
func (l *Log) Run(ctx context.Context) {
	batch := make([]store.AuditEvent, 0, batchSize)
	tick := time.NewTicker(CountWindow)
	defer tick.Stop()
	for {
		select {
		case e := <-l.queue:
			batch = l.drain(append(batch[:0], e))
			l.store(ctx, batch)
		case <-tick.C:
			l.flushCounts(ctx)
		case <-ctx.Done():
			l.flushCounts(ctx)
			l.Flush(ctx)
			return
		}
	}
}

// drain adds queued events to batch without waiting, up to batchSize.
func (l *Log) drain(batch []store.AuditEvent) []store.AuditEvent {
	for len(batch) < batchSize {
		select {
		case e := <-l.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// Flush stores every queued event now (for tests and shutdown paths).
func (l *Log) Flush(ctx context.Context) {
	for {
		batch := l.drain(nil)
		if len(batch) == 0 {
			return
		}
		l.store(ctx, batch)
	}
}

// store writes one batch. Shutdown must not cut a write short, so the
// write is detached from ctx's cancellation and bounded by its own timeout.
func (l *Log) store(ctx context.Context, batch []store.AuditEvent) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.st.AppendAuditEvents(wctx, batch); err != nil {
		l.log.Error("storing audit events failed", slog.Int("events", len(batch)), slog.Any("error", err))
	}
}

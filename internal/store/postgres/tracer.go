package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryTimer is a pgx query tracer that hands each statement's duration to
// an observer set after Open (the store-latency metric). It is installed
// at Open, before any connection exists, since pgx copies the tracer into
// each connection's configuration.
type queryTimer struct {
	observe atomic.Pointer[func(time.Duration, error)]
}

type queryStartKey struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (q *queryTimer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if q.observe.Load() == nil {
		return ctx
	}
	return context.WithValue(ctx, queryStartKey{}, time.Now())
}

// TraceQueryEnd implements pgx.QueryTracer.
func (q *queryTimer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	fn := q.observe.Load()
	start, ok := ctx.Value(queryStartKey{}).(time.Time)
	if fn == nil || !ok {
		return
	}
	(*fn)(time.Since(start), data.Err)
}

// ObserveQueries makes fn hear of the duration and outcome of every SQL
// statement from now on.
func (s *Store) ObserveQueries(fn func(d time.Duration, err error)) { s.timer.observe.Store(&fn) }

// Package gc keeps storage bounded: every node runs a collector that, each
// interval, deletes what has expired (revocation entries once the tokens
// they cover have expired, access-token records, grants with their refresh
// tokens and codes, device codes, sessions, one-time uses) and audit events
// older than the retention, in small batches (store.Pruning), so that no
// delete holds locks for long. On PostgreSQL the nodes take turns through
// an advisory lock: a node that finds it taken skips its turn.
package gc

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Defaults of Config.
const (
	DefaultInterval       = time.Minute
	DefaultAuditRetention = 90 * 24 * time.Hour
	DefaultBatch          = 1000
	// maxBatches bounds one pass, so that a node shutting down or a huge
	// backlog never holds the collector in one loop for long.
	maxBatches = 1000
)

// Config configures a Collector.
type Config struct {
	Store store.Pruning
	// Interval is the time between passes (default DefaultInterval).
	Interval time.Duration
	// AuditRetention is how long audit events are kept (default
	// DefaultAuditRetention); negative keeps them forever.
	AuditRetention time.Duration
	// Batch is the most rows of one table one transaction deletes.
	Batch int
	// Deleted, when set, is told how many rows of a table a batch deleted
	// (the metrics).
	Deleted func(table string, n int)
	Now     func() time.Time
	Logger  *slog.Logger
}

// Collector deletes expired rows.
type Collector struct{ cfg Config }

// New returns a collector with cfg's defaults filled.
func New(cfg Config) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.AuditRetention == 0 {
		cfg.AuditRetention = DefaultAuditRetention
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{cfg: cfg}
}

// Collect runs one pass: batch after batch until a batch finds nothing
// more to delete, another node holds the lock, or ctx ends. It returns
// the rows deleted per table.
func (c *Collector) Collect(ctx context.Context) (map[string]int, error) {
	total := map[string]int{}
	for range maxBatches {
		now := c.cfg.Now()
		var auditBefore time.Time
		if c.cfg.AuditRetention > 0 {
			auditBefore = now.Add(-c.cfg.AuditRetention)
		}
		got, err := c.cfg.Store.PruneBatch(ctx, now, auditBefore, c.cfg.Batch)
		if errors.Is(err, store.ErrBusy) {
			return total, nil // another node is collecting
		}
		if err != nil {
			return total, err
		}
		full := false
		for table, n := range got {
			total[table] += n
			if n > 0 && c.cfg.Deleted != nil {
				c.cfg.Deleted(table, n)
			}
			full = full || n >= c.cfg.Batch
		}
		if !full || ctx.Err() != nil {
			break
		}
	}
	return total, ctx.Err()
}

// Run collects every Interval until ctx ends. Failures are logged; the
// next pass retries.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		got, err := c.Collect(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			c.cfg.Logger.Warn("garbage collection failed; retrying next interval", slog.Any("error", err))
		case len(got) > 0:
			attrs := make([]any, 0, len(got))
			for table, n := range got {
				if n > 0 {
					attrs = append(attrs, slog.Int(table, n))
				}
			}
			if len(attrs) > 0 {
				c.cfg.Logger.Debug("garbage collected expired rows", attrs...)
			}
		}
	}
}

package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpx"
)

// readiness answers /readyz. A load balancer may probe often, so a result is
// reused for a short while instead of pinging the store on every probe.
type readiness struct {
	store interface{ Ping(context.Context) error }
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	checked time.Time
	ok      bool
}

const (
	readyCacheFor    = time.Second
	readyPingTimeout = 2 * time.Second
)

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if rd.check(r.Context()) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	// The cause is logged, not sent: readiness is unauthenticated.
	w.Header().Set("Retry-After", "2")
	httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": "unreachable"})
}

func (rd *readiness) check(ctx context.Context) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	now := rd.now()
	if !rd.checked.IsZero() && now.Sub(rd.checked) < readyCacheFor && now.After(rd.checked) {
		return rd.ok
	}
	pctx, cancel := context.WithTimeout(ctx, readyPingTimeout)
	defer cancel()
	err := rd.store.Ping(pctx)
	if err != nil && rd.ok {
		rd.log.WarnContext(ctx, "store unreachable: not ready", slog.Any("error", err))
	} else if err == nil && !rd.ok && !rd.checked.IsZero() {
		rd.log.InfoContext(ctx, "store reachable again: ready")
	}
	rd.ok, rd.checked = err == nil, now
	return rd.ok
}

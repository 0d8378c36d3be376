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
//
// Only the store decides readiness. Redis, when configured, is reported in
// the body but does not take the node out of service: the node reads
// nothing from it, and resource servers that read it fail closed on their
// own side while it is down.
type readiness struct {
	store interface{ Ping(context.Context) error }
	redis interface{ Ping(context.Context) error } // nil without redis
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	checked time.Time
	ok      bool
	redisOK bool
}

const (
	readyCacheFor    = time.Second
	readyPingTimeout = 2 * time.Second
)

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ok, redisOK := rd.check(r.Context())
	body := map[string]string{"status": "ready"}
	status := http.StatusOK
	if !ok {
		// The cause is logged, not sent: readiness is unauthenticated.
		w.Header().Set("Retry-After", "2")
		body = map[string]string{"status": "unavailable", "store": "unreachable"}
		status = http.StatusServiceUnavailable
	}
	if rd.redis != nil {
		body["redis"] = "ok"
		if !redisOK {
			body["redis"] = "unreachable"
		}
	}
	httpx.WriteJSON(w, status, body)
}

func (rd *readiness) check(ctx context.Context) (ok, redisOK bool) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	now := rd.now()
	if !rd.checked.IsZero() && now.Sub(rd.checked) < readyCacheFor && now.After(rd.checked) {
		return rd.ok, rd.redisOK
	}
	pctx, cancel := context.WithTimeout(ctx, readyPingTimeout)
	defer cancel()
	err := rd.store.Ping(pctx)
	if err != nil && rd.ok {
		rd.log.WarnContext(ctx, "store unreachable: not ready", slog.Any("error", err))
	} else if err == nil && !rd.ok && !rd.checked.IsZero() {
		rd.log.InfoContext(ctx, "store reachable again: ready")
	}
	redisOK = true
	if rd.redis != nil {
		rerr := rd.redis.Ping(pctx)
		redisOK = rerr == nil
		if rerr != nil && (rd.redisOK || rd.checked.IsZero()) {
			rd.log.WarnContext(ctx, "redis unreachable: resource servers reading revocations from it fail closed", slog.Any("error", rerr))
		}
	}
	rd.ok, rd.redisOK, rd.checked = err == nil, redisOK, now
	return rd.ok, rd.redisOK
}

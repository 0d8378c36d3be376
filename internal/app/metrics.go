package app

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics adds the metrics operators alert on (docs/operations.md)
// beside the HTTP and garbage-collection ones: events by type and grant
// (tokens issued, login failures, refresh-token reuse, ...), audit events
// logged but not stored, the age of each signing key in use, and how far
// this node's revocation list (and its Redis mirror) may lag.
func (a *App) registerMetrics() {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_events_total",
		Help: "Security events by type (token_issued, login_failed, refresh_token_reuse_detected, ...) and grant type.",
	}, []string{"type", "grant"})
	a.audit.OnEvent(func(typ, grant string) { events.WithLabelValues(typ, grant).Inc() })
	a.registry.MustRegister(events,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_audit_dropped_total",
			Help: "Audit events logged but not stored because the store could not keep up.",
		}, func() float64 { return float64(a.audit.Dropped()) }),
		keyAgeCollector{a},
		revocationCollector{a},
	)
	// Group commits of the embedded store: transactions per commit is
	// what keeps SQLite's writes cheap under load.
	if g, ok := a.store.(interface{ GroupCommits() (uint64, uint64) }); ok {
		a.registry.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gatehouse_sqlite_commits_total",
				Help: "Commits of the embedded SQLite store's writer, each holding one or more transactions.",
			}, func() float64 { c, _ := g.GroupCommits(); return float64(c) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gatehouse_sqlite_transactions_total",
				Help: "Write transactions of the embedded SQLite store, committed in groups (see gatehouse_sqlite_commits_total).",
			}, func() float64 { _, t := g.GroupCommits(); return float64(t) }),
		)
	}
	// Store latency, as PostgreSQL serves it (the embedded SQLite store
	// has no network to watch).
	if o, ok := a.store.(interface {
		ObserveQueries(func(time.Duration, error))
	}); ok {
		latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_store_query_duration_seconds",
			Help:    "Duration of SQL statements sent to PostgreSQL, by outcome (ok or error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"})
		a.registry.MustRegister(latency)
		ok, failed := latency.WithLabelValues("ok"), latency.WithLabelValues("error")
		o.ObserveQueries(func(d time.Duration, err error) {
			if err != nil {
				failed.Observe(d.Seconds())
				return
			}
			ok.Observe(d.Seconds())
		})
	}
}

// keyAgeCollector reports the age of each active signing key at scrape
// time, so that a rotation schedule can be alerted on.
type keyAgeCollector struct{ a *App }

var keyAgeDesc = prometheus.NewDesc("gatehouse_signing_key_age_seconds",
	"Age of the signing key this node signs with, by algorithm.", []string{"alg", "kid"}, nil)

func (c keyAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keyAgeDesc }

func (c keyAgeCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.a.now()
	for _, k := range c.a.keys.Active() {
		ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, now.Sub(k.CreatedAt).Seconds(), k.Algorithm, k.KID)
	}
}

// revocationCollector reports, at scrape time, how long ago this node's
// revocation list last caught up with the store (+Inf before the first
// sync) and, when Redis is configured, whether the mirror is up.
type revocationCollector struct{ a *App }

var (
	revocationAgeDesc = prometheus.NewDesc("gatehouse_revocation_sync_age_seconds",
		"Seconds since this node's revocation list last caught up with the store: the most a revocation made elsewhere can lag here.", nil, nil)
	revocationMirrorDesc = prometheus.NewDesc("gatehouse_revocation_redis_mirror_up",
		"1 while this node's last write or copy of the revocation list to Redis succeeded, else 0 (only with Redis configured).", nil, nil)
)

func (c revocationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- revocationAgeDesc
	ch <- revocationMirrorDesc
}

func (c revocationCollector) Collect(ch chan<- prometheus.Metric) {
	age := math.Inf(1)
	if t := c.a.revocations.LastSync(); !t.IsZero() {
		age = max(c.a.now().Sub(t).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(revocationAgeDesc, prometheus.GaugeValue, age)
	if configured, up := c.a.revocations.MirrorUp(); configured {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(revocationMirrorDesc, prometheus.GaugeValue, v)
	}
}

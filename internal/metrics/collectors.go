package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediagate/mediagate/internal/invalidate"
)

// The collectors read their source's counters when scraped and nothing in
// between: the sources count with atomics of their own.

var (
	listenerUp = prometheus.NewDesc(ns+"_invalidation_listener_up",
		"1 while the cache invalidation listener is connected (caches are used), 0 while it is not (caches are bypassed).", nil, nil)
	listenerDowns = prometheus.NewDesc(ns+"_invalidation_listener_downs_total",
		"Times the cache invalidation listener lost its connection.", nil, nil)
	notifications = prometheus.NewDesc(ns+"_invalidation_notifications_total",
		"Invalidations received from PostgreSQL (NOTIFY), by topic; each flushed the topic's caches.", []string{"topic"}, nil)
	cacheLookups = prometheus.NewDesc(ns+"_cache_lookups_total",
		"Lookups in an in-process cache, by cache and result: hit, miss (loaded, then kept), bypass (loaded: the listener was down).", []string{"cache", "result"}, nil)
	cacheEntries = prometheus.NewDesc(ns+"_cache_entries",
		"Entries held by an in-process cache.", []string{"cache"}, nil)
)

type hubCollector struct{ hub *invalidate.Hub }

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{listenerUp, listenerDowns, notifications, cacheLookups, cacheEntries} {
		ch <- d
	}
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	up := 0.0
	if st.Healthy {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(listenerUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(listenerDowns, prometheus.CounterValue, float64(st.Downs))
	for topic, n := range st.Notifications {
		ch <- prometheus.MustNewConstMetric(notifications, prometheus.CounterValue, float64(n), topic)
	}
	for _, cs := range st.Caches {
		ch <- prometheus.MustNewConstMetric(cacheLookups, prometheus.CounterValue, float64(cs.Hits), cs.Name, "hit")
		ch <- prometheus.MustNewConstMetric(cacheLookups, prometheus.CounterValue, float64(cs.Misses), cs.Name, "miss")
		ch <- prometheus.MustNewConstMetric(cacheLookups, prometheus.CounterValue, float64(cs.Bypasses), cs.Name, "bypass")
		ch <- prometheus.MustNewConstMetric(cacheEntries, prometheus.GaugeValue, float64(cs.Entries), cs.Name)
	}
}

var (
	auditDepth = prometheus.NewDesc(ns+"_audit_buffer_entries",
		"Read audit rows (a request, or a run of identical ones) waiting in the buffer to be written.", nil, nil)
	auditCapacity = prometheus.NewDesc(ns+"_audit_buffer_capacity",
		"The most rows the read audit's buffer holds; past it, new requests are dropped.", nil, nil)
	auditDropped = prometheus.NewDesc(ns+"_audit_dropped_total",
		"Read audit entries lost: the buffer was full, or their write failed.", nil, nil)
)

type auditCollector struct{ a AuditBuffer }

func (c auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditDepth
	ch <- auditCapacity
	ch <- auditDropped
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(auditDepth, prometheus.GaugeValue, float64(c.a.Depth()))
	ch <- prometheus.MustNewConstMetric(auditCapacity, prometheus.GaugeValue, float64(c.a.Capacity()))
	ch <- prometheus.MustNewConstMetric(auditDropped, prometheus.CounterValue, float64(c.a.Dropped()))
}

var (
	jobStates = prometheus.NewDesc(ns+"_jobs",
		"Media pipeline jobs in the queue (every instance's), by River state.", []string{"state"}, nil)
	jobFailures = prometheus.NewDesc(ns+"_job_failures_total",
		"Attempts at a media pipeline job that failed in this instance (to be retried, or given up).", nil, nil)
)

// statesTimeout bounds the query behind a scrape's job counts.
const statesTimeout = 5 * time.Second

type jobsCollector struct {
	q   JobQueue
	log *slog.Logger
}

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobStates
	ch <- jobFailures
}

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(jobFailures, prometheus.CounterValue, float64(c.q.Failures()))
	ctx, cancel := context.WithTimeout(context.Background(), statesTimeout)
	defer cancel()
	states, err := c.q.States(ctx)
	if err != nil {
		// The scrape goes on without them; the gap says the database did not answer.
		c.log.Warn("metrics: job states", "err", err)
		return
	}
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(jobStates, prometheus.GaugeValue, float64(n), s)
	}
}

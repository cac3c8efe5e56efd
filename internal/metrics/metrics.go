// Package metrics exposes Mediagate's counters to Prometheus: one registry
// per app, request counters cheap enough for the streaming path, and
// collectors that read the lower packages' own counters when scraped, so
// that those packages need not know Prometheus.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediagate/mediagate/internal/invalidate"
)

// ns prefixes every metric of ours.
const ns = "mediagate"

// UploadKind is how a file was sent.
type UploadKind int

// The upload kinds.
const (
	UploadForm UploadKind = iota // a multipart form (the page's, or the API's)
	UploadRaw                    // the raw file as the body
	UploadTus                    // a resumable upload's requests (tus)
	nUploadKinds
)

var uploadKindNames = [nUploadKinds]string{"form", "raw", "tus"}

// Metrics is one app's metrics and the registry that serves them.
type Metrics struct {
	reg  *prometheus.Registry
	log  *slog.Logger
	http *httpMetrics

	allowed, denied prometheus.Counter
	uploads         [nUploadKinds]prometheus.Counter
	uploadBytes     [nUploadKinds]prometheus.Counter
	uploadFailures  [nUploadKinds]prometheus.Counter
	lag             prometheus.Histogram
}

// New returns metrics on a registry of their own, with the Go runtime's and
// the process's.
func New(log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: log, http: newHTTPMetrics()}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "decisions_total",
		Help: "Access decisions on the streaming path, by result (allowed, denied)."}, []string{"result"})
	m.allowed, m.denied = decisions.WithLabelValues("allowed"), decisions.WithLabelValues("denied")
	uploads := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "uploads_total",
		Help: "Upload requests, by kind (form, raw, tus: one a request, PATCHes included)."}, []string{"kind"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "upload_bytes_total",
		Help: "Bytes of request bodies read by uploads, by kind."}, []string{"kind"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "upload_failures_total",
		Help: "Upload requests that ended without storing what they sent, by kind."}, []string{"kind"})
	for k, name := range uploadKindNames {
		m.uploads[k], m.uploadBytes[k], m.uploadFailures[k] = uploads.WithLabelValues(name), bytes.WithLabelValues(name), failures.WithLabelValues(name)
	}
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "invalidation_lag_seconds",
		Help:    "Time from a NOTIFY sent to its arrival at this instance's listener, which then flushes at once: measured by a probe every 10 s.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.http.requests, m.http.duration, decisions, uploads, bytes, failures, m.lag)
	return m
}

// Handler serves the registry in Prometheus's formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             20 * time.Second,
	})
}

// Request counts one answered request: route is the chi pattern it matched
// ("" for none), so that ids never become labels.
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	m.http.observe(route, method, status, took)
}

// Decision counts one access decision of the streaming path.
func (m *Metrics) Decision(allowed bool) {
	if allowed {
		m.allowed.Inc()
	} else {
		m.denied.Inc()
	}
}

// Upload counts one upload request of kind that read n bytes of its body.
func (m *Metrics) Upload(kind UploadKind, n int64, failed bool) {
	m.uploads[kind].Inc()
	m.uploadBytes[kind].Add(float64(n))
	if failed {
		m.uploadFailures[kind].Inc()
	}
}

// WatchHub reports the invalidation listener and the caches registered with
// hub, and observes its probes' lag.
func (m *Metrics) WatchHub(hub *invalidate.Hub) {
	hub.ObserveLag(m.lag)
	m.register(hubCollector{hub})
}

// AuditBuffer is the read audit's buffer (audit.Log).
type AuditBuffer interface {
	Depth() int
	Capacity() int
	Dropped() int64
}

// WatchAudit reports the read audit's buffer.
func (m *Metrics) WatchAudit(a AuditBuffer) { m.register(auditCollector{a}) }

// JobQueue is the media pipeline's queue (jobs.Jobs).
type JobQueue interface {
	States(ctx context.Context) (map[string]int64, error)
	Failures() uint64
}

// WatchJobs reports the media pipeline's queue.
func (m *Metrics) WatchJobs(q JobQueue) { m.register(jobsCollector{q: q, log: m.log}) }

func (m *Metrics) register(c prometheus.Collector) {
	if err := m.reg.Register(c); err != nil {
		m.log.Warn("metrics: watch", "err", err)
	}
}

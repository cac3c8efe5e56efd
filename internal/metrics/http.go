package metrics

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics counts requests by route, method and status and times them by
// route and method. A request costs map lookups and atomic adds: each
// label combination's counter is resolved once, when first seen, and kept.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.Mutex // held to add to routes
	routes atomic.Pointer[map[string]*route]
}

// methods are the methods told apart; any other counts as "other", so a
// client cannot make up labels.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}

func methodIndex(m string) int {
	for i, name := range methods[:len(methods)-1] {
		if m == name {
			return i
		}
	}
	return len(methods) - 1
}

// route holds one route's counters, by method.
type route struct {
	name    string
	methods [len(methods)]atomic.Pointer[routeMethod]
}

// routeMethod holds the counters of one route and method: its histogram,
// and a counter a status, in a list replaced whenever it grows.
type routeMethod struct {
	route    string
	method   string
	duration prometheus.Observer
	mu       sync.Mutex // held to add a status
	statuses atomic.Pointer[[]statusCounter]
}

type statusCounter struct {
	status int
	c      prometheus.Counter
}

func newHTTPMetrics() *httpMetrics {
	h := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "http", Name: "requests_total",
			Help: "Requests answered by the app, by route pattern (none: no route matched), method and status. /healthz is not counted."},
			[]string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer a request in the app (for X-Accel-Redirect, until nginx takes over), by route pattern and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60}},
			[]string{"route", "method"}),
	}
	h.routes.Store(&map[string]*route{})
	return h
}

func (h *httpMetrics) observe(pattern, method string, status int, took time.Duration) {
	if status == 0 {
		status = 200 // nothing written: net/http sends 200
	}
	rm := h.route(pattern).method(h, methodIndex(method))
	rm.duration.Observe(took.Seconds())
	rm.count(h, status)
}

// route returns pattern's counters. Patterns are the router's, never a
// request's path, so there are as many as routes.
func (h *httpMetrics) route(pattern string) *route {
	if r, ok := (*h.routes.Load())[pattern]; ok {
		return r
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.routes.Load()
	if r, ok := old[pattern]; ok {
		return r
	}
	name := pattern
	if name == "" {
		name = "none"
	}
	r := &route{name: name}
	m := maps.Clone(old)
	m[pattern] = r
	h.routes.Store(&m)
	return r
}

func (r *route) method(h *httpMetrics, i int) *routeMethod {
	if rm := r.methods[i].Load(); rm != nil {
		return rm
	}
	rm := &routeMethod{route: r.name, method: methods[i], duration: h.duration.WithLabelValues(r.name, methods[i])}
	rm.statuses.Store(&[]statusCounter{})
	if r.methods[i].CompareAndSwap(nil, rm) {
		return rm
	}
	return r.methods[i].Load()
}

func (rm *routeMethod) count(h *httpMetrics, status int) {
	for _, s := range *rm.statuses.Load() {
		if s.status == status {
			s.c.Inc()
			return
		}
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	list := *rm.statuses.Load()
	for _, s := range list {
		if s.status == status {
			s.c.Inc()
			return
		}
	}
	c := h.requests.WithLabelValues(rm.route, rm.method, strconv.Itoa(status))
	grown := append(list[:len(list):len(list)], statusCounter{status, c})
	rm.statuses.Store(&grown)
	c.Inc()
}

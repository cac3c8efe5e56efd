package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/invalidate"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// value returns the value of the series name{labels} as gathered ("" labels
// for none), and whether there is one.
func value(t *testing.T, m *Metrics, name string, labels ...string) (float64, bool) {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(want) {
				continue
			}
			for _, l := range s.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue(), true
			case s.Gauge != nil:
				return s.Gauge.GetValue(), true
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestRequests(t *testing.T) {
	t.Parallel()
	m := New(quiet())
	for _, r := range []struct {
		route, method string
		status        int
	}{
		{"/smedia/{id}", "GET", 200},
		{"/smedia/{id}", "GET", 200},
		{"/smedia/{id}", "GET", 404},
		{"/smedia/{id}", "HEAD", 0}, // nothing written: 200
		{"/api/media/{id}", "DELETE", 204},
		{"", "GET", 404},
		{"/api/media", "BREW", 405}, // a made-up method is "other"
	} {
		m.Request(r.route, r.method, r.status, time.Millisecond)
	}
	for _, c := range []struct {
		route, method, status string
		want                  float64
	}{
		{"/smedia/{id}", "GET", "200", 2},
		{"/smedia/{id}", "GET", "404", 1},
		{"/smedia/{id}", "HEAD", "200", 1},
		{"/api/media/{id}", "DELETE", "204", 1},
		{"none", "GET", "404", 1},
		{"/api/media", "other", "405", 1},
	} {
		if got, _ := value(t, m, "mediagate_http_requests_total", "route", c.route, "method", c.method, "status", c.status); got != c.want {
			t.Errorf("requests %s %s %s = %v, want %v", c.route, c.method, c.status, got, c.want)
		}
	}
	if got, _ := value(t, m, "mediagate_http_request_duration_seconds", "route", "/smedia/{id}", "method", "GET"); got != 3 {
		t.Errorf("timed /smedia/{id} GETs: %v, want 3", got)
	}
	if _, ok := value(t, m, "mediagate_http_request_duration_seconds", "route", "/smedia/{id}", "method", "POST"); ok {
		t.Error("a series for a route and method never asked for")
	}
}

// TestRequestsConcurrent counts from many goroutines at once, the first
// request of each label combination racing with the others.
func TestRequestsConcurrent(t *testing.T) {
	t.Parallel()
	m := New(quiet())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				m.Request([]string{"/a", "/b"}[i%2], "GET", 200+g%3, time.Microsecond)
			}
		})
	}
	wg.Wait()
	total := 0.0
	for _, route := range []string{"/a", "/b"} {
		for _, status := range []string{"200", "201", "202"} {
			v, _ := value(t, m, "mediagate_http_requests_total", "route", route, "method", "GET", "status", status)
			total += v
		}
	}
	if total != 8*500 {
		t.Errorf("%v requests counted, want %d", total, 8*500)
	}
}

// TestRequestDoesNotAllocate keeps the streaming path's cost down: once a
// route, method and status were seen, counting them allocates nothing.
func TestRequestDoesNotAllocate(t *testing.T) {
	m := New(quiet())
	m.Request("/smedia/{id}", "GET", 200, time.Millisecond)
	m.Decision(true)
	if n := testing.AllocsPerRun(1000, func() {
		m.Request("/smedia/{id}", "GET", 200, time.Millisecond)
		m.Decision(true)
		m.Decision(false)
	}); n != 0 {
		t.Errorf("%v allocations a request", n)
	}
}

func TestDecisionsAndUploads(t *testing.T) {
	t.Parallel()
	m := New(quiet())
	m.Decision(true)
	m.Decision(true)
	m.Decision(false)
	m.Upload(UploadRaw, 1000, false)
	m.Upload(UploadTus, 10, true)
	m.Upload(UploadTus, 5, false)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediagate_decisions_total", []string{"result", "allowed"}, 2},
		{"mediagate_decisions_total", []string{"result", "denied"}, 1},
		{"mediagate_uploads_total", []string{"kind", "raw"}, 1},
		{"mediagate_upload_bytes_total", []string{"kind", "raw"}, 1000},
		{"mediagate_upload_failures_total", []string{"kind", "raw"}, 0},
		{"mediagate_uploads_total", []string{"kind", "form"}, 0},
		{"mediagate_uploads_total", []string{"kind", "tus"}, 2},
		{"mediagate_upload_bytes_total", []string{"kind", "tus"}, 15},
		{"mediagate_upload_failures_total", []string{"kind", "tus"}, 1},
	} {
		if got, ok := value(t, m, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

type audit struct{}

func (audit) Depth() int     { return 3 }
func (audit) Capacity() int  { return 10 }
func (audit) Dropped() int64 { return 7 }

type queue struct{ err error }

func (q queue) States(ctx context.Context) (map[string]int64, error) {
	return map[string]int64{"available": 2, "running": 1}, q.err
}
func (queue) Failures() uint64 { return 4 }

func TestWatched(t *testing.T) {
	t.Parallel()
	m := New(quiet())
	m.WatchAudit(audit{})
	m.WatchJobs(queue{})
	m.WatchJobs(queue{}) // twice: kept once, no panic
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediagate_audit_buffer_entries", nil, 3},
		{"mediagate_audit_buffer_capacity", nil, 10},
		{"mediagate_audit_dropped_total", nil, 7},
		{"mediagate_jobs", []string{"state", "available"}, 2},
		{"mediagate_jobs", []string{"state", "running"}, 1},
		{"mediagate_job_failures_total", nil, 4},
	} {
		if got, ok := value(t, m, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// A database that does not answer leaves the job counts out, not the scrape.
	m2 := New(quiet())
	m2.WatchJobs(queue{err: errors.New("database away")})
	if _, ok := value(t, m2, "mediagate_jobs", "state", "available"); ok {
		t.Error("job counts reported although the query failed")
	}
	if got, _ := value(t, m2, "mediagate_job_failures_total"); got != 4 {
		t.Errorf("failures %v, want 4 even so", got)
	}
}

// TestWatchHub reads a hub whose listener never ran: down, its cache
// bypassed.
func TestWatchHub(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub(quiet())
	c := invalidate.NewCache[string, int](hub, invalidate.ACL, "decisions", 10)
	c.Get(context.Background(), "k", func(context.Context) (int, error) { return 1, nil })
	m := New(quiet())
	m.WatchHub(hub)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediagate_invalidation_listener_up", nil, 0},
		{"mediagate_invalidation_listener_downs_total", nil, 0},
		{"mediagate_invalidation_notifications_total", []string{"topic", "acl"}, 0},
		{"mediagate_cache_lookups_total", []string{"cache", "decisions", "result", "bypass"}, 1},
		{"mediagate_cache_lookups_total", []string{"cache", "decisions", "result", "hit"}, 0},
		{"mediagate_cache_entries", []string{"cache", "decisions"}, 0},
		{"mediagate_invalidation_lag_seconds", nil, 0},
	} {
		if got, ok := value(t, m, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

// TestHandler scrapes two apps' metrics in one process: each has its own.
func TestHandler(t *testing.T) {
	t.Parallel()
	a, b := New(quiet()), New(quiet())
	a.Decision(true)
	scrape := func(m *Metrics) string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("scrape: %d", rec.Code)
		}
		body, _ := io.ReadAll(rec.Body)
		return string(body)
	}
	sa, sb := scrape(a), scrape(b)
	for _, want := range []string{`mediagate_decisions_total{result="allowed"} 1`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(sa, want) {
			t.Errorf("the scrape has no %q", want)
		}
	}
	if !strings.Contains(sb, `mediagate_decisions_total{result="allowed"} 0`) {
		t.Error("one app's decision counted in another's metrics")
	}
}

// BenchmarkRequest is what counting one request of the streaming path costs.
func BenchmarkRequest(b *testing.B) {
	m := New(quiet())
	b.ReportAllocs()
	for b.Loop() {
		m.Request("/smedia/{id}", "GET", 200, 150*time.Microsecond)
		m.Decision(true)
	}
}

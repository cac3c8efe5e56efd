package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestObservability runs the binary behind nginx with JSON logs at debug
// level and metrics on a listener of their own: a request's id is in its
// answer, in every app log line of it and in nginx's access log; the
// metrics move with real requests.
func TestObservability(t *testing.T) {
	t.Parallel()
	metricsAddr := testenv.FreeAddr(t)
	s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: "8MiB", serveArgs: []string{"serve"},
		env: []string{"MEDIAGATE_LOG_FORMAT=json", "MEDIAGATE_LOG_LEVEL=debug", "MEDIAGATE_METRICS_ADDR=" + metricsAddr}})
	owner := s.addUser(t, "owner@example.com", "editor")
	stranger := s.addUser(t, "stranger@example.com", "viewer")
	data := []byte(strings.Repeat("observable bytes\n", 64))

	t.Run("request ids", func(t *testing.T) {
		it := s.mustUpload(t, owner.token, "notes.txt", data)
		nginxID := regexp.MustCompile(`^[0-9a-f]{32}$`)
		// A failed login logs twice (the failure, the request); a private
		// GET is answered by nginx after the app's X-Accel-Redirect.
		form := url.Values{"email": {owner.email}, "password": {"wrong password"}}
		for _, c := range []struct {
			name  string
			call  call
			lines []string // messages the app logs for it
		}{
			{"failed login", call{method: http.MethodPost, path: "/login", body: strings.NewReader(form.Encode()),
				headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Request-Id", "chosen-by-the-client"}}},
				[]string{"login failed", "request"}},
			{"private GET", call{method: http.MethodGet, path: smediaPath(it.ID, ""), token: owner.token}, []string{"request"}},
		} {
			a := s.do(t, c.call)
			ids := a.Header.Values("X-Request-Id")
			if len(ids) != 1 || !nginxID.MatchString(ids[0]) {
				t.Errorf("%s: %s, X-Request-Id %q: want one id of nginx's", c.name, a, ids)
				continue
			}
			id := ids[0]
			got := s.appLines(t, func(l logLine) bool { return l.RequestID == id }, len(c.lines))
			var msgs []string
			for _, l := range got {
				msgs = append(msgs, l.Msg)
			}
			if slices.Sort(msgs); !slices.Equal(msgs, c.lines) {
				t.Errorf("%s: the app logged %q with request_id %s, want %q", c.name, msgs, id, c.lines)
			}
			if !s.accessLogHas(t, " "+id+"\n") {
				t.Errorf("%s: no line of nginx's access log ends with %s", c.name, id)
			}
		}

		// Without nginx, a valid id of the client's is kept, anything else
		// replaced by one of the app's.
		direct := *s
		direct.base = "http://" + s.appAddr
		for _, c := range []struct{ sent, want string }{
			{"client-chosen-1", "client-chosen-1"},
			{`x" level=ERROR msg="forged`, ""},
			{strings.Repeat("a", 65), ""},
		} {
			a := direct.do(t, call{method: http.MethodGet, path: "/api/me", token: owner.token, headers: [][2]string{{"X-Request-Id", c.sent}}})
			id := a.Header.Get("X-Request-Id")
			if (c.want != "" && id != c.want) || (c.want == "" && !nginxID.MatchString(id)) {
				t.Errorf("sent X-Request-Id %q: answered with %q, want %q (or a new id)", c.sent, id, c.want)
				continue
			}
			if got := s.appLines(t, func(l logLine) bool { return l.RequestID == id && l.Msg == "request" }, 1); len(got) != 1 {
				t.Errorf("sent X-Request-Id %q: %d request lines name %s", c.sent, len(got), id)
			}
		}
		if out := s.server.out.String(); strings.Contains(out, "forged") {
			t.Error("the client's forged id reached the log")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		scrape := func() scraped { return scrapeMetrics(t, "http://"+metricsAddr+"/metrics") }
		// Nothing of them through nginx, nor on the app's own address.
		for _, base := range []string{s.base, "http://" + s.appAddr} {
			other := *s
			other.base = base
			if a := other.get(t, "/metrics", ""); a.Status != http.StatusNotFound {
				t.Errorf("GET %s/metrics: %s, want 404", base, a)
			}
		}
		before := scrape()
		it := s.mustUpload(t, owner.token, "metered.txt", data)
		get := func(token string, want int) {
			t.Helper()
			mustStatus(t, "GET", s.do(t, call{method: http.MethodGet, path: smediaPath(it.ID, ""), token: token}), want)
		}
		// The streaming path's decision is cached with the item: a first
		// GET of the new item misses the cache, a second hits. A
		// notification (the upload's own) may flush in between: then try
		// again.
		decisions := func(m scraped, result string) float64 {
			return m.get("mediagate_cache_lookups_total", "cache", "items", "result", result)
		}
		var afterGets scraped
		hit := false
		for try := 0; try < 5 && !hit; try++ {
			get(owner.token, http.StatusOK)
			m := scrape()
			get(owner.token, http.StatusOK)
			afterGets = scrape()
			hit = decisions(afterGets, "hit") > decisions(m, "hit")
		}
		if decisions(afterGets, "miss") <= decisions(before, "miss") || !hit {
			t.Errorf("decision cache: misses %v -> %v, a hit after a miss: %v", decisions(before, "miss"), decisions(afterGets, "miss"), hit)
		}
		get(stranger.token, http.StatusNotFound)
		after := scrape()
		gets := after.get("mediagate_http_requests_total", "route", "/smedia/{id}", "method", "GET", "status", "200") -
			before.get("mediagate_http_requests_total", "route", "/smedia/{id}", "method", "GET", "status", "200")
		allowed := after.get("mediagate_decisions_total", "result", "allowed") - before.get("mediagate_decisions_total", "result", "allowed")
		for _, c := range []struct {
			what       string
			got, least float64
		}{
			{"allowed decisions", allowed, gets},
			{"allowed GETs", gets, 2},
			{"denied decisions", after.get("mediagate_decisions_total", "result", "denied") - before.get("mediagate_decisions_total", "result", "denied"), 1},
			{"denied GETs", after.get("mediagate_http_requests_total", "route", "/smedia/{id}", "method", "GET", "status", "404") -
				before.get("mediagate_http_requests_total", "route", "/smedia/{id}", "method", "GET", "status", "404"), 1},
			{"timed GETs", after.get("mediagate_http_request_duration_seconds_count", "route", "/smedia/{id}", "method", "GET") -
				before.get("mediagate_http_request_duration_seconds_count", "route", "/smedia/{id}", "method", "GET"), gets + 1},
			{"uploads", after.get("mediagate_http_requests_total", "route", "/api/media", "method", "POST", "status", "201") -
				before.get("mediagate_http_requests_total", "route", "/api/media", "method", "POST", "status", "201"), 1},
			{"raw uploads", after.get("mediagate_uploads_total", "kind", "raw") - before.get("mediagate_uploads_total", "kind", "raw"), 1},
			{"raw upload bytes", after.get("mediagate_upload_bytes_total", "kind", "raw") - before.get("mediagate_upload_bytes_total", "kind", "raw"), float64(len(data))},
			{"listener up", after.get("mediagate_invalidation_listener_up"), 1},
			{"probes", after.get("mediagate_invalidation_lag_seconds_count"), 1},
			{"audit capacity", after.get("mediagate_audit_buffer_capacity"), 1},
			{"runtime", after.get("go_goroutines"), 1},
			{"process", after.get("process_resident_memory_bytes"), 1},
		} {
			if c.got < c.least {
				t.Errorf("%s: %v, want at least %v", c.what, c.got, c.least)
			}
		}
		if got, want := after.get("mediagate_decisions_total", "result", "allowed")-before.get("mediagate_decisions_total", "result", "allowed"), gets; got != want {
			t.Errorf("%v allowed decisions for %v allowed GETs", got, want)
		}
		for _, series := range [][]string{{"mediagate_upload_failures_total", "kind", "tus"}, {"mediagate_audit_dropped_total"},
			{"mediagate_job_failures_total"}, {"mediagate_cache_entries", "cache", "sessions"}, {"mediagate_invalidation_listener_downs_total"}} {
			if !after.has(series[0], series[1:]...) {
				t.Errorf("no %v in the scrape", series)
			}
		}
		if !after.has("mediagate_jobs", "state", "available") || !after.has("mediagate_jobs", "state", "completed") {
			t.Error("no job counts by state in the scrape")
		}
		for _, series := range after.names() {
			if strings.Contains(series, string(it.ID)) {
				t.Errorf("an item's id is a label: %s", series)
			}
		}

		// A change made in the database, by no instance, reaches the
		// listener as a NOTIFY and flushes the decisions: the next GET
		// misses again.
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		notified := func(m scraped) float64 { return m.get("mediagate_invalidation_notifications_total", "topic", "acl") }
		base := scrape()
		if _, err := conn.Exec(ctx, `INSERT INTO groups (name) VALUES ('metrics-test')`); err != nil {
			t.Fatal(err)
		}
		m := base
		for deadline := time.Now().Add(5 * time.Second); notified(m) <= notified(base); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("acl notifications stayed at %v after a change in the database", notified(m))
			}
			m = scrape()
		}
		get(owner.token, http.StatusOK)
		if m2 := scrape(); decisions(m2, "miss") <= decisions(m, "miss") {
			t.Errorf("after the notification the decision was not looked up again: misses %v -> %v", decisions(m, "miss"), decisions(m2, "miss"))
		}
	})
}

// logLine is the part of an app log line (JSON) the tests read.
type logLine struct {
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
}

// appLines polls the app's output until want JSON lines match (a request's
// line is written as it ends), then returns those that do.
func (s *suite) appLines(t testing.TB, match func(logLine) bool, want int) []logLine {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []logLine
		sc := bufio.NewScanner(strings.NewReader(s.server.out.String()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && match(l) {
				out = append(out, l)
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// accessLogHas polls nginx's access log until it holds s.
func (s *suite) accessLogHas(t testing.TB, sub string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(s.root, "nginx", "access.log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), sub) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scraped is a scrape in Prometheus's text format: each series as written
// (name{labels}, labels in the order Prometheus sorts them) and its value.
type scraped map[string]float64

func scrapeMetrics(t testing.TB, url string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	m := scraped{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("scrape line %q", line)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// key writes name{labels} as Prometheus does: labels sorted by name.
func (m scraped) key(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var parts []string
	for i := 0; i+1 < len(labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// get returns a series' value, 0 when it is not there (yet).
func (m scraped) get(name string, labels ...string) float64 { return m[m.key(name, labels...)] }

func (m scraped) has(name string, labels ...string) bool {
	_, ok := m[m.key(name, labels...)]
	return ok
}

func (m scraped) names() []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

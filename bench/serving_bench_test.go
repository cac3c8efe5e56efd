package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
)

// Load shapes of the serving benchmarks: every target is measured in
// several short rounds, interleaved, so that a burst of other work on the
// machine spreads over all of them.
var (
	smallLoad = shape{conns: 64, rounds: 3, dur: 10 * time.Second}
	bigLoad   = shape{conns: 2, rounds: 4, dur: 8 * time.Second}
)

const (
	warmDuration = 2 * time.Second // before a target's first round
	wrkThreads   = 2
	smallSize    = 1 << 10
	bigSize      = 100 << 20
)

// shape is how a target is loaded: connections, rounds, time per round,
// and whether the targets' order rotates from round to round (so that no
// target always follows the same one).
type shape struct {
	conns, rounds int
	dur           time.Duration
	rotate        bool
}

// served is one uploaded item, as the stack serves it.
type served struct {
	id, sha     string
	data        []byte // nil for the big item
	size        int64
	smedia      string // /smedia/{id}/{name}
	public      string // /media/{public name}
	filename    string
	contentType string
}

// stack is a running Mediagate with nginx in front, plus (on local storage)
// a second nginx in front of a stub that only answers X-Accel-Redirect.
type stack struct {
	root, dataDir string
	dbName        string
	env           []string
	bin           string
	nginxPath     string
	app           *process
	nginx         *process
	appBase       string // the app itself
	base          string // nginx in front of the app
	stubNginx     *process
	stubBase      string // nginx in front of the stub
	unix          *unixVariant
	token         string // the owner's API token
	cookie        string // "mediagate_session=..." of a signed-in viewer
	small, big    served
}

// stackConfig is what sets one stack apart from another.
type stackConfig struct {
	name string   // names its temp dir
	env  []string // added to the app's (and its CLI's) environment
	stub bool     // also start the X-Accel stub behind a second nginx
	// patch, when set, edits the nginx.conf rendered for the main nginx.
	patch func(conf string) (string, error)
}

// localStack is the stack of the original serving benchmarks: blobs in the
// data dir.
var localStack = stackConfig{name: "local", stub: true}

var theStack once[*stack]

// serving returns the shared stack, starting it on first use.
func serving(b *testing.B) *stack {
	b.Helper()
	requirePostgres(b)
	nginxPath := lookPath(b, "nginx")
	wrkPath = lookPath(b, "wrk")
	bin := mediagateBinary(b)
	// The decision benchmarks' large database has no further use: drop it so
	// that nothing (autovacuum) works on it while the servers are loaded.
	releaseModel()
	s, err := theStack.get(func() (*stack, error) { return startStack(bin, nginxPath, localStack) })
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func startStack(bin, nginxPath string, sc stackConfig) (*stack, error) {
	s := &stack{bin: bin, nginxPath: nginxPath}
	root, err := os.MkdirTemp("", "mediagate-bench-"+sc.name+"-")
	if err != nil {
		return nil, err
	}
	atExit(func() { os.RemoveAll(root) })
	// nginx workers may run as another user: they must reach the data dir.
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	s.root, s.dataDir = root, filepath.Join(root, "data")
	var dbURL string
	s.dbName, dbURL = benchDatabase()
	appAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.appBase = "http://" + appAddr
	adminPassword := randomHex(16)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEDIAGATE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env,
		"DATABASE_URL="+dbURL,
		"MEDIAGATE_ADDR="+appAddr,
		"MEDIAGATE_DATA_DIR="+s.dataDir,
		"MEDIAGATE_ACCEL=auto",
		"MEDIAGATE_ADMIN_PASSWORD="+adminPassword,
	)
	s.env = append(s.env, sc.env...)

	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = s.env, root
	if s.app, err = startProcess("mediagate", cmd, filepath.Join(root, "mediagate.log")); err != nil {
		return nil, err
	}
	atExit(s.app.stop)
	if err := waitHealthy(s.app, s.appBase+"/healthz"); err != nil {
		return nil, err
	}
	if s.nginx, s.base, err = s.startNginx("nginx", appAddr, sc.patch); err != nil {
		return nil, err
	}

	// An editor uploads; a viewer is granted view and signs in with a browser.
	if _, err := s.cli("", "user", "add", "--email", "owner@bench.test", "--role", "editor"); err != nil {
		return nil, err
	}
	token, err := s.cli("", "token", "create", "--email", "owner@bench.test")
	if err != nil {
		return nil, err
	}
	token = strings.TrimSpace(token)
	s.token = token
	viewerPassword := randomHex(16)
	if _, err := s.cli(viewerPassword+"\n", "user", "add", "--email", "viewer@bench.test", "--role", "viewer", "--password-stdin"); err != nil {
		return nil, err
	}

	small := make([]byte, smallSize)
	rng := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	rng.Read(small)
	if s.small, err = s.upload(token, "one.bin", bytes.NewReader(small), smallSize); err != nil {
		return nil, err
	}
	s.small.data = small
	if s.big, err = s.upload(token, "big.bin", io.LimitReader(rng, bigSize), bigSize); err != nil {
		return nil, err
	}
	if s.cookie, err = s.login("viewer@bench.test", viewerPassword); err != nil {
		return nil, err
	}

	// The baseline: nginx in front of a handler that only answers with the
	// X-Accel-Redirect (and the headers the app sets with it).
	if sc.stub {
		stubAddr, err := s.startStub()
		if err != nil {
			return nil, err
		}
		if s.stubNginx, s.stubBase, err = s.startNginx("nginx-stub", stubAddr, nil); err != nil {
			return nil, err
		}
	}

	// Every path answers what it should before anything is measured.
	for _, it := range []served{s.small, s.big} {
		checks := []struct{ what, url, cookie string }{
			{"smedia", s.base + it.smedia, s.cookie},
			{"static", s.base + it.public, ""},
		}
		if sc.stub {
			checks = append(checks, struct{ what, url, cookie string }{"stub", s.stubBase + it.smedia, ""})
		}
		for _, c := range checks {
			if err := check(c.url, c.cookie, it); err != nil {
				return nil, fmt.Errorf("%s %s: %w", c.what, it.filename, err)
			}
		}
	}
	if err := check(s.base+s.small.smedia, "", s.small); err == nil {
		return nil, fmt.Errorf("anonymous GET %s answered the file", s.small.smedia)
	}
	return s, nil
}

// startNginx starts an nginx configured by "mediagate nginx-config" in front
// of upstream (edited by patch when it is set) and returns it with its base
// URL.
func (s *stack) startNginx(name, upstream string, patch func(string) (string, error)) (*process, string, error) {
	prefix := filepath.Join(s.root, name)
	if err := os.Mkdir(prefix, 0o755); err != nil {
		return nil, "", err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	conf, err := s.cli("", "nginx-config", "--listen", listen, "--upstream", upstream, "--prefix", prefix)
	if err != nil {
		return nil, "", err
	}
	if patch != nil {
		if conf, err = patch(conf); err != nil {
			return nil, "", err
		}
	}
	confFile := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(s.nginxPath, "-p", prefix, "-c", confFile, "-e", filepath.Join(prefix, "error.log"), "-g", "daemon off;")
	cmd.Dir = prefix
	p, err := startProcess(name, cmd, filepath.Join(prefix, "stderr.log"))
	if err != nil {
		return nil, "", err
	}
	atExit(p.stop)
	base := "http://" + listen
	if err := waitHealthy(p, base+"/healthz"); err != nil {
		return nil, "", err
	}
	return p, base, nil
}

// startStub serves X-Accel-Redirect answers for the stack's two items and
// 200 on /healthz, in this process, on a loopback TCP port.
func (s *stack) startStub() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	return s.serveStub(ln)
}

// serveStub is startStub on ln; it returns ln's address as nginx-config
// takes it (host:port, or unix:/path).
func (s *stack) serveStub(ln net.Listener) (string, error) {
	byPath := map[string]served{s.small.smedia: s.small, s.big.smedia: s.big}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			it, ok := byPath[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusOK) // /healthz
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Disposition", media.ContentDisposition(it.filename, false))
			h.Set("Cache-Control", config.PrivateCacheControl)
			h.Set("X-Accel-Redirect", media.AccelPath(it.sha))
			w.WriteHeader(http.StatusOK)
		}),
	}
	go srv.Serve(ln)
	atExit(func() { srv.Close() })
	if ln.Addr().Network() == "unix" {
		return config.UnixPrefix + ln.Addr().String(), nil
	}
	return ln.Addr().String(), nil
}

// unixVariant is the stack's hop over Unix sockets: a second app instance
// on the same database listening on MEDIAGATE_ADDR=unix:..., an nginx in
// front of it, and the stub on a Unix socket behind an nginx of its own.
// The viewer's session and the items are the stack's.
type unixVariant struct {
	app               *process
	nginx, stubNginx  *process
	base, stubBase    string
	appSock, stubSock string
}

var unixOnce once[*unixVariant]

// unixHop starts the stack's Unix-socket variant on first use.
func (s *stack) unixHop(b *testing.B) *unixVariant {
	b.Helper()
	u, err := unixOnce.get(func() (*unixVariant, error) {
		u := &unixVariant{appSock: filepath.Join(s.root, "app.sock"), stubSock: filepath.Join(s.root, "stub.sock")}
		// No job workers: the first instance works the pipeline.
		cmd := exec.Command(s.bin)
		cmd.Env = append(slices.Clone(s.env), "MEDIAGATE_ADDR="+config.UnixPrefix+u.appSock, "MEDIAGATE_JOB_WORKERS=0") // exec keeps the last of a duplicate
		cmd.Dir = s.root
		var err error
		if u.app, err = startProcess("mediagate-unix", cmd, filepath.Join(s.root, "mediagate-unix.log")); err != nil {
			return nil, err
		}
		atExit(u.app.stop)
		if err := waitHealthyVia(u.app, "http://mediagate/healthz", unixTransport(u.appSock)); err != nil {
			return nil, err
		}
		if u.nginx, u.base, err = s.startNginx("nginx-unix", config.UnixPrefix+u.appSock, nil); err != nil {
			return nil, err
		}
		ln, err := net.Listen("unix", u.stubSock)
		if err != nil {
			return nil, err
		}
		stubAddr, err := s.serveStub(ln)
		if err != nil {
			return nil, err
		}
		if u.stubNginx, u.stubBase, err = s.startNginx("nginx-stub-unix", stubAddr, nil); err != nil {
			return nil, err
		}
		if err := check(u.base+s.small.smedia, s.cookie, s.small); err != nil {
			return nil, fmt.Errorf("smedia over the Unix socket: %w", err)
		}
		if err := check(u.stubBase+s.small.smedia, "", s.small); err != nil {
			return nil, fmt.Errorf("stub over the Unix socket: %w", err)
		}
		if err := check(u.base+s.small.smedia, "", s.small); err == nil {
			return nil, fmt.Errorf("anonymous GET %s over the Unix socket answered the file", s.small.smedia)
		}
		s.unix = u
		return u, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// unixTransport dials the Unix socket at path whatever the URL's host.
func unixTransport(path string) *http.Transport {
	return &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
}

// cli runs a mediagate subcommand with the stack's environment.
func (s *stack) cli(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env, cmd.Dir = s.env, s.root
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mediagate %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

var client = &http.Client{
	Transport: &http.Transport{DisableCompression: true, ResponseHeaderTimeout: 5 * time.Minute},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
	Timeout: 10 * time.Minute,
}

// call sends one request and returns the status and body.
func call(method, url string, body io.Reader, length int64, header ...string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if length >= 0 {
		req.ContentLength = length
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// upload stores size bytes from r as a raw-body upload by the token's owner,
// grants the viewer view on it and publishes it.
func (s *stack) upload(token, name string, r io.Reader, size int64) (served, error) {
	auth := "Bearer " + token
	status, body, _, err := call(http.MethodPost, s.appBase+"/api/media?filename="+url.QueryEscape(name), r, size,
		"Authorization", auth, "Content-Type", "application/octet-stream")
	if err != nil || status != http.StatusCreated {
		return served{}, fmt.Errorf("upload %s: %d %v %s", name, status, err, body)
	}
	var it struct {
		ID          string `json:"id"`
		SHA256      string `json:"sha256"`
		Size        int64  `json:"size"`
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
	}
	if err := json.Unmarshal(body, &it); err != nil || it.Size != size {
		return served{}, fmt.Errorf("upload %s: %v %s", name, err, body)
	}
	grant := s.appBase + "/api/media/" + it.ID + "/grants/" + url.PathEscape("user:viewer@bench.test")
	status, body, _, err = call(http.MethodPut, grant, strings.NewReader(`{"permission":"view"}`), -1,
		"Authorization", auth, "Content-Type", "application/json")
	if err != nil || status != http.StatusOK {
		return served{}, fmt.Errorf("grant %s: %d %v %s", name, status, err, body)
	}
	status, body, _, err = call(http.MethodPost, s.appBase+"/api/media/"+it.ID+"/publish", nil, -1, "Authorization", auth)
	if err != nil || status != http.StatusOK {
		return served{}, fmt.Errorf("publish %s: %d %v %s", name, status, err, body)
	}
	var pub struct {
		PublicURL string `json:"public_url"`
	}
	if err := json.Unmarshal(body, &pub); err != nil || !strings.HasPrefix(pub.PublicURL, config.PublicPrefix) {
		return served{}, fmt.Errorf("publish %s: %v %s", name, err, body)
	}
	return served{id: it.ID, sha: it.SHA256, size: size, smedia: it.URL, public: pub.PublicURL, filename: name,
		contentType: it.ContentType}, nil
}

// login signs in through nginx as a browser does (form post with Origin)
// and returns the session cookie as a Cookie header value.
func (s *stack) login(email, password string) (string, error) {
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, s.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName && c.Value != "" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("login set no %s cookie", session.CookieName)
}

// check GETs url and compares what comes back with the item.
func check(url, cookie string, it served) error {
	var hdr []string
	if cookie != "" {
		hdr = []string{"Cookie", cookie}
	}
	status, body, _, err := call(http.MethodGet, url, nil, -1, hdr...)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("status %d", status)
	}
	sum := sha256.Sum256(body)
	if int64(len(body)) != it.size || hex.EncodeToString(sum[:]) != it.sha {
		return fmt.Errorf("%d bytes that are not the item's", len(body))
	}
	return nil
}

// target is one URL under load.
type target struct {
	name   string
	url    string
	header []string
}

// measurement is one target's figures over the rounds.
type measurement struct {
	runs []wrkResult
	cpu  map[string]time.Duration // per process kind, over all runs
	wall time.Duration            // the rounds' total duration
}

// rps is the mean over the rounds; so is bytesPerSec.
func (m measurement) rps() float64 {
	var sum float64
	for _, r := range m.runs {
		sum += r.RPS
	}
	return sum / float64(len(m.runs))
}

func (m measurement) bytesPerSec() float64 {
	var sum float64
	for _, r := range m.runs {
		sum += r.BytesPerSec
	}
	return sum / float64(len(m.runs))
}

// p50 and p99 are the median round's (by that percentile); worstP99 is the
// worst round's.
func (m measurement) p50() time.Duration {
	return medianOf(m.runs, func(r wrkResult) time.Duration { return r.P50 })
}
func (m measurement) p99() time.Duration {
	return medianOf(m.runs, func(r wrkResult) time.Duration { return r.P99 })
}

func (m measurement) worstP99() time.Duration {
	var w time.Duration
	for _, r := range m.runs {
		w = max(w, r.P99)
	}
	return w
}

func medianOf(runs []wrkResult, f func(wrkResult) time.Duration) time.Duration {
	d := make([]time.Duration, len(runs))
	for i, r := range runs {
		d[i] = f(r)
	}
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

func (m measurement) requests() int64 {
	var n int64
	for _, r := range m.runs {
		n += r.Requests
	}
	return n
}

// roundRatios returns a's figure over b's, round by round (f picks the
// figure), and their median: each round's targets ran seconds apart.
func roundRatios(a, b *measurement, f func(wrkResult) float64) (all []float64, median float64) {
	for i := range a.runs {
		all = append(all, f(a.runs[i])/f(b.runs[i]))
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	return all, sorted[(len(sorted)-1)/2]
}

// load measures the targets in interleaved rounds after warming each up, and
// fails b on any error or non-2xx answer.
func load(b *testing.B, sh shape, targets []target, procs map[string]func(int, int, string) bool) map[string]*measurement {
	b.Helper()
	out := map[string]*measurement{}
	for _, t := range targets {
		if _, err := runWrk(t.url, wrkThreads, sh.conns, warmDuration, t.header...); err != nil {
			b.Fatalf("warming up %s: %v", t.name, err)
		}
		out[t.name] = &measurement{cpu: map[string]time.Duration{}}
	}
	for round := 1; round <= sh.rounds; round++ {
		order := targets
		if sh.rotate {
			k := (round - 1) % len(targets)
			order = append(slices.Clone(targets[k:]), targets[:k]...)
		}
		for _, t := range order {
			before := map[string]time.Duration{}
			for k, f := range procs {
				before[k] = cpuOf(f)
			}
			busy, start := machineBusy(), time.Now()
			r, err := runWrk(t.url, wrkThreads, sh.conns, sh.dur, t.header...)
			if err != nil {
				b.Fatalf("%s: %v", t.name, err)
			}
			m := out[t.name]
			m.wall += time.Since(start)
			known := r.CPU
			for k, f := range procs {
				d := cpuOf(f) - before[k]
				m.cpu[k] += d
				known += d
			}
			m.cpu["wrk"] += r.CPU
			m.cpu["other"] += max(0, machineBusy()-busy-known)
			if r.Non2xx > 0 || r.Errors > 0 {
				b.Fatalf("%s: %d non-2xx answers, %d socket errors:\n%s", t.name, r.Non2xx, r.Errors, r.Raw)
			}
			note(b, "round %d %-11s %9.0f req/s  %7.1f MiB/s  p50 %-9s p99 %-9s (%d requests)",
				round, t.name, r.RPS, r.BytesPerSec/(1<<20), round2(r.P50), round2(r.P99), r.Requests)
			m.runs = append(m.runs, r)
		}
	}
	return out
}

func round2(d time.Duration) string { return round(d).String() }

// otherShare is the share of the machine's CPUs that other processes used
// while m was measured.
func (m measurement) otherShare() float64 {
	return m.cpu["other"].Seconds() / (m.wall.Seconds() * float64(runtime.NumCPU()))
}

// cpuPerRequest notes where the CPU went, per request, for each target, and
// how busy the rest of the machine was meanwhile.
func cpuPerRequest(b *testing.B, targets []target, ms map[string]*measurement) {
	b.Helper()
	for _, t := range targets {
		m := ms[t.name]
		var parts []string
		for _, k := range []string{"wrk", "nginx", "app", "postgres", "weed", "bench"} {
			if d := m.cpu[k]; d > 0 {
				parts = append(parts, fmt.Sprintf("%s %.1fµs", k, us(d)/float64(m.requests())))
			}
		}
		note(b, "CPU per request, %-11s %s; other processes used %.0f%% of the machine meanwhile", t.name,
			strings.Join(parts, ", "), 100*m.otherShare())
	}
}

func ratios(rs []float64) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%.3f", r))
	}
	return strings.Join(parts, " ")
}

func (s *stack) targets(it served, stub bool) []target {
	ts := []target{
		{name: "static", url: s.base + it.public},
		{name: "smedia", url: s.base + it.smedia, header: []string{"Cookie: " + s.cookie}},
	}
	if stub {
		ts = append(ts, target{name: "stub", url: s.stubBase + it.smedia})
	}
	return ts
}

// procs are the processes whose CPU time a measurement accounts for; the
// rest of the machine's busy time is "other" (anything else running).
func (s *stack) procs() map[string]func(int, int, string) bool {
	nginx := pidOrChildOf(s.nginx.pid())
	if s.stubNginx != nil {
		nginx = anyOf(nginx, pidOrChildOf(s.stubNginx.pid()))
	}
	app := pidOrChildOf(s.app.pid())
	if u := s.unix; u != nil {
		nginx = anyOf(nginx, pidOrChildOf(u.nginx.pid()), pidOrChildOf(u.stubNginx.pid()))
		app = anyOf(app, pidOrChildOf(u.app.pid()))
	}
	return map[string]func(int, int, string) bool{
		"nginx":    nginx,
		"app":      app,
		"postgres": backendsOf(s.dbName),
		"bench":    self,
	}
}

// anyOf matches what any of fs matches.
func anyOf(fs ...func(int, int, string) bool) func(int, int, string) bool {
	return func(pid, ppid int, comm string) bool {
		for _, f := range fs {
			if f(pid, ppid, comm) {
				return true
			}
		}
		return false
	}
}

// mergeProcs accounts the processes of several stacks together, kind by
// kind.
func mergeProcs(ms ...map[string]func(int, int, string) bool) map[string]func(int, int, string) bool {
	byKind := map[string][]func(int, int, string) bool{}
	for _, m := range ms {
		for k, f := range m {
			byKind[k] = append(byKind[k], f)
		}
	}
	out := map[string]func(int, int, string) bool{}
	for k, fs := range byKind {
		out[k] = anyOf(fs...)
	}
	return out
}

// BenchmarkSmedia1KB is the authorized /smedia hop for a 1 KiB file with a
// browser session (nginx -> app decides from its caches -> X-Accel-Redirect
// -> nginx sends the file) against nginx serving the same file statically
// from its published /media/ URL, and against nginx in front of a stub that
// only answers X-Accel-Redirect; then the same hop and stub with nginx
// reaching them over Unix sockets (smedia-unix, stub-unix: a second app
// instance on MEDIAGATE_ADDR=unix:...): 64 connections, 3 interleaved rounds
// of 10 s. Targets: at least 0.30 of static's requests/s, p99 under 5 ms
// (TCP); over the Unix sockets at least 0.9 of the stub's and 0.35 of
// static's requests/s.
func BenchmarkSmedia1KB(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		u := s.unixHop(b)
		targets := append(s.targets(s.small, true),
			target{name: "smedia-unix", url: u.base + s.small.smedia, header: []string{"Cookie: " + s.cookie}},
			target{name: "stub-unix", url: u.stubBase + s.small.smedia})
		waitQuiet(b)
		m := load(b, smallLoad, targets, s.procs())
		cpuPerRequest(b, targets, m)
		static, smedia, stub := m["static"], m["smedia"], m["stub"]
		rps := func(r wrkResult) float64 { return r.RPS }
		perRound, median := roundRatios(smedia, static, rps)
		_, stubMedian := roundRatios(stub, static, rps)
		ratio := smedia.rps() / static.rps()
		b.Logf("smedia/static requests/s: %.3f (rounds %s; target >= 0.30: %s); smedia p99 %s (median round; worst %s; target < 5ms: %s)",
			ratio, ratios(perRound), verdict(ratio >= 0.30), round2(smedia.p99()), round2(smedia.worstP99()), verdict(smedia.p99() < 5*time.Millisecond))
		b.Logf("stub/static %.3f, smedia/stub %.3f; static %.0f req/s, smedia %.0f, stub %.0f",
			stub.rps()/static.rps(), smedia.rps()/stub.rps(), static.rps(), smedia.rps(), stub.rps())
		smediaUnix, stubUnix := m["smedia-unix"], m["stub-unix"]
		unixStub := smediaUnix.rps() / stubUnix.rps()
		unixStatic := smediaUnix.rps() / static.rps()
		unixStubRounds, unixStubMedian := roundRatios(smediaUnix, stubUnix, rps)
		unixStaticRounds, unixStaticMedian := roundRatios(smediaUnix, static, rps)
		b.Logf("Unix sockets: smedia-unix/stub-unix %.3f (rounds %s; target >= 0.9: %s), smedia-unix/static %.3f (rounds %s; target >= 0.35: %s); smedia-unix %.0f req/s, stub-unix %.0f, smedia-unix p99 %s",
			unixStub, ratios(unixStubRounds), verdict(unixStub >= 0.9), unixStatic, ratios(unixStaticRounds), verdict(unixStatic >= 0.35),
			smediaUnix.rps(), stubUnix.rps(), round2(smediaUnix.p99()))
		note(b, "smedia/stub %.3f (TCP), smedia-unix/stub-unix %.3f (rounds %s; target >= 0.9: %s), smedia-unix/static %.3f (rounds %s; target >= 0.35: %s), stub-unix/static %.3f, smedia/static %.3f",
			smedia.rps()/stub.rps(), unixStub, ratios(unixStubRounds), verdict(unixStub >= 0.9), unixStatic, ratios(unixStaticRounds),
			verdict(unixStatic >= 0.35), stubUnix.rps()/static.rps(), ratio)
		other := 0.0
		for _, t := range targets {
			other += m[t.name].otherShare() / float64(len(targets))
		}
		return map[string]float64{
			"smedia-req/s":                 smedia.rps(),
			"static-req/s":                 static.rps(),
			"stub-req/s":                   stub.rps(),
			"smedia/static":                ratio,
			"smedia/static-median":         median,
			"stub/static":                  stub.rps() / static.rps(),
			"stub/static-median":           stubMedian,
			"smedia/stub":                  smedia.rps() / stub.rps(),
			"smedia-p50-ms":                ms(smedia.p50()),
			"smedia-p99-ms":                ms(smedia.p99()),
			"smedia-p99-worst-ms":          ms(smedia.worstP99()),
			"smedia-p99/5ms":               ms(smedia.p99()) / 5,
			"static-p50-ms":                ms(static.p50()),
			"static-p99-ms":                ms(static.p99()),
			"stub-p50-ms":                  ms(stub.p50()),
			"stub-p99-ms":                  ms(stub.p99()),
			"app-cpu-us/req":               us(smedia.cpu["app"]) / float64(smedia.requests()),
			"stub-handler-cpu-us/req":      us(stub.cpu["bench"]) / float64(stub.requests()),
			"pg-cpu-us/req":                us(smedia.cpu["postgres"]) / float64(smedia.requests()),
			"nginx-cpu-us/req":             us(smedia.cpu["nginx"]) / float64(smedia.requests()),
			"static-nginx-cpu-us/req":      us(static.cpu["nginx"]) / float64(static.requests()),
			"other-cpu-%":                  100 * other,
			"smedia-unix-req/s":            smediaUnix.rps(),
			"stub-unix-req/s":              stubUnix.rps(),
			"smedia-unix/stub-unix":        unixStub,
			"smedia-unix/stub-unix-median": unixStubMedian,
			"smedia-unix/static":           unixStatic,
			"smedia-unix/static-median":    unixStaticMedian,
			"stub-unix/static":             stubUnix.rps() / static.rps(),
			"smedia-unix-p99-ms":           ms(smediaUnix.p99()),
		}
	})
}

// BenchmarkSmedia100MB is the throughput of a 100 MiB file through /smedia
// against nginx serving it statically: 2 connections, 4 interleaved rounds
// of 8 s. Target: at least 0.95 of static's bytes/s.
func BenchmarkSmedia100MB(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		targets := s.targets(s.big, false)
		waitQuiet(b)
		m := load(b, bigLoad, targets, s.procs())
		cpuPerRequest(b, targets, m)
		static, smedia := m["static"], m["smedia"]
		perRound, median := roundRatios(smedia, static, func(r wrkResult) float64 { return r.BytesPerSec })
		ratio := smedia.bytesPerSec() / static.bytesPerSec()
		b.Logf("smedia/static throughput: %.3f (rounds %s, median %.3f; target >= 0.95: %s); static %.0f MiB/s, smedia %.0f MiB/s",
			ratio, ratios(perRound), median, verdict(ratio >= 0.95), static.bytesPerSec()/(1<<20), smedia.bytesPerSec()/(1<<20))
		return map[string]float64{
			"smedia-MiB/s":         smedia.bytesPerSec() / (1 << 20),
			"static-MiB/s":         static.bytesPerSec() / (1 << 20),
			"smedia/static":        ratio,
			"smedia/static-median": median,
			"other-cpu-%":          100 * (static.otherShare() + smedia.otherShare()) / 2,
		}
	})
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

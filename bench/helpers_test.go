package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/testdb"
	"github.com/mediagate/mediagate/internal/testenv"
)

// Bounds of the harness.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = 60 * time.Second // until a started process answers /healthz
	stopTimeout  = 15 * time.Second // between SIGTERM and SIGKILL
	cliTimeout   = 60 * time.Second // one mediagate subcommand
	pgTimeout    = 60 * time.Second // one administrative PostgreSQL statement
)

// TestMain runs the benchmarks, then what they left to clean up: processes,
// databases and directories shared between benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	runCleanups()
	printNotes()
	os.Exit(code)
}

var (
	notesMu sync.Mutex
	notes   []string
)

// note keeps a line of detail for the end of the run: the benchmark
// framework keeps only the first ten lines a benchmark logs.
func note(b *testing.B, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	notesMu.Lock()
	notes = append(notes, b.Name()+": "+line)
	notesMu.Unlock()
}

func printNotes() {
	notesMu.Lock()
	defer notesMu.Unlock()
	if len(notes) == 0 {
		return
	}
	fmt.Println("\ndetails:")
	for _, n := range notes {
		fmt.Println("  " + n)
	}
}

var (
	cleanMu  sync.Mutex
	cleanups []func()
)

// atExit registers f to run after every benchmark, last registered first.
func atExit(f func()) {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleanups = append(cleanups, f)
}

func runCleanups() {
	cleanMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// once memoizes the result of a setup that benchmarks share; a failed setup
// is not retried.
type once[T any] struct {
	mu   sync.Mutex
	done bool
	v    T
	err  error
}

func (o *once[T]) get(f func() (T, error)) (T, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.v, o.err = f()
		o.done = true
	}
	return o.v, o.err
}

// results keeps each heavy benchmark's figures, so that the benchmark
// framework calling a function again (it may, for a larger b.N) repeats no
// measurement.
var (
	resultsMu sync.Mutex
	results   = map[string]map[string]float64{}
)

// measureOnce runs measure the first time a benchmark named b.Name() asks,
// and reports its metrics every time. ns/op is suppressed: these benchmarks
// measure fixed workloads and report their own units.
func measureOnce(b *testing.B, measure func(b *testing.B) map[string]float64) {
	b.Helper()
	resultsMu.Lock()
	m, ok := results[b.Name()]
	resultsMu.Unlock()
	if !ok {
		m = measure(b)
		if b.Failed() || b.Skipped() {
			return
		}
		resultsMu.Lock()
		results[b.Name()] = m
		resultsMu.Unlock()
	}
	for unit, v := range m {
		b.ReportMetric(v, unit)
	}
	b.ReportMetric(0, "ns/op")
}

// repoRoot returns the directory of the main module's go.mod.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the module")
	}
	return filepath.Dir(gomod), nil
}

var binary once[string]

// mediagateBinary builds ./cmd/server once per process and returns its path.
func mediagateBinary(b *testing.B) string {
	b.Helper()
	path, err := binary.get(func() (string, error) {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "mediagate-bench-bin-")
		if err != nil {
			return "", err
		}
		atExit(func() { os.RemoveAll(dir) })
		out := filepath.Join(dir, "mediagate")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/server")
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/server: %v\n%s", err, msg)
		}
		return out, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// requirePostgres calls testenv.Missing when PostgreSQL is not reachable.
func requirePostgres(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		testenv.Missing(b, "PostgreSQL is not reachable: "+err.Error())
	}
	conn.Close(ctx)
}

// adminExec runs one statement in the server's maintenance database.
func adminExec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// benchDatabase returns a new database name, mg_bench_<random>, and its URL;
// the database is dropped at exit (db.Open creates it).
func benchDatabase() (name, url string) {
	name = "mg_bench_" + randomHex(6)
	atExit(func() { dropDatabase(name) })
	return name, testdb.WithDatabase(testdb.ServerURL(), name)
}

// dropDatabase drops the named database, ending its sessions.
func dropDatabase(name string) {
	if err := adminExec("DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: dropping database %s: %v\n", name, err)
	}
}

// randomHex returns 2n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// process is a child process whose output goes to a file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string // the output file
	done chan struct{}
	err  error
}

// startProcess starts cmd in its own process group, output to logFile; the
// child is killed if this process dies first.
func startProcess(name string, cmd *exec.Cmd, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL to the group after stopTimeout.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the end of the process's output, for error messages.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitHealthy polls url until it answers 200.
func waitHealthy(p *process, url string) error {
	return waitHealthyVia(p, url, &http.Transport{DisableKeepAlives: true})
}

// waitHealthyVia is waitHealthy through tr (a Unix socket's).
func waitHealthyVia(p *process, url string, tr *http.Transport) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	deadline := time.Now().Add(startTimeout)
	last := "no answer yet"
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before %s answered 200 (%v); last: %s\n%s", p.name, url, p.err, last, p.tail())
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 on %s within %v; last: %s", p.name, url, startTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lookPath is testenv.LookPath that also looks in the sbin directories.
func lookPath(b *testing.B, name string) string {
	b.Helper()
	return testenv.LookPath(b, name)
}

// wrkPath is where wrk is, once a benchmark has looked.
var wrkPath = "wrk"

// wrkResult is what one wrk run measured.
type wrkResult struct {
	RPS         float64       // Requests/sec
	BytesPerSec float64       // Transfer/sec
	P50, P99    time.Duration // from --latency
	Requests    int64
	Non2xx      int64
	Errors      int64 // socket errors of every kind
	CPU         time.Duration
	Raw         string
}

var (
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkTransfer = regexp.MustCompile(`(?m)^Transfer/sec:\s+([0-9.]+)([KMGT]?B)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkTotal    = regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErr  = regexp.MustCompile(`(?m)Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk loads url with wrk for dur on conns connections; headers are
// "Name: value". Only loopback URLs are allowed.
func runWrk(url string, threads, conns int, dur time.Duration, headers ...string) (wrkResult, error) {
	var extra []string
	for _, h := range headers {
		extra = append(extra, "-H", h)
	}
	return execWrk(url, threads, conns, dur, extra...)
}

// execWrk runs wrk on the loopback url with the common flags and extra ones
// (headers, a script) and parses its report.
func execWrk(url string, threads, conns int, dur time.Duration, extra ...string) (wrkResult, error) {
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		return wrkResult{}, fmt.Errorf("refusing to load %s: loopback only", url)
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(dur.Seconds())), "--timeout", "5s", "--latency"}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrkPath, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r := wrkResult{Raw: out.String()}
	if err != nil {
		return r, fmt.Errorf("wrk: %v\n%s", err, r.Raw)
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, parseWrk(&r)
}

func parseWrk(r *wrkResult) error {
	m := wrkRPS.FindStringSubmatch(r.Raw)
	if m == nil {
		return fmt.Errorf("wrk printed no Requests/sec:\n%s", r.Raw)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTransfer.FindStringSubmatch(r.Raw); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		mult := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
		r.BytesPerSec = v * mult
	}
	for _, m := range wrkPct.FindAllStringSubmatch(r.Raw, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[m[3]]
		d := time.Duration(v * unit)
		switch m[1] {
		case "50":
			r.P50 = d
		case "99":
			r.P99 = d
		}
	}
	if m := wrkTotal.FindStringSubmatch(r.Raw); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(r.Raw); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSockErr.FindStringSubmatch(r.Raw); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
	}
	if r.Requests == 0 || r.P50 == 0 {
		return fmt.Errorf("wrk output not understood:\n%s", r.Raw)
	}
	return nil
}

// percentile returns the q-quantile (0 < q <= 1) of sorted durations, by the
// nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// summary is the p50, p99 and max of a sample.
type summary struct {
	N             int
	P50, P99, Max time.Duration
}

func summarize(d []time.Duration) summary {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	return summary{N: len(s), P50: percentile(s, 0.50), P99: percentile(s, 0.99), Max: s[len(s)-1]}
}

func (s summary) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", s.N, round(s.P50), round(s.P99), round(s.Max))
}

// round keeps three significant digits or so, for logs.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// clockTick is the unit of /proc/<pid>/stat's utime and stime (USER_HZ).
const clockTick = 10 * time.Millisecond

// cpuOf returns the CPU time (user+system) the processes matching keep have
// used so far, from /proc. keep sees each process's pid, parent pid and
// command name.
func cpuOf(keep func(pid, ppid int, comm string) bool) time.Duration {
	entries, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := s[open+1 : closing]
		f := strings.Fields(s[closing+1:]) // f[0] is the state (field 3)
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if !keep(pid, ppid, comm) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
		st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
		total += time.Duration(ut+st) * clockTick
	}
	return total
}

// pidOrChildOf matches a process and its direct children (nginx: master and
// workers).
func pidOrChildOf(root int) func(int, int, string) bool {
	return func(pid, ppid int, _ string) bool { return pid == root || ppid == root }
}

// backendsOf matches the PostgreSQL backends serving database name (their
// process title names it).
func backendsOf(name string) func(int, int, string) bool {
	return func(pid, _ int, comm string) bool {
		if !strings.HasPrefix(comm, "postgres") {
			return false
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && strings.Contains(string(b), " "+name+" ")
	}
}

// maxQuietWait bounds how long a benchmark waits for the machine to calm
// down before measuring.
const maxQuietWait = 90 * time.Second

// waitQuiet waits, at most maxQuietWait, until the machine's other processes
// use under a quarter of its CPUs over two seconds, so that a measurement is
// not someone else's build, and notes how busy they were.
func waitQuiet(b *testing.B) {
	b.Helper()
	start := time.Now()
	for {
		busy, mine, t := machineBusy(), cpuOf(self), time.Now()
		time.Sleep(2 * time.Second)
		other := max(0, machineBusy()-busy-(cpuOf(self)-mine))
		frac := other.Seconds() / (time.Since(t).Seconds() * float64(runtime.NumCPU()))
		if frac < 0.25 || time.Since(start) > maxQuietWait {
			note(b, "before measuring, other processes used %.0f%% of the machine (waited %v for under 25%%)",
				100*frac, time.Since(start).Round(time.Second))
			return
		}
	}
}

// self matches this process.
func self(pid, _ int, _ string) bool { return pid == os.Getpid() }

// machineBusy returns the CPU time all processors have spent not idle, from
// /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}

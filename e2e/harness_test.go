package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/apidoc/contract"
	"github.com/mediagate/mediagate/internal/testenv"
	"github.com/mediagate/mediagate/internal/testweed"
)

// The two ways the serving suite reaches the app.
const (
	modeDirect = "direct" // the client talks to the app, which streams files itself
	modeAccel  = "accel"  // the client talks to nginx, which streams files after X-Accel-Redirect
)

// Time limits of the harness.
const (
	startTimeout = 60 * time.Second // until a started process answers /healthz
	stopTimeout  = 15 * time.Second // between SIGTERM and SIGKILL
	cliTimeout   = 60 * time.Second // one mediagate subcommand
	pgTimeout    = 30 * time.Second // one administrative PostgreSQL session
)

// pgServer is the PostgreSQL server the tests use (user postgres, trust auth).
const pgServer = "postgres://postgres@127.0.0.1:5432/"

// adminEmail is MEDIAGATE_ADMIN_EMAIL's default; the suites leave it unset.
const adminEmail = "admin@localhost"

// suiteOptions say how to start one suite.
type suiteOptions struct {
	mode      string   // modeDirect or modeAccel
	maxUpload string   // MEDIAGATE_MAX_UPLOAD
	serveArgs []string // arguments that start the server; nil relies on serve being the default
	env       []string // more of the server's environment, KEY=value
	storage   string   // storageLocal (the default) or storageS3
	// nginxEdit, when set, changes the rendered nginx.conf before nginx
	// reads it (a test that needs a shorter timeout).
	nginxEdit func(conf string) string
}

// The storages a suite can keep its blobs in.
const (
	storageLocal = "local"
	storageS3    = "s3" // a bucket of its own on the test process's SeaweedFS
)

// user is an account the suite created, with its credentials.
type user struct {
	email, role, password string
	id                    string // as printed by "user add" or, for the admin, as /api/me says
	token                 string // API token from "token create"
}

// suite is one running Mediagate (and, in accel mode, its nginx) with its own
// database, data directory and ports.
type suite struct {
	opts          suiteOptions
	mode          string
	root          string // per-suite directory; nginx workers can traverse it
	dataDir       string // MEDIAGATE_DATA_DIR
	dbName        string
	dbURL         string
	appAddr       string // where the app listens
	addr          string // where clients connect: appAddr or nginx's listen address
	base          string // "http://" + addr
	env           []string
	bucket        *testweed.Bucket // the S3 suites' bucket
	adminPassword string
	server        *process
	nginx         *process
	front         *process     // Apache or Caddy, in their modes (frontends_test.go)
	shareToken    string       // a share link's token the suite made, which no log may hold
	client        *http.Client // no cookie jar, never follows redirects
	rec           *recorder    // where answers are kept for comparing modes; may be nil

	admin, owner, stranger, viewer *user
}

// startSuite starts the app (and nginx in accel mode) and waits until clients
// get 200 from /healthz.
func startSuite(t *testing.T, opts suiteOptions) *suite {
	t.Helper()
	s := newSuite(t, opts)
	s.startApp(t)
	switch opts.mode {
	case modeAccel:
		s.startNginx(t)
	case modeApache:
		s.startApache(t)
	case modeCaddy:
		s.startCaddy(t)
	}
	return s
}

// newSuite prepares a suite (database name, directories, ports, environment)
// without starting anything. Its clean-ups drop the database and remove the
// directory after the processes started later have stopped.
func newSuite(t *testing.T, opts suiteOptions) *suite {
	t.Helper()
	needBinary(t)
	switch opts.mode {
	case modeAccel:
		testenv.LookPath(t, "nginx")
	case modeApache, modeCaddy:
		lookFrontEnd(t, opts.mode)
	}
	requirePostgres(t)

	s := &suite{opts: opts, mode: opts.mode}
	root, err := os.MkdirTemp("", "mediagate-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// nginx workers may run as another user: they must reach the data dir.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s.root = root
	s.dataDir = filepath.Join(root, "data")

	s.dbName = "mg_e2e_" + randomHex(6)
	s.dbURL = pgServer + s.dbName + "?sslmode=disable"
	t.Cleanup(func() { dropDatabase(t, s.dbName) })

	s.appAddr = testenv.FreeAddr(t)
	s.addr = s.appAddr
	s.base = "http://" + s.addr
	s.adminPassword = rand.Text()
	s.env = append(cleanEnviron(),
		"DATABASE_URL="+s.dbURL,
		"MEDIAGATE_ADDR="+s.appAddr,
		"MEDIAGATE_DATA_DIR="+s.dataDir,
		"MEDIAGATE_ACCEL=auto",
		"MEDIAGATE_MAX_UPLOAD="+opts.maxUpload,
		"MEDIAGATE_ADMIN_PASSWORD="+s.adminPassword,
	)
	if opts.storage == storageS3 {
		s.useBucket(testweed.New(t))
	}
	s.env = append(s.env, opts.env...)
	s.client = newClient(t, nil)
	return s
}

// useBucket makes the suite keep its blobs in b, under s3Prefix.
func (s *suite) useBucket(b testweed.Bucket) {
	s.bucket = &b
	s.env = append(s.env, "MEDIAGATE_STORAGE=s3", "MEDIAGATE_S3_ENDPOINT="+b.Endpoint, "MEDIAGATE_S3_BUCKET="+b.Name,
		"MEDIAGATE_S3_REGION="+b.Region, "MEDIAGATE_S3_ACCESS_KEY="+b.AccessKey, "MEDIAGATE_S3_SECRET_KEY="+b.SecretKey,
		"MEDIAGATE_S3_PREFIX="+s3Prefix)
}

// newClient returns a client with its own transport that never uses a proxy,
// never asks for compression and never follows redirects. Every exchange
// under /api/ is checked against the API document; a mismatch fails t.
func newClient(t testing.TB, jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: contract.Default(t).Transport(t, &http.Transport{
			DisableCompression:    true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 10 * time.Minute,
		}),
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// cleanEnviron is the test's environment without any Mediagate setting.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MEDIAGATE_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startApp starts the server and waits for its /healthz. Its clean-up stops it
// with SIGTERM and fails t when it does not exit cleanly.
func (s *suite) startApp(t *testing.T) {
	t.Helper()
	cmd := exec.Command(binPath, s.opts.serveArgs...)
	cmd.Env = s.env
	cmd.Dir = s.root
	s.server = startProcess(t, "mediagate", cmd)
	t.Cleanup(func() { s.server.shutdown(t, true) })
	if sock, ok := strings.CutPrefix(s.appAddr, "unix:"); ok {
		waitHealthyVia(t, s.server, "http://mediagate/healthz", unixTransport(sock))
		return
	}
	waitHealthy(t, s.server, "http://"+s.appAddr+"/healthz")
}

// startNginx writes the config that "mediagate nginx-config" prints, starts
// nginx with it and waits until /healthz answers through it. From then on the
// suite's clients talk to nginx.
func (s *suite) startNginx(t *testing.T) {
	t.Helper()
	s.startNginxFor(t, s.appAddr)
}

// startNginxFor is startNginx with nginx in front of the app instances at
// upstreams.
func (s *suite) startNginxFor(t *testing.T, upstreams ...string) {
	t.Helper()
	nginxPath := testenv.LookPath(t, "nginx")
	prefix := filepath.Join(s.root, "nginx")
	if err := os.Mkdir(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	args := []string{"nginx-config", "--listen", listen, "--prefix", prefix}
	for _, u := range upstreams {
		args = append(args, "--upstream", u)
	}
	conf := s.cli(t, "", args...)
	if s.opts.nginxEdit != nil {
		conf = s.opts.nginxEdit(conf)
	}
	confFile := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(prefix, "error.log")
	cmd := exec.Command(nginxPath, "-p", prefix, "-c", confFile, "-e", errorLog, "-g", "daemon off;")
	cmd.Dir = prefix
	s.nginx = startProcess(t, "nginx", cmd)
	t.Cleanup(func() {
		s.nginx.shutdown(t, false)
		if t.Failed() {
			if b, err := os.ReadFile(errorLog); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
			t.Logf("nginx.conf:\n%s", conf)
		}
	})
	waitHealthy(t, s.nginx, "http://"+listen+"/healthz")
	s.addr = listen
	s.base = "http://" + listen
}

// cli runs a mediagate subcommand with the suite's environment and returns its
// standard output; it fails t when the command fails.
func (s *suite) cli(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := s.runCLI(stdin, args...)
	if err != nil {
		t.Fatalf("mediagate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// runCLI runs a mediagate subcommand and returns its stdout, stderr and error.
func (s *suite) runCLI(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = s.env
	cmd.Dir = s.root
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// addUser creates a user with "user add --password-stdin" and gives it an API
// token with "token create".
func (s *suite) addUser(t testing.TB, email, role string) *user {
	t.Helper()
	u := &user{email: email, role: role, password: rand.Text()}
	out := s.cli(t, u.password+"\n", "user", "add", "--email", email, "--role", role, "--password-stdin")
	u.id = onlyLine(t, "user add", out)
	u.token = s.createToken(t, email)
	return u
}

// createToken runs "token create" and returns the token it printed, checking
// that it printed nothing else.
func (s *suite) createToken(t testing.TB, email string) string {
	t.Helper()
	tok := onlyLine(t, "token create", s.cli(t, "", "token", "create", "--email", email))
	if strings.ContainsAny(tok, " \t") {
		t.Fatalf("token create printed %q: want only the token", tok)
	}
	return tok
}

// onlyLine returns out's single non-empty line, failing t when there is
// another line or none.
func onlyLine(t testing.TB, what, out string) string {
	t.Helper()
	line := strings.TrimSpace(out)
	if line == "" || strings.ContainsAny(line, "\r\n") {
		t.Fatalf("%s printed %q: want exactly one line", what, out)
	}
	return line
}

// requirePostgres calls testenv.Missing when the PostgreSQL server is not
// reachable.
func requirePostgres(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgServer+"postgres?sslmode=disable")
	if err != nil {
		testenv.Missing(t, "PostgreSQL is not reachable at 127.0.0.1:5432: "+err.Error())
	}
	conn.Close(ctx)
}

// adminExec runs one statement in the postgres database.
func adminExec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgServer+"postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// createDatabase creates the named database.
func createDatabase(t testing.TB, name string) {
	t.Helper()
	if err := adminExec("CREATE DATABASE " + pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
}

// dropDatabase drops the named database, if it exists, even with sessions left.
func dropDatabase(t testing.TB, name string) {
	t.Helper()
	if err := adminExec("DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"); err != nil {
		t.Errorf("dropping database %s: %v", name, err)
	}
}

// randomHex returns 2n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// process is a child process whose output is kept for the test log.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, once done is closed

	shutDown bool // shutdown ran: later calls do nothing
}

// startProcess starts cmd in its own process group, with stdout and stderr
// going to a buffer. The credential cmd's SysProcAttr names, if any, stays.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Own process group (so a forced stop reaches every child); killed if the
	// test binary dies first.
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// pid is the process's id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits; after stopTimeout it kills the process group.
// It returns how the process ended: nil for a clean exit.
func (p *process) stop() error {
	if p.exited() {
		if p.err != nil {
			return fmt.Errorf("had already exited: %w", p.err)
		}
		return errors.New("had already exited")
	}
	_ = syscall.Kill(p.pid(), syscall.SIGCONT) // in case a test left it stopped
	if err := syscall.Kill(p.pid(), syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("still running %v after SIGTERM; killed", stopTimeout)
	}
}

// kill ends the process group at once with SIGKILL, as a crash would, and
// waits for the process; its clean-up then has nothing left to do.
func (p *process) kill() {
	p.shutDown = true
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// shutdown stops the process, fails t when clean is set and the process did
// not exit cleanly, and logs its output when t failed.
func (p *process) shutdown(t testing.TB, clean bool) {
	t.Helper()
	if p.shutDown {
		return // a test stopped it already, and was told how
	}
	p.shutDown = true
	err := p.stop()
	if clean && err != nil {
		t.Errorf("%s did not exit cleanly on SIGTERM: %v", p.name, err)
	}
	if t.Failed() {
		t.Logf("%s output:\n%s", p.name, p.out.String())
	}
}

// waitHealthy polls url until it answers 200, failing t when p exits first or
// startTimeout passes.
func waitHealthy(t testing.TB, p *process, url string) {
	t.Helper()
	waitHealthyVia(t, p, url, &http.Transport{DisableKeepAlives: true})
}

// waitHealthyVia is waitHealthy with the given transport.
func waitHealthyVia(t testing.TB, p *process, url string, tr *http.Transport) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	deadline := time.Now().Add(startTimeout)
	last := "no answer yet"
	for {
		if p.exited() {
			t.Fatalf("%s exited before %s answered 200 (%v); last: %s\noutput:\n%s", p.name, url, p.err, last, p.out.String())
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 on %s within %v; last: %s", p.name, url, startTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listFiles returns the paths, relative to dir, of the regular files under
// dir; a missing dir has none.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	return out
}

// eventually polls cond every 50ms until it holds or timeout passes, and
// reports whether it held.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// label names the suite's storage and mode, as the recorder keeps them.
func (s *suite) label() string {
	if s.opts.storage == "" {
		return storageLocal + "-" + s.mode
	}
	return s.opts.storage + "-" + s.mode
}

// testweedSecret is the S3 secret key of the suite's bucket, "" without one.
func testweedSecret(s *suite) string {
	if s.bucket == nil {
		return ""
	}
	return s.bucket.SecretKey
}

// s3Prefix is the key prefix of S3 suites.
const s3Prefix = "e2e/"

// blobs returns the stored blobs' keys: files under the private dir
// (ab/cd/<sha>) or objects under the bucket's blob prefix (<sha>).
func (s *suite) blobs(t testing.TB) []string {
	t.Helper()
	if s.bucket == nil {
		return listFiles(t, s.privateDir())
	}
	var keys []string
	prefix := s3Prefix + "blobs/"
	p := s3.NewListObjectsV2Paginator(s.bucket.Client(), &s3.ListObjectsV2Input{Bucket: &s.bucket.Name, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(*o.Key, prefix))
		}
	}
	return keys
}

// objects lists the bucket's keys under prefix.
func (s *suite) objects(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.bucket.Client(), &s3.ListObjectsV2Input{Bucket: &s.bucket.Name, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

// blob returns the content of a blob blobs named.
func (s *suite) blob(t testing.TB, key string) []byte {
	t.Helper()
	if s.bucket == nil {
		b, err := os.ReadFile(filepath.Join(s.privateDir(), filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	k := s3Prefix + "blobs/" + key
	out, err := s.bucket.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &s.bucket.Name, Key: &k})
	if err != nil {
		t.Fatalf("reading blob %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobsHolding counts the stored blobs whose content is data.
func (s *suite) blobsHolding(t testing.TB, data []byte) int {
	t.Helper()
	n := 0
	for _, k := range s.blobs(t) {
		if bytes.Equal(s.blob(t, k), data) {
			n++
		}
	}
	return n
}

// privateDir is where the app keeps private blobs.
func (s *suite) privateDir() string { return filepath.Join(s.dataDir, "private") }

// tmpDir is where the app keeps uploads in progress.
func (s *suite) tmpDir() string { return filepath.Join(s.dataDir, "tmp") }

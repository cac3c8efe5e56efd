// Package testweed gives each test an empty S3 bucket of its own on a real
// SeaweedFS. One `weed mini` serves every test of a test process: it starts on
// first use, on free loopback ports with a throwaway data directory, and dies
// with the test binary (Pdeathsig), so no TestMain is needed.
//
// The weed binary is MEDIAGATE_WEED, else the one scripts/seaweedfs.sh builds
// into GOBIN (make test runs the script first); without it the tests skip, or
// fail under MEDIAGATE_REQUIRE_SERVICES=1.
package testweed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/testenv"
)

// The credentials of the one identity the shared server knows, an admin.
const (
	AccessKey = "mediagate-test"
	SecretKey = "mediagate-test-secret-key-0123456789"
	Region    = "us-east-1"
)

// WeedVar names the weed binary to run, overriding the lookup in GOBIN.
const WeedVar = "MEDIAGATE_WEED"

// Bucket is an empty bucket that belongs to one test.
type Bucket struct {
	Endpoint  string // base URL of the S3 API, http://127.0.0.1:port
	Region    string
	AccessKey string
	SecretKey string
	Name      string
}

// Client returns an S3 client for b's server that signs with b's credentials
// and addresses buckets path-style.
func (b Bucket) Client() *s3.Client {
	return newClient(b.Endpoint, b.AccessKey, b.SecretKey)
}

func newClient(endpoint, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

var (
	sharedOnce   sync.Once
	shared       *Server
	sharedErr    error
	sharedBinErr error
)

// New returns a new, uniquely named bucket on the test process's SeaweedFS,
// starting the server on first use. The bucket and its objects are removed
// when the test ends, best effort.
func New(t testing.TB) Bucket {
	t.Helper()
	sharedOnce.Do(func() {
		var bin string
		if bin, sharedBinErr = Binary(); sharedBinErr == nil {
			shared, sharedErr = Start(bin, Config{})
		}
	})
	if sharedBinErr != nil {
		testenv.Missing(t, sharedBinErr.Error())
	}
	if sharedErr != nil {
		t.Fatalf("start SeaweedFS: %v", sharedErr)
	}
	return shared.NewBucket(t)
}

// NewBucket creates a uniquely named bucket on s, removed with its objects
// when the test ends.
func (s *Server) NewBucket(t testing.TB) Bucket {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatalf("SeaweedFS is gone: %v\n%s", err, s.LogTail())
	}
	b := Bucket{
		Endpoint:  s.Endpoint,
		Region:    Region,
		AccessKey: AccessKey,
		SecretKey: SecretKey,
		Name:      "mgtest-" + randomHex(8),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := b.Client()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.Name}); err != nil {
		t.Fatalf("create bucket %s: %v", b.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// -s3.allowDeleteBucketNotEmpty makes this remove the objects too.
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b.Name}); err != nil && s.Err() == nil {
			t.Logf("remove bucket %s: %v", b.Name, err)
		}
	})
	return b
}

// Config changes what Start runs. The zero value is what New uses.
type Config struct {
	// Anonymous, when set, is the list of actions granted to unsigned
	// requests, in SeaweedFS's identity syntax ("Read:bucket/prefix/*").
	Anonymous []string
	// Restartable chooses ports that no outbound connection can take
	// while the server is down, for a test that kills and restarts it.
	Restartable bool
}

// Server is a running `weed mini`.
type Server struct {
	Endpoint string // base URL of the S3 API
	Dir      string // its data directory, removed by the next Start once this process is gone
	Pid      int

	bin     string
	args    []string      // what weed runs with, again on Restart
	sockets []string      // the unix sockets it leaves when killed
	done    chan struct{} // closed when weed has exited
	waitErr error         // how it exited, once done is closed
}

// Err reports why the server is no longer running, or nil while it runs.
func (s *Server) Err() error {
	select {
	case <-s.done:
		if s.waitErr != nil {
			return s.waitErr
		}
		return errors.New("weed exited")
	default:
		return nil
	}
}

// Stop kills the server and removes its data directory. Only tests that start
// a Server of their own need it; the shared one lives as long as the process.
func (s *Server) Stop() {
	_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
	<-s.done
	removeLeftovers(s.Dir)
}

// LogTail returns the end of the server's output, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "weed.out"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Binary returns the path of the weed binary: MEDIAGATE_WEED, else the file
// scripts/seaweedfs.sh would print (GOBIN/weed-<commit>), else the newest
// weed-* in GOBIN, else weed on PATH. It never builds one.
func Binary() (string, error) {
	if p := os.Getenv(WeedVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", WeedVar, err)
		}
		return p, nil
	}
	gobin := goBin()
	if name := scriptBinaryName(); name != "" {
		if p := filepath.Join(gobin, name); isExecutable(p) {
			return p, nil
		}
	}
	matches, _ := filepath.Glob(filepath.Join(gobin, "weed-*"))
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
	for _, p := range matches {
		if !strings.HasSuffix(p, ".tmp") && isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("SeaweedFS weed not found (run scripts/seaweedfs.sh, or set %s)", WeedVar)
}

// goBin is where go install (and scripts/seaweedfs.sh) put binaries.
func goBin() string {
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if gobin := strings.TrimSpace(lines[0]); gobin != "" {
				return gobin
			}
			return filepath.Join(filepath.SplitList(strings.TrimSpace(lines[1]))[0], "bin")
		}
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		return gobin
	}
	return filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "bin")
}

var scriptVersion = regexp.MustCompile(`SEAWEEDFS_VERSION:-([^}"]+)`)

// scriptBinaryName returns the file name scripts/seaweedfs.sh gives the binary
// (weed-<last part of the version>), reading the default version from the
// script so that the two never disagree; "" when the script is not found.
func scriptBinaryName() string {
	version := os.Getenv("SEAWEEDFS_VERSION")
	if version == "" {
		dir, err := os.Getwd()
		if err != nil {
			return ""
		}
		for version == "" {
			if b, err := os.ReadFile(filepath.Join(dir, "scripts", "seaweedfs.sh")); err == nil {
				if m := scriptVersion.FindSubmatch(b); m != nil {
					version = string(m[1])
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return ""
			}
			dir = parent
		}
		if version == "" {
			return ""
		}
	}
	return "weed-" + version[strings.LastIndex(version, "-")+1:]
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func modTime(p string) time.Time {
	fi, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// dirPrefix names the data directories in os.TempDir(), so that Start can
// find those of dead test processes.
const dirPrefix = "mediagate-weed-"

// startTimeout bounds how long weed may take to answer signed requests; it
// takes about 4 s (its filer waits 3 s for peers on a fresh store).
const startTimeout = 90 * time.Second

// Start runs bin as a `weed mini` with cfg and waits until its S3 API
// answers signed requests. The server is killed when the calling process
// exits, whatever the way.
func Start(bin string, cfg Config) (*Server, error) {
	sweepLeftovers()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var s *Server
		s, err = startOnce(bin, cfg)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errExitedEarly) {
			break
		}
		// Most likely another process took one of the ports between our
		// probe and weed's bind: try again with new ones.
	}
	return nil, err
}

var errExitedEarly = errors.New("weed exited while starting")

// ports are the listeners of one weed mini. Every one is given explicitly:
// mini moves a default port that is taken instead of failing, and the gRPC
// ports would otherwise be the HTTP ports + 10000.
type ports struct {
	master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc, admin, adminGrpc int
}

func startOnce(bin string, cfg Config) (s *Server, err error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			removeLeftovers(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	p, err := freePorts(cfg.Restartable)
	if err != nil {
		return nil, err
	}
	// mini serves gRPC on unix sockets at these fixed paths too; a killed
	// weed leaves them behind, so note them for removeLeftovers.
	var sockets []string
	for kind, port := range map[string]int{"master": p.masterGrpc, "volume": p.volumeGrpc, "filer": p.filerGrpc, "s3": p.s3Grpc, "admin": p.adminGrpc} {
		sockets = append(sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", kind, port))
	}
	if err := os.WriteFile(filepath.Join(dir, "sockets"), []byte(strings.Join(sockets, "\n")), 0o600); err != nil {
		return nil, err
	}
	config, err := identities(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), config, 0o600); err != nil {
		return nil, err
	}
	for _, d := range []string{"data", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	args := []string{"-logdir=" + filepath.Join(dir, "log"), "mini",
		"-dir=" + filepath.Join(dir, "data"),
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + strconv.Itoa(p.master), "-master.port.grpc=" + strconv.Itoa(p.masterGrpc),
		"-volume.port=" + strconv.Itoa(p.volume), "-volume.port.grpc=" + strconv.Itoa(p.volumeGrpc),
		"-filer.port=" + strconv.Itoa(p.filer), "-filer.port.grpc=" + strconv.Itoa(p.filerGrpc),
		"-s3.port=" + strconv.Itoa(p.s3), "-s3.port.grpc=" + strconv.Itoa(p.s3Grpc),
		// mini always runs its admin server and maintenance worker; the UI
		// and the legacy admin port are optional.
		"-admin.port=" + strconv.Itoa(p.admin), "-admin.port.grpc=" + strconv.Itoa(p.adminGrpc),
		"-admin.port.legacy=0", "-admin.ui=false",
		"-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-master.telemetry=false",
		// Small volumes: mini grows one per bucket (each bucket is a collection).
		"-master.volumeSizeLimitMB=16",
		"-s3.config=" + filepath.Join(dir, "s3.json"),
		// As on AWS: no bucket appears by itself on a PUT.
		"-s3.autoCreateBucket=false",
		// So that a test's bucket goes in one call, objects and all.
		"-s3.allowDeleteBucketNotEmpty",
	}
	s = &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", p.s3), Dir: dir, bin: bin, args: args, sockets: sockets}
	if err := s.run(); err != nil {
		return nil, err
	}
	return s, nil
}

// run starts weed with the server's arguments and waits until it answers.
func (s *Server) run() error {
	out, err := os.OpenFile(filepath.Join(s.Dir, "weed.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir // weed reads security.toml and friends from the working directory first
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a terminal's Ctrl-C reaches only the test
	// binary; SIGKILL when the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	s.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child ends, not the
		// process: keep this goroutine on its thread for weed's whole life.
		// It never unlocks, so the thread ends with it, after weed.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	s.Pid = cmd.Process.Pid
	if err := s.waitReady(); err != nil {
		tail := s.LogTail()
		if s.Err() == nil {
			_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
			<-s.done
		}
		return fmt.Errorf("%w\n%s", err, tail)
	}
	return nil
}

// Kill stops the server at once, as a crash would (SIGKILL), keeping its
// data directory and its ports for Restart. Only tests that start a Server
// of their own (with Config.Restartable) may call it.
func (s *Server) Kill() {
	_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
	<-s.done
	for _, sock := range append([]string{filepath.Join(s.Dir, "filer.sock"), filepath.Join(s.Dir, "s3.sock")}, s.sockets...) {
		_ = os.Remove(sock)
	}
}

// Restart starts a killed server again on the same ports and data
// directory, and waits until it answers: its buckets and objects are
// there again.
func (s *Server) Restart() error {
	if s.Err() == nil {
		return errors.New("restart: the server is still running")
	}
	return s.run()
}

// waitReady waits until a signed ListBuckets succeeds.
func (s *Server) waitReady() error {
	client := newClient(s.Endpoint, AccessKey, SecretKey)
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if s.Err() != nil {
			return fmt.Errorf("%w: %v", errExitedEarly, s.Err())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-s.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("S3 API of weed not ready after %v: %v", startTimeout, lastErr)
}

// freePorts chooses distinct free loopback ports, holding each until all
// are chosen: ones the kernel picks, or with low, ones below the range it
// takes outbound connections' ports from, so that none is taken by a
// connection while the server is down between Kill and Restart.
func freePorts(low bool) (ports, error) {
	var p ports
	fields := []*int{&p.master, &p.masterGrpc, &p.volume, &p.volumeGrpc, &p.filer, &p.filerGrpc, &p.s3, &p.s3Grpc, &p.admin, &p.adminGrpc}
	floor := ephemeralFloor()
	for _, f := range fields {
		var l net.Listener
		var err error
		for attempt := 0; ; attempt++ {
			addr := "127.0.0.1:0"
			if low {
				addr = fmt.Sprintf("127.0.0.1:%d", 10000+mathrand.IntN(floor-10000))
			}
			if l, err = net.Listen("tcp", addr); err == nil || !low || attempt > 100 {
				break
			}
		}
		if err != nil {
			return p, err
		}
		defer l.Close()
		*f = l.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}

// ephemeralFloor is the lowest port the kernel gives outbound connections.
func ephemeralFloor() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

// identities renders SeaweedFS's -s3.config: the admin identity with the test
// credentials, and the anonymous one when cfg asks for it.
func identities(cfg Config) ([]byte, error) {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials,omitempty"`
		Actions     []string     `json:"actions"`
	}
	ids := []identity{{
		Name:        "mediagate-test",
		Credentials: []credential{{AccessKey: AccessKey, SecretKey: SecretKey}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}
	if len(cfg.Anonymous) > 0 {
		ids = append(ids, identity{Name: "anonymous", Actions: cfg.Anonymous})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	err := enc.Encode(map[string]any{"identities": ids})
	return buf.Bytes(), err
}

// cleanEnv is the environment without the variables weed reads as settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WEED_") || strings.HasPrefix(name, "S3_") || strings.HasPrefix(name, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// sweepLeftovers removes the data directories and sockets of servers whose
// test process is gone: a killed weed cannot clean up after itself.
func sweepLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			// Not written yet, or never: only remove it when it is old.
			if time.Since(modTime(dir)) > time.Hour {
				removeLeftovers(dir)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			removeLeftovers(dir)
		}
	}
}

func removeLeftovers(dir string) {
	if b, err := os.ReadFile(filepath.Join(dir, "sockets")); err == nil {
		for _, sock := range strings.Fields(string(b)) {
			_ = os.Remove(sock)
		}
	}
	_ = os.RemoveAll(dir)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

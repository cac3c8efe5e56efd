package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/testenv"
)

// privatePG is a PostgreSQL server of one test's own, made with the
// Debian binaries in a temporary directory (trust auth, loopback, its unix
// socket in that directory), so that the test may stop and start it
// without touching the shared server on 5432.
type privatePG struct {
	bin  string // the binaries' directory
	dir  string // data/ and the socket
	port int
	cred *syscall.Credential // the postgres user, when the test runs as root
	proc *process
}

// pgBinDir returns the newest /usr/lib/postgresql/<version>/bin holding
// initdb and postgres, or calls testenv.Missing.
func pgBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var usable []string
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		testenv.Missing(t, "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
	}
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	sort.Slice(usable, func(i, j int) bool { return version(usable[i]) > version(usable[j]) })
	return usable[0]
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// startPrivatePG makes a new cluster and starts it. Its clean-up stops it
// and removes it.
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	pg := &privatePG{bin: pgBinDir(t)}
	dir, err := os.MkdirTemp("", "mediagate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	// PostgreSQL refuses to run as root.
	if os.Geteuid() == 0 {
		u, err := osuser.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "running as root, and there is no postgres user to run PostgreSQL as: "+err.Error())
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(pg.bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	pg.port, _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	pg.start(t)
	t.Cleanup(func() { pg.stop(t) })
	return pg
}

// url is the connection string of database name on the server.
func (pg *privatePG) url(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// start runs the server (again) and waits until it takes connections.
func (pg *privatePG) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", filepath.Join(pg.dir, "data"),
		"-p", strconv.Itoa(pg.port), "-k", pg.dir, "-c", "listen_addresses=127.0.0.1",
		// A test's throwaway cluster: durability is not the point.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Dir = pg.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	pg.proc = startProcess(t, "postgres", cmd)
	deadline := time.Now().Add(startTimeout)
	for {
		if pg.proc.exited() {
			t.Fatalf("postgres exited while starting: %v\n%s", pg.proc.err, pg.proc.out.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, pg.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres does not take connections after %v: %v\n%s", startTimeout, err, pg.proc.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the server down the fast way (SIGINT: sessions are ended,
// transactions rolled back) and waits until it has exited.
func (pg *privatePG) stop(t testing.TB) {
	t.Helper()
	if pg.proc == nil || pg.proc.exited() {
		return
	}
	pg.proc.shutDown = true
	_ = syscall.Kill(pg.proc.pid(), syscall.SIGINT)
	select {
	case <-pg.proc.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pg.proc.pid(), syscall.SIGKILL)
		<-pg.proc.done
		t.Errorf("postgres did not stop within %v of SIGINT; killed", stopTimeout)
	}
}

// exec runs one statement in database name.
func (pg *privatePG) exec(t testing.TB, name, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url(name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

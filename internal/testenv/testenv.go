// Package testenv is the tests' side of the machine: what a test does when a
// service it needs (PostgreSQL, nginx, ffmpeg, chromium) is missing (skip
// locally, fail in CI), a free loopback address, and a buffer for a
// process's output.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// RequireVar is the environment variable that turns every skip for a missing
// service into a failure. .ci/run sets it.
const RequireVar = "MEDIAGATE_REQUIRE_SERVICES"

// Required reports whether missing services must fail tests.
func Required() bool {
	v := os.Getenv(RequireVar)
	return v != "" && v != "0" && v != "false"
}

// Missing skips t because of why, or fails it when services are required.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("required service missing (%s=1): %s", RequireVar, why)
	}
	t.Skip("skipping: " + why)
}

// LookPath returns the path of the named program, or calls Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Debian puts nginx in /usr/sbin, which may not be on a user's PATH.
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		Missing(t, name+" not found on PATH")
	}
	return p
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SyncBuffer is a bytes.Buffer that a process's output and the test may use
// at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

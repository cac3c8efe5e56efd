// Package testenv decides what a test does when a service it needs (PostgreSQL,
// nginx, ffmpeg, chromium) is missing: skip locally, fail in CI.
package testenv

import (
	"os"
	"os/exec"
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

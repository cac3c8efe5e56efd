package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTimeout bounds the one "go build" of the binary under test.
const buildTimeout = 5 * time.Minute

var (
	// repoRoot is the directory holding the module's go.mod.
	repoRoot string
	// binPath is the mediagate binary that TestMain built.
	binPath string
	// buildErr says why the binary could not be built; every test that needs
	// the binary fails with it.
	buildErr error
)

// TestMain builds the mediagate binary once for the whole test process, runs
// the tests and removes the binary.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests is TestMain's body, so that deferred clean-ups run before os.Exit.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mediagate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	repoRoot, buildErr = findRepoRoot()
	if buildErr == nil {
		binPath = filepath.Join(dir, "mediagate")
		buildErr = buildBinary(repoRoot, binPath)
	}
	return m.Run()
}

// findRepoRoot returns the directory of the main module's go.mod, asking
// "go env GOMOD" first and walking up from the working directory after that.
func findRepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// buildBinary runs "go build -o out ./cmd/server" in root.
func buildBinary(root, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/server")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s ./cmd/server: %v\n%s", out, err, msg)
	}
	return nil
}

// needBinary fails t when TestMain could not build the binary.
func needBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("cannot test the binary: %v", buildErr)
	}
}

// sampleMP4 returns the bytes of testdata/sample.mp4.
func sampleMP4(t testing.TB) []byte {
	t.Helper()
	if repoRoot == "" {
		t.Fatal("repository root unknown")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "sample.mp4"))
	if err != nil {
		t.Fatalf("reading the sample video: %v", err)
	}
	return b
}

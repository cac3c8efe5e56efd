package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sizes of the memory test.
const (
	bigUpload     = 2 << 30  // bytes uploaded
	maxRSSGrowth  = 32 << 20 // allowed growth of the server's peak RSS
	bigUploadTime = 5 * time.Minute
)

// TestUploadMemory uploads 2 GiB straight to the app, generated on the fly,
// and checks that the server's peak RSS (VmHWM) grows by less than 32 MiB:
// uploads must stream to disk. It also starts the server with no arguments,
// relying on serve being the default command.
func TestUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 2 GiB upload in -short mode")
	}
	s := startSuite(t, suiteOptions{mode: modeDirect, maxUpload: "3GiB"})
	owner := s.addUser(t, "big@e2e.test", "editor")

	// Warm up the upload and download paths before the first reading.
	data := sampleMP4(t)
	warm := s.mustMultipart(t, owner.token, "warmup.mp4", data)
	mustStatus(t, "warm-up GET", s.get(t, warm.URL, owner.token), http.StatusOK)
	s.deleteItem(t, owner.token, warm.ID)

	pid := s.server.pid()
	before := peakRSS(t, pid)
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'m', 'e', 'd', 'i', 'a', 'g', 'a', 't', 'e'}), bigUpload), h)
	start := time.Now()
	a, err := s.uploadMultipart(owner.token, "big.bin", src, bigUpload, bigUploadTime)
	if err != nil {
		t.Fatalf("uploading %d bytes: %v", bigUpload, err)
	}
	elapsed := time.Since(start)
	after := peakRSS(t, pid)
	mustStatus(t, "2 GiB upload", a, http.StatusCreated)
	it := decodeJSON[mediaItem](t, "2 GiB upload", a)
	defer func() {
		s.deleteItem(t, owner.token, it.ID)
		if !eventually(30*time.Second, func() bool { return len(listFiles(t, s.privateDir())) == 0 }) {
			t.Errorf("the 2 GiB blob is still on disk after its item was deleted: %v", listFiles(t, s.privateDir()))
		}
	}()
	if it.Size != bigUpload {
		t.Errorf("2 GiB upload: size %d, want %d", it.Size, bigUpload)
	}
	if want := hex.EncodeToString(h.Sum(nil)); it.SHA256 != want {
		t.Errorf("2 GiB upload: sha256 %s, the client sent %s", it.SHA256, want)
	}

	growth := after - before
	t.Logf("uploaded %d MiB in %v (%.0f MiB/s); server VmHWM %d KiB before, %d KiB after: grew %.1f MiB (limit %d MiB)",
		bigUpload>>20, elapsed.Round(time.Millisecond), float64(bigUpload>>20)/elapsed.Seconds(),
		before>>10, after>>10, float64(growth)/(1<<20), maxRSSGrowth>>20)
	if growth >= maxRSSGrowth {
		t.Errorf("the server's peak RSS grew by %.1f MiB during a 2 GiB upload; want less than %d MiB", float64(growth)/(1<<20), maxRSSGrowth>>20)
	}
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's memory figures: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			t.Fatalf("VmHWM line %q: %v", sc.Text(), err)
		}
		return kb << 10
	}
	t.Fatalf("no VmHWM in /proc/%d/status (%v)", pid, sc.Err())
	return 0
}

// TestSignInMemory sends 64 sign-ins at once, each within every limit, and
// checks that the server's peak RSS grows by no more than the bound on
// concurrent password checks allows (argon2id holds 19 MiB per check):
// without it 64 checks at once took 670 MiB and more. Every sign-in either
// succeeds or is told to come back (503 with Retry-After).
//
// The garbage collector lets the heap reach (1 + GOGC/100) times the live
// heap before it collects, and each finished check leaves its 19 MiB as
// garbage, so the bound is that factor times the checks' memory. The server
// runs at GOGC=200, serve's default, set here so that the bound and the
// server agree (at 200 the growth was 45–95 MiB in runs, at 100 40–59 MiB).
func TestSignInMemory(t *testing.T) {
	const (
		hashes   = 2
		argonMiB = 19
		logins   = 64
		gogc     = 200
	)
	s := startSuite(t, suiteOptions{mode: modeDirect, env: []string{
		fmt.Sprintf("MEDIAGATE_PASSWORD_HASHES=%d", hashes), fmt.Sprintf("GOGC=%d", gogc)}})
	admin := s.createToken(t, adminEmail)
	// Each sign-in is another account from another address (the loopback
	// peer is a trusted proxy), so no throttle limit is near.
	const password = "a long enough password"
	for i := range logins {
		a := s.sendJSON(t, http.MethodPost, "/api/users", admin,
			map[string]string{"email": fmt.Sprintf("u%d@e2e.test", i), "role": "viewer", "password": password})
		mustStatus(t, "adding a user", a, http.StatusCreated)
	}
	signIn := func(i int) (*http.Response, error) {
		form := url.Values{"email": {fmt.Sprintf("u%d@e2e.test", i)}, "password": {password}}
		req, err := http.NewRequest(http.MethodPost, s.base+"/login", strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
		resp, err := newClient(t, nil).Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	// Warm up: one sign-in before the first reading.
	if resp, err := signIn(0); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("warm-up sign-in: %v %v", resp, err)
	}
	pid := s.server.pid()
	before := peakRSS(t, pid)
	var wg sync.WaitGroup
	statuses := make(chan string, logins)
	for i := range logins {
		wg.Go(func() {
			resp, err := signIn(i)
			switch {
			case err != nil:
				statuses <- err.Error()
			case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
				statuses <- "503 without Retry-After"
			default:
				statuses <- resp.Status
			}
		})
	}
	wg.Wait()
	close(statuses)
	after := peakRSS(t, pid)
	got := map[string]int{}
	for st := range statuses {
		got[st]++
	}
	for st, n := range got {
		if st != "303 See Other" && st != "503 Service Unavailable" {
			t.Errorf("%d of %d concurrent sign-ins answered %q, want 303 or 503 with Retry-After", n, logins, st)
		}
	}
	if got["303 See Other"] == 0 {
		t.Errorf("no sign-in of %d succeeded: %v", logins, got)
	}
	growth := after - before
	limit := (100+gogc)*int64(hashes)*argonMiB<<20/100 + 16<<20
	t.Logf("%d concurrent sign-ins with %d password checks at once: %v; server VmHWM %d KiB before, %d KiB after: grew %.1f MiB (limit %d MiB)",
		logins, hashes, got, before>>10, after>>10, float64(growth)/(1<<20), limit>>20)
	if growth >= limit {
		t.Errorf("the server's peak RSS grew by %.1f MiB during %d concurrent sign-ins; want less than %d MiB", float64(growth)/(1<<20), logins, limit>>20)
	}
}

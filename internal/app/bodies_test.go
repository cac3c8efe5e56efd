package app

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/testenv"
)

// testIdle is the body idle timeout of the stalled-body tests.
const testIdle = time.Second

// stallAnswer is what a client that stopped sending saw.
type stallAnswer struct {
	status int
	body   string
	waited time.Duration // from the last byte sent to the answer
	closed bool          // the server closed the connection after answering
}

// stall sends head (a request line and headers, without the blank line) and
// the first bytes of its body, then nothing, and waits for the answer.
func (h *harness) stall(t *testing.T, head string, first []byte) stallAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\nHost: mediagate.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	conn.SetReadDeadline(sent.Add(testIdle + 5*time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer %v after the body stalled: %v", time.Since(sent).Round(time.Millisecond), err)
	}
	var out stallAnswer
	out.waited = time.Since(sent)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	out.status, out.body = resp.StatusCode, string(b)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = br.ReadByte()
	out.closed = errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	return out
}

// check fails t unless the server answered the stall with a prompt 408 that
// says why, and closed the connection.
func (s stallAnswer) check(t *testing.T) {
	t.Helper()
	if s.status != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408: %s", s.status, s.body)
	}
	if want := "no data received for 1s; the request was cancelled"; !strings.Contains(s.body, want) {
		t.Errorf("answer %q does not say %q", s.body, want)
	}
	if s.waited < testIdle-100*time.Millisecond || s.waited > testIdle+3*time.Second {
		t.Errorf("answered %v after the last byte, want about %v", s.waited, testIdle)
	}
	if !s.closed {
		t.Error("the connection stayed open after the answer")
	}
}

// tmpFiles lists the files under the data dir's tmp/ other than the
// instance's lock file.
func (h *harness) tmpFiles() []string {
	h.t.Helper()
	var out []string
	err := filepath.WalkDir(h.cfg.TmpDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(path, ".lock") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// checkNothingKept fails t if an upload left a temp file, a blob or a row.
func (h *harness) checkNothingKept(t *testing.T) {
	t.Helper()
	if eventually(2*time.Second, func() bool { return len(h.tmpFiles()) == 0 }); len(h.tmpFiles()) != 0 {
		t.Errorf("temp files left: %v", h.tmpFiles())
	}
	for _, table := range []string{"media", "blobs"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%d rows in %s", n, table)
		}
	}
	blobs, _ := filepath.Glob(filepath.Join(h.cfg.PrivateDir(), "*", "*", "*"))
	if len(blobs) != 0 {
		t.Errorf("blobs left: %v", blobs)
	}
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func shortIdle(c *config.Config) { c.BodyIdleTimeout = testIdle }

func TestStalledBodyEndsRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, shortIdle)
	_, token := h.user(acl.RoleEditor)
	auth := "\r\nAuthorization: Bearer " + token
	const boundary = "b0undary"
	part := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" + strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name  string
		head  string
		first string
	}{
		// Less than the 256 KiB net/http reads after the handler to keep the
		// connection: that read must not wait forever either.
		{"raw API, small body", "POST /api/media?filename=stalled.bin HTTP/1.1" + auth +
			"\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000", strings.Repeat("x", 1000)},
		{"raw API, large body", "POST /api/media?filename=stalled.bin HTTP/1.1" + auth +
			"\r\nContent-Type: application/octet-stream\r\nContent-Length: 900000", strings.Repeat("x", 1000)},
		{"multipart API", "POST /api/media HTTP/1.1" + auth +
			"\r\nContent-Type: multipart/form-data; boundary=" + boundary + "\r\nContent-Length: 100000", part},
		{"multipart before the file", "POST /api/media HTTP/1.1" + auth +
			"\r\nContent-Type: multipart/form-data; boundary=" + boundary + "\r\nContent-Length: 100000", "--" + boundary + "\r\nContent-Disp"},
		{"upload form", "POST /upload HTTP/1.1" + auth +
			"\r\nContent-Type: multipart/form-data; boundary=" + boundary + "\r\nContent-Length: 100000", part},
		{"chunked raw API", "POST /api/media?filename=stalled.bin HTTP/1.1" + auth +
			"\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked", "3e8\r\n" + strings.Repeat("x", 1000) + "\r\n"},
		{"JSON", "POST /api/folders HTTP/1.1" + auth +
			"\r\nContent-Type: application/json\r\nContent-Length: 100", `{"name":`},
		{"login form", "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100", "email=a"},
		// A refusal before the body is read answers at once, but still only
		// waits so long for the rest of the body.
		{"refused before reading", "POST /api/media?filename=stalled.bin HTTP/1.1\r\nAuthorization: Bearer mg_wrong" +
			"\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000", strings.Repeat("x", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h.stall(t, tc.head, []byte(tc.first))
			if tc.name == "refused before reading" {
				if got.status != http.StatusUnauthorized || got.waited > testIdle+3*time.Second || !got.closed {
					t.Errorf("got %+v, want 401 within about %v and the connection closed", got, testIdle)
				}
				return
			}
			got.check(t)
			if strings.HasPrefix(tc.head, "POST /api/") && !strings.HasPrefix(got.body, `{"error":`) {
				t.Errorf("API answer is not JSON: %q", got.body)
			}
			h.checkNothingKept(t)
		})
	}
	// The server still serves.
	wantStatus(t, h.do("GET", "/api/me", token, nil), http.StatusOK)
}

func TestTusStalledPatchResumes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, shortIdle)
	_, token := h.user(acl.RoleEditor)
	video := sampleMP4(t)
	half := len(video) / 2
	loc := h.tusStart(token, len(video), tusMeta("filename", "stalled.mp4"))

	got := h.stall(t, fmt.Sprintf("PATCH %s HTTP/1.1\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d", loc, token, len(video)), video[:half])
	got.check(t)
	if !strings.HasPrefix(got.body, `{"error":`) {
		t.Errorf("answer is not the API's JSON: %q", got.body)
	}
	h.checkNothingKept(t)

	// What arrived is kept, and the upload resumes from there.
	head := h.tusHead(token, loc)
	wantStatus(t, head, http.StatusOK)
	wantHeader(t, head, "Upload-Offset", strconv.Itoa(half))
	last := h.tusPatch(token, loc, half, video[half:])
	wantStatus(t, last, http.StatusNoContent)
	it := decode[itemJSON](t, h.do("GET", last.Header.Get(headerItemURL), token, nil))
	if it.SHA256 != sha256Of(video) || it.Size != int64(len(video)) {
		t.Errorf("resumed upload became %+v", it)
	}
}

// fullDisk mounts a tmpfs of size (such as "2m") and returns its path. It
// needs root (CAP_SYS_ADMIN); without it the test is skipped, or fails when
// services are required.
func fullDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs to fill (needs root): "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes name until the disk is full.
func fill(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// outOfSpace is the sentence a full disk answers with.
const outOfSpace = "the server is out of storage space; try again later or contact an administrator"

func TestOutOfStorage(t *testing.T) {
	t.Parallel()
	dir := fullDisk(t, "2m")
	h := newHarness(t, func(c *config.Config) { c.DataDir = dir; c.MaxUpload = 8 << 20 })
	_, token := h.user(acl.RoleEditor)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB on a 2 MiB disk

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "big.bin")
	fw.Write(big)
	mw.Close()

	for _, tc := range []struct {
		name string
		send func() *http.Response
	}{
		{"raw API", func() *http.Response {
			return h.do("POST", "/api/media?filename="+url.QueryEscape("big.bin"), token, bytes.NewReader(big))
		}},
		{"multipart API", func() *http.Response {
			return h.do("POST", "/api/media", token, bytes.NewReader(form.Bytes()), "Content-Type", mw.FormDataContentType())
		}},
		{"tus PATCH", func() *http.Response {
			loc := h.tusStart(token, len(big), tusMeta("filename", "big.bin"))
			return h.tusPatch(token, loc, 0, big)
		}},
		{"tus create on a full disk", func() *http.Response {
			fill(t, filepath.Join(dir, "filler"))
			defer os.Remove(filepath.Join(dir, "filler"))
			return h.tusCreate(token, len(big), tusMeta("filename", "big.bin"), nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.send()
			body := string(readAll(t, resp))
			if resp.StatusCode != http.StatusInsufficientStorage {
				t.Errorf("status %d, want 507: %s", resp.StatusCode, body)
			}
			if want := `{"error":"` + outOfSpace + `","code":"insufficient_storage"}`; strings.TrimSpace(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
			for _, secret := range []string{dir, "/uploads", "/tmp", "no space"} {
				if strings.Contains(body, secret) {
					t.Errorf("body %q reveals %q", body, secret)
				}
			}
			h.checkNothingKept(t)
			h.checkFsckClean(t)
			// Free the space for the next case.
			for _, f := range h.uploadFiles() {
				os.Remove(filepath.Join(h.cfg.UploadsDir(), f))
			}
		})
	}
	// With room again, uploads go on as before.
	small := bytes.Repeat([]byte("fedcba9876543210"), 512<<10/16)
	it := h.upload(token, "small.bin", small)
	if it.Size != int64(len(small)) {
		t.Errorf("after the full disk, an upload became %+v", it)
	}
	h.checkFsckClean(t)
}

// checkFsckClean fails t unless fsck (with every blob read back) finds
// the store clean: nothing half written survived.
func (h *harness) checkFsckClean(t *testing.T) {
	t.Helper()
	rep, err := h.app.media.Fsck(t.Context(), media.FsckOptions{Verify: true})
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	for _, f := range rep.Findings {
		t.Errorf("fsck: %s %s: %s", f.Kind, f.Name, f.Detail)
	}
}

// TestSlowReaderIsDropped asks the app itself (no nginx) for a file larger
// than the socket buffers and then reads nothing: once the idle timeout
// passes without progress the app drops the connection, so reading on
// afterwards ends early instead of getting the whole file.
func TestSlowReaderIsDropped(t *testing.T) {
	t.Parallel()
	const size = 48 << 20
	h := newHarness(t, func(c *config.Config) {
		c.MaxUpload = size
		c.BodyIdleTimeout = time.Second
	})
	_, token := h.user(acl.RoleEditor)
	data := make([]byte, size)
	rand.Read(data)
	it := h.upload(token, "big.bin", data)

	conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer, so the server's writes block soon.
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", it.URL, token)
	time.Sleep(4 * time.Second) // four idle timeouts without reading a byte
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("reading after the stall: %v (after %d bytes)", err, n)
	}
	if n >= size {
		t.Errorf("a client that read nothing for 4 s still got all %d bytes: the app held the connection", n)
	}
	t.Logf("the connection ended after %d of %d bytes", n, size)
}

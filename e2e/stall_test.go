package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stallIdle is MEDIAGATE_BODY_IDLE_TIMEOUT in TestStalledBody.
const stallIdle = 2 * time.Second

// stallAnswer is what a client that stopped sending its body saw.
type stallAnswer struct {
	answered bool // an HTTP answer came; else the connection was just closed
	status   int
	body     string
	waited   time.Duration // from the last byte sent to the answer or the close
	closed   bool          // the connection was closed, after the answer if any
}

// stall sends head (request line and headers, without the blank line) and
// the first bytes of the body to the suite's address, then nothing, and
// waits for what comes back.
func (s *suite) stall(t *testing.T, head string, first []byte) stallAnswer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\nHost: "+s.addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	conn.SetReadDeadline(sent.Add(stallIdle + 10*time.Second))
	br := bufio.NewReader(conn)
	var out stallAnswer
	resp, err := http.ReadResponse(br, nil)
	out.waited = time.Since(sent)
	switch {
	case err == nil:
		out.answered, out.status = true, resp.StatusCode
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		out.body = string(b)
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = br.ReadByte()
		out.closed = isClosed(err)
	case isClosed(err):
		out.closed = true
	default:
		t.Fatalf("nothing %v after the body stalled: %v", out.waited.Round(time.Millisecond), err)
	}
	return out
}

// isClosed reports whether a read's err says the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// check fails t unless the stalled request method path was ended about
// stallIdle after its last byte and its connection closed: by the app with
// its 408, or by nginx, whose client_body_timeout is the same setting (nginx
// then closes the connection without an answer and logs a 408), and unless
// the app's handler has returned (its request line is in the app's log).
func (s *suite) checkStall(t *testing.T, a stallAnswer, method, path string) {
	t.Helper()
	mode := s.mode
	t.Logf("%s: answered %v, status %d, body %q, after %v, closed %v", mode, a.answered, a.status, a.body, a.waited.Round(time.Millisecond), a.closed)
	if a.waited < stallIdle-200*time.Millisecond || a.waited > stallIdle+3*time.Second {
		t.Errorf("ended %v after the last byte, want about %v", a.waited.Round(time.Millisecond), stallIdle)
	}
	if !a.closed {
		t.Error("the connection stayed open")
	}
	switch {
	case mode == modeDirect && !a.answered:
		t.Error("the app closed the connection without an answer")
	case a.answered && a.status != http.StatusRequestTimeout:
		t.Errorf("status %d, want 408: %s", a.status, a.body)
	case mode == modeDirect && !strings.Contains(a.body, `"request timeout: no data received for 2s; the request was cancelled"`):
		t.Errorf("the app's answer %q does not say why", a.body)
	}
	if mode == modeAccel {
		logged := s.accessSince(t, 0, 5*time.Second, 1, func(e accessEntry) bool {
			return e.Method == method && strings.HasPrefix(e.URI, path) && e.Status == http.StatusRequestTimeout
		})
		if len(logged) == 0 {
			t.Errorf("nginx logged no 408 for %s %s", method, path)
		}
	}
	line := "msg=request method=" + method + " path=" + path + " status="
	if !eventually(5*time.Second, func() bool { return strings.Contains(s.server.out.String(), line) }) {
		t.Errorf("the app still serves %s %s (no %q in its log)", method, path, line)
	}
}

// TestStalledBody checks that an upload whose body stops arriving ends
// MEDIAGATE_BODY_IDLE_TIMEOUT after its last byte, sent to the app or through
// nginx, and that the app keeps nothing of it: no temp file, no item; a
// resumable upload keeps the bytes that arrived and resumes from there.
func TestStalledBody(t *testing.T) {
	for _, mode := range []string{modeDirect, modeAccel} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := startSuite(t, suiteOptions{mode: mode, maxUpload: "1MiB",
				env: []string{"MEDIAGATE_BODY_IDLE_TIMEOUT=" + stallIdle.String()}})
			owner := s.addUser(t, "owner@e2e.test", "editor")
			auth := "\r\nAuthorization: Bearer " + owner.token

			t.Run("raw API", func(t *testing.T) {
				tmpBefore := listFiles(t, s.tmpDir())
				const name = "stalled.bin"
				a := s.stall(t, "POST /api/media?filename="+name+" HTTP/1.1"+auth+
					"\r\nContent-Type: application/octet-stream\r\nContent-Length: 500000", bytes.Repeat([]byte{'x'}, 20000))
				s.checkStall(t, a, http.MethodPost, "/api/media")
				if !eventually(5*time.Second, func() bool { return len(s.newTmpFiles(t, tmpBefore)) == 0 }) {
					t.Errorf("left in DATA_DIR/tmp: %v", s.newTmpFiles(t, tmpBefore))
				}
				for _, it := range s.listAll(t, owner.token) {
					if it.Filename == name {
						t.Errorf("the stalled upload left an item: %+v", it)
					}
				}
			})

			t.Run("tus PATCH", func(t *testing.T) {
				video := sampleMP4(t)
				half := len(video) / 2
				a := s.do(t, call{method: http.MethodPost, path: "/api/uploads/", token: owner.token, headers: [][2]string{
					{"Tus-Resumable", "1.0.0"}, {"Upload-Length", strconv.Itoa(len(video))},
					{"Upload-Metadata", "filename " + base64.StdEncoding.EncodeToString([]byte("stalled.mp4"))}}})
				mustStatus(t, "create an upload", a, http.StatusCreated)
				loc := a.Header.Get("Location")
				stalled := s.stall(t, fmt.Sprintf("PATCH %s HTTP/1.1%s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
					"Content-Type: application/offset+octet-stream\r\nContent-Length: %d", loc, auth, len(video)), video[:half])
				s.checkStall(t, stalled, http.MethodPatch, loc)

				// What arrived is kept: the upload resumes from there.
				head := func() string {
					a, err := s.try(call{method: http.MethodHead, path: loc, token: owner.token, headers: [][2]string{{"Tus-Resumable", "1.0.0"}}})
					if err != nil || a.Status != http.StatusOK {
						return fmt.Sprint(a, err)
					}
					return a.Header.Get("Upload-Offset")
				}
				if !eventually(5*time.Second, func() bool { return head() == strconv.Itoa(half) }) {
					t.Fatalf("Upload-Offset after the stall: %s, want %d", head(), half)
				}
				a = s.do(t, call{method: http.MethodPatch, path: loc, token: owner.token, body: bytes.NewReader(video[half:]), headers: [][2]string{
					{"Tus-Resumable", "1.0.0"}, {"Upload-Offset", strconv.Itoa(half)}, {"Content-Type", "application/offset+octet-stream"}}})
				mustStatus(t, "resume the upload", a, http.StatusNoContent)
				it := decodeJSON[mediaItem](t, "the resumed upload's item", s.get(t, a.Header.Get("Mediagate-Item-Url"), owner.token))
				checkItem(t, it, video)
			})
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unixTransport is a transport that reaches every host through the Unix
// socket at path.
func unixTransport(path string) *http.Transport {
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
}

// TestServingUnixSocket runs the app on a Unix socket (MEDIAGATE_ADDR=unix:)
// behind the nginx that "mediagate nginx-config" renders for it: bytes,
// ranges, 401s and a revoked grant go through nginx and the socket. It also
// checks the socket file's life: a stale one is replaced, the new one has
// mode 0660, a second instance and a file that is not a socket are refused,
// and a clean stop removes the socket.
func TestServingUnixSocket(t *testing.T) {
	t.Parallel()
	s := newSuite(t, suiteOptions{mode: modeAccel, maxUpload: servingMaxUpload, serveArgs: []string{"serve"}})
	sock := filepath.Join(s.root, "app.sock")
	s.appAddr = "unix:" + sock
	s.env = append(s.env, "MEDIAGATE_ADDR="+s.appAddr)

	// A socket left by an instance that died: nobody accepts on it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("the stale socket is not there: %v", err)
	}

	s.startApp(t)
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("the app's socket has mode %v, want a socket with 0660", fi.Mode())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(s.root, ".mediagate-sock-*")); len(leftovers) != 0 {
		t.Errorf("binding the socket left %v behind", leftovers)
	}
	// No --upstream: nginx-config takes the socket from MEDIAGATE_ADDR.
	conf := s.cli(t, "", "nginx-config", "--prefix", filepath.Join(s.root, "probe"))
	if !strings.Contains(conf, "server "+s.appAddr+";") {
		t.Fatalf("nginx-config does not name the socket as the upstream server:\n%s", conf)
	}
	s.startNginxFor(t)

	s.admin = &user{email: adminEmail, role: "admin", password: s.adminPassword, token: s.createToken(t, adminEmail)}
	s.owner = s.addUser(t, "owner@e2e.test", "editor")
	s.stranger = s.addUser(t, "stranger@e2e.test", "editor")
	s.viewer = s.addUser(t, "viewer@e2e.test", "viewer")
	f := &servingFixture{data: sampleMP4(t)}
	f.sample = s.mustMultipart(t, s.owner.token, "sample.mp4", f.data)
	t.Run("bytes", func(t *testing.T) { s.testBytes(t, f) })
	t.Run("ranges", func(t *testing.T) { s.testRanges(t, f) })
	t.Run("access", func(t *testing.T) { s.testAccess(t, f) })
	// A peer on the socket is a trusted proxy: its X-Sendfile-Type is
	// believed, so nginx streamed what the subtests above fetched.
	t.Run("accel-handoff", func(t *testing.T) {
		app := *s
		app.base = "http://mediagate"
		app.client = &http.Client{Transport: unixTransport(sock),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		app.rec = nil
		a := app.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token,
			headers: [][2]string{{"X-Sendfile-Type", "X-Accel-Redirect"}}})
		mustStatus(t, "announced GET over the socket", a, http.StatusOK)
		if xa := a.Header.Get("X-Accel-Redirect"); !strings.HasPrefix(xa, "/pmedia/") || len(a.Body) != 0 {
			t.Errorf("announced GET over the socket: X-Accel-Redirect %q and %d bytes of body, want a path under /pmedia/ and none", xa, len(a.Body))
		}
	})

	t.Run("refused", func(t *testing.T) {
		notSocket := filepath.Join(s.root, "not-a-socket")
		if err := os.WriteFile(notSocket, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, path, want string
		}{
			{"a live socket", sock, "another process is listening"},
			{"a file", notSocket, "is not a socket"},
		} {
			cmd := exec.Command(binPath, "serve")
			cmd.Env = append(append([]string(nil), s.env...), "MEDIAGATE_ADDR=unix:"+c.path, "MEDIAGATE_JOB_WORKERS=0")
			cmd.Dir = s.root
			out, err := cmd.CombinedOutput()
			if err == nil || !bytes.Contains(out, []byte(c.want)) {
				t.Errorf("serve on %s: %v, output:\n%s\nwant a failure saying %q", c.name, err, out, c.want)
			}
		}
		if b, err := os.ReadFile(notSocket); err != nil || string(b) != "keep me" {
			t.Errorf("the file that is not a socket: %q, %v; want it untouched", b, err)
		}
		if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != fs.ModeSocket {
			t.Errorf("the running app's socket after the refused second instance: %v, %v", fi, err)
		}
	})

	s.nginx.shutdown(t, false)
	s.server.shutdown(t, true)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("after a clean stop the socket is still there (%v)", err)
	}
}

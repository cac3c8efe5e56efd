package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/testenv"
	"github.com/mediagate/mediagate/internal/testweed"
)

// useDatabase points the suite (server and CLI) at url instead of a
// database on the shared server.
func (s *suite) useDatabase(url string) {
	s.dbURL = url
	s.env = append(s.env, "DATABASE_URL="+url) // the last value wins
}

// grantView gives u view on item through the API.
func (s *suite) grantView(t testing.TB, owner *user, item mediaItem, u *user) {
	t.Helper()
	a := s.sendJSON(t, http.MethodPut, itemPath(item.ID, "/grants/user:"+u.email), owner.token, map[string]string{"permission": "view"})
	mustStatus(t, "grant view to "+u.email, a, http.StatusOK, http.StatusCreated, http.StatusNoContent)
}

// readProbes are the reads of item that the fault tests send: the owner
// and a viewer allowed (whole and ranged, through nginx and to the app
// itself), a stranger and an anonymous client denied.
func readProbes(item mediaItem, data []byte, owner, viewer, stranger *user) []*probe {
	get := func(u *user, headers ...[2]string) func() call {
		return func() call {
			c := call{method: http.MethodGet, path: item.URL, headers: headers}
			if u != nil {
				c.token = u.token
			}
			return c
		}
	}
	rng := [2]string{"Range", "bytes=100-1099"}
	return []*probe{
		{name: "owner GET", call: get(owner), allowed: always, want: data, ok: http.StatusOK},
		{name: "viewer GET Range", call: get(viewer, rng), allowed: always, want: data[100:1100], ok: http.StatusPartialContent},
		{name: "owner GET at the app", call: get(owner), direct: true, allowed: always, ok: http.StatusOK},
		{name: "stranger GET", call: get(stranger), allowed: never, want: data},
		{name: "stranger GET at the app", call: get(stranger), direct: true, allowed: never},
		{name: "anonymous GET", call: get(nil), allowed: never, want: data},
	}
}

// uploads keeps what the upload probes stored, to check afterwards.
type uploads struct {
	mu   sync.Mutex
	sent map[string][]byte // file name -> content
}

// probe is an upload by u of fresh content each time.
func (up *uploads) probe(name string, u *user, allowed func(time.Time) bool) *probe {
	return &probe{name: name, allowed: allowed, ok: http.StatusCreated, call: func() call {
		data := []byte(strings.Repeat(rand.Text(), 100))
		fn := "up-" + rand.Text() + ".txt"
		up.mu.Lock()
		up.sent[fn] = data
		up.mu.Unlock()
		return call{method: http.MethodPost, path: "/api/media?filename=" + url.QueryEscape(fn), token: u.token,
			body: bytes.NewReader(data), headers: [][2]string{{"Content-Type", "application/octet-stream"}}}
	}}
}

// checkItems checks that every item of u's is the upload of that name
// (or want, for the file named wantName) and streams its bytes: no half or
// corrupt item.
func (s *suite) checkItems(t *testing.T, u *user, up *uploads, wantName string, want []byte) int {
	t.Helper()
	items := s.listAll(t, u.token)
	for _, it := range items {
		data := want
		if it.Filename != wantName {
			up.mu.Lock()
			data = up.sent[it.Filename]
			up.mu.Unlock()
		}
		if data == nil {
			t.Errorf("item %s (%s) is no upload of the test's", it.ID, it.Filename)
			continue
		}
		checkItem(t, it, data)
		if got := s.get(t, it.URL, u.token); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
			t.Errorf("item %s (%s) streams %s", it.ID, it.Filename, got)
		}
	}
	return len(items)
}

// TestPostgresRestart stops and starts a PostgreSQL server of the test's
// own under a mix of allowed and denied requests through nginx (and to the
// app itself): no request the model denies is ever allowed, the errors are
// 503 without X-Accel-Redirect and without the file's bytes, a grant
// revoked the moment the server is back denies at once, and the service
// recovers by itself.
func TestPostgresRestart(t *testing.T) {
	pg := startPrivatePG(t)
	s := newSuite(t, suiteOptions{mode: modeAccel, maxUpload: "4MiB"})
	s.useDatabase(pg.url("mediagate"))
	s.startApp(t)
	s.startNginx(t)
	owner := s.addUser(t, "owner@pg.test", "editor")
	viewer := s.addUser(t, "viewer@pg.test", "viewer")
	revoked := s.addUser(t, "revoked@pg.test", "viewer")
	stranger := s.addUser(t, "stranger@pg.test", "editor")
	data := make([]byte, 256<<10)
	rand.Read(data)
	item := s.mustUpload(t, owner.token, "clip.bin", data)
	s.grantView(t, owner, item, viewer)
	s.grantView(t, owner, item, revoked)

	var revokeMu sync.Mutex
	var revoking, revokedAt time.Time // when the revoke was sent, and when it had committed
	beforeRevoke := func(sent time.Time) bool {
		revokeMu.Lock()
		defer revokeMu.Unlock()
		return revoking.IsZero() || sent.Before(revoking)
	}
	duringRevoke := func(sent, done time.Time) bool {
		revokeMu.Lock()
		defer revokeMu.Unlock()
		return !revoking.IsZero() && done.After(revoking) && (revokedAt.IsZero() || sent.Before(revokedAt))
	}
	up := &uploads{sent: map[string][]byte{}}
	probes := append(readProbes(item, data, owner, viewer, stranger),
		&probe{name: "revoked GET", call: func() call { return call{method: http.MethodGet, path: item.URL, token: revoked.token} },
			allowed: beforeRevoke, either: duringRevoke, want: data, ok: http.StatusOK},
		up.probe("owner upload", owner, always),
		up.probe("viewer upload", viewer, never),
	)
	tr := s.startTraffic(4, probes...)
	// Warm: every allowed request has succeeded, caches are filled.
	tr.waitRecovered(t, time.Now(), 10*time.Second)

	stopAt := time.Now()
	pg.stop(t)
	stoppedAt := time.Now()
	// Down for a while: every decision needs the database.
	if !eventually(10*time.Second, func() bool { return count(tr.since(stoppedAt), http.StatusServiceUnavailable) >= 50 }) {
		t.Errorf("no 503s while PostgreSQL is down: %s", tally(tr.since(stoppedAt)))
	}
	time.Sleep(time.Second)
	pg.start(t)
	backAt := time.Now()
	// The revoke commits the moment the server is back, before the app
	// has noticed: from then on it must deny.
	revokeMu.Lock()
	revoking = time.Now()
	revokeMu.Unlock()
	pg.exec(t, "mediagate", `DELETE FROM grants WHERE subject_id = $1`, revoked.id)
	revokeMu.Lock()
	revokedAt = time.Now()
	revokeMu.Unlock()
	recovered := tr.waitRecovered(t, backAt, 30*time.Second)
	// A little more traffic, with the app recovered.
	time.Sleep(2 * time.Second)
	outcomes := tr.stop()

	checkModel(t, outcomes, http.StatusServiceUnavailable)
	var during, after, late []outcome
	for _, o := range outcomes {
		switch {
		case o.sent.Before(stopAt):
		case o.sent.Before(backAt):
			during = append(during, o)
		case o.sent.Before(recovered.Add(time.Second)):
			after = append(after, o)
		default:
			late = append(late, o)
		}
	}
	t.Logf("%d requests: down %v, %s; back until recovered %v later, %s; afterwards %s",
		len(outcomes), backAt.Sub(stoppedAt).Round(time.Millisecond), tally(during),
		recovered.Sub(backAt).Round(time.Millisecond), tally(after), tally(late))
	t.Logf("first success after PostgreSQL was back: %s", recoveries(outcomes, backAt))
	for _, o := range late {
		if o.p.allowed(o.sent) && !o.succeeded() {
			t.Errorf("%s a second after the recovery: %d", o.p.name, o.status)
		}
	}
	n := s.checkItems(t, owner, up, "clip.bin", data)
	t.Logf("%d items, every one whole; fsck: %s", n, s.fsckAfterOutage(t))
}

// fsckAfterOutage runs fsck --verify after an outage cut uploads short:
// the blob of an upload whose transaction the outage ended may stay
// without a row (an orphan, which the next start of serve, or --repair,
// takes away), but nothing else may be wrong. It repairs that and checks
// the store is clean then, and says what it found.
func (s *suite) fsckAfterOutage(t *testing.T) string {
	t.Helper()
	out, code := s.fsck(t, "--verify")
	if code == 0 {
		return "clean"
	}
	orphans := 0
	for _, line := range strings.Split(out, "\n") {
		kind, _, _ := strings.Cut(line, " ")
		switch kind {
		case "orphan":
			orphans++
		case "storage:", "blobs:", "", "resumable":
		default:
			if !strings.HasPrefix(line, " ") && !strings.Contains(line, "problems (") {
				t.Errorf("fsck after the outage: %q", line)
			}
		}
	}
	if out, code := s.fsck(t, "--repair"); code != 3 {
		t.Errorf("fsck --repair after the outage: exit status %d\n%s", code, out)
	}
	s.mustFsckClean(t)
	return fmt.Sprintf("%d orphan blob(s) of uploads the outage cut, moved to the trash by --repair; clean then", orphans)
}

// sendPartial opens a connection to the app, sends head (a request line
// and headers, no blank line) announcing the whole body, and then the first
// part of the body; the caller cuts it.
func (s *suite) sendPartial(t *testing.T, head string, part []byte) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.appAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\r\nHost: %s\r\n\r\n", head, s.appAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(part); err != nil {
		t.Fatalf("sending the first %d bytes: %v", len(part), err)
	}
	return conn
}

// waitBytes waits until a file under dir whose name starts with prefix
// holds at least n bytes: the server has received that much.
func waitBytes(t *testing.T, dir, prefix string, n int64) {
	t.Helper()
	if !eventually(10*time.Second, func() bool {
		for _, f := range listFiles(t, dir) {
			if strings.HasPrefix(filepath.Base(f), prefix) {
				if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Size() >= n {
					return true
				}
			}
		}
		return false
	}) {
		t.Fatalf("no %s* in %s with %d bytes: %v", prefix, dir, n, listFiles(t, dir))
	}
}

// tusCreate creates a resumable upload of size bytes named name and
// returns its path.
func (s *suite) tusCreate(t *testing.T, u *user, size int, name string) string {
	t.Helper()
	a := s.do(t, call{method: http.MethodPost, path: "/api/uploads/", token: u.token, headers: [][2]string{
		{"Tus-Resumable", "1.0.0"}, {"Upload-Length", strconv.Itoa(size)},
		{"Upload-Metadata", "filename " + base64.StdEncoding.EncodeToString([]byte(name))}}})
	mustStatus(t, "create an upload", a, http.StatusCreated)
	loc := a.Header.Get("Location")
	if u, err := url.Parse(loc); err == nil && u.Path != "" {
		loc = u.Path
	}
	return loc
}

// tusResume sends the rest of data from where the server says the upload
// is, and returns the item it became.
func (s *suite) tusResume(t *testing.T, u *user, loc string, data []byte) mediaItem {
	t.Helper()
	tus := [2]string{"Tus-Resumable", "1.0.0"}
	h := s.do(t, call{method: http.MethodHead, path: loc, token: u.token, headers: [][2]string{tus}})
	mustStatus(t, "HEAD the upload", h, http.StatusOK)
	off, err := strconv.Atoi(h.Header.Get("Upload-Offset"))
	if err != nil || off <= 0 || off > len(data) {
		t.Fatalf("Upload-Offset %q: want some of the %d bytes received", h.Header.Get("Upload-Offset"), len(data))
	}
	done := s.do(t, call{method: http.MethodPatch, path: loc, token: u.token, body: bytes.NewReader(data[off:]), headers: [][2]string{
		tus, {"Upload-Offset", strconv.Itoa(off)}, {"Content-Type", "application/offset+octet-stream"}}})
	mustStatus(t, "resume the upload", done, http.StatusNoContent)
	it := decodeJSON[mediaItem](t, "the resumed upload's item", s.get(t, done.Header.Get("Mediagate-Item-Url"), u.token))
	checkItem(t, it, data)
	if got := s.get(t, it.URL, u.token); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
		t.Errorf("the resumed upload streams %s", got)
	}
	t.Logf("resumed at %d of %d bytes", off, len(data))
	return it
}

// TestUploadInterrupted cuts uploads half-way, plain and resumable, by a
// client that goes away and by kill -9 of the server: nothing is left but
// what a resumable upload may resume from, a server killed leaves its temp
// dir for the next start to clean (fsck says so meanwhile), the resumable
// uploads resume and stream, and fsck is clean afterwards.
func TestUploadInterrupted(t *testing.T) {
	top := t // a restarted server lives as long as the suite
	s := startSuite(t, suiteOptions{mode: modeDirect, maxUpload: "64MiB"})
	owner := s.addUser(t, "owner@cut.test", "editor")
	data := make([]byte, 8<<20)
	rand.Read(data)
	half := len(data) / 2
	plainHead := func(name string) string {
		return fmt.Sprintf("POST /api/media?filename=%s HTTP/1.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d",
			name, owner.token, len(data))
	}
	patchHead := func(loc string) string {
		return fmt.Sprintf("PATCH %s HTTP/1.1\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
			"Content-Type: application/offset+octet-stream\r\nContent-Length: %d", loc, owner.token, len(data))
	}
	uploadsDir := filepath.Join(s.dataDir, "uploads")
	noItem := func(t *testing.T, name string) {
		t.Helper()
		for _, it := range s.listAll(t, owner.token) {
			if it.Filename == name {
				t.Errorf("the cut upload left an item: %+v", it)
			}
		}
	}
	// spoolFiles are the files in the temp dir but the lock files: an
	// upload received, or left.
	spoolFiles := func() []string {
		var out []string
		for _, f := range listFiles(t, s.tmpDir()) {
			if !strings.HasSuffix(f, ".lock") {
				out = append(out, f)
			}
		}
		return out
	}

	t.Run("client gone, plain", func(t *testing.T) {
		conn := s.sendPartial(t, plainHead("gone.bin"), data[:half])
		waitBytes(t, s.tmpDir(), "upload-", int64(half/2))
		conn.Close()
		if !eventually(5*time.Second, func() bool { return len(spoolFiles()) == 0 }) {
			t.Errorf("left in the temp dir 5 s after the client went: %v", spoolFiles())
		}
		noItem(t, "gone.bin")
		s.mustFsckClean(t)
	})

	t.Run("client gone, tus", func(t *testing.T) {
		loc := s.tusCreate(t, owner, len(data), "gone-tus.bin")
		conn := s.sendPartial(t, patchHead(loc), data[:half])
		waitBytes(t, uploadsDir, path.Base(loc), int64(half/2))
		conn.Close()
		// What arrived stays for the client to resume from: no damage.
		out, code := s.fsck(t, "--verify")
		if code != 0 || !strings.Contains(out, "resumable uploads in progress: 1") {
			t.Errorf("fsck with an upload to resume: exit status %d\n%s", code, out)
		}
		s.tusResume(t, owner, loc, data)
		s.mustFsckClean(t)
	})

	t.Run("kill -9, plain", func(t *testing.T) {
		s.sendPartial(t, plainHead("killed.bin"), data[:half])
		waitBytes(t, s.tmpDir(), "upload-", int64(half/2))
		s.server.kill()
		out, code := s.fsck(t)
		if code != 2 || !strings.Contains(out, "spool ") {
			t.Errorf("fsck after the kill: exit status %d, want 2 with the dead server's temp dir:\n%s", code, out)
		}
		s.startApp(top)
		if files := spoolFiles(); len(files) != 0 {
			t.Errorf("the restarted server left the killed one's temp files: %v", files)
		}
		noItem(t, "killed.bin")
		s.mustFsckClean(t)
	})

	t.Run("kill -9, tus", func(t *testing.T) {
		loc := s.tusCreate(t, owner, len(data), "killed-tus.bin")
		s.sendPartial(t, patchHead(loc), data[:half])
		waitBytes(t, uploadsDir, path.Base(loc), int64(half/2))
		s.server.kill()
		s.startApp(top)
		if files := spoolFiles(); len(files) != 0 {
			t.Errorf("the restarted server left the killed one's temp files: %v", files)
		}
		s.tusResume(t, owner, loc, data)
		s.mustFsckClean(t)
	})
}

// TestParallelIdenticalUploads sends 100 uploads of the same content at
// once through nginx, on local disk and on SeaweedFS: one blob, 100 items,
// each streaming the right bytes, and fsck clean.
func TestParallelIdenticalUploads(t *testing.T) {
	for _, storage := range []string{storageLocal, storageS3} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: "4MiB", storage: storage})
			owner := s.addUser(t, "owner@same.test", "editor")
			data := make([]byte, 512<<10)
			rand.Read(data)
			const n = 100
			items := make([]mediaItem, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				wg.Go(func() {
					a, err := s.try(call{method: http.MethodPost, path: fmt.Sprintf("/api/media?filename=same-%d.bin", i), token: owner.token,
						body: bytes.NewReader(data), headers: [][2]string{{"Content-Type", "application/octet-stream"}}, timeout: time.Minute})
					if err != nil {
						t.Errorf("upload %d: %v", i, err)
						return
					}
					if a.Status != http.StatusCreated {
						t.Errorf("upload %d: %s", i, a)
						return
					}
					if err := json.Unmarshal(a.Body, &items[i]); err != nil {
						t.Errorf("upload %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			t.Logf("%d uploads of the same %d bytes at once took %v", n, len(data), time.Since(start).Round(time.Millisecond))
			if t.Failed() {
				t.FailNow()
			}
			ids := map[flexID]bool{}
			for _, it := range items {
				checkItem(t, it, data)
				ids[it.ID] = true
			}
			if len(ids) != n {
				t.Errorf("%d distinct items, want %d", len(ids), n)
			}
			if blobs := s.blobs(t); len(blobs) != 1 {
				t.Errorf("%d blobs stored, want 1: %v", len(blobs), blobs)
			}
			var streamed sync.WaitGroup
			for _, it := range items {
				streamed.Go(func() {
					a, err := s.try(call{method: http.MethodGet, path: it.URL, token: owner.token})
					if err != nil || a.Status != http.StatusOK || !bytes.Equal(a.Body, data) {
						t.Errorf("item %s streams %v %v", it.ID, a, err)
					}
				})
			}
			streamed.Wait()
			s.mustFsckClean(t)
		})
	}
}

// TestS3EngineRestart kills the S3 engine (a SeaweedFS of the test's own)
// under reads and uploads through nginx and starts it again on the same
// ports and data: meanwhile the answers are 502 (nginx, for a file it could
// not fetch) or 503 (the app, for an upload it could not store), never a
// denied request allowed nor a wrong byte; afterwards every item is whole,
// nothing is half stored, and mediagate recovers without a restart.
func TestS3EngineRestart(t *testing.T) {
	bin, err := testweed.Binary()
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	weed, err := testweed.Start(bin, testweed.Config{Restartable: true})
	if err != nil {
		t.Fatalf("start SeaweedFS: %v", err)
	}
	t.Cleanup(weed.Stop)
	s := newSuite(t, suiteOptions{mode: modeAccel, maxUpload: "4MiB"})
	s.useBucket(weed.NewBucket(t))
	s.startApp(t)
	s.startNginx(t)
	owner := s.addUser(t, "owner@engine.test", "editor")
	viewer := s.addUser(t, "viewer@engine.test", "viewer")
	stranger := s.addUser(t, "stranger@engine.test", "editor")
	data := make([]byte, 1<<20)
	rand.Read(data)
	item := s.mustUpload(t, owner.token, "clip.bin", data)
	s.grantView(t, owner, item, viewer)
	up := &uploads{sent: map[string][]byte{}}
	tr := s.startTraffic(4, append(readProbes(item, data, owner, viewer, stranger), up.probe("owner upload", owner, always))...)
	tr.waitRecovered(t, time.Now(), 10*time.Second)

	killedAt := time.Now()
	weed.Kill()
	if !eventually(10*time.Second, func() bool {
		o := tr.since(killedAt)
		return count(o, http.StatusBadGateway) >= 20 && count(o, http.StatusServiceUnavailable) >= 3
	}) {
		t.Errorf("no 502s and 503s with the engine down: %s", tally(tr.since(killedAt)))
	}
	time.Sleep(time.Second)
	restartAt := time.Now()
	if err := weed.Restart(); err != nil {
		t.Fatalf("restart SeaweedFS: %v", err)
	}
	backAt := time.Now()
	recovered := tr.waitRecovered(t, backAt, 60*time.Second)
	time.Sleep(time.Second)
	outcomes := tr.stop()

	// A request in flight when the engine died may be cut mid-answer.
	var kept []outcome
	cut := 0
	for _, o := range outcomes {
		if o.err != nil && !o.sent.After(killedAt) && o.sent.Add(o.took).After(killedAt) {
			cut++
			continue
		}
		kept = append(kept, o)
	}
	checkModel(t, kept, http.StatusBadGateway, http.StatusServiceUnavailable)
	var during, after []outcome
	for _, o := range kept {
		switch {
		case o.sent.Before(killedAt):
		case o.sent.Before(backAt):
			during = append(during, o)
		default:
			after = append(after, o)
		}
	}
	t.Logf("%d requests (%d cut by the kill): engine down %v (restart took %v), %s; recovered %v after the engine answered; then %s",
		len(outcomes), cut, backAt.Sub(killedAt).Round(time.Millisecond), backAt.Sub(restartAt).Round(time.Millisecond), tally(during),
		recovered.Sub(backAt).Round(time.Millisecond), tally(after))
	t.Logf("first success after the engine answered: %s", recoveries(kept, backAt))
	n := s.checkItems(t, owner, up, "clip.bin", data)
	t.Logf("%d items, every one whole; fsck: %s", n, s.fsckAfterOutage(t))
}

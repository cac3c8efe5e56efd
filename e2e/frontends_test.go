package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/testenv"
)

// The front ends besides nginx that a suite can run behind, each with the
// config that mediagate renders for it.
const (
	modeApache = "apache" // Apache with mod_xsendfile, which follows X-Sendfile
	modeCaddy  = "caddy"  // Caddy, whose handle_response follows X-Accel-Redirect
)

// apacheModules is where Debian's apache2 and libapache2-mod-xsendfile put
// their modules ("mediagate apache-config --modules" defaults to it).
const apacheModules = "/usr/lib/apache2/modules"

// TestFrontEnds runs the serving suite's file delivery, access and
// publishing subtests behind Apache and behind Caddy, and behind nginx for
// reference, each with its own app, database and data directory, and then
// checks that Apache and Caddy gave the answers nginx gave: bytes, ranges,
// statuses and headers.
func TestFrontEnds(t *testing.T) {
	rec := newRecorder()
	rec.ref = storageLocal + "-" + modeAccel
	t.Run("mode", func(t *testing.T) {
		for _, mode := range []string{modeAccel, modeApache, modeCaddy} {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				s := startSuite(t, suiteOptions{mode: mode, maxUpload: servingMaxUpload, serveArgs: []string{"serve"}})
				s.rec = rec
				s.runFrontEnd(t)
			})
		}
	})
	if t.Failed() {
		t.Log("comparing what the front ends answered, although one failed")
	}
	rec.compare(t)
}

// runFrontEnd is runServing's subset that concerns the front end.
func (s *suite) runFrontEnd(t *testing.T) {
	s.admin = &user{email: adminEmail, role: "admin", password: s.adminPassword, token: s.createToken(t, adminEmail)}
	s.owner = s.addUser(t, "owner@e2e.test", "editor")
	s.stranger = s.addUser(t, "stranger@e2e.test", "editor")
	s.viewer = s.addUser(t, "viewer@e2e.test", "viewer")
	f := &servingFixture{data: sampleMP4(t)}
	f.sample = s.mustMultipart(t, s.owner.token, "sample.mp4", f.data)

	handoff := s.testAccelHandoff
	if s.mode == modeApache {
		handoff = s.testSendfileHandoff
	}
	for _, st := range []struct {
		name string
		fn   func(*testing.T, *servingFixture)
	}{
		{"health", s.testHealth},
		{"bytes", s.testBytes},
		{"ranges", s.testRanges},
		{"access", s.testAccess},
		{"handoff", handoff},
		{"pmedia", s.testPmedia},
		{"filenames", s.testFilenames},
		{"active-content", s.testActiveContent},
		{"publish", s.testPublish},
		{"private-not-public", s.testPrivateNotPublic},
		{"session", s.testSession},
		{"headers", s.testFrontHeaders},
		{"share-link", s.testFrontShareLink},
		{"too-large", s.testFrontTooLarge},
	} {
		t.Run(st.name, func(t *testing.T) { st.fn(t, f) })
	}
	t.Run("no-secrets-in-logs", s.testFrontLogs)
}

// lookFrontEnd finds the front end's program (and Apache's mod_xsendfile),
// or calls testenv.Missing.
func lookFrontEnd(t testing.TB, mode string) string {
	t.Helper()
	if mode == modeCaddy {
		return testenv.LookPath(t, "caddy")
	}
	p := testenv.LookPath(t, "apache2")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_xsendfile.so")); err != nil {
		testenv.Missing(t, "mod_xsendfile is not installed (Debian: libapache2-mod-xsendfile): "+err.Error())
	}
	return p
}

// frontPrefix is the directory of the front end's config, logs and runtime
// files.
func (s *suite) frontPrefix() string { return filepath.Join(s.root, s.mode) }

// startApache writes the config that "mediagate apache-config" prints and
// runs Apache with it in the foreground, as the suite's front end.
func (s *suite) startApache(t *testing.T) {
	t.Helper()
	apache := lookFrontEnd(t, modeApache)
	args := []string{"apache-config", "--modules", apacheModules}
	if os.Geteuid() == 0 {
		// Apache refuses to run its workers as root, who owns the data dir
		// here; the dirs are world-readable.
		args = append(args, "--user", "nobody")
	}
	s.startFront(t, "apache2.conf", args, func(confFile string) *exec.Cmd {
		return exec.Command(apache, "-f", confFile, "-DFOREGROUND")
	})
}

// startCaddy writes the Caddyfile that "mediagate caddy-config" prints and
// runs Caddy with it, as the suite's front end. Caddy 2.6 also saves the
// config it runs under XDG_CONFIG_HOME: that goes into the prefix too.
func (s *suite) startCaddy(t *testing.T) {
	t.Helper()
	caddy := lookFrontEnd(t, modeCaddy)
	s.startFront(t, "Caddyfile", []string{"caddy-config"}, func(confFile string) *exec.Cmd {
		cmd := exec.Command(caddy, "run", "--config", confFile, "--adapter", "caddyfile")
		home := filepath.Join(s.frontPrefix(), "home")
		cmd.Env = append(cleanEnviron(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_DATA_HOME="+filepath.Join(home, "data"))
		return cmd
	})
}

// startFront renders the front end's config with the mediagate command
// args, starts the front end with it and waits until /healthz answers
// through it. From then on the suite's clients talk to the front end.
func (s *suite) startFront(t *testing.T, confName string, args []string, command func(confFile string) *exec.Cmd) {
	t.Helper()
	prefix := s.frontPrefix()
	if err := os.Mkdir(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	conf := s.cli(t, "", append(args, "--listen", listen, "--prefix", prefix)...)
	confFile := filepath.Join(prefix, confName)
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := command(confFile)
	cmd.Dir = prefix
	s.front = startProcess(t, s.mode, cmd)
	t.Cleanup(func() {
		s.front.shutdown(t, false)
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(prefix, "error.log")); err == nil {
				t.Logf("%s error.log:\n%s", s.mode, b)
			}
			t.Logf("%s:\n%s", confName, conf)
		}
	})
	waitHealthy(t, s.front, "http://"+listen+"/healthz")
	s.addr = listen
	s.base = "http://" + listen
}

// testSendfileHandoff checks, against the app itself, that a request that a
// trusted proxy announced with X-Sendfile-Type: X-Sendfile gets an empty
// answer whose X-Sendfile is the absolute path of the blob's file under the
// private dir, made of its hash alone; that an unannounced one gets the
// bytes; and that a refused one names no file.
func (s *suite) testSendfileHandoff(t *testing.T, f *servingFixture) {
	app := *s
	app.base = "http://" + s.appAddr
	app.rec = nil
	announce := [][2]string{{"X-Sendfile-Type", "X-Sendfile"}}
	a := app.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token, headers: announce})
	mustStatus(t, "announced GET", a, http.StatusOK)
	sum := f.sample.SHA256
	value := a.Header.Get("X-Sendfile")
	path, err := url.PathUnescape(value)
	if want := filepath.Join(s.privateDir(), sum[:2], sum[2:4], sum); err != nil || path != want {
		t.Errorf("announced GET: X-Sendfile %q names %q (%v), want %q", value, path, err, want)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, f.data) {
		t.Errorf("announced GET: X-Sendfile names %s, which does not hold the sample (%v)", path, err)
	}
	if len(a.Body) != 0 || a.Header.Get("X-Accel-Redirect") != "" {
		t.Errorf("announced GET: %d bytes of body and X-Accel-Redirect %q along with X-Sendfile", len(a.Body), a.Header.Get("X-Accel-Redirect"))
	}
	checkDisposition(t, "announced GET", a, "inline", "sample.mp4")

	a = app.get(t, f.sample.URL, s.owner.token)
	if expectStatus(t, "unannounced GET", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("unannounced GET: %d bytes that are not the sample (X-Sendfile %q)", len(a.Body), a.Header.Get("X-Sendfile"))
	}
	for _, c := range []struct{ what, token string }{{"without credentials", ""}, {"as a stranger", s.stranger.token}} {
		a = app.do(t, call{method: http.MethodGet, path: f.sample.URL, token: c.token, headers: announce})
		if a.Status < 400 || handoffHeaders(a.Header) != "" {
			t.Errorf("announced GET %s: %s with %q, want a refusal naming no file", c.what, a, handoffHeaders(a.Header))
		}
	}
}

// testFrontHeaders keeps, for the front ends to compare, every header a
// client sees on the answers that matter: a file, a range, an unsatisfiable
// range, a HEAD, the refusals, and a published file.
func (s *suite) testFrontHeaders(t *testing.T, f *servingFixture) {
	const head = cmpStatus | cmpType | cmpDisposition | cmpLength | cmpPrivate | cmpNosniff | cmpVary | cmpHeaders
	for _, c := range []struct {
		key, method, token string
		headers            [][2]string
		fields             field
	}{
		{"headers GET", http.MethodGet, s.owner.token, nil, cmpMedia | cmpHeaders},
		{"headers range", http.MethodGet, s.owner.token, [][2]string{{"Range", "bytes=0-99"}}, cmpMedia | cmpHeaders},
		{"headers unsatisfiable", http.MethodGet, s.owner.token, [][2]string{{"Range", fmt.Sprintf("bytes=%d-", len(f.data)+10)}}, cmpStatus | cmpRange | cmpNosniff | cmpVary | cmpHeaders},
		{"headers HEAD", http.MethodHead, s.owner.token, nil, head},
		// A client claiming that nginx is in front (which would leave the
		// security headers to it) changes nothing: each config replaces or
		// removes the claim.
		{"headers claimed front", http.MethodGet, s.owner.token, [][2]string{{config.FrontHeader, config.FrontNginx}}, cmpMedia | cmpHeaders},
		{"headers anonymous", http.MethodGet, "", nil, cmpStatus | cmpNosniff | cmpVary | cmpHeaders},
		{"headers stranger", http.MethodGet, s.stranger.token, nil, cmpStatus | cmpNosniff | cmpVary | cmpHeaders},
	} {
		a := s.do(t, call{method: c.method, path: f.sample.URL, token: c.token, headers: c.headers})
		if leaked := handoffHeaders(a.Header); leaked != "" {
			t.Errorf("%s: the client got %s", c.key, leaked)
		}
		s.keep(t, c.key, a, c.fields)
	}

	it := s.mustUpload(t, s.owner.token, "headers.mp4", f.data)
	defer s.deleteItem(t, s.owner.token, it.ID)
	a := s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/publish"), token: s.owner.token})
	mustStatus(t, "publish", a, http.StatusOK, http.StatusCreated)
	pub := decodeJSON[struct {
		PublicURL string `json:"public_url"`
	}](t, "publish", a).PublicURL
	a = s.get(t, pub, "")
	expectStatus(t, "GET public_url", a, http.StatusOK)
	s.keep(t, "headers published", a, cmpStatus|cmpBody|cmpType|cmpLength|cmpNosniff|cmpHeaders)
	if hasToken(a.Header, "Cache-Control", "private") || handoffHeaders(a.Header) != "" {
		t.Errorf("GET public_url: Cache-Control %q, handoff %q", a.Header.Values("Cache-Control"), handoffHeaders(a.Header))
	}
	a = s.do(t, call{method: http.MethodPost, path: pub})
	expectStatus(t, "POST public_url", a, http.StatusMethodNotAllowed)
	s.keep(t, "headers POST published", a, cmpStatus)
	mustStatus(t, "unpublish", s.do(t, call{method: http.MethodDelete, path: itemPath(it.ID, "/publish"), token: s.owner.token}), http.StatusNoContent)
}

// testFrontShareLink downloads the sample through a share link: the same
// handoff as /smedia/, for anyone holding the URL, not for indexing and
// never in a Referer, and gone once revoked.
func (s *suite) testFrontShareLink(t *testing.T, f *servingFixture) {
	a := s.do(t, call{method: http.MethodPost, path: itemPath(f.sample.ID, "/links"), token: s.owner.token})
	mustStatus(t, "create a share link", a, http.StatusOK, http.StatusCreated)
	link := decodeJSON[struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}](t, "create a share link", a)
	if !strings.HasPrefix(link.URL, "/s/") {
		t.Fatalf("share link url %q is not under /s/", link.URL)
	}
	a = s.get(t, link.URL+"/download", "")
	if expectStatus(t, "GET the link's download", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("GET the link's download: %d bytes that are not the sample", len(a.Body))
	}
	checkDisposition(t, "GET the link's download", a, "inline", "sample.mp4")
	checkPrivateHeaders(t, "GET the link's download", a)
	checkShareHeaders(t, "GET the link's download", a)
	s.keep(t, "share download", a, cmpMedia)
	a = s.do(t, call{method: http.MethodGet, path: link.URL + "/download", headers: [][2]string{{"Range", "bytes=5-14"}}})
	if expectStatus(t, "a range of the link's download", a, http.StatusPartialContent) && !bytes.Equal(a.Body, f.data[5:15]) {
		t.Errorf("a range of the link's download: wrong bytes")
	}
	checkShareHeaders(t, "a range of the link's download", a)
	// The token in shapes a front end may route as /s/ or pass on as they
	// are, and in a query: testFrontLogs finds it in no log either.
	token := strings.TrimPrefix(link.URL, "/s/")
	for _, p := range []string{"/" + link.URL + "/download", "/s//" + token, "/api/me?next=" + link.URL} {
		s.get(t, p, "")
	}
	mustStatus(t, "revoke the link", s.do(t, call{method: http.MethodDelete, path: "/api/links/" + link.ID, token: s.owner.token}), http.StatusNoContent)
	a = s.get(t, link.URL+"/download", "")
	expectStatus(t, "GET the revoked link's download", a, http.StatusGone)
	checkShareHeaders(t, "GET the revoked link's download", a)
	if handoffHeaders(a.Header) != "" || bytes.Contains(a.Body, f.data[:64]) {
		t.Errorf("GET the revoked link's download: %s with %q", a, handoffHeaders(a.Header))
	}
	s.keep(t, "share download revoked", a, cmpStatus)
	s.shareToken = token
}

// checkShareHeaders checks the two headers every answer under /s/ carries,
// whoever sends the bytes.
func checkShareHeaders(t testing.TB, what string, a *answer) {
	t.Helper()
	if got := a.Header.Values("X-Robots-Tag"); len(got) != 1 || got[0] != "noindex, nofollow" {
		t.Errorf("%s: X-Robots-Tag %q, want one \"noindex, nofollow\"", what, got)
	}
	if got := a.Header.Values("Referrer-Policy"); len(got) != 1 || got[0] != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q, want one no-referrer", what, got)
	}
}

// testFrontTooLarge checks that an upload whose Content-Length is far over
// the limit gets a JSON 413, from the front end or the app, and leaves no
// item. (One just over the limit is refused by the app, which stops reading:
// Caddy then reports the broken upload as a 502 now and then, so that case
// is left to the serving suite.)
func (s *suite) testFrontTooLarge(t *testing.T, _ *servingFixture) {
	huge := bytes.Repeat([]byte("0123456789abcdef"), servingMaxUploadBytes*5/16)
	for i := range 3 {
		a := s.uploadRaw(t, s.owner.token, "too-big-front.bin", huge)
		expectAPIError(t, fmt.Sprintf("raw upload far over the limit, try %d", i+1), a, http.StatusRequestEntityTooLarge)
	}
	for _, it := range s.listAll(t, s.admin.token) {
		if it.Filename == "too-big-front.bin" {
			t.Errorf("a refused upload left an item: %+v", it)
		}
	}
}

// testFrontLogs reads what the app and the front end logged: requests were
// logged, with share tokens redacted, and no credential anywhere.
func (s *suite) testFrontLogs(t *testing.T) {
	logs := map[string]string{"the app's output": s.server.out.String()}
	dir := s.frontPrefix()
	if s.mode == modeAccel {
		dir = filepath.Join(s.root, "nginx")
	}
	for _, name := range []string{"access.log", "error.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !(s.mode == modeCaddy && name == "error.log") { // Caddy's own log is its output
			t.Errorf("reading %s's %s: %v", s.mode, name, err)
		}
		logs[s.mode+"'s "+name] = string(b)
	}
	if s.front != nil {
		logs[s.mode+"'s output"] = s.front.out.String()
	}
	access := logs[s.mode+"'s access.log"]
	if !strings.Contains(access, "/healthz") {
		t.Errorf("%s's access.log logged no request: %.300q", s.mode, access)
	}
	if s.shareToken != "" && !strings.Contains(access, "/s/<redacted>") && !strings.Contains(access, `/s/\u003credacted\u003e`) {
		t.Errorf("%s's access.log does not show the share link's requests as /s/<redacted>", s.mode)
	}
	secrets := []string{"mediagate_session=", s.shareToken, s.owner.token, s.admin.token, s.adminPassword}
	for what, text := range logs {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %.12q…", what, secret)
			}
		}
	}
}

// TestNginxModeBehindCaddy: with MEDIAGATE_ACCEL=nginx behind the rendered
// Caddy config (nginx mode hands every file off, which Caddy follows too),
// the client still gets the security headers: the app leaves them to the
// front end only when the front end says it is nginx, and Caddy copies the
// app's own.
func TestNginxModeBehindCaddy(t *testing.T) {
	t.Parallel()
	s := startSuite(t, suiteOptions{mode: modeCaddy, maxUpload: servingMaxUpload, serveArgs: []string{"serve"}, env: []string{"MEDIAGATE_ACCEL=nginx"}})
	owner := s.addUser(t, "owner@e2e.test", "editor")
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>`)
	it := s.mustMultipart(t, owner.token, "x.svg", svg)
	a := s.get(t, it.URL, owner.token)
	if expectStatus(t, "GET through Caddy", a, http.StatusOK) && !bytes.Equal(a.Body, svg) {
		t.Errorf("GET through Caddy: %d bytes that are not the file", len(a.Body))
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": config.MediaCSPFor(a.Header.Get("Content-Type")),
		"Referrer-Policy":         config.MediaReferrerPolicy,
		"Vary":                    config.CallerVary,
	} {
		if got := a.Header.Get(name); got != want || want == "" {
			t.Errorf("GET through Caddy: %s %q, want %q", name, got, want)
		}
	}
	if leaked := handoffHeaders(a.Header); leaked != "" {
		t.Errorf("GET through Caddy: the client got %s", leaked)
	}
}

// TestFrontEndConfigRefusals checks that apache-config and caddy-config
// refuse what their front end cannot do, with a message saying why.
func TestFrontEndConfigRefusals(t *testing.T) {
	s := newSuite(t, suiteOptions{mode: modeDirect, maxUpload: "1MiB"})
	s3 := []string{"MEDIAGATE_STORAGE=s3", "MEDIAGATE_S3_ENDPOINT=http://127.0.0.1:1", "MEDIAGATE_S3_BUCKET=media",
		"MEDIAGATE_S3_ACCESS_KEY=a", "MEDIAGATE_S3_SECRET_KEY=s"}
	type refusal struct {
		name string
		env  []string
		args []string
		want string // in stderr
	}
	cases := []refusal{
		{"caddy with S3", s3, []string{"caddy-config"}, "nginx"},
		{"apache with S3", s3, []string{"apache-config", "--user", "nobody"}, "nginx"},
		{"apache as an unknown user", nil, []string{"apache-config", "--user", "no-such-user-e2e"}, "no-such-user-e2e"},
		{"caddy on a bad address", nil, []string{"caddy-config", "--listen", "localhost"}, "listen"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, refusal{"apache as root without --user", nil, []string{"apache-config"}, "--user"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := *s
			run.env = append(slices.Clone(s.env), c.env...)
			out, stderr, err := run.runCLI("", c.args...)
			if err == nil || out != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("mediagate %s: %v, stdout %q, stderr %q; want a failure naming %q and no config", strings.Join(c.args, " "), err, out, stderr, c.want)
			}
		})
	}
}

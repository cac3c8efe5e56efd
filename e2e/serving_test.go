package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
)

// servingMaxUpload is MEDIAGATE_MAX_UPLOAD in the serving suites.
const (
	servingMaxUpload      = "1MiB"
	servingMaxUploadBytes = 1 << 20
)

// TestServing runs the serving suite four times, against the app directly
// ("direct") and through nginx ("accel"), with the blobs on local disk and in
// S3 (SeaweedFS), each with its own app, database, data directory and
// bucket, and then checks that all four gave the same answers.
func TestServing(t *testing.T) {
	rec := newRecorder()
	t.Run("mode", func(t *testing.T) {
		for _, storage := range []string{storageLocal, storageS3} {
			for _, mode := range []string{modeDirect, modeAccel} {
				t.Run(storage+"-"+mode, func(t *testing.T) {
					t.Parallel()
					s := startSuite(t, suiteOptions{mode: mode, maxUpload: servingMaxUpload, serveArgs: []string{"serve"}, storage: storage})
					s.rec = rec
					s.runServing(t)
				})
			}
		}
	})
	if t.Failed() {
		t.Log("comparing what the modes answered, although a mode failed")
	}
	rec.compare(t)
}

// servingFixture is what the serving subtests share within a suite.
type servingFixture struct {
	data   []byte    // testdata/sample.mp4
	sample mediaItem // data uploaded by the owner as sample.mp4 (multipart)
}

// runServing creates the suite's users and sample item, then runs the
// subtests in order; each leaves the shared state as it found it.
func (s *suite) runServing(t *testing.T) {
	s.admin = &user{email: adminEmail, role: "admin", password: s.adminPassword, token: s.createToken(t, adminEmail)}
	s.owner = s.addUser(t, "owner@e2e.test", "editor")
	s.stranger = s.addUser(t, "stranger@e2e.test", "editor")
	s.viewer = s.addUser(t, "viewer@e2e.test", "viewer")
	f := &servingFixture{data: sampleMP4(t)}
	f.sample = s.mustMultipart(t, s.owner.token, "sample.mp4", f.data)

	for _, st := range []struct {
		name string
		fn   func(*testing.T, *servingFixture)
	}{
		{"health", s.testHealth},
		{"me", s.testMe},
		{"upload", s.testUpload},
		{"bytes", s.testBytes},
		{"ranges", s.testRanges},
		{"access", s.testAccess},
		{"accel-handoff", s.testAccelHandoff},
		{"pmedia", s.testPmedia},
		{"filenames", s.testFilenames},
		{"active-content", s.testActiveContent},
		{"publish", s.testPublish},
		{"private-not-public", s.testPrivateNotPublic},
		{"session", s.testSession},
		{"share-link", s.testFrontShareLink},
		{"cross-site-login", s.testCrossSiteLogin},
		{"list", s.testList},
		{"too-large", s.testTooLarge},
		{"disconnect", s.testDisconnect},
		{"dedup", s.testDedup},
		{"trash", s.testTrash},
	} {
		t.Run(st.name, func(t *testing.T) { st.fn(t, f) })
	}
	t.Run("no-secrets-in-logs", s.testNoSecretsInLogs)
}

// testNoSecretsInLogs reads what the app and nginx logged during the suite:
// no presigned URL's signature, no S3 secret, no share token, no session.
func (s *suite) testNoSecretsInLogs(t *testing.T) {
	logs := map[string]string{"the app's output": s.server.out.String()}
	if s.nginx != nil {
		for _, name := range []string{"access.log", "error.log"} {
			b, err := os.ReadFile(filepath.Join(s.root, "nginx", name))
			if err != nil {
				t.Fatalf("reading nginx's %s: %v", name, err)
			}
			logs["nginx's "+name] = string(b)
		}
	}
	secrets := []string{"X-Amz-Signature", "X-Amz-Credential", testweedSecret(s), "mediagate_session=", s.shareToken}
	for what, text := range logs {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s holds %q", what, secret)
			}
		}
	}
}

// testConditionals checks If-None-Match and If-Range with the ETag the
// suite itself gave (local nginx's differs from the app's), a stale If-Range,
// a request with an Origin (no CORS headers come back), and several ranges:
// a multipart/byteranges 206 everywhere but from S3 behind nginx, where the
// engine cannot do it and the whole file is sent (200), as RFC 9110 allows.
func (s *suite) testConditionals(t *testing.T, f *servingFixture) {
	get := func(headers ...[2]string) *answer {
		t.Helper()
		return s.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token, headers: headers})
	}
	first := get([2]string{"Origin", "https://elsewhere.example"})
	mustStatus(t, "GET with an Origin", first, http.StatusOK)
	checkPrivateHeaders(t, "GET with an Origin", first)
	etag := first.Header.Get("ETag")
	if etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("GET: ETag %q, want a strong entity tag", etag)
	}

	a := get([2]string{"If-None-Match", etag})
	expectStatus(t, "If-None-Match with the ETag", a, http.StatusNotModified)
	if len(a.Body) != 0 {
		t.Errorf("If-None-Match with the ETag: %d bytes of body", len(a.Body))
	}
	s.keep(t, "if-none-match current", a, cmpStatus|cmpBody)

	a = get([2]string{"If-None-Match", `"stale"`})
	expectStatus(t, "If-None-Match stale", a, http.StatusOK)
	s.keep(t, "if-none-match stale", a, cmpMedia)

	a = get([2]string{"Range", "bytes=10-19"}, [2]string{"If-Range", etag})
	if expectStatus(t, "If-Range with the ETag", a, http.StatusPartialContent) && !bytes.Equal(a.Body, f.data[10:20]) {
		t.Errorf("If-Range with the ETag: wrong bytes")
	}
	s.keep(t, "if-range current", a, cmpMedia)

	for _, stale := range []string{`"stale"`, "Sat, 01 Jan 2000 00:00:00 GMT"} {
		a = get([2]string{"Range", "bytes=10-19"}, [2]string{"If-Range", stale})
		if expectStatus(t, "If-Range "+stale, a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
			t.Errorf("If-Range %s: not the whole file", stale)
		}
		s.keep(t, "if-range "+stale, a, cmpMedia)
	}

	a = get([2]string{"Range", "bytes=0-9,20-29"})
	if s.bucket != nil && s.mode == modeAccel {
		if expectStatus(t, "two ranges", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
			t.Errorf("two ranges from S3 behind nginx: not the whole file")
		}
		return
	}
	expectStatus(t, "two ranges", a, http.StatusPartialContent)
	if mt := mediaType(a.Header); mt != "multipart/byteranges" {
		t.Errorf("two ranges: Content-Type %q, want multipart/byteranges", a.Header.Get("Content-Type"))
	}
}

// testHealth checks /healthz and /readyz.
func (s *suite) testHealth(t *testing.T, _ *servingFixture) {
	for _, p := range []string{"/healthz", "/readyz"} {
		a := s.get(t, p, "")
		expectStatus(t, "GET "+p, a, http.StatusOK)
		s.keep(t, "GET "+p, a, cmpStatus)
	}
}

// testMe checks GET /api/me for every user, and its 401s.
func (s *suite) testMe(t *testing.T, _ *servingFixture) {
	a := s.get(t, "/api/me", "")
	expectAPIError(t, "GET /api/me without credentials", a, http.StatusUnauthorized)
	s.keep(t, "me anonymous", a, cmpStatus)

	a = s.get(t, "/api/me", "not-a-token")
	expectAPIError(t, "GET /api/me with a bogus token", a, http.StatusUnauthorized)
	s.keep(t, "me bogus token", a, cmpStatus)

	for _, u := range []*user{s.admin, s.owner, s.stranger, s.viewer} {
		a := s.get(t, "/api/me", u.token)
		mustStatus(t, "GET /api/me as "+u.email, a, http.StatusOK)
		m := decodeJSON[me](t, "GET /api/me", a)
		if m.Email != u.email || m.Role != u.role || m.ID == "" {
			t.Errorf("GET /api/me as %s: got %+v, want email %q role %q", u.email, m, u.email, u.role)
		}
		if u.id != "" && string(m.ID) != u.id {
			t.Errorf("GET /api/me as %s: id %q, but user add printed %q", u.email, m.ID, u.id)
		}
		if u.id == "" {
			u.id = string(m.ID)
		}
		s.keep(t, "me "+u.email, a, cmpStatus)
	}
}

// testUpload checks the multipart upload's answer and that the raw form and
// GET /api/media/{id} agree with it.
func (s *suite) testUpload(t *testing.T, f *servingFixture) {
	it := f.sample
	if it.Filename != "sample.mp4" {
		t.Errorf("multipart upload: filename %q, want sample.mp4", it.Filename)
	}
	if mt := baseType(it.ContentType); mt != "video/mp4" {
		t.Errorf("multipart upload: content_type %q, want video/mp4", it.ContentType)
	}
	if got, want := it.SHA256, sha256Hex(f.data); got != want {
		t.Errorf("sha256 %q, but the file's is %q", got, want)
	}

	a := s.get(t, itemPath(it.ID, ""), s.owner.token)
	mustStatus(t, "GET /api/media/{id}", a, http.StatusOK)
	if got := decodeJSON[mediaItem](t, "GET /api/media/{id}", a); got != it {
		t.Errorf("GET /api/media/{id}: %+v, but the upload answered %+v", got, it)
	}

	raw := s.mustUpload(t, s.owner.token, "raw sample.mp4", f.data)
	if raw.Filename != "raw sample.mp4" || baseType(raw.ContentType) != "video/mp4" || raw.ID == it.ID {
		t.Errorf("raw upload: %+v, want a new item raw sample.mp4 of type video/mp4", raw)
	}
	s.deleteItem(t, s.owner.token, raw.ID)
}

// testBytes checks that GET /smedia returns the uploaded bytes with the
// headers of a private inline video, under every URL form.
func (s *suite) testBytes(t *testing.T, f *servingFixture) {
	it := f.sample
	for _, c := range []struct {
		key, path, token string
	}{
		{"GET sample url", it.URL, s.owner.token},
		{"GET sample /smedia/{id}", smediaPath(it.ID, ""), s.owner.token},
		{"GET sample /smedia/{id}/other name", smediaPath(it.ID, "other name.mp4"), s.owner.token},
		{"GET sample as admin", it.URL, s.admin.token},
	} {
		a := s.get(t, c.path, c.token)
		if !expectStatus(t, c.key, a, http.StatusOK) {
			continue
		}
		if !bytes.Equal(a.Body, f.data) {
			t.Errorf("%s: body of %d bytes (sha256 %s) differs from sample.mp4 (%d bytes)", c.key, len(a.Body), sha256Hex(a.Body), len(f.data))
		}
		if got := sha256Hex(a.Body); got != it.SHA256 {
			t.Errorf("%s: body sha256 %s, the API said %s", c.key, got, it.SHA256)
		}
		if mt := mediaType(a.Header); mt != "video/mp4" {
			t.Errorf("%s: Content-Type %q, want video/mp4", c.key, a.Header.Get("Content-Type"))
		}
		if a.Length != int64(len(f.data)) {
			t.Errorf("%s: Content-Length %d, want %d", c.key, a.Length, len(f.data))
		}
		if v := a.Header.Get("Accept-Ranges"); v != "bytes" {
			t.Errorf("%s: Accept-Ranges %q, want bytes", c.key, v)
		}
		checkDisposition(t, c.key, a, "inline", "sample.mp4")
		checkPrivateHeaders(t, c.key, a)
		checkCSP(t, c.key, a, config.PlayerCSP)
		s.keep(t, c.key, a, cmpMedia)
	}
}

// checkCSP checks that a carries exactly the Content-Security-Policy want.
func checkCSP(t testing.TB, what string, a *answer, want string) {
	t.Helper()
	if got := slices.Compact(a.Header.Values("Content-Security-Policy")); len(got) != 1 || got[0] != want {
		t.Errorf("%s: Content-Security-Policy %q, want %q", what, got, want)
	}
}

// testRanges checks closed, open-ended, suffix and unsatisfiable ranges and
// HEAD.
func (s *suite) testRanges(t *testing.T, f *servingFixture) {
	size := len(f.data)
	if size < 5000 {
		t.Fatalf("sample.mp4 has %d bytes; the ranges below need 5000", size)
	}
	for _, c := range []struct {
		name, header string
		from, to     int // inclusive, for 206
		status       int
	}{
		{"closed", "bytes=100-1099", 100, 1099, http.StatusPartialContent},
		{"open-ended", fmt.Sprintf("bytes=%d-", size-3000), size - 3000, size - 1, http.StatusPartialContent},
		{"suffix", "bytes=-500", size - 500, size - 1, http.StatusPartialContent},
		{"past the end", fmt.Sprintf("bytes=%d-%d", size-10, size+1000), size - 10, size - 1, http.StatusPartialContent},
		{"unsatisfiable", fmt.Sprintf("bytes=%d-", size+1000), 0, 0, http.StatusRequestedRangeNotSatisfiable},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := s.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token,
				headers: [][2]string{{"Range", c.header}}})
			what := "Range " + c.header
			if !expectStatus(t, what, a, c.status) {
				return
			}
			if c.status == http.StatusRequestedRangeNotSatisfiable {
				if got, want := a.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
					t.Errorf("%s: Content-Range %q, want %q", what, got, want)
				}
				s.keep(t, "range "+c.name, a, cmpStatus|cmpRange)
				return
			}
			if got, want := a.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", c.from, c.to, size); got != want {
				t.Errorf("%s: Content-Range %q, want %q", what, got, want)
			}
			if want := f.data[c.from : c.to+1]; !bytes.Equal(a.Body, want) {
				t.Errorf("%s: got %d bytes, want bytes %d-%d (%d bytes), not the same", what, len(a.Body), c.from, c.to, len(want))
			}
			if a.Length != int64(c.to-c.from+1) {
				t.Errorf("%s: Content-Length %d, want %d", what, a.Length, c.to-c.from+1)
			}
			if mt := mediaType(a.Header); mt != "video/mp4" {
				t.Errorf("%s: Content-Type %q, want video/mp4", what, a.Header.Get("Content-Type"))
			}
			checkPrivateHeaders(t, what, a)
			s.keep(t, "range "+c.name, a, cmpMedia)
		})
	}

	t.Run("conditionals", func(t *testing.T) { s.testConditionals(t, f) })

	t.Run("head", func(t *testing.T) {
		a, trailing := s.rawExchange(t, http.MethodHead, f.sample.URL, s.owner.token)
		if !expectStatus(t, "HEAD", a, http.StatusOK) {
			return
		}
		if a.Length != int64(size) {
			t.Errorf("HEAD: Content-Length %d, want %d", a.Length, size)
		}
		if trailing != 0 {
			t.Errorf("HEAD: %d bytes of body followed the head", trailing)
		}
		if mt := mediaType(a.Header); mt != "video/mp4" {
			t.Errorf("HEAD: Content-Type %q, want video/mp4", a.Header.Get("Content-Type"))
		}
		if v := a.Header.Get("Accept-Ranges"); v != "bytes" {
			t.Errorf("HEAD: Accept-Ranges %q, want bytes", v)
		}
		checkDisposition(t, "HEAD", a, "inline", "sample.mp4")
		checkPrivateHeaders(t, "HEAD", a)
		s.keep(t, "HEAD sample", a, cmpMedia)

		a, _ = s.rawExchange(t, http.MethodHead, f.sample.URL, "")
		expectStatus(t, "HEAD without credentials", a, http.StatusUnauthorized)
		s.keep(t, "HEAD anonymous", a, cmpStatus)
	})
}

// testAccess checks 401 for anonymous callers, 404 for callers without view,
// 403 for a viewer's upload, and that a grant works at once and its revoke
// too.
func (s *suite) testAccess(t *testing.T, f *servingFixture) {
	it := f.sample
	steps := []struct {
		key, method, path, token string
		status                   int
		api                      bool
	}{
		{"anonymous GET smedia", "GET", it.URL, "", http.StatusUnauthorized, false},
		{"anonymous GET smedia/{id}", "GET", smediaPath(it.ID, ""), "", http.StatusUnauthorized, false},
		{"anonymous GET item", "GET", itemPath(it.ID, ""), "", http.StatusUnauthorized, true},
		{"anonymous list", "GET", "/api/media", "", http.StatusUnauthorized, true},
		{"anonymous DELETE item", "DELETE", itemPath(it.ID, ""), "", http.StatusUnauthorized, true},
		{"bogus token GET smedia", "GET", it.URL, "bogus", http.StatusUnauthorized, false},
		{"stranger GET smedia", "GET", it.URL, s.stranger.token, http.StatusNotFound, false},
		{"stranger GET smedia/{id}", "GET", smediaPath(it.ID, ""), s.stranger.token, http.StatusNotFound, false},
		{"stranger GET item", "GET", itemPath(it.ID, ""), s.stranger.token, http.StatusNotFound, true},
		{"stranger GET grants", "GET", itemPath(it.ID, "/grants"), s.stranger.token, http.StatusNotFound, true},
		{"stranger DELETE item", "DELETE", itemPath(it.ID, ""), s.stranger.token, http.StatusNotFound, true},
		{"stranger publish", "POST", itemPath(it.ID, "/publish"), s.stranger.token, http.StatusNotFound, true},
		{"stranger revoke", "DELETE", itemPath(it.ID, "/grants/"+s.owner.email), s.stranger.token, http.StatusNotFound, true},
		{"viewer GET smedia before grant", "GET", it.URL, s.viewer.token, http.StatusNotFound, false},
		{"viewer GET item before grant", "GET", itemPath(it.ID, ""), s.viewer.token, http.StatusNotFound, true},
		{"GET missing item", "GET", itemPath("999999999", ""), s.admin.token, http.StatusNotFound, true},
	}
	for _, st := range steps {
		a := s.do(t, call{method: st.method, path: st.path, token: st.token})
		if st.api {
			expectAPIError(t, st.key, a, st.status)
		} else {
			expectStatus(t, st.key, a, st.status)
		}
		s.keep(t, st.key, a, cmpStatus)
	}

	a := s.sendJSON(t, "PUT", itemPath(it.ID, "/grants/"+s.stranger.email), s.stranger.token, map[string]string{"permission": "view"})
	expectAPIError(t, "stranger grants themselves view", a, http.StatusNotFound)
	if a := s.get(t, it.URL, s.stranger.token); a.Status != http.StatusNotFound {
		t.Errorf("stranger after trying to grant themselves: %s, want 404", a)
	}
	if slices.Contains(ids(s.listAll(t, s.stranger.token)), it.ID) {
		t.Errorf("the stranger's GET /api/media lists item %s", it.ID)
	}
	if !slices.Contains(ids(s.listAll(t, s.admin.token)), it.ID) {
		t.Errorf("the admin's GET /api/media does not list item %s", it.ID)
	}

	a = s.uploadRaw(t, s.viewer.token, "viewer.mp4", f.data)
	expectAPIError(t, "viewer upload", a, http.StatusForbidden)
	s.keep(t, "viewer upload", a, cmpStatus)
	a = s.uploadRaw(t, "", "anonymous.mp4", f.data)
	expectAPIError(t, "anonymous upload", a, http.StatusUnauthorized)
	s.keep(t, "anonymous upload", a, cmpStatus)

	// Grant view, use it, revoke it, and find it gone at once.
	a = s.sendJSON(t, "PUT", itemPath(it.ID, "/grants/"+s.viewer.email), s.owner.token, map[string]string{"permission": "view"})
	mustStatus(t, "grant view", a, http.StatusOK, http.StatusNoContent)
	a = s.get(t, itemPath(it.ID, "/grants"), s.owner.token)
	mustStatus(t, "GET grants", a, http.StatusOK)
	if g := decodeJSON[grantList](t, "GET grants", a); !slices.Contains(g.Grants, grant{"user:" + s.viewer.email, "view"}) {
		t.Errorf("GET grants: %+v does not hold {%s view}", g.Grants, s.viewer.email)
	}
	a = s.get(t, it.URL, s.viewer.token)
	if expectStatus(t, "viewer GET smedia with grant", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("viewer GET smedia with grant: %d bytes differ from the sample", len(a.Body))
	}
	s.keep(t, "viewer GET smedia with grant", a, cmpMedia)
	expectStatus(t, "viewer GET item with grant", s.get(t, itemPath(it.ID, ""), s.viewer.token), http.StatusOK)
	if !slices.Contains(ids(s.listAll(t, s.viewer.token)), it.ID) {
		t.Errorf("the viewer's GET /api/media does not list the granted item %s", it.ID)
	}

	a = s.do(t, call{method: "DELETE", path: itemPath(it.ID, "/grants/"+s.viewer.email), token: s.owner.token})
	mustStatus(t, "revoke", a, http.StatusNoContent)
	a = s.get(t, it.URL, s.viewer.token)
	expectStatus(t, "viewer GET smedia right after the revoke", a, http.StatusNotFound)
	s.keep(t, "viewer GET smedia after revoke", a, cmpStatus)
	expectAPIError(t, "viewer GET item after the revoke", s.get(t, itemPath(it.ID, ""), s.viewer.token), http.StatusNotFound)
	a = s.get(t, itemPath(it.ID, "/grants"), s.owner.token)
	mustStatus(t, "GET grants after the revoke", a, http.StatusOK)
	for _, g := range decodeJSON[grantList](t, "GET grants", a).Grants {
		if g.Subject == "user:"+s.viewer.email {
			t.Errorf("GET grants after the revoke still lists %+v", g)
		}
	}
	if slices.Contains(ids(s.listAll(t, s.viewer.token)), it.ID) {
		t.Errorf("the viewer's GET /api/media still lists item %s after the revoke", it.ID)
	}
}

// testAccelHandoff checks, against the app itself, that a request announced
// by a trusted proxy (X-Sendfile-Type: X-Accel-Redirect from loopback) gets an
// empty answer with X-Accel-Redirect under /pmedia/ and the file's headers,
// and that an unannounced one gets the bytes.
func (s *suite) testAccelHandoff(t *testing.T, f *servingFixture) {
	app := *s
	app.base = "http://" + s.appAddr
	app.rec = nil
	a := app.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token,
		headers: [][2]string{{"X-Sendfile-Type", "X-Accel-Redirect"}}})
	mustStatus(t, "announced GET", a, http.StatusOK)
	wantAccel := "/pmedia/"
	if s.bucket != nil {
		wantAccel = "/_s3/w/" + s.bucket.Name + "/" + s3Prefix + "blobs/" + f.sample.SHA256 + "?"
	}
	if xa := a.Header.Get("X-Accel-Redirect"); !strings.HasPrefix(xa, wantAccel) {
		t.Errorf("announced GET: X-Accel-Redirect %q, want a path under %s", xa, wantAccel)
	}
	if len(a.Body) != 0 {
		t.Errorf("announced GET: %d bytes of body along with X-Accel-Redirect", len(a.Body))
	}
	if s.bucket == nil {
		checkDisposition(t, "announced GET", a, "inline", "sample.mp4")
	} else {
		// The engine answers with the disposition, so that a failing engine's
		// 502 carries none: it travels in the signed URL.
		xa, _ := url.Parse(a.Header.Get("X-Accel-Redirect"))
		if cd := xa.Query().Get("response-content-disposition"); !strings.HasPrefix(cd, "inline;") || a.Header.Get("Content-Disposition") != "" {
			t.Errorf("announced GET on S3: response-content-disposition %q and Content-Disposition %q; want the first inline, the second empty",
				cd, a.Header.Get("Content-Disposition"))
		}
	}
	if mt := mediaType(a.Header); mt != "video/mp4" {
		t.Errorf("announced GET: Content-Type %q, want video/mp4", a.Header.Get("Content-Type"))
	}
	if !hasToken(a.Header, "Cache-Control", "private") {
		t.Errorf("announced GET: Cache-Control %q does not contain private", a.Header.Values("Cache-Control"))
	}
	// Caddy passes on every header of the answer, so they are all there.
	for _, name := range []string{"X-Content-Type-Options", "Content-Security-Policy", "Vary", "Referrer-Policy"} {
		if a.Header.Get(name) == "" {
			t.Errorf("announced GET: no %s", name)
		}
	}

	// To nginx, which drops all but a few of them and sets its own, the
	// answer is those few and the target; a refusal, which nginx passes on
	// whole, keeps them all.
	toNginx := [][2]string{{"X-Sendfile-Type", "X-Accel-Redirect"}, {config.FrontHeader, config.FrontNginx}}
	a = app.do(t, call{method: http.MethodGet, path: f.sample.URL, token: s.owner.token, headers: toNginx})
	mustStatus(t, "GET announced by nginx", a, http.StatusOK)
	var names []string
	for name := range a.Header {
		if name != "Date" && name != "Content-Length" { // net/http's
			names = append(names, name)
		}
	}
	slices.Sort(names)
	want := []string{"Cache-Control", "Content-Disposition", "Content-Type", "X-Accel-Redirect"}
	if s.bucket != nil {
		want = []string{"Cache-Control", "Content-Type", "X-Accel-Redirect"}
	}
	if !slices.Equal(names, want) || !strings.HasPrefix(a.Header.Get("X-Accel-Redirect"), wantAccel) {
		t.Errorf("GET announced by nginx: headers %q (X-Accel-Redirect %q), want %q", names, a.Header.Get("X-Accel-Redirect"), want)
	}
	a = app.do(t, call{method: http.MethodGet, path: f.sample.URL, headers: toNginx})
	expectStatus(t, "GET announced by nginx without credentials", a, http.StatusUnauthorized)
	if a.Header.Get("X-Content-Type-Options") != "nosniff" || a.Header.Get("Vary") == "" || a.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET announced by nginx without credentials: nosniff %q, Vary %q, X-Request-Id %q; want all three",
			a.Header.Get("X-Content-Type-Options"), a.Header.Get("Vary"), a.Header.Get("X-Request-Id"))
	}

	a = app.get(t, f.sample.URL, s.owner.token)
	if expectStatus(t, "unannounced GET", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("unannounced GET: %d bytes that are not the sample (X-Accel-Redirect %q)", len(a.Body), a.Header.Get("X-Accel-Redirect"))
	}

	a = app.do(t, call{method: http.MethodGet, path: f.sample.URL,
		headers: [][2]string{{"X-Sendfile-Type", "X-Accel-Redirect"}}})
	expectStatus(t, "announced GET without credentials", a, http.StatusUnauthorized)
	if xa := a.Header.Get("X-Accel-Redirect"); xa != "" {
		t.Errorf("announced GET without credentials: X-Accel-Redirect %q", xa)
	}
}

// testPmedia checks that nginx's internal location, and the same path on the
// app, answer 404 to clients, even for the real blob paths.
func (s *suite) testPmedia(t *testing.T, _ *servingFixture) {
	blobs := s.blobs(t)
	if len(blobs) == 0 {
		t.Fatalf("no blob stored although items exist")
	}
	paths := []string{"/pmedia/", "/pmedia/anything", "/pmedia/anything/sample.mp4", "/_s3/", "/_s3/r/x", "/_s3/w/anything"}
	for _, b := range blobs {
		paths = append(paths, "/pmedia/"+b, "/_s3/r/"+b, "/_s3/r/bucket/"+s3Prefix+"blobs/"+b, "/_s3/w/"+s3Prefix+"blobs/"+b)
	}
	for i, p := range paths {
		for _, who := range []struct{ name, token string }{{"anonymous", ""}, {"admin", s.admin.token}} {
			a := s.get(t, p, who.token)
			expectStatus(t, who.name+" GET "+p, a, http.StatusNotFound)
			if i < 3 {
				s.keep(t, who.name+" GET "+p, a, cmpStatus)
			}
		}
	}
}

// testFilenames uploads names with spaces, quotes, a semicolon, CR/LF and
// non-ASCII letters, and checks the stored name, the url and the
// Content-Disposition clients get, and that nothing gets into the headers.
func (s *suite) testFilenames(t *testing.T, f *servingFixture) {
	for i, c := range []struct {
		name  string
		check func(stored string) bool // whether the sanitized name is acceptable
	}{
		{"Caf\u00e9 d\u00e9j\u00e0 vu \"quoted\"; x.mp4", func(n string) bool {
			return strings.HasPrefix(n, "Caf\u00e9 d\u00e9j\u00e0 vu") && strings.HasSuffix(n, "x.mp4")
		}},
		{"\u65e5\u672c\u8a9e.mp4", func(n string) bool { return n == "\u65e5\u672c\u8a9e.mp4" }},
		{"evil\r\nX-Injected: yes.mp4", func(n string) bool {
			return strings.HasPrefix(n, "evil") && strings.HasSuffix(n, ".mp4")
		}},
		{"tab\tand\x00nul.mp4", func(n string) bool { return strings.HasPrefix(n, "tab") && strings.HasSuffix(n, "nul.mp4") }},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			it := s.mustUpload(t, s.owner.token, c.name, f.data)
			defer s.deleteItem(t, s.owner.token, it.ID)
			if hasControl(it.Filename) || !c.check(it.Filename) {
				t.Errorf("uploading %q stored the name %q", c.name, it.Filename)
			}
			paths := []string{it.URL, smediaPath(it.ID, "")}
			if !strings.Contains(c.name, "\x00") { // nginx refuses %00 in a path with 400
				paths = append(paths, smediaPath(it.ID, c.name))
			}
			for j, p := range paths {
				what := fmt.Sprintf("GET %s", p)
				a := s.get(t, p, s.owner.token)
				if !expectStatus(t, what, a, http.StatusOK) {
					continue
				}
				if !bytes.Equal(a.Body, f.data) {
					t.Errorf("%s: %d bytes that are not the sample", what, len(a.Body))
				}
				for name, vals := range a.Header {
					if strings.EqualFold(name, "X-Injected") || slices.ContainsFunc(vals, func(v string) bool { return strings.ContainsAny(v, "\r\n") }) {
						t.Errorf("%s: injected header %s: %q", what, name, vals)
					}
				}
				checkDisposition(t, what, a, "inline", it.Filename)
				checkPrivateHeaders(t, what, a)
				s.keep(t, fmt.Sprintf("filename %d GET %d", i, j), a, cmpMedia)
				if j == 0 {
					t.Logf("%q is stored as %q and sent as Content-Disposition: %s", c.name, it.Filename, a.Header.Get("Content-Disposition"))
				}
			}
		})
	}
}

// testActiveContent checks that HTML, SVG and XML, which a browser would
// run, are served as attachments, with nosniff and the strict CSP, while a
// PDF is inline under that same CSP. (Images, which the media pipeline
// works on in the background, are left to the browser test and the video's
// policy to testBytes.)
func (s *suite) testActiveContent(t *testing.T, _ *servingFixture) {
	for _, c := range []struct{ name, body, disposition, csp string }{
		{"page.html", `<!doctype html><html><head><title>t</title></head><body><script>document.title="owned"</script>hello</body></html>`, "attachment", config.MediaCSP},
		{"drawing.svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.domain)</script><circle cx="5" cy="5" r="4"/></svg>`, "attachment", config.MediaCSP},
		{"feed.xml", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>document.title="owned"</script></html>`, "attachment", config.MediaCSP},
		{"brief.pdf", string(minimalPDF("serving")), "inline", config.MediaCSP},
	} {
		t.Run(c.name, func(t *testing.T) {
			it := s.mustUpload(t, s.owner.token, c.name, []byte(c.body))
			defer s.deleteItem(t, s.owner.token, it.ID)
			a := s.get(t, it.URL, s.owner.token)
			if !expectStatus(t, "GET "+c.name, a, http.StatusOK) {
				return
			}
			if string(a.Body) != c.body {
				t.Errorf("GET %s: body %q, want %q", c.name, a.Body, c.body)
			}
			checkDisposition(t, "GET "+c.name, a, c.disposition, c.name)
			checkPrivateHeaders(t, "GET "+c.name, a)
			checkCSP(t, "GET "+c.name, a, c.csp)
			s.keep(t, "GET "+c.name, a, cmpMedia)

			// Through a share link: the same file, the same headers.
			l := s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/links"), token: s.owner.token})
			mustStatus(t, "share "+c.name, l, http.StatusCreated)
			link := decodeJSON[struct {
				URL string `json:"url"`
			}](t, "share "+c.name, l).URL
			a = s.get(t, link+"/download", "")
			if !expectStatus(t, "GET share download of "+c.name, a, http.StatusOK) {
				return
			}
			if string(a.Body) != c.body {
				t.Errorf("GET share download of %s: %d other bytes", c.name, len(a.Body))
			}
			checkDisposition(t, "GET share download of "+c.name, a, c.disposition, c.name)
			checkCSP(t, "GET share download of "+c.name, a, c.csp)
			s.keep(t, "GET share download of "+c.name, a, cmpMedia)
		})
	}
}

// testPublish publishes an item and checks its public URL: the same bytes to
// anyone, served by nginx alone in accel mode (the app is stopped meanwhile),
// and 404 once unpublished, while the private URL still wants credentials.
func (s *suite) testPublish(t *testing.T, f *servingFixture) {
	it := s.mustUpload(t, s.owner.token, "published.mp4", f.data)
	defer s.deleteItem(t, s.owner.token, it.ID)
	a := s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/publish"), token: s.owner.token})
	mustStatus(t, "publish", a, http.StatusOK, http.StatusCreated)
	pub := decodeJSON[struct {
		PublicURL string `json:"public_url"`
	}](t, "publish", a).PublicURL
	if !strings.HasPrefix(pub, "/media/") {
		t.Fatalf("publish: public_url %q is not under /media/", pub)
	}

	var err error
	if s.mode != modeDirect {
		// With the app stopped, only the front end can answer.
		s.withAppStopped(t, func() {
			a, err = s.try(call{method: http.MethodGet, path: pub, timeout: 5 * time.Second})
		})
	} else {
		a, err = s.try(call{method: http.MethodGet, path: pub})
	}
	if err != nil {
		t.Fatalf("GET %s (app stopped: %v): %v", pub, s.mode != modeDirect, err)
	}
	if expectStatus(t, "GET public_url", a, http.StatusOK) {
		if !bytes.Equal(a.Body, f.data) {
			t.Errorf("GET public_url: %d bytes that are not the sample", len(a.Body))
		}
		if mt := mediaType(a.Header); mt != "video/mp4" {
			t.Errorf("GET public_url: Content-Type %q, want video/mp4", a.Header.Get("Content-Type"))
		}
		if !nosniff(a.Header) {
			t.Errorf("GET public_url: X-Content-Type-Options %q, want nosniff", a.Header.Values("X-Content-Type-Options"))
		}
		checkCSP(t, "GET public_url", a, config.PlayerCSP)
	}
	s.keep(t, "GET public_url", a, cmpStatus|cmpBody|cmpType|cmpNosniff|cmpCSP)

	a = s.do(t, call{method: http.MethodDelete, path: itemPath(it.ID, "/publish"), token: s.owner.token})
	mustStatus(t, "unpublish", a, http.StatusNoContent)
	a = s.get(t, pub, "")
	expectStatus(t, "GET public_url after unpublish", a, http.StatusNotFound)
	s.keep(t, "GET public_url after unpublish", a, cmpStatus)
	a = s.get(t, it.URL, "")
	expectStatus(t, "anonymous GET smedia of the unpublished item", a, http.StatusUnauthorized)
	s.keep(t, "anonymous GET unpublished smedia", a, cmpStatus)
	a = s.get(t, it.URL, s.owner.token)
	if expectStatus(t, "owner GET smedia of the unpublished item", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("owner GET smedia after unpublish: %d bytes that are not the sample", len(a.Body))
	}
	if a := s.get(t, f.sample.URL, s.owner.token); a.Status != http.StatusOK || !bytes.Equal(a.Body, f.data) {
		t.Errorf("the sample, which shares the blob, after unpublish: %s", a)
	}

	// Publishing again brings the same URL back; new_url replaces it, and
	// the old one is gone for good.
	publish := func(body string) string {
		t.Helper()
		c := call{method: http.MethodPost, path: itemPath(it.ID, "/publish"), token: s.owner.token}
		if body != "" {
			c.body, c.headers = strings.NewReader(body), [][2]string{{"Content-Type", "application/json"}}
		}
		a := s.do(t, c)
		mustStatus(t, "publish "+body, a, http.StatusOK)
		return decodeJSON[struct {
			PublicURL string `json:"public_url"`
		}](t, "publish", a).PublicURL
	}
	if again := publish(""); again != pub {
		t.Errorf("republish: public_url %q, want the old %q", again, pub)
	}
	if a := s.get(t, pub, ""); expectStatus(t, "GET public_url after republish", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("GET public_url after republish: %d bytes that are not the sample", len(a.Body))
	}
	fresh := publish(`{"new_url": true}`)
	if fresh == pub || !strings.HasPrefix(fresh, "/media/") {
		t.Fatalf("publish with new_url: public_url %q (old %q)", fresh, pub)
	}
	expectStatus(t, "GET the old public_url after new_url", s.get(t, pub, ""), http.StatusNotFound)
	if a := s.get(t, fresh, ""); expectStatus(t, "GET the new public_url", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("GET the new public_url: %d bytes that are not the sample", len(a.Body))
	}
	mustStatus(t, "unpublish", s.do(t, call{method: http.MethodDelete, path: itemPath(it.ID, "/publish"), token: s.owner.token}), http.StatusNoContent)
	if again := publish(""); again != fresh {
		t.Errorf("republish after new_url: public_url %q, want %q", again, fresh)
	}
	expectStatus(t, "GET the replaced public_url after republishing", s.get(t, pub, ""), http.StatusNotFound)
}

// withAppStopped runs fn while the app process is stopped with SIGSTOP.
func (s *suite) withAppStopped(t *testing.T, fn func()) {
	t.Helper()
	pid := s.server.pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stopping the app: %v", err)
	}
	defer func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("resuming the app: %v", err)
		}
	}()
	fn()
}

// testPrivateNotPublic guesses where /media/ might expose a private blob and
// checks that it never does.
func (s *suite) testPrivateNotPublic(t *testing.T, _ *servingFixture) {
	secret := []byte("mediagate private secret " + rand.Text() + "\n")
	it := s.mustUpload(t, s.owner.token, "secret.txt", secret)
	defer s.deleteItem(t, s.owner.token, it.ID)

	var rels []string
	for _, rel := range s.blobs(t) {
		if bytes.Equal(s.blob(t, rel), secret) {
			rels = append(rels, rel)
		}
	}
	if len(rels) == 0 {
		t.Fatalf("no stored blob holds the uploaded secret")
	}
	sum := it.SHA256
	guesses := []string{
		"/media/" + sum, "/media/" + sum + ".txt", "/media/" + sum[:2] + "/" + sum,
		"/media/" + sum[:2] + "/" + sum[2:4] + "/" + sum, "/media/" + string(it.ID),
		"/media/" + string(it.ID) + "/secret.txt", "/media/secret.txt", "/media/private/" + sum,
	}
	for _, rel := range rels {
		guesses = append(guesses,
			"/media/"+rel, "/media/private/"+rel, "/media/../private/"+rel, "/media/%2e%2e/private/"+rel,
			"/media/..%2fprivate%2f"+strings.ReplaceAll(rel, "/", "%2f"), "/media//../private/"+rel,
			"/media/../../"+filepath.Base(s.dataDir)+"/private/"+rel,
			"/media/../blobs/"+rel, "/media/%2e%2e/blobs/"+rel, "/media/..%2fblobs%2f"+rel,
			"/media/../../"+s3Prefix+"blobs/"+rel, "/media/..%2f..%2fblobs%2f"+rel,
		)
	}
	follow := &http.Client{Transport: s.client.Transport}
	for _, g := range guesses {
		a, err := s.try(call{method: http.MethodGet, path: g, client: follow})
		if err != nil {
			t.Errorf("GET %s: %v", g, err)
			continue
		}
		if a.Status < 300 || bytes.Contains(a.Body, secret) {
			t.Errorf("GET %s: %s: /media/ must not serve a private file", g, a)
		}
	}
}

// login posts the login form as a same-origin browser would.
func (s *suite) login(t testing.TB, c *http.Client, email, password string) *answer {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	return s.do(t, call{method: http.MethodPost, path: "/login", client: c, body: strings.NewReader(form.Encode()),
		headers: [][2]string{
			{"Content-Type", "application/x-www-form-urlencoded"},
			{"Origin", s.base},
			{"Sec-Fetch-Site", "same-origin"},
		}})
}

// testSession checks the browser flow: login sets an HttpOnly, SameSite=Lax
// cookie that opens /smedia; a cross-site state change with it is refused;
// logout ends the session, also for a copy of the old cookie.
func (s *suite) testSession(t *testing.T, f *servingFixture) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := newClient(t, jar)

	a := s.login(t, browser, s.admin.email, "wrong "+s.admin.password)
	if a.Status == http.StatusSeeOther && a.Header.Get("Location") == "/" {
		t.Errorf("login with a wrong password: %s, redirected to /", a)
	}
	if a := s.do(t, call{method: "GET", path: "/api/me", client: browser}); a.Status != http.StatusUnauthorized {
		t.Errorf("GET /api/me after a failed login: %s, want 401", a)
	}

	a = s.login(t, browser, s.admin.email, s.admin.password)
	mustStatus(t, "login", a, http.StatusSeeOther)
	s.keep(t, "login", a, cmpStatus)
	cookies := (&http.Response{Header: a.Header}).Cookies()
	if len(cookies) == 0 {
		t.Fatalf("login set no cookie: %q", a.Header.Values("Set-Cookie"))
	}
	for _, c := range cookies {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("login cookie %q: HttpOnly %v, SameSite %v; want HttpOnly and SameSite=Lax (%q)", c.Name, c.HttpOnly, c.SameSite, c.Raw)
		}
	}
	a = s.do(t, call{method: "GET", path: "/api/me", client: browser})
	if mustStatus(t, "GET /api/me with the session", a, http.StatusOK); decodeJSON[me](t, "GET /api/me", a).Email != s.admin.email {
		t.Errorf("GET /api/me with the session: %s, want the admin", a)
	}
	a = s.do(t, call{method: "GET", path: f.sample.URL, client: browser})
	if expectStatus(t, "GET smedia with the session", a, http.StatusOK) && !bytes.Equal(a.Body, f.data) {
		t.Errorf("GET smedia with the session: %d bytes that are not the sample", len(a.Body))
	}
	s.keep(t, "GET smedia with the session", a, cmpMedia)

	// A cross-site DELETE carrying the session cookie must not delete.
	target := s.mustUpload(t, s.owner.token, "csrf-target.mp4", f.data)
	defer s.deleteItem(t, s.owner.token, target.ID)
	a = s.do(t, call{method: http.MethodDelete, path: itemPath(target.ID, ""), client: browser,
		headers: [][2]string{{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}}})
	expectStatus(t, "cross-site DELETE with the session", a, http.StatusForbidden)
	s.keep(t, "cross-site DELETE with the session", a, cmpStatus)
	expectStatus(t, "the cross-site DELETE's target afterwards", s.get(t, itemPath(target.ID, ""), s.owner.token), http.StatusOK)

	base, _ := url.Parse(s.base)
	old := jar.Cookies(base)
	a = s.do(t, call{method: http.MethodPost, path: "/logout", client: browser,
		headers: [][2]string{{"Origin", s.base}, {"Sec-Fetch-Site", "same-origin"}}})
	if a.Status >= 400 {
		t.Errorf("logout: %s", a)
	}
	a = s.do(t, call{method: "GET", path: f.sample.URL, client: browser})
	expectStatus(t, "GET smedia after logout", a, http.StatusUnauthorized)
	s.keep(t, "GET smedia after logout", a, cmpStatus)

	var hdr []string
	for _, c := range old {
		hdr = append(hdr, c.Name+"="+c.Value)
	}
	a = s.do(t, call{method: "GET", path: f.sample.URL, headers: [][2]string{{"Cookie", strings.Join(hdr, "; ")}}})
	expectStatus(t, "GET smedia with the cookie from before the logout", a, http.StatusUnauthorized)

	// An editor's password from "user add --password-stdin" logs in too.
	jar2, _ := cookiejar.New(nil)
	editor := newClient(t, jar2)
	mustStatus(t, "editor login", s.login(t, editor, s.owner.email, s.owner.password), http.StatusSeeOther)
	a = s.do(t, call{method: "GET", path: "/api/me", client: editor})
	if mustStatus(t, "editor GET /api/me", a, http.StatusOK); decodeJSON[me](t, "editor GET /api/me", a).Role != "editor" {
		t.Errorf("editor GET /api/me: %s", a)
	}
}

// testCrossSiteLogin checks that a cross-site form POST to /login is refused.
func (s *suite) testCrossSiteLogin(t *testing.T, _ *servingFixture) {
	jar, _ := cookiejar.New(nil)
	c := newClient(t, jar)
	form := url.Values{"email": {s.admin.email}, "password": {s.admin.password}}
	a := s.do(t, call{method: http.MethodPost, path: "/login", client: c, body: strings.NewReader(form.Encode()),
		headers: [][2]string{
			{"Content-Type", "application/x-www-form-urlencoded"},
			{"Origin", "http://evil.example"},
			{"Sec-Fetch-Site", "cross-site"},
		}})
	expectStatus(t, "cross-site POST /login", a, http.StatusForbidden)
	s.keep(t, "cross-site POST /login", a, cmpStatus)
	if a := s.do(t, call{method: "GET", path: "/api/me", client: c}); a.Status != http.StatusUnauthorized {
		t.Errorf("GET /api/me after the refused cross-site login: %s, want 401", a)
	}
}

// testList checks that GET /api/media lists newest first and that its cursor
// walks every item once.
func (s *suite) testList(t *testing.T, _ *servingFixture) {
	lister := s.addUser(t, "lister@e2e.test", "editor")
	var made []flexID
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		it := s.mustUpload(t, lister.token, n, []byte("list item "+n+" "+rand.Text()))
		made = append(made, it.ID)
		defer s.deleteItem(t, lister.token, it.ID)
	}
	newest := slices.Clone(made)
	slices.Reverse(newest)

	a := s.get(t, "/api/media?limit=2", lister.token)
	mustStatus(t, "list limit=2", a, http.StatusOK)
	page := decodeJSON[mediaList](t, "list", a)
	if got := ids(page.Items); !slices.Equal(got, newest[:2]) || page.NextCursor == "" {
		t.Errorf("first page of 2: ids %v and next_cursor %q, want %v and a cursor", got, page.NextCursor, newest[:2])
	}
	a = s.get(t, "/api/media?limit=2&cursor="+url.QueryEscape(page.NextCursor), lister.token)
	mustStatus(t, "list second page", a, http.StatusOK)
	page = decodeJSON[mediaList](t, "list", a)
	if got := ids(page.Items); !slices.Equal(got, newest[2:]) || page.NextCursor != "" {
		t.Errorf("second page of 2: ids %v and next_cursor %q, want %v and no cursor", got, page.NextCursor, newest[2:])
	}

	var walked []flexID
	cursor := ""
	for range 10 {
		p := "/api/media?limit=1"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		a := s.get(t, p, lister.token)
		mustStatus(t, "list limit=1", a, http.StatusOK)
		page := decodeJSON[mediaList](t, "list", a)
		walked = append(walked, ids(page.Items)...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(walked, newest) {
		t.Errorf("walking pages of 1: %v, want %v", walked, newest)
	}
}

// testTooLarge checks that uploads over MEDIAGATE_MAX_UPLOAD get 413, with or
// without a Content-Length, and leave no new file in DATA_DIR/tmp and no item.
func (s *suite) testTooLarge(t *testing.T, _ *servingFixture) {
	big := bytes.Repeat([]byte("0123456789abcdef"), servingMaxUploadBytes*3/2/16)
	tmpBefore := listFiles(t, s.tmpDir())
	a := s.uploadRaw(t, s.owner.token, "too-big-raw.bin", big)
	expectAPIError(t, "raw upload over the limit", a, http.StatusRequestEntityTooLarge)
	s.keep(t, "raw upload over the limit", a, cmpStatus)

	huge := bytes.Repeat(big, 3) // far over the limit, and over any allowance for multipart framing
	a = s.uploadRaw(t, s.owner.token, "too-big-huge.bin", huge)
	expectAPIError(t, "raw upload far over the limit", a, http.StatusRequestEntityTooLarge)
	s.keep(t, "raw upload far over the limit", a, cmpStatus)

	a, err := s.uploadMultipart(s.owner.token, "too-big-chunked.bin", bytes.NewReader(big), -1, 0)
	if err != nil {
		t.Fatalf("chunked multipart upload over the limit: %v", err)
	}
	expectAPIError(t, "chunked multipart upload over the limit", a, http.StatusRequestEntityTooLarge)
	s.keep(t, "chunked upload over the limit", a, cmpStatus)

	if !eventually(3*time.Second, func() bool { return len(s.newTmpFiles(t, tmpBefore)) == 0 }) {
		t.Errorf("refused uploads left in DATA_DIR/tmp: %v", s.newTmpFiles(t, tmpBefore))
	}
	for _, it := range s.listAll(t, s.admin.token) {
		if strings.HasPrefix(it.Filename, "too-big") {
			t.Errorf("a refused upload left an item: %+v", it)
		}
	}
}

// testDisconnect starts an upload, drops the connection half-way and checks
// that no temporary file and no item remain.
func (s *suite) testDisconnect(t *testing.T, _ *servingFixture) {
	const name = "partial-upload.bin"
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tmpBefore := listFiles(t, s.tmpDir())
	total, sent := 900_000, 300_000
	fmt.Fprintf(conn, "POST /api/media?filename=%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", name, s.addr, s.owner.token, total)
	if _, err := conn.Write(bytes.Repeat([]byte{'x'}, sent)); err != nil {
		t.Fatalf("sending the first %d bytes: %v", sent, err)
	}
	sawTmp := eventually(2*time.Second, func() bool { return len(s.newTmpFiles(t, tmpBefore)) > 0 })
	t.Logf("a temporary file appeared before the disconnect: %v", sawTmp)
	conn.Close()

	clean := eventually(5*time.Second, func() bool { return len(s.newTmpFiles(t, tmpBefore)) == 0 })
	if !clean {
		t.Errorf("left in DATA_DIR/tmp 5s after the client went away: %v", s.newTmpFiles(t, tmpBefore))
	}
	for _, it := range s.listAll(t, s.admin.token) {
		if it.Filename == name {
			t.Errorf("the interrupted upload left an item: %+v", it)
		}
	}
}

// testDedup checks that the same content uploaded twice is one blob file
// with two items, that deleting one keeps the other playable, and that
// deleting and purging both removes the file.
func (s *suite) testDedup(t *testing.T, f *servingFixture) {
	data := append(slices.Clone(f.data), []byte(rand.Text())...) // unique to this test
	before := len(s.blobs(t))
	one := s.mustMultipart(t, s.owner.token, "dup-one.mp4", data)
	two := s.mustUpload(t, s.owner.token, "dup-two.mp4", data)
	if one.ID == two.ID || one.SHA256 != two.SHA256 {
		t.Fatalf("two uploads of the same bytes: ids %s and %s, sha256 %s and %s", one.ID, two.ID, one.SHA256, two.SHA256)
	}
	if n := len(s.blobs(t)); n != before+1 {
		t.Errorf("two uploads of the same new content: %d blob files, want %d", n, before+1)
	}

	a := s.do(t, call{method: http.MethodDelete, path: itemPath(one.ID, ""), token: s.owner.token})
	mustStatus(t, "delete the first copy", a, http.StatusNoContent)
	s.keep(t, "DELETE item", a, cmpStatus)
	expectStatus(t, "GET the deleted copy", s.get(t, one.URL, s.owner.token), http.StatusNotFound)
	expectAPIError(t, "GET /api/media/{id} of the deleted copy", s.get(t, itemPath(one.ID, ""), s.owner.token), http.StatusNotFound)
	if n := len(s.blobs(t)); n != before+1 {
		t.Errorf("after deleting one of two copies: %d blob files, want %d", n, before+1)
	}
	a = s.get(t, two.URL, s.owner.token)
	if expectStatus(t, "GET the remaining copy", a, http.StatusOK) && !bytes.Equal(a.Body, data) {
		t.Errorf("GET the remaining copy: %d bytes that are not the content", len(a.Body))
	}
	a = s.do(t, call{method: http.MethodGet, path: two.URL, token: s.owner.token, headers: [][2]string{{"Range", "bytes=0-99"}}})
	if expectStatus(t, "range of the remaining copy", a, http.StatusPartialContent) && !bytes.Equal(a.Body, data[:100]) {
		t.Errorf("range of the remaining copy: wrong bytes")
	}

	mustStatus(t, "delete the second copy", s.do(t, call{method: http.MethodDelete, path: itemPath(two.ID, ""), token: s.owner.token}), http.StatusNoContent)
	expectStatus(t, "GET the second deleted copy", s.get(t, two.URL, s.owner.token), http.StatusNotFound)
	if n := len(s.blobs(t)); n != before+1 {
		t.Errorf("both copies in the trash: %d blob files, want %d (until the purge)", n, before+1)
	}
	for _, id := range []flexID{one.ID, two.ID} {
		mustStatus(t, "purge a copy", s.do(t, call{method: http.MethodDelete, path: "/api/trash/" + string(id), token: s.owner.token}), http.StatusNoContent)
	}
	if !eventually(5*time.Second, func() bool { return len(s.blobs(t)) == before }) {
		t.Errorf("after deleting both copies: %d blobs, want %d", len(s.blobs(t)), before)
	}
	if n := s.blobsHolding(t, data); n != 0 {
		t.Errorf("after deleting both copies, %d files still hold the content", n)
	}
}

// newTmpFiles lists the files under DATA_DIR/tmp that are not in before
// (the server's own lock file, held for its whole life, is there before).
func (s *suite) newTmpFiles(t testing.TB, before []string) []string {
	t.Helper()
	var out []string
	for _, f := range listFiles(t, s.tmpDir()) {
		if !slices.Contains(before, f) {
			out = append(out, f)
		}
	}
	return out
}

// deleteItem deletes an item a test made, and purges it from the trash,
// tolerating one already gone.
func (s *suite) deleteItem(t testing.TB, token string, id flexID) {
	t.Helper()
	for _, path := range []string{itemPath(id, ""), "/api/trash/" + url.PathEscape(string(id))} {
		a, err := s.try(call{method: http.MethodDelete, path: path, token: token})
		if err != nil {
			t.Errorf("deleting item %s: %v", id, err)
			return
		}
		if a.Status != http.StatusNoContent && a.Status != http.StatusNotFound {
			t.Errorf("DELETE %s: %s, want 204", path, a)
		}
	}
}

// baseType is a media type without its parameters.
func baseType(v string) string {
	mt, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(strings.ToLower(mt))
}

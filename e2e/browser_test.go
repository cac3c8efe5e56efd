package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mediagate/mediagate/internal/testenv"
)

// Sizes and settings of the browser tests.
const (
	browserMaxUpload = "64MiB"
	// The long video: sample.mp4's frames played 20 times over (60 s), each
	// after 16 KiB of filler, about 25 MB: far more than a player buffers
	// ahead, so a far seek needs a new Range request.
	longRepeat = 20
	longPad    = 16 << 10
	// The resumable upload: one tus PATCH (the page sends 8 MiB per PATCH),
	// sent at 1 MiB/s so that the test can cut it off half-way.
	resumeSize     = 8 << 20
	resumeRate     = 1 << 20
	resumeCutAt    = 40 // percent
	sharePassword  = "open sesame 42"
	headlessAgent  = "HeadlessChrome/"
	chromeMediaReq = "Media" // network.ResourceType of a media element's requests
)

// browserFixture is what the browser subtests share. Each subtest can also
// run alone (-run 'Browser/grant'): what an earlier one would have made, it
// makes through the API.
type browserFixture struct {
	s             *suite
	owner, viewer *user
	ownerChrome   *chrome // signed in by the first subtest that needs it
	ownerIn       bool
	shots         int
	sample        []byte
	video         *mediaItem // sample.mp4 as uploaded through the page
}

// TestBrowser drives Debian's chromium, headless, through Mediagate's pages
// with the app behind a real nginx (X-Accel-Redirect): upload and playback
// with seeking, access given through the page, share links (with a password,
// and revoked under a player that is still open), a resumable upload cut off
// half-way, and the PDF preview. Screenshots of every step go to
// $MEDIAGATE_ARTIFACTS (default: a directory under os.TempDir()).
func TestBrowser(t *testing.T) {
	testenv.LookPath(t, "chromium")
	start := time.Now()
	s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: browserMaxUpload, serveArgs: []string{"serve"}})
	f := &browserFixture{
		s:      s,
		owner:  s.addUser(t, "owner@browser.test", "editor"),
		viewer: s.addUser(t, "viewer@browser.test", "viewer"),
		sample: sampleMP4(t),
	}
	t.Logf("screenshots go to %s", artifactsDir(t))
	f.ownerChrome = s.newChrome(t, "owner", &f.shots)
	for _, st := range []struct {
		name string
		fn   func(*testing.T, *browserFixture)
	}{
		{"upload-and-play", testUploadAndPlay},
		{"grant", testGrantThroughPage},
		{"share-links", testShareLinks},
		{"resumable-upload", testResumableUpload},
		{"pdf-preview", testPDFPreview},
		{"posters", testPosters},
		{"faststart-bytes", testFaststartBytes},
		{"edit-captions-and-poster", testEditCaptionsAndPoster},
		{"login-next-stays-on-site", testLoginNextStaysOnSite},
	} {
		t.Run(st.name, func(t *testing.T) {
			began := time.Now()
			st.fn(t, f)
			t.Logf("%s took %v", st.name, time.Since(began).Round(time.Millisecond))
		})
	}
	t.Logf("browser suite took %v", time.Since(start).Round(time.Millisecond))
}

// ownerSignedIn returns the owner's browser, signing in through the page the
// first time.
func (f *browserFixture) ownerSignedIn(t *testing.T) *chrome {
	t.Helper()
	if !f.ownerIn {
		f.ownerChrome.login(t, f.owner)
		f.ownerIn = true
	}
	return f.ownerChrome
}

// videoItem is sample.mp4 as the first subtest uploaded it, or uploaded now
// through the API when that subtest did not run or failed.
func (f *browserFixture) videoItem(t *testing.T) mediaItem {
	t.Helper()
	if f.video == nil {
		it := f.s.mustUpload(t, f.owner.token, "sample.mp4", f.sample)
		f.video = &it
	}
	return *f.video
}

// progressJS reads the first upload row: its progress bar's aria-valuenow,
// its classes and its link.
const progressJS = `(() => {
	const row = document.querySelector("[data-testid=upload-row]");
	if (!row) return {present: false};
	const bar = row.querySelector("[data-testid=upload-progress]");
	const link = row.querySelector("[data-testid=upload-link]");
	const fill = bar && bar.firstElementChild;
	const panel = document.querySelector("[data-testid=uploads]");
	return {present: true, value: bar ? bar.getAttribute("aria-valuenow") : "", role: bar ? bar.getAttribute("role") : "",
		drawn: fill ? fill.getBoundingClientRect().width / bar.getBoundingClientRect().width : 0,
		done: row.classList.contains("is-done"), error: row.classList.contains("is-error"),
		info: (row.querySelector(".upload-info") || {}).textContent || "",
		href: link ? link.getAttribute("href") : "", panelShown: !!panel && !panel.hidden};
})()`

// uploadRow is what progressJS returns.
type uploadRow struct {
	Present    bool    `json:"present"`
	Value      string  `json:"value"`
	Role       string  `json:"role"`
	Drawn      float64 `json:"drawn"` // how much of the bar is filled, 0 to 1
	Done       bool    `json:"done"`
	Error      bool    `json:"error"`
	Info       string  `json:"info"`
	Href       string  `json:"href"`
	PanelShown bool    `json:"panelShown"`
}

// watchUpload polls the upload row until stop accepts it, recording every
// distinct aria-valuenow on the way, and fails t if the row shows an error
// or its values go down.
func watchUpload(t *testing.T, c *chrome, what string, timeout time.Duration, stop func(uploadRow) bool) (uploadRow, []int) {
	t.Helper()
	var values []int
	row := pollJS(t, c, what, timeout, progressJS, func(r uploadRow) bool {
		if r.Error {
			return true
		}
		if n, err := strconv.Atoi(r.Value); err == nil && (len(values) == 0 || values[len(values)-1] != n) {
			values = append(values, n)
		}
		return r.Present && stop(r)
	})
	if row.Error {
		c.fail(t, "%s: the upload row shows an error: %q", what, row.Info)
	}
	if row.Role != "progressbar" {
		t.Errorf("%s: the upload's bar has role %q, want progressbar", what, row.Role)
	}
	for i := 1; i < len(values); i++ {
		if values[i] < values[i-1] {
			t.Errorf("%s: the progress went down: %v", what, values)
			break
		}
	}
	return row, values
}

// itemIDFromHref is the id in a link to /m/{id}.
func itemIDFromHref(t *testing.T, href string) flexID {
	t.Helper()
	id, ok := strings.CutPrefix(href, "/m/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("upload link %q is not /m/{id}", href)
	}
	id, err := url.PathUnescape(id)
	if err != nil {
		t.Fatalf("upload link %q: %v", href, err)
	}
	return flexID(id)
}

// testUploadAndPlay signs in through the page, uploads sample.mp4 through
// the file input (tus, with a progress bar), opens the item's page, plays
// the video, seeks to its middle, and checks that nginx answered the
// player's Range requests with 206.
func testUploadAndPlay(t *testing.T, f *browserFixture) {
	s := f.s
	c := f.ownerSignedIn(t)
	c.screenshot(t, "library")

	mark := c.net.mark()
	c.do(t, "choosing sample.mp4 in the file input", 0,
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-input`), []string{filepath.Join(repoRoot, "testdata", "sample.mp4")}))
	row, values := watchUpload(t, c, "the upload's progress to reach 100", 30*time.Second, func(r uploadRow) bool { return r.Value == "100" })
	t.Logf("aria-valuenow went through %v (a 44 KB file may go from 0 to 100 at once)", values)
	if !row.PanelShown {
		t.Errorf("the uploads panel is hidden during the upload")
	}
	row = pollJS(t, c, "the upload to be done, with its link and a full bar", 0, progressJS, func(r uploadRow) bool {
		return (r.Done && r.Href != "" && r.Drawn > 0.99) || r.Error
	})
	if row.Error || row.Value != "100" {
		c.fail(t, "upload row after the upload: %+v", row)
	}
	c.screenshot(t, "uploaded")
	tus := c.net.since(mark, func(e netEvent) bool { return strings.Contains(e.URL, "/api/uploads/") })
	if !slices.ContainsFunc(tus, func(e netEvent) bool { return e.Method == http.MethodPost && e.Status == http.StatusCreated }) ||
		!slices.ContainsFunc(tus, func(e netEvent) bool { return e.Method == http.MethodPatch && e.Status == http.StatusNoContent }) {
		t.Errorf("the page did not upload by tus (POST 201, PATCH 204):%s", describe(tus))
	}

	id := itemIDFromHref(t, row.Href)
	a := s.get(t, itemPath(id, ""), f.owner.token)
	mustStatus(t, "GET the uploaded item", a, http.StatusOK)
	it := decodeJSON[mediaItem](t, "GET the uploaded item", a)
	checkItem(t, it, f.sample)
	if it.Filename != "sample.mp4" || baseType(it.ContentType) != "video/mp4" {
		t.Errorf("the uploaded item: %+v, want sample.mp4, video/mp4", it)
	}
	f.video = &it

	// The library lists it once its listing refreshed (its picture is the
	// pipeline's thumbnail: see testPosters).
	pollJS(t, c, "the new item in the library", 0,
		fmt.Sprintf(`!!document.querySelector('[data-testid=items] li.item[data-id=%q]')`, string(id)), func(b bool) bool { return b })

	mark = c.net.mark()
	logMark := len(s.accessLog(t))
	c.do(t, "opening the item's page from the upload's link", 0, chromedp.Click(chromedp.CSS(`[data-testid=upload-link]`)))
	pollJS(t, c, "the media page", 0, `location.pathname + "|" + document.body.dataset.page`,
		func(v string) bool { return v == "/m/"+string(id)+"|media" })
	c.watchPlayer(t)
	v := c.waitMetadata(t)
	if v.ErrorCode != 0 || v.Duration < 2.9 || v.Duration > 3.1 {
		c.fail(t, "the player's metadata: %s; want a 3 s video", v)
	}
	c.play(t)
	v = c.waitPlaying(t, "currentTime to advance", 0.3)
	t.Logf("playing: %s", v)
	c.screenshot(t, "playing")

	middle := v.Duration / 2
	c.seek(t, middle)
	v = c.waitPlaying(t, fmt.Sprintf("playback to go on after seeking to %.2f", middle), middle+0.3)
	if !slices.ContainsFunc(v.Events, func(e string) bool { return strings.HasPrefix(e, "seeked@") }) {
		t.Errorf("no seeked event: %s", v)
	}
	t.Logf("after the seek to %.2f: %s", middle, v)
	c.screenshot(t, "playing-after-seek")

	// The player asked by Range and got 206s, from nginx.
	media := c.net.since(mark, func(e netEvent) bool { return e.Type == chromeMediaReq })
	if len(media) == 0 {
		t.Fatalf("the player made no media request; requests:%s", describe(c.net.since(mark, nil)))
	}
	for _, e := range media {
		if !strings.Contains(e.URL, "/smedia/"+string(id)) || !strings.HasPrefix(e.Request["range"], "bytes=") || e.Status != http.StatusPartialContent {
			t.Errorf("player request %s %s: Range %q, status %d; want a Range request to /smedia/%s answered 206", e.Method, e.URL, e.Request["range"], e.Status, id)
		}
		if cr := e.Response["content-range"]; !strings.HasPrefix(cr, "bytes ") || !strings.HasSuffix(cr, "/"+strconv.Itoa(len(f.sample))) {
			t.Errorf("player request with Range %q: Content-Range %q, want bytes …/%d", e.Request["range"], cr, len(f.sample))
		}
	}
	// (The poster, under /smedia/{id}/-/, is an image request, not the player's.)
	lines := s.accessSince(t, logMark, 5*time.Second, len(media), func(e accessEntry) bool {
		return strings.HasPrefix(e.URI, "/smedia/"+string(id)) && !strings.HasPrefix(e.URI, "/smedia/"+string(id)+"/-/") &&
			strings.Contains(e.Agent, headlessAgent)
	})
	if len(lines) < len(media) {
		t.Errorf("nginx logged %d requests of the player for /smedia/%s, the browser made %d:%s", len(lines), id, len(media), describe(media))
	}
	for _, e := range lines {
		if e.Status != http.StatusPartialContent {
			t.Errorf("nginx access log line %d: %s %s answered %d, want 206", e.Line, e.Method, e.URI, e.Status)
		}
	}
	// (sample.mp4 is 44 KB: the first response brings all of it, so the seek
	// is played from the player's buffer; the share test seeks far into a
	// larger video, which takes a new Range request.)
	t.Logf("player's Range requests:%s; nginx logged %d of them, all 206", describe(media), len(lines))
}

// testGrantThroughPage checks that a user without a grant gets the not-found
// page for the item, and that after the owner gives view access in the
// access form, the video plays for them.
func testGrantThroughPage(t *testing.T, f *browserFixture) {
	s := f.s
	it := f.videoItem(t)
	v := s.newChrome(t, "viewer", &f.shots)
	v.login(t, f.viewer)

	if st := v.navigate(t, "/m/"+string(it.ID)); st != http.StatusNotFound {
		v.fail(t, "GET /m/%s without a grant: status %d, want 404", it.ID, st)
	}
	page := evalJS[string](t, v, `(document.querySelector("main h1") || {}).textContent + "|" + !!document.querySelector("#player")`)
	if page != "Not Found|false" {
		t.Errorf("the page without a grant shows %q, want the Not Found page without a player", page)
	}
	v.screenshot(t, "not-found")

	o := f.ownerSignedIn(t)
	if st := o.navigate(t, "/m/"+string(it.ID)); st != http.StatusOK {
		o.fail(t, "owner GET /m/%s: status %d", it.ID, st)
	}
	pollJS(t, o, "the access list to load", 0,
		`(() => { const l = document.querySelector("[data-testid=grant-list]"); return !!l && !/Loading/.test(l.textContent) })()`, func(b bool) bool { return b })
	o.do(t, "filling in the access form", 0,
		chromedp.SetValue(chromedp.CSS(`[data-testid=grant-type]`), "user"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=grant-name]`), f.viewer.email),
		chromedp.SetValue(chromedp.CSS(`[data-testid=grant-level]`), "view"),
	)
	o.screenshot(t, "grant-form")
	o.do(t, "giving access", 0, chromedp.Click(chromedp.CSS(`[data-testid=grant-add]`)))
	subject := "user:" + f.viewer.email
	got := pollJS(t, o, "the new grant in the list", 0, fmt.Sprintf(`(() => {
		const li = document.querySelector('[data-testid=grant][data-subject=%q]');
		const toast = document.querySelector("#toast");
		return li ? li.querySelector("select").value + "|" + (toast && !toast.hidden ? toast.textContent : "") : "";
	})()`, subject), func(v string) bool { return v != "" })
	if want := "view|Access given to " + f.viewer.email + "."; got != want {
		t.Errorf("after giving access: grant level and toast %q, want %q", got, want)
	}
	o.screenshot(t, "granted")
	a := s.get(t, itemPath(it.ID, "/grants"), f.owner.token)
	mustStatus(t, "GET grants", a, http.StatusOK)
	if g := decodeJSON[grantList](t, "GET grants", a); !slices.Contains(g.Grants, grant{subject, "view"}) {
		t.Errorf("the API's grants %+v lack {%s view}", g.Grants, subject)
	}

	mark := v.net.mark()
	if st := v.navigate(t, "/m/"+string(it.ID)); st != http.StatusOK {
		v.fail(t, "GET /m/%s with a grant: status %d, want 200", it.ID, st)
	}
	v.watchPlayer(t)
	v.waitMetadata(t)
	v.play(t)
	state := v.waitPlaying(t, "the granted video to play", 0.3)
	t.Logf("the viewer plays it: %s", state)
	v.screenshot(t, "viewer-playing")
	media := v.net.since(mark, func(e netEvent) bool { return e.Type == chromeMediaReq })
	if len(media) == 0 {
		t.Errorf("the viewer's player made no media request")
	}
	for _, e := range media {
		if e.Status != http.StatusPartialContent {
			t.Errorf("viewer's player request %s (Range %q): status %d, want 206", e.URL, e.Request["range"], e.Status)
		}
	}
}

// createLink makes a share link in the owner's media page and returns its
// absolute URL.
func createLink(t *testing.T, o *chrome, id flexID, password string) string {
	t.Helper()
	if st := o.navigate(t, "/m/"+string(id)); st != http.StatusOK {
		o.fail(t, "owner GET /m/%s: status %d", id, st)
	}
	o.do(t, "waiting for the share links section", 0, chromedp.WaitVisible(chromedp.CSS(`[data-testid=links]`)))
	if password != "" {
		o.do(t, "typing the link's password", 0, chromedp.SendKeys(chromedp.CSS(`[data-testid=link-password]`), password))
	}
	o.do(t, "creating the link", 0, chromedp.Click(chromedp.CSS(`[data-testid=link-create]`)))
	link := pollJS(t, o, "the new link's URL", 0,
		`(() => { const n = document.querySelector("[data-testid=new-link]"); return n && !n.hidden && document.querySelectorAll("[data-testid=link]").length > 0 ? document.querySelector("[data-testid=new-link-url]").value : "" })()`,
		func(v string) bool { return v != "" })
	if !strings.HasPrefix(link, o.s.base+"/s/") {
		t.Fatalf("new link %q is not under %s/s/", link, o.s.base)
	}
	o.screenshot(t, "link-created")
	return link
}

// testShareLinks opens a password link in a fresh profile (the form first,
// then the player), plays a share link in another fresh profile, and checks
// that a link revoked in the owner's page stops the player still open on it:
// its next Range request (a far seek) is refused and the video errors.
func testShareLinks(t *testing.T, f *browserFixture) {
	s := f.s
	o := f.ownerSignedIn(t)

	// A link with a password asks for it first.
	pwLink := createLink(t, o, f.videoItem(t).ID, sharePassword)
	locked := s.newChrome(t, "anon-password", &f.shots)
	if st := locked.navigate(t, strings.TrimPrefix(pwLink, s.base)); st != http.StatusOK {
		locked.fail(t, "GET the password link: status %d", st)
	}
	if got := evalJS[string](t, locked, `!!document.querySelector("[data-testid=share-password]") + "|" + !!document.querySelector("#player")`); got != "true|false" {
		t.Errorf("the password link shows password form|player = %s, want the form and no player", got)
	}
	locked.screenshot(t, "password-form")
	locked.do(t, "giving the password", 0,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=share-password]`), sharePassword),
		chromedp.Click(chromedp.CSS(`[data-testid=share-unlock]`)),
	)
	locked.watchPlayer(t)
	if path := evalJS[string](t, locked, `location.pathname`); path != strings.TrimPrefix(pwLink, s.base) {
		t.Errorf("after the password the page is %s, want the link's page", path)
	}
	locked.waitMetadata(t)
	locked.play(t)
	pv := locked.waitPlaying(t, "the password link's video to play", 0.3)
	t.Logf("password link plays: %s", pv)
	locked.screenshot(t, "password-link-playing")

	// A fresh profile, signed in nowhere, plays a link to the long video.
	long, err := longVideo(f.sample, longRepeat, longPad)
	if err != nil {
		t.Fatalf("making the long video: %v", err)
	}
	longItem := s.mustUpload(t, f.owner.token, "long.mp4", long)
	link := createLink(t, o, longItem.ID, "")
	token := strings.TrimPrefix(link, s.base+"/s/")
	anon := s.newChrome(t, "anon", &f.shots)
	if st := anon.navigate(t, strings.TrimPrefix(link, s.base)); st != http.StatusOK {
		anon.fail(t, "GET the share link: status %d", st)
	}
	if st := evalJS[int](t, anon, `fetch("/api/me").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Errorf("GET /api/me in the fresh profile: %d, want 401 (not signed in)", st)
	}
	anon.watchPlayer(t)
	v := anon.waitMetadata(t)
	if v.ErrorCode != 0 || v.Duration < 59 || v.Duration > 61 {
		anon.fail(t, "the shared long video's metadata: %s; want 60 s", v)
	}
	anon.play(t)
	v = anon.waitPlaying(t, "the shared video to play", 0.5)
	anon.screenshot(t, "share-playing")

	// While the link holds, a far seek asks for a new range and gets it.
	mark := anon.net.mark()
	to := v.Duration * 0.4
	anon.seek(t, to)
	v = anon.waitPlaying(t, fmt.Sprintf("the shared video to play on after seeking to %.0f s", to), to+0.3)
	seekReqs := anon.net.since(mark, func(e netEvent) bool { return e.Type == chromeMediaReq })
	if !slices.ContainsFunc(seekReqs, func(e netEvent) bool {
		return e.Status == http.StatusPartialContent && rangeStart(e.Request["range"]) > 0
	}) {
		t.Errorf("seeking to %.0f s made no Range request from a later offset answered 206:%s", to, describe(seekReqs))
	}
	t.Logf("seek to %.0f s while the link holds: %s;%s", to, v, describe(seekReqs))

	// Revoke it in the owner's page while anon's player plays on.
	if st := o.navigate(t, "/m/"+string(longItem.ID)); st != http.StatusOK {
		o.fail(t, "owner GET /m/%s: status %d", longItem.ID, st)
	}
	o.do(t, "revoking the link", 0,
		chromedp.Click(chromedp.CSS(`[data-testid=revoke-link]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm [data-testid=confirm-ok]`)),
		chromedp.Click(chromedp.CSS(`#confirm [data-testid=confirm-ok]`)),
	)
	got := pollJS(t, o, "the link to leave the list", 0, `(() => {
		const toast = document.querySelector("#toast");
		return document.querySelectorAll("[data-testid=link]").length + "|" + (toast && !toast.hidden ? toast.textContent : "");
	})()`, func(v string) bool { return strings.HasPrefix(v, "0|") })
	if got != "0|Link revoked." {
		t.Errorf("after revoking: links|toast %q, want 0|Link revoked.", got)
	}
	o.screenshot(t, "link-revoked")

	before := anon.video(t)
	far := before.Duration * 0.8
	if before.ErrorCode != 0 || before.Paused {
		t.Fatalf("anon's player stopped before the seek: %s", before)
	}
	for i := 0; i+1 < len(before.Buffered); i += 2 {
		if before.Buffered[i] <= far && far < before.Buffered[i+1] {
			t.Fatalf("the player had already buffered %.0f s (%v): seeking there would need no request, so it proves nothing", far, before.Buffered)
		}
	}
	mark = anon.net.mark()
	logMark := len(s.accessLog(t))
	anon.seek(t, far)
	after, err := waitJS(anon, 10*time.Second, videoStateJS, func(v videoState) bool { return v.ErrorCode != 0 })
	switch {
	case err == nil:
		t.Logf("after the revoke, seeking to %.0f s: the video errors: %s", far, after)
	case after.CurrentTime < far+0.5 && after.ReadyState < 3:
		t.Logf("after the revoke, seeking to %.0f s: the video stalls without an error: %s", far, after)
	default:
		t.Errorf("after the revoke, seeking to %.0f s: the video neither errors nor stalls: %s", far, after)
	}
	anon.screenshot(t, "after-revoke-seek")
	reqs := anon.net.since(mark, func(e netEvent) bool { return e.Type == chromeMediaReq })
	refused := slices.ContainsFunc(reqs, func(e netEvent) bool {
		return strings.Contains(e.URL, "/s/"+token+"/download") && (e.Status == http.StatusGone || e.Status == http.StatusForbidden)
	})
	if !refused {
		t.Errorf("no media request after the revoke was refused with 410 or 403:%s", describe(reqs))
	}
	for _, e := range reqs {
		if e.Status >= 200 && e.Status < 300 {
			t.Errorf("after the revoke, request %s (Range %q) got %d", e.URL, e.Request["range"], e.Status)
		}
	}
	t.Logf("the player's requests after the revoke:%s", describe(reqs))
	lines := s.accessSince(t, logMark, 5*time.Second, 1, func(e accessEntry) bool {
		return strings.HasPrefix(e.URI, "/s/") && strings.Contains(e.URI, "/download") && strings.Contains(e.Agent, headlessAgent) &&
			(e.Status == http.StatusGone || e.Status == http.StatusForbidden)
	})
	if len(lines) == 0 {
		t.Errorf("nginx logged no 410 or 403 for the player's /s/…/download after the revoke")
	} else {
		t.Logf("nginx logged %s %s %d for the player after the revoke", lines[0].Method, lines[0].URI, lines[0].Status)
	}

	// The link's page is gone too.
	if st := anon.navigate(t, strings.TrimPrefix(link, s.base)); st != http.StatusGone {
		t.Errorf("GET the revoked link's page: status %d, want 410", st)
	}
	anon.screenshot(t, "revoked-page")
}

// rangeStart is the first byte of a "bytes=N-…" Range header, or -1.
func rangeStart(h string) int64 {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return -1
	}
	from, _, _ := strings.Cut(spec, "-")
	n, err := strconv.ParseInt(from, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// throttleUploads limits the tab's upload rate (bytes per second); 0 lifts
// the limit.
func throttleUploads(t *testing.T, c *chrome, rate float64) {
	t.Helper()
	var rules []*network.Conditions
	if rate > 0 {
		rules = append(rules, &network.Conditions{UploadThroughput: rate, DownloadThroughput: -1})
	}
	c.do(t, "setting the network conditions", 0, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: rules,
		})
		return err
	}))
}

// testResumableUpload cuts off a page upload half-way (a reload), picks the
// same file again, and checks that the page resumed the same tus upload
// from where the server was, and that the stored sha256 is the file's.
func testResumableUpload(t *testing.T, f *browserFixture) {
	s := f.s
	data := make([]byte, resumeSize)
	rand.NewChaCha8([32]byte{'r', 'e', 's', 'u', 'm', 'e'}).Read(data)
	file := filepath.Join(t.TempDir(), "resume-8MiB.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := s.newChrome(t, "uploader", &f.shots) // a fresh profile: nothing in its localStorage
	c.login(t, f.owner)

	throttleUploads(t, c, resumeRate)
	mark := c.net.mark()
	c.do(t, "choosing the 8 MiB file", 0, chromedp.SetUploadFiles(chromedp.CSS(`#upload-input`), []string{file}))
	row, values := watchUpload(t, c, fmt.Sprintf("the upload to pass %d%%", resumeCutAt), 30*time.Second, func(r uploadRow) bool {
		n, err := strconv.Atoi(r.Value)
		return err == nil && n >= resumeCutAt
	})
	t.Logf("aria-valuenow before the cut: %v", values)
	if row.Done {
		t.Fatalf("the upload finished before it could be cut off: %+v", row)
	}
	c.screenshot(t, "before-cut")
	keys := evalJS[map[string]string](t, c, `Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith("mg.tus:")).map(k => [k, localStorage.getItem(k)]))`)
	if len(keys) != 1 {
		t.Fatalf("localStorage holds %d tus upload URLs, want 1: %v", len(keys), keys)
	}
	var uploadURL string
	for _, v := range keys {
		uploadURL = v
	}
	if !strings.HasPrefix(uploadURL, s.base+"/api/uploads/") {
		t.Fatalf("the remembered upload URL %q is not under /api/uploads/", uploadURL)
	}

	c.do(t, "reloading the page in the middle of the upload", 0, chromedp.Reload())
	throttleUploads(t, c, 0)
	cut := c.net.mark()
	patched := c.net.since(mark, func(e netEvent) bool { return e.Method == http.MethodPatch })
	if len(patched) == 0 || patched[0].Status != 0 && patched[0].Failed == "" {
		t.Errorf("the first PATCH was not cut off by the reload:%s", describe(patched))
	}

	// The server kept what arrived before the cut.
	path := strings.TrimPrefix(uploadURL, s.base)
	var kept int64 = -1
	eventually(5*time.Second, func() bool {
		a, err := s.try(call{method: http.MethodHead, path: path, token: f.owner.token, headers: [][2]string{{"Tus-Resumable", "1.0.0"}}})
		if err != nil || a.Status != http.StatusOK {
			return false
		}
		n, err := strconv.ParseInt(a.Header.Get("Upload-Offset"), 10, 64)
		if err != nil {
			return false
		}
		stable := n == kept
		kept = n
		return stable
	})
	if kept <= 0 || kept >= resumeSize {
		t.Fatalf("after the cut the server has %d of %d bytes; want some, not all", kept, resumeSize)
	}
	t.Logf("the cut left %d of %d bytes (%.0f%%) on the server", kept, resumeSize, float64(kept)*100/resumeSize)

	c.do(t, "choosing the same file again", 0, chromedp.SetUploadFiles(chromedp.CSS(`#upload-input`), []string{file}))
	row, values = watchUpload(t, c, "the resumed upload to finish", 30*time.Second, func(r uploadRow) bool { return r.Done && r.Href != "" && r.Drawn > 0.99 })
	t.Logf("aria-valuenow after resuming: %v", values)
	c.screenshot(t, "resumed-done")

	resumed := c.net.since(cut, func(e netEvent) bool { return strings.Contains(e.URL, "/api/uploads/") })
	if slices.ContainsFunc(resumed, func(e netEvent) bool { return e.Method == http.MethodPost }) {
		t.Errorf("the page created a new upload instead of resuming:%s", describe(resumed))
	}
	i := slices.IndexFunc(resumed, func(e netEvent) bool { return e.Method == http.MethodHead && e.URL == uploadURL })
	if i < 0 || resumed[i].Status != http.StatusOK {
		t.Fatalf("the page did not ask the server for its offset (HEAD %s → 200):%s", uploadURL, describe(resumed))
	}
	headOffset := resumed[i].Response["upload-offset"]
	j := slices.IndexFunc(resumed, func(e netEvent) bool { return e.Method == http.MethodPatch })
	if j < i {
		t.Fatalf("no PATCH after the HEAD:%s", describe(resumed))
	}
	first := resumed[j]
	if off := first.Request["upload-offset"]; off != headOffset || off != strconv.FormatInt(kept, 10) {
		t.Errorf("the resumed PATCH sent Upload-Offset %q; the HEAD said %q and the server had %d", off, headOffset, kept)
	}
	t.Logf("resumed with PATCH Upload-Offset %s (HEAD said %s):%s", first.Request["upload-offset"], headOffset, describe(resumed))

	id := itemIDFromHref(t, row.Href)
	a := s.get(t, itemPath(id, ""), f.owner.token)
	mustStatus(t, "GET the resumed upload's item", a, http.StatusOK)
	it := decodeJSON[mediaItem](t, "GET the resumed upload's item", a)
	if it.SHA256 != sha256Hex(data) || it.Size != resumeSize || it.Filename != filepath.Base(file) {
		t.Errorf("the resumed upload's item: %+v; want %s, %d bytes, sha256 %s", it, filepath.Base(file), resumeSize, sha256Hex(data))
	}
	if left := evalJS[int](t, c, `Object.keys(localStorage).filter(k => k.startsWith("mg.tus:")).length`); left != 0 {
		t.Errorf("localStorage still holds %d tus upload URLs after the upload finished", left)
	}
}

// testPDFPreview uploads a PDF through the API and checks that its media
// page shows it in the #pdf frame: the frame's document loads (200,
// application/pdf, not blocked) and Chrome's viewer draws a page in it.
func testPDFPreview(t *testing.T, f *browserFixture) {
	s := f.s
	doc := minimalPDF("Mediagate PDF preview")
	it := s.mustUpload(t, f.owner.token, "preview.pdf", doc)
	if baseType(it.ContentType) != "application/pdf" {
		t.Fatalf("the PDF was stored as %q", it.ContentType)
	}
	o := f.ownerSignedIn(t)
	mark := o.net.mark()
	logMark := len(s.accessLog(t))
	if st := o.navigate(t, "/m/"+string(it.ID)); st != http.StatusOK {
		o.fail(t, "GET /m/%s: status %d", it.ID, st)
	}
	src := evalJS[string](t, o, `(() => { const f = document.querySelector("#pdf[data-testid=pdf]"); return f ? f.getAttribute("src") : "" })()`)
	if want := it.URL; src != want {
		t.Fatalf("the #pdf frame's src is %q, want %q", src, want)
	}
	// The frame's document: loaded, not blocked (ERR_BLOCKED_BY_CLIENT is
	// what Chrome reports when it refuses to show a PDF in a frame).
	var loads []netEvent
	eventually(chromeStepTimeout, func() bool {
		loads = o.net.since(mark, func(e netEvent) bool { return strings.HasSuffix(e.URL, src) })
		return len(loads) > 0 && (loads[0].Status != 0 || loads[0].Failed != "")
	})
	if len(loads) != 1 {
		o.fail(t, "want one request for the preview %s:%s", src, describe(loads))
	}
	e := loads[0]
	if e.Status != http.StatusOK || e.Failed != "" || baseType(e.Response["content-type"]) != "application/pdf" || !strings.HasPrefix(e.Response["content-disposition"], "inline") {
		t.Errorf("the preview's request: status %d, failed %q (canceled %v), Content-Type %q, Content-Disposition %q; want 200 application/pdf inline, not blocked",
			e.Status, e.Failed, e.Canceled, e.Response["content-type"], e.Response["content-disposition"])
	}
	pollJS(t, o, "the frame's document to be the PDF", 0,
		`(() => { const d = document.querySelector("#pdf").contentDocument; return d ? d.contentType : "" })()`,
		func(v string) bool { return v == "application/pdf" })
	if lines := s.accessSince(t, logMark, 5*time.Second, 1, func(a accessEntry) bool { return a.URI == src }); len(lines) == 0 || lines[0].Status != http.StatusOK {
		t.Errorf("nginx's log for %s: %+v, want a 200", src, lines)
	}

	// Chrome's viewer draws its dark frame around a white page.
	var dark, white float64
	drawn := eventually(15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(o.ctx, 5*time.Second)
		defer cancel()
		shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`#pdf`)))
		if err != nil {
			return false
		}
		dark, white = darkAndWhite(shot)
		return dark > 0.15 && white > 0.15
	})
	o.screenshot(t, "pdf-preview")
	if !drawn {
		t.Errorf("the #pdf frame does not look like Chrome's PDF viewer showing a page: %.0f%% dark, %.0f%% white pixels", dark*100, white*100)
	} else {
		t.Logf("the #pdf frame: %.0f%% dark (viewer), %.0f%% white (page) pixels", dark*100, white*100)
	}
}

// pipelineItem is an item with what the media pipeline found.
type pipelineItem struct {
	mediaItem
	Media *struct {
		State     string  `json:"state"`
		Reason    string  `json:"reason"`
		Duration  float64 `json:"duration"`
		Width     int     `json:"width"`
		Height    int     `json:"height"`
		PosterURL string  `json:"poster_url"`
		ThumbURL  string  `json:"thumb_url"`
		StreamURL string  `json:"stream_url"`
	} `json:"media"`
}

// tileState is what tileJS reads of an item's library tile.
type tileState struct {
	Present  bool   `json:"present"`
	State    string `json:"state"`
	SamePage bool   `json:"samePage"` // no navigation since the upload
	Src      string `json:"src"`
	Loaded   bool   `json:"loaded"` // decoded, with a natural size
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Duration string `json:"duration"` // the badge's visible text
	Label    string `json:"label"`    // all its text, screen readers' included
	Play     bool   `json:"play"`     // the play marker is shown
	Status   string `json:"status"`   // role|aria-live|text of the state
	Dims     string `json:"dims"`
}

const tileJS = `((id) => {
	const li = document.querySelector('[data-testid=items] li.item[data-id="' + id + '"]');
	if (!li) return {present: false};
	const img = li.querySelector(".thumb img");
	const len = li.querySelector(".item-length");
	const time = len && len.querySelector("time");
	const play = li.querySelector(".play-mark");
	const state = li.querySelector(".item-state");
	return {present: true, state: li.dataset.state || "", samePage: !!window.__mgSamePage,
		src: img ? img.getAttribute("src") : "", loaded: !!img && img.complete && img.naturalWidth > 0,
		width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0,
		duration: time ? time.textContent : "", label: len ? len.textContent : "",
		play: !!play && getComputedStyle(play).display !== "none",
		status: state ? state.getAttribute("role") + "|" + state.getAttribute("aria-live") + "|" + state.textContent : "",
		dims: (li.querySelector(".item-dims") || {}).textContent || ""};
})`

// testPosters uploads through the page an MP4 whose moov comes last and
// follows it through the media pipeline: the tile says its preview is
// being prepared, then, without a reload, shows the thumbnail (decoded)
// with the duration and a play marker, and the grid asks for nothing but
// thumbnails; the media page's player has a poster that loads and decodes,
// plays the faststart rendition, and the details give the duration, the
// size and the codecs.
func testPosters(t *testing.T, f *browserFixture) {
	s := f.s
	// A fresh copy: longVideo (share-links) rewrites the durations in the
	// headers of the bytes it is given, f.sample's included.
	data, err := moovLast(sampleMP4(t))
	if err != nil {
		t.Fatalf("moving sample.mp4's moov to the end: %v", err)
	}
	file := filepath.Join(t.TempDir(), "moov-last.mp4")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := f.ownerSignedIn(t)
	if st := c.navigate(t, "/"); st != http.StatusOK {
		c.fail(t, "GET /: status %d", st)
	}
	evalJS[bool](t, c, `window.__mgSamePage = true`)
	mark := c.net.mark()
	c.do(t, "choosing moov-last.mp4 in the file input", 0, chromedp.SetUploadFiles(chromedp.CSS(`#upload-input`), []string{file}))
	row := pollJS(t, c, "the upload to be done", 30*time.Second, progressJS, func(r uploadRow) bool { return (r.Done && r.Href != "") || r.Error })
	if row.Error {
		c.fail(t, "the upload failed: %q", row.Info)
	}
	id := itemIDFromHref(t, row.Href)
	js := tileJS + fmt.Sprintf("(%q)", string(id))
	first := pollJS(t, c, "the new tile in the library", 0, js, func(v tileState) bool { return v.Present })
	t.Logf("the tile first showed state %q", first.State)
	if first.State == "pending" {
		if want := "status|polite|Preparing preview…"; first.Status != want {
			t.Errorf("the pending tile's state: %q, want %q", first.Status, want)
		}
		c.screenshot(t, "preparing")
	}

	// The API says when the pipeline is done.
	var it pipelineItem
	done := eventually(90*time.Second, func() bool {
		a, err := s.try(call{method: http.MethodGet, path: itemPath(id, ""), token: f.owner.token})
		if err != nil || a.Status != http.StatusOK {
			return false
		}
		it = decodeJSON[pipelineItem](t, "GET the item", a)
		return it.Media != nil && it.Media.State != "pending"
	})
	switch {
	case it.Media == nil:
		t.Fatalf("the item has no media info: the pipeline does not handle it")
	case !done:
		t.Fatalf("the pipeline did not finish within 90 s: %+v", *it.Media)
	case it.Media.State != "ready":
		t.Fatalf("the pipeline failed: %+v", *it.Media)
	}
	m := it.Media
	t.Logf("the pipeline found %+v", *m)
	if m.ThumbURL != "/smedia/"+string(id)+"/-/thumb" || m.PosterURL != "/smedia/"+string(id)+"/-/poster" || m.StreamURL != "/smedia/"+string(id)+"/-/stream" {
		t.Errorf("derived files: thumb %q, poster %q, stream %q; want all three (the moov came last)", m.ThumbURL, m.PosterURL, m.StreamURL)
	}

	// The tile swaps its thumbnail in by itself; the page polls with a
	// backoff of at most 30 s.
	tile := pollJS(t, c, "the tile's thumbnail, decoded", 45*time.Second, js, func(v tileState) bool { return v.State == "ready" && v.Loaded })
	c.screenshot(t, "library-thumbnail")
	if !tile.SamePage {
		t.Errorf("the page was reloaded: the tile should update in place")
	}
	if tile.Src != m.ThumbURL || tile.Width <= 0 || tile.Width > 320 || tile.Height <= 0 || tile.Height > 180 {
		t.Errorf("the tile's picture: %s at %d×%d, want %s within 320×180", tile.Src, tile.Width, tile.Height, m.ThumbURL)
	}
	if tile.Duration != "0:03" || tile.Label != "Duration: 0:03" || !tile.Play {
		t.Errorf("the tile's badge %q (for screen readers %q), play marker shown %v; want 0:03, Duration: 0:03, true", tile.Duration, tile.Label, tile.Play)
	}
	for _, e := range c.net.since(mark, func(e netEvent) bool { return strings.Contains(e.URL, "/smedia/"+string(id)) }) {
		if !strings.HasSuffix(e.URL, "/-/thumb") {
			t.Errorf("the library asked for %s (%d): it should ask for the thumbnail only", e.URL, e.Status)
		}
	}

	// The list shows the duration and the size.
	c.do(t, "showing the list", 0, chromedp.Click(chromedp.CSS(`[data-testid=view-list]`)))
	if v := evalJS[tileState](t, c, js); v.Dims != "Dimensions: 320×240" || v.Label != "Duration: 0:03" {
		t.Errorf("the list row: %q, %q; want Dimensions: 320×240 and Duration: 0:03", v.Dims, v.Label)
	}
	c.screenshot(t, "library-list")
	c.do(t, "back to the grid", 0, chromedp.Click(chromedp.CSS(`[data-testid=view-grid]`)))

	// The media page: the poster loads and decodes; the player gets the
	// rendition, Download the original.
	// A caption, attached through the API (SRT, converted to WebVTT).
	capt := s.do(t, call{method: http.MethodPost, path: "/api/media/" + string(id) + "/captions?lang=en&label=English", token: f.owner.token,
		body: strings.NewReader("1\n00:00:00,200 --> 00:00:02,500\nA test pattern\n")})
	mustStatus(t, "attach a caption", capt, http.StatusCreated)
	if st := c.navigate(t, "/m/"+string(id)); st != http.StatusOK {
		c.fail(t, "GET /m/%s: status %d", id, st)
	}
	type posterCheck struct {
		Poster, Src, Download, Type, Err, Duration, Dims, Codecs string
		Status, Width, Height                                    int
		StateBox                                                 bool
	}
	pc := evalJS[posterCheck](t, c, `(async () => {
		const v = document.querySelector("#player");
		const text = (sel) => (document.querySelector(sel) || {}).textContent || "";
		const out = {Poster: v.getAttribute("poster") || "", Src: v.getAttribute("src"),
			Download: document.querySelector("[data-testid=download]").getAttribute("href"),
			Duration: text("[data-testid=info-duration]"), Dims: text("[data-testid=info-dimensions]"), Codecs: text("[data-testid=info-codecs]"),
			StateBox: !!document.querySelector("[data-testid=preview-state]")};
		if (!out.Poster) return out;
		const r = await fetch(out.Poster, {credentials: "same-origin"});
		out.Status = r.status;
		out.Type = r.headers.get("content-type") || "";
		try {
			const bmp = await createImageBitmap(await r.blob());
			out.Width = bmp.width;
			out.Height = bmp.height;
		} catch (e) { out.Err = String(e); }
		return out;
	})()`)
	t.Logf("the media page: %+v", pc)
	if pc.Poster != m.PosterURL || pc.Status != http.StatusOK || pc.Err != "" || pc.Width <= 0 || pc.Width > 1280 || pc.Height <= 0 || pc.Height > 720 {
		t.Errorf("the player's poster %q: status %d, %s, decoded %d×%d (%s); want %s, 200, an image within 1280×720",
			pc.Poster, pc.Status, pc.Type, pc.Width, pc.Height, pc.Err, m.PosterURL)
	}
	if pc.Src != m.StreamURL || pc.Download != it.URL {
		t.Errorf("the player's src %q and Download %q; want the rendition %s and the original %s", pc.Src, pc.Download, m.StreamURL, it.URL)
	}
	if pc.Duration != "0:03" || pc.Dims != "320×240" || pc.Codecs != "H.264 video, AAC audio" || pc.StateBox {
		t.Errorf("the details: duration %q, dimensions %q, codecs %q, state shown %v; want 0:03, 320×240, H.264 video, AAC audio, none",
			pc.Duration, pc.Dims, pc.Codecs, pc.StateBox)
	}
	c.watchPlayer(t)
	if v := c.waitMetadata(t); v.ErrorCode != 0 || v.Duration < 2.9 || v.Duration > 3.1 || !strings.HasSuffix(v.Src, m.StreamURL) {
		c.fail(t, "the player's metadata: %s, from %s; want a 3 s video from the rendition", v, v.Src)
	}
	c.screenshot(t, "media-poster")
	c.play(t)
	t.Logf("the rendition plays: %s", c.waitPlaying(t, "the rendition to play", 0.3))
	type trackState struct {
		Ready, Cues int
		Text        string
	}
	tr := pollJS(t, c, "the caption track to load", 10*time.Second, `(() => {
		const el = document.querySelector("track");
		if (!el) return {Ready: -1};
		el.track.mode = "showing";
		const cues = el.track.cues || [];
		return {Ready: el.readyState, Cues: cues.length, Text: cues.length ? cues[0].text : ""};
	})()`, func(v trackState) bool { return v.Ready == 2 || v.Ready == 3 || v.Ready == -1 })
	if tr.Ready != 2 || tr.Cues != 1 || tr.Text != "A test pattern" {
		t.Errorf("the caption track: readyState %d, %d cues, %q; want loaded (2), one cue %q", tr.Ready, tr.Cues, tr.Text, "A test pattern")
	}
	c.screenshot(t, "media-caption")
}

// darkAndWhite returns the fractions of a PNG's pixels that are dark grey
// or darker, and nearly white.
func darkAndWhite(b []byte) (dark, white float64) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, 0
	}
	r := img.Bounds()
	var nd, nw, n int
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			l := luma(img, x, y)
			switch {
			case l < 100:
				nd++
			case l > 240:
				nw++
			}
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(nd) / float64(n), float64(nw) / float64(n)
}

// luma is a pixel's brightness, 0 to 255.
func luma(img image.Image, x, y int) float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
}

// testLoginNextStaysOnSite opens, signed in, the sign-in page with a next
// that Chromium would turn into another origin (a tab inside "//"): the
// browser must end up on our own library, not on evil.example.
func testLoginNextStaysOnSite(t *testing.T, f *browserFixture) {
	c := f.ownerSignedIn(t)
	for _, next := range []string{"%2F%09%2Fevil.example", "%2F%5Cevil.example", "%2F%0A%2Fevil.example", "%5C%2F%5C%2Fevil.example"} {
		ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
		_, err := chromedp.Run(ctx, chromedp.Navigate(c.url("/login?next="+next)))
		cancel()
		href, jsErr := tryJS[string](c, "location.href", chromeStepTimeout)
		if err != nil || jsErr != nil || href != c.url("/") {
			c.screenshot(t, "login-next-"+next)
			t.Errorf("signed in, /login?next=%s took Chromium to %q (navigation: %v, %v), want %s", next, href, err, jsErr, c.url("/"))
		}
	}
	c.screenshot(t, "login-next-stays")
}

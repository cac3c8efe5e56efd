package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestBrowserOpensFilesDirectly opens files as an editor who pasted their
// URL into a tab would, through nginx, on local disk and on S3: a video
// plays, an image shows in the browser's image viewer (styled, so its CSP
// let the viewer's inline styles through), a PDF shows in Chrome's viewer,
// each on /smedia/, /media/ and a share link's download; an HTML file, an
// XHTML file and an SVG file with scripts never run them (the scripts would
// call a beacon on the test's own server and set the title).
func TestBrowserOpensFilesDirectly(t *testing.T) {
	testenv.LookPath(t, "chromium")
	beacon := newBeacon(t)
	for _, storage := range []string{storageLocal, storageS3} {
		t.Run(storage, func(t *testing.T) {
			s := startSuite(t, suiteOptions{mode: modeAccel, maxUpload: "16MiB", serveArgs: []string{"serve"}, storage: storage})
			owner := s.addUser(t, "owner@open.test", "editor")
			shots := 0
			c := s.newChrome(t, "owner", &shots)
			c.login(t, owner)

			// The inert ones first: the viewable ones after them take
			// seconds, time for any beacon to arrive.
			inert := []struct{ name, body string }{
				{"page.html", `<!doctype html><html><head><title>t</title></head><body>` + beacon.html("html") + `hello</body></html>`},
				{"page.xhtml", `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>` + beacon.html("xhtml") + `</body></html>`},
				{"drawing.svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">` +
					`<script>` + beacon.js("svg") + `</script><image href="` + beacon.url("svg-image") + `" width="1" height="1"/><circle cx="5" cy="5" r="4"/></svg>`},
			}
			for _, f := range inert {
				it := s.mustUpload(t, owner.token, f.name, []byte(f.body))
				for _, u := range s.openURLs(t, owner, it) {
					c.openInert(t, u, f.name)
				}
			}

			video := s.mustUpload(t, owner.token, "clip.mp4", sampleMP4(t))
			image := s.mustUpload(t, owner.token, "dot.png", tinyPNG())
			pdf := s.mustUpload(t, owner.token, "brief.pdf", minimalPDF("Opened directly"))
			for _, u := range s.openURLs(t, owner, video) {
				c.openVideo(t, u)
			}
			for _, u := range s.openURLs(t, owner, image) {
				c.openImage(t, u)
			}
			for _, u := range s.openURLs(t, owner, pdf) {
				c.openPDF(t, u)
			}
			c.checkAuditTable(t, video, owner)
			if hits := beacon.hits(); len(hits) != 0 {
				t.Errorf("a script or load in an inert file ran: the beacon was called for %v", hits)
			}
		})
	}
}

// openURL is one way to reach an item: its name and path.
type openURL struct{ via, path string }

// openURLs publishes it and shares it, and returns its private URL, its
// public URL and its share link's download.
func (s *suite) openURLs(t *testing.T, owner *user, it mediaItem) []openURL {
	t.Helper()
	a := s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/publish"), token: owner.token})
	mustStatus(t, "publish "+it.Filename, a, http.StatusOK, http.StatusCreated)
	pub := decodeJSON[struct {
		PublicURL string `json:"public_url"`
	}](t, "publish", a).PublicURL
	a = s.do(t, call{method: http.MethodPost, path: itemPath(it.ID, "/links"), token: owner.token})
	mustStatus(t, "share "+it.Filename, a, http.StatusCreated)
	link := decodeJSON[struct {
		URL string `json:"url"`
	}](t, "share", a).URL
	return []openURL{{"smedia", it.URL}, {"media", pub}, {"share", link + "/download"}}
}

// openInert opens an active file and checks that nothing of it ran: it is
// downloaded (the navigation never makes a document of it), and whatever
// page the tab shows has not had its title set by the file's script.
func (c *chrome) openInert(t *testing.T, u openURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.url(u.path)))
	if err == nil {
		// A document was made of it: it must at least not have run.
		t.Errorf("%s on %s (%s): opened as a page (status %d, %s), not downloaded", name, u.via, u.path, resp.Status, resp.MimeType)
	}
	if title, err := tryJS[string](c, `document.title`, 5*time.Second); err == nil && title == "owned" {
		t.Errorf("%s on %s: its script set the title", name, u.via)
	}
}

// openVideo opens a video and plays it with the viewer's own player: its
// time must advance.
func (c *chrome) openVideo(t *testing.T, u openURL) {
	t.Helper()
	if st := c.navigate(t, u.path); st != http.StatusOK {
		c.fail(t, "video on %s: status %d", u.via, st)
	}
	// The sandbox keeps the viewer from autoplaying: a user presses play.
	if _, err := tryJS[bool](c, `(async () => {
		const v = document.querySelector("video");
		v.muted = true;
		await v.play();
		return true;
	})()`, chromeStepTimeout); err != nil {
		c.fail(t, "video on %s: play() failed: %v", u.via, err)
	}
	pollJS(t, c, "the video on "+u.via+" to play", 0,
		`(() => { const v = document.querySelector("video"); return v && !v.error ? v.currentTime : -1 })()`,
		func(v float64) bool { return v > 0.3 })
	c.screenshot(t, "video-"+u.via)
}

// openImage opens an image: it decodes, and the image viewer's inline
// styles centre it (they are what a too strict CSP blocks).
func (c *chrome) openImage(t *testing.T, u openURL) {
	t.Helper()
	if st := c.navigate(t, u.path); st != http.StatusOK {
		c.fail(t, "image on %s: status %d", u.via, st)
	}
	type shown struct {
		Width int     `json:"width"`
		Left  float64 `json:"left"`
	}
	got := pollJS(t, c, "the image on "+u.via+" to show", 0,
		`(() => { const i = document.querySelector("img"); return i ? {width: i.naturalWidth, left: i.getBoundingClientRect().left} : {width: 0, left: 0} })()`,
		func(v shown) bool { return v.Width > 0 && v.Left > 0 })
	if got.Width != 40 {
		t.Errorf("image on %s: naturalWidth %d, want 40", u.via, got.Width)
	}
	c.screenshot(t, "image-"+u.via)
}

// openPDF opens a PDF: the navigation makes a PDF document of it (not a
// download) and Chrome's viewer draws the page, white in its dark frame.
func (c *chrome) openPDF(t *testing.T, u openURL) {
	t.Helper()
	if st := c.navigate(t, u.path); st != http.StatusOK {
		c.fail(t, "PDF on %s: status %d", u.via, st)
	}
	if ct := evalJS[string](t, c, `document.contentType`); ct != "application/pdf" {
		c.fail(t, "PDF on %s: the tab shows %q", u.via, ct)
	}
	var dark, white float64
	drawn := eventually(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			return false
		}
		dark, white = darkAndWhite(shot)
		return dark > 0.15 && white > 0.15
	})
	c.screenshot(t, "pdf-"+u.via)
	if !drawn {
		t.Errorf("PDF on %s: the tab does not look like Chrome's viewer showing a page: %.0f%% dark, %.0f%% white pixels", u.via, dark*100, white*100)
	}
}

// beacon is an HTTP server that records every request: what the scripts of
// files that must stay inert would call.
type beacon struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newBeacon(t *testing.T) *beacon {
	b := &beacon{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.got = append(b.got, r.URL.RequestURI())
		b.mu.Unlock()
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *beacon) url(tag string) string { return b.srv.URL + "/beacon?from=" + tag }

// js is a script that calls the beacon and sets the title.
func (b *beacon) js(tag string) string {
	return fmt.Sprintf(`document.title = "owned"; fetch(%q, {mode: "no-cors"}); new Image().src = %q;`, b.url(tag+"-fetch"), b.url(tag+"-img"))
}

// html is markup that calls the beacon by script and by a plain load.
func (b *beacon) html(tag string) string {
	return `<script>` + b.js(tag) + `</script><img src="` + b.url(tag+"-tag") + `" alt=""/>`
}

func (b *beacon) hits() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// checkAuditTable opens the video's media page and reads its audit table:
// the owner's playback on /smedia/ is one row of several requests, the share
// link's download a row that links to the link in the list above, and the
// times are to the second.
func (c *chrome) checkAuditTable(t *testing.T, video mediaItem, owner *user) {
	t.Helper()
	if st := c.navigate(t, "/m/"+string(video.ID)); st != http.StatusOK {
		c.fail(t, "GET /m/%s: %d", video.ID, st)
	}
	type row struct {
		Cells  []string `json:"cells"`
		Href   string   `json:"href"`
		Target bool     `json:"target"`
	}
	rows := pollJS(t, c, "the audit table's rows", 0, `(() => [...document.querySelectorAll("[data-testid=audit-row]")].map(r => {
		const a = r.querySelector("[data-testid=audit-link]");
		const href = a ? a.getAttribute("href") : "";
		return {cells: [...r.cells].map(td => td.textContent), href, target: !!(href && document.querySelector(href))};
	}))()`, func(v []row) bool {
		return len(v) >= 2 && slices.ContainsFunc(v, func(r row) bool { return r.Target })
	})
	evalJS[bool](t, c, `(() => { document.querySelector("#audit").scrollIntoView(); return true })()`)
	c.screenshot(t, "audit-table")
	var ownerRow, linkRow *row
	for i, r := range rows {
		switch {
		case r.Href != "":
			linkRow = &rows[i]
		case len(r.Cells) > 1 && r.Cells[1] == owner.email:
			ownerRow = &rows[i]
		}
	}
	if ownerRow == nil || linkRow == nil {
		t.Fatalf("audit rows %+v: want the owner's and the link's", rows)
	}
	if len(ownerRow.Cells) != 6 || ownerRow.Cells[2] != "owner" || ownerRow.Cells[3] != "yes" || !regexp.MustCompile(`\d:\d\d:\d\d`).MatchString(ownerRow.Cells[0]) {
		t.Errorf("the owner's row %q: want when (to the second), who, via owner, yes, requests, bytes", ownerRow.Cells)
	}
	if n, _ := strconv.Atoi(ownerRow.Cells[4]); n < 1 {
		t.Errorf("the owner's row counts %q requests", ownerRow.Cells[4])
	}
	if linkRow.Cells[1] != "Share link" || linkRow.Cells[2] != "share link" || !strings.HasPrefix(linkRow.Href, "#link-") || !linkRow.Target {
		t.Errorf("the link's row %+v: want a link to the share link in the list", linkRow)
	}
}

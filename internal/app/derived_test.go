package app

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/testenv"
)

var pngEncode = png.Encode

// addDerived records content as the kind derived file of it, as the
// pipeline would once it made the file.
func (h *harness) addDerived(it itemJSON, kind string, content []byte) {
	h.t.Helper()
	path := filepath.Join(h.app.media.Spool().Dir(), "test-"+kind)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := h.app.media.PutDerived(h.t.Context(), it.SHA256, kind, path); err != nil {
		h.t.Fatal(err)
	}
}

// TestDerivedFilesAreTheItem checks, for every kind of derived file, that
// it is served under the item's own decision: whoever may view the item
// gets it, and a revoked grant, a move out of a granted folder, a disabled
// user and a revoked share link deny it at once, exactly like the
// original. Loading a poster or a thumbnail is no "open" in the read audit.
func TestDerivedFilesAreTheItem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, admin := h.user(acl.RoleAdmin)
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	folder := h.folder(owner, "granted", nil)
	wantStatus(t, h.do("PUT", "/api/folders/"+folder.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	it := h.upload(owner, "clip.mp4", sampleMP4(t))
	wantStatus(t, h.do("PATCH", "/api/media/"+it.ID, owner, jsonBody(`{"folder":"`+folder.ID+`"}`)), 200)
	contents := map[string][]byte{
		media.DerivedPoster: []byte("\xff\xd8\xff poster of clip"),
		media.DerivedThumb:  []byte("\xff\xd8\xff thumb of clip"),
		media.DerivedStream: append([]byte("faststart "), sampleMP4(t)...),
	}
	for kind, c := range contents {
		h.addDerived(it, kind, c)
	}
	url := func(kind string) string { return derivedURL(it.ID, kind) }
	status := func(kind, token string) int {
		t.Helper()
		resp := h.do("GET", url(kind), token, nil)
		body := readAll(t, resp)
		if resp.StatusCode == 200 && !bytes.Equal(body, contents[kind]) {
			t.Errorf("%s: served %d bytes that are not the %s", url(kind), len(body), kind)
		}
		return resp.StatusCode
	}
	every := func(what, token string, want int) {
		t.Helper()
		for _, kind := range media.DerivedKinds {
			if got := status(kind, token); got != want {
				t.Errorf("%s: GET %s = %d, want %d", what, kind, got, want)
			}
		}
	}
	every("owner", owner, 200)
	every("viewer through the folder grant", viewer, 200)
	every("anonymous", "", 401)
	wantStatus(t, h.do("GET", "/smedia/"+it.ID+"/-/nothing", owner, nil), 404)

	// Moved out of the granted folder: denied at once.
	wantStatus(t, h.do("PATCH", "/api/media/"+it.ID, owner, jsonBody(`{"folder":null}`)), 200)
	every("viewer after the move out", viewer, 404)
	wantStatus(t, h.do("PATCH", "/api/media/"+it.ID, owner, jsonBody(`{"folder":"`+folder.ID+`"}`)), 200)
	every("viewer after the move back", viewer, 200)

	// The grant revoked: denied at once.
	wantStatus(t, h.do("DELETE", "/api/folders/"+folder.ID+"/grants/user:"+viewerEmail, owner, nil), 204)
	every("viewer after the revoke", viewer, 404)
	wantStatus(t, h.do("PUT", "/api/folders/"+folder.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	every("viewer granted again", viewer, 200)

	// The viewer disabled: denied at once.
	wantStatus(t, h.do("PATCH", "/api/users/"+viewerEmail, admin, jsonBody(`{"disabled":true}`)), 200)
	every("disabled viewer", viewer, 401)

	// Through an item link, then revoked.
	l := h.share(owner, "media", it.ID, `{}`)
	b := h.browser()
	for kind, c := range contents {
		resp := b.get(l.URL + "/-/" + kind)
		if body := readAll(t, resp); resp.StatusCode != 200 || !bytes.Equal(body, c) {
			t.Errorf("GET %s through the link: %d", kind, resp.StatusCode)
		}
	}
	wantStatus(t, h.do("DELETE", "/api/links/"+l.ID, owner, nil), 204)
	for _, kind := range media.DerivedKinds {
		if resp := b.get(l.URL + "/-/" + kind); resp.StatusCode != 410 {
			t.Errorf("GET %s through the revoked link: %d, want 410", kind, resp.StatusCode)
		}
	}
	// Through a folder link to the item.
	fl := h.share(owner, "folders", folder.ID, `{}`)
	if resp := b.get(fl.URL + "/download/" + it.ID + "/-/thumb"); resp.StatusCode != 200 {
		t.Errorf("GET thumb through the folder link: %d", resp.StatusCode)
	}

	// Posters and thumbnails are not opens; the rendition is.
	entries := h.accessLog(owner, it.ID, "link:"+l.ID, 1)
	if len(entries) != 1 {
		t.Errorf("read audit of the link: %d entries, want 1 (the rendition)", len(entries))
	}

	// Deleting the item puts every derived file out of reach, for its owner
	// and through the folder link, and a restore brings them back.
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, owner, nil), 204)
	every("owner, the item in the trash", owner, 404)
	for _, kind := range media.DerivedKinds {
		if resp := b.get(fl.URL + "/download/" + it.ID + "/-/" + kind); resp.StatusCode != 404 {
			t.Errorf("GET %s through the folder link, the item in the trash: %d, want 404", kind, resp.StatusCode)
		}
	}
	wantStatus(t, h.do("POST", "/api/trash/"+it.ID+"/restore", owner, nil), 200)
	every("owner after the restore", owner, 200)

	// The purge takes every derived file with it.
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, owner, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/trash/"+it.ID, owner, nil), 204)
	var n int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM blobs`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d blob rows left after the delete (%v)", n, err)
	}
}

// TestCaptions attaches an SRT file to a video (converted to WebVTT), lists
// it, serves it as a track under the item's decision and through a link,
// and removes it; bad input is refused with a clear error.
func TestCaptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	it := h.upload(owner, "clip.mp4", sampleMP4(t))
	srt := "1\r\n00:00:00,500 --> 00:00:02,000\r\nHello <script>alert(1)</script>world\r\n\r\n"
	add := func(token, query, body string) *http.Response {
		return h.do("POST", "/api/media/"+it.ID+"/captions"+query, token, strings.NewReader(body))
	}
	wantStatus(t, add(viewer, "?lang=en&label=English", srt), 404) // cannot even see it
	wantStatus(t, add(owner, "?lang=english&label=English", srt), 400)
	wantStatus(t, add(owner, "?lang=en-x&label=English", srt), 400)
	wantStatus(t, add(owner, "?lang=en&label=", srt), 400)
	wantStatus(t, add(owner, "?lang=en&label=%E2%80%AEevil%7F", srt), 400)
	wantStatus(t, add(owner, "?lang=en&label=English", "not captions at all"), 400)
	resp := add(owner, "?lang=en&label=English", srt)
	wantStatus(t, resp, 201)
	c := decode[captionJSON](t, resp)
	got := decode[itemJSON](t, h.do("GET", "/api/media/"+it.ID, owner, nil))
	if len(got.Captions) != 1 || got.Captions[0].URL != c.URL || got.Captions[0].Lang != "en" {
		t.Fatalf("captions = %+v, want the one added (%+v)", got.Captions, c)
	}
	track := h.do("GET", c.URL, owner, nil)
	body := string(readAll(t, track))
	if track.StatusCode != 200 || !strings.HasPrefix(track.Header.Get("Content-Type"), "text/vtt") ||
		!strings.HasPrefix(body, "WEBVTT") || !strings.Contains(body, "00:00:00.500 --> 00:00:02.000") || strings.Contains(body, "<script") {
		t.Errorf("the track: %d %q\n%s", track.StatusCode, track.Header.Get("Content-Type"), body)
	}
	// The players get it as a track: the media page and the share page.
	if page := string(readAll(t, h.do("GET", "/m/"+it.ID, owner, nil))); !strings.Contains(page,
		`<track kind="subtitles" srclang="en" label="English" src="`+c.URL+`" default`) {
		t.Errorf("the media page has no track for the caption")
	}
	// Editors get the list with Delete; viewers neither.
	if page := string(readAll(t, h.do("GET", "/m/"+it.ID, owner, nil))); !strings.Contains(page, `<li data-caption="`+c.ID+`" data-testid="caption"><span class="caption-what"><strong>English</strong> <span class="muted" lang="en">en</span>`) ||
		!strings.Contains(page, `aria-label="Delete the captions “English” (en)"`) || !strings.Contains(page, `<label for="caption-lang">Language</label>`) {
		t.Errorf("the editor's media page has no captions panel listing the caption")
	}
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	if page := string(readAll(t, h.do("GET", "/m/"+it.ID, viewer, nil))); !strings.Contains(page, `<track kind="subtitles"`) || strings.Contains(page, "captions-panel") {
		t.Errorf("the viewer's media page: want the track and no captions panel")
	}
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, owner, nil), 204)
	lp := h.share(owner, "media", it.ID, `{}`)
	if page := string(readAll(t, h.browser().get(lp.URL))); !strings.Contains(page, `src="`+lp.URL+`/-/captions/`+c.ID+`"`) {
		t.Errorf("the share page has no track for the caption")
	}
	wantStatus(t, h.do("GET", c.URL, viewer, nil), 404)
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	wantStatus(t, h.do("GET", c.URL, viewer, nil), 200)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/captions/"+c.ID, viewer, nil), 403)
	l := h.share(owner, "media", it.ID, `{}`)
	if r := h.browser().get(l.URL + "/-/captions/" + c.ID); r.StatusCode != 200 {
		t.Errorf("the track through a link: %d", r.StatusCode)
	}
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/captions/"+c.ID, owner, nil), 204)
	wantStatus(t, h.do("GET", c.URL, owner, nil), 404)
	var n int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM blobs WHERE content_type LIKE 'text/vtt%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d caption blobs left after the delete (%v)", n, err)
	}
}

// TestReplace replaces an item's file: same id, URL, grants, links and
// public URL, the new bytes everywhere, the replacement in the audit, the
// old blob gone; a viewer may not.
func TestReplace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	it := h.upload(owner, "clip.mp4", sampleMP4(t))
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	pub := decode[map[string]string](t, h.do("POST", "/api/media/"+it.ID+"/publish", owner, nil))["public_url"]
	l := h.share(owner, "media", it.ID, `{}`)

	// A poster picked from the old content goes with it.
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=1", owner, nil), 204)
		wantStatus(t, h.do("GET", derivedURL(it.ID, media.DerivedPoster), owner, nil), 200)
	}
	next := []byte("the new content of the item, plain text\n")
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/file", viewer, bytes.NewReader(next)), 403)
	resp := h.do("PUT", "/api/media/"+it.ID+"/file", owner, bytes.NewReader(next))
	wantStatus(t, resp, 200)
	got := decode[itemJSON](t, resp)
	if got.ID != it.ID || got.URL != it.URL || got.SHA256 == it.SHA256 || got.Size != int64(len(next)) {
		t.Fatalf("after the replace: %+v", got)
	}
	for what, r := range map[string]*http.Response{
		"the owner":      h.do("GET", it.URL, owner, nil),
		"the viewer":     h.do("GET", it.URL, viewer, nil),
		"the public URL": h.do("GET", pub, "", nil),
		"the share link": h.browser().get(l.URL + "/download"),
	} {
		if body := readAll(t, r); r.StatusCode != 200 || !bytes.Equal(body, next) {
			t.Errorf("%s after the replace: %d, %d bytes", what, r.StatusCode, len(body))
		}
	}
	page := decode[map[string]any](t, h.do("GET", "/api/media/"+it.ID+"/access", owner, nil))
	found := false
	for _, e := range page["views"].([]any) {
		if m := e.(map[string]any); m["action"] == "replace" {
			found = true
		}
	}
	if !found {
		t.Errorf("the read audit has no replacement: %v", page["views"])
	}
	var old int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM blobs WHERE sha256 = $1 OR content_type = 'image/jpeg'`, it.SHA256).Scan(&old); err != nil || old != 0 {
		t.Errorf("the old blob's row or its poster's is still there (%d, %v)", old, err)
	}
	wantStatus(t, h.do("GET", derivedURL(it.ID, media.DerivedPoster), owner, nil), 404)
	if _, err := os.Stat(filepath.Join(h.cfg.PrivateDir(), it.SHA256[:2], it.SHA256[2:4], it.SHA256)); !os.IsNotExist(err) {
		t.Errorf("the old blob's file is still there: %v", err)
	}

	// The public URL keeps its extension and the type it gives; New URL
	// takes the new content's.
	if r := h.do("GET", pub, "", nil); !strings.HasSuffix(pub, ".mp4") || r.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("the public URL %s after the replace: Content-Type %q, want the old name's video/mp4", pub, r.Header.Get("Content-Type"))
	}
	fresh := decode[map[string]string](t, h.do("POST", "/api/media/"+it.ID+"/publish", owner, jsonBody(`{"new_url":true}`)))["public_url"]
	r := h.do("GET", fresh, "", nil)
	if body := readAll(t, r); !strings.HasSuffix(fresh, ".txt") || r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/plain" || !bytes.Equal(body, next) {
		t.Errorf("New URL after the replace: %s answered %d %q with %d bytes, want a .txt name, 200 text/plain, the new bytes",
			fresh, r.StatusCode, r.Header.Get("Content-Type"), len(body))
	}
	wantStatus(t, h.do("GET", pub, "", nil), 404)
}

// TestPickPoster chooses an item's poster as a frame of the video and then
// as an uploaded image: ffmpeg makes a JPEG of either, served as the item's
// poster; a viewer may not choose; going back and deleting leave nothing.
func TestPickPoster(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "ffmpeg")
	h := newHarness(t, nil)
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	it := h.upload(owner, "clip.mp4", sampleMP4(t))
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	poster := func() (int, image.Image) {
		t.Helper()
		resp := h.do("GET", derivedURL(it.ID, media.DerivedPoster), viewer, nil)
		body := readAll(t, resp)
		if resp.StatusCode != 200 {
			return resp.StatusCode, nil
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the poster is not a JPEG: %v", err)
		}
		return 200, img
	}
	if st, _ := poster(); st != 404 {
		t.Fatalf("poster before any: %d, want 404", st)
	}
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=1", viewer, nil), 403)
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=-1", owner, nil), 400)
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=1e300", owner, nil), 400)
	page := func(token string) string {
		t.Helper()
		return string(readAll(t, h.do("GET", "/m/"+it.ID, token, nil)))
	}
	if p := page(owner); !strings.Contains(p, `data-testid="poster-panel"`) || !strings.Contains(p, "Chosen automatically") ||
		strings.Contains(p, ` poster="`) || !strings.Contains(p, `data-testid="poster-auto" hidden`) {
		t.Errorf("the editor's page before a choice: want the poster panel, automatic, no poster, Back to automatic hidden")
	}
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=1", owner, nil), 204)
	st, frame := poster()
	if st != 200 || frame.Bounds().Dx() > 1280 || frame.Bounds().Dy() > 720 {
		t.Fatalf("the picked frame: %d %v", st, frame)
	}
	// The page shows the chosen poster though the pipeline made none (there
	// is no pipeline here); only editors get the panel.
	want := ` poster="` + derivedURL(it.ID, media.DerivedPoster) + `"`
	if p := page(owner); !strings.Contains(p, want) || !strings.Contains(p, "Chosen by an editor") || strings.Contains(p, `data-testid="poster-auto" hidden`) {
		t.Errorf("the editor's page after a choice: want %s, chosen by an editor, Back to automatic shown", want)
	}
	if p := page(viewer); !strings.Contains(p, want) || strings.Contains(p, "poster-panel") {
		t.Errorf("the viewer's page: want %s and no poster panel", want)
	}
	// An uploaded image, re-encoded: a red PNG becomes a red JPEG.
	var png bytes.Buffer
	red := image.NewRGBA(image.Rect(0, 0, 64, 36))
	for i := 0; i < len(red.Pix); i += 4 {
		red.Pix[i], red.Pix[i+3] = 255, 255
	}
	if err := pngEncode(&png, red); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster", owner, strings.NewReader("not an image")), 400)
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster", owner, bytes.NewReader(png.Bytes())), 204)
	_, img := poster()
	if r, g, b, _ := img.At(10, 10).RGBA(); r < 0xc000 || g > 0x4000 || b > 0x4000 {
		t.Errorf("the uploaded poster is not the red image: %v %v %v", r, g, b)
	}
	var n int
	h.pool.QueryRow(t.Context(), `SELECT count(*) FROM blobs WHERE content_type = 'image/jpeg'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d JPEG blobs after a second choice, want the old one gone", n)
	}
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID+"/poster", owner, nil), 204)
	if st, _ := poster(); st != 404 {
		t.Errorf("poster after going back (no pipeline here): %d, want 404", st)
	}
	if p := page(owner); strings.Contains(p, ` poster="`) || !strings.Contains(p, "Chosen automatically") {
		t.Errorf("the editor's page after going back: want no poster, chosen automatically")
	}
	wantStatus(t, h.do("PUT", "/api/media/"+it.ID+"/poster?at=0.5", owner, nil), 204)
	wantStatus(t, h.do("DELETE", "/api/media/"+it.ID, owner, nil), 204)
	if st, _ := poster(); st != 404 {
		t.Errorf("chosen poster of an item in the trash: %d, want 404", st)
	}
	wantStatus(t, h.do("DELETE", "/api/trash/"+it.ID, owner, nil), 204)
	h.pool.QueryRow(t.Context(), `SELECT count(*) FROM blobs`).Scan(&n)
	if n != 0 {
		t.Errorf("%d blobs left after deleting the item", n)
	}
}

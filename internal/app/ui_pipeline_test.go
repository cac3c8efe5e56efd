package app

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
)

// setInfo records what the pipeline would have found of its content.
func (h *harness) setInfo(it itemJSON, state, reason string, duration float64, width, height int) {
	h.t.Helper()
	_, err := h.pool.Exec(h.t.Context(), `
		INSERT INTO blob_info (blob, state, reason, kind, duration, width, height, video_codec, audio_codec, bitrate)
		VALUES ($1, $2, $3, 'video', $4, $5, $6, 'h264', 'aac', 2400000)`,
		it.SHA256, state, reason, duration, width, height)
	if err != nil {
		h.t.Fatal(err)
	}
}

// retrier stands for the media pipeline: a retry marks the blob pending.
type retrier struct{ h *harness }

func (r retrier) RetryBlob(ctx context.Context, blob string) error {
	_, err := r.h.pool.Exec(ctx, `UPDATE blob_info SET state = 'pending', reason = '' WHERE blob = $1`, blob)
	return err
}

// tile is the markup of one item of a library page.
func tile(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<li class="item" data-id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no tile for %s", id)
	}
	j := strings.Index(body[i:], "</li>")
	if j < 0 {
		t.Fatalf("tile %s has no end", id)
	}
	return body[i : i+j]
}

// TestLibraryShowsThePipeline renders the library and the media pages for a
// video whose preview is pending, one that is ready (thumbnail, poster,
// faststart rendition), one that failed, and an image from before the
// pipeline: tiles show the thumbnail, never the original video; the states
// are announced; the player gets the poster and the rendition while
// Download keeps the original; the Retry button is for managers.
func TestLibraryShowsThePipeline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.app.SetPipeline(retrier{h}) // before the requests below; the pool orders them
	_, owner := h.user(acl.RoleEditor)
	viewerEmail, viewer := h.user(acl.RoleViewer)
	folder := h.folder(owner, "Clips", nil)
	wantStatus(t, h.do("PUT", "/api/folders/"+folder.ID+"/grants/user:"+viewerEmail, owner, jsonBody(`{"permission":"view"}`)), 200)
	// Different bytes each: the pipeline's work belongs to the content.
	clip := func(name string, n byte) itemJSON {
		return h.uploadTo(owner, folder.ID, name, append(sampleMP4(t), n))
	}
	pending := clip("pending.mp4", 1)
	ready := clip("ready clip.mp4", 2)
	failed := clip("failed.mp4", 3)
	long := clip("long.mp4", 4)
	img := h.uploadTo(owner, folder.ID, "still.png", samplePNG(t))
	h.setInfo(pending, media.InfoPending, "", 0, 0, 0)
	h.setInfo(ready, media.InfoReady, "", 65.4, 1280, 720)
	h.setInfo(failed, media.InfoFailed, "the file is cut short", 0, 0, 0)
	h.setInfo(long, media.InfoReady, "", 3725, 640, 360)
	for _, kind := range media.DerivedKinds {
		h.addDerived(ready, kind, []byte("\xff\xd8\xff "+kind+" of the ready clip"))
	}
	h.addDerived(long, media.DerivedThumb, []byte("\xff\xd8\xff thumb of the long clip"))

	resp, body := h.page("/?folder="+folder.ID, owner)
	wantStatus(t, resp, 200)
	checkNoInline(t, "library", body)
	has := func(what, html string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(html, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, html)
			}
		}
	}
	hasNot := func(what, html string, not ...string) {
		t.Helper()
		for _, n := range not {
			if strings.Contains(html, n) {
				t.Errorf("%s has %q:\n%s", what, n, html)
			}
		}
	}

	p := tile(t, body, pending.ID)
	has("the pending tile", p, `data-state="pending"`, `role="status"`, `aria-live="polite"`,
		`<span class="spinner" aria-hidden="true"></span>`, "Preparing preview…", `<svg class="icon icon-video"`)
	hasNot("the pending tile", p, "<img", "<time datetime=\"PT")

	r := tile(t, body, ready.ID)
	has("the ready tile", r, `data-state="ready"`, `<img src="/smedia/`+ready.ID+`/-/thumb" loading="lazy" decoding="async" alt="">`,
		`<span class="play-mark">`, `<span class="sr">Duration: </span><time datetime="PT1M5S">1:05</time>`,
		`<span class="sr">Dimensions: </span>1280×720`)
	hasNot("the ready tile", r, `role="status"`, "Preparing", `icon-video`)

	f := tile(t, body, failed.ID)
	has("the failed tile", f, `data-state="failed"`, `role="status"`, "No preview", "the file is cut short")
	hasNot("the failed tile", f, "<img", "spinner")

	has("the long tile", tile(t, body, long.ID), `<time datetime="PT1H2M5S">1:02:05</time>`, "640×360")

	// An image the pipeline never saw keeps its original as the picture.
	has("the image from before the pipeline", tile(t, body, img.ID), `<img src="/smedia/`+img.ID+`/still.png"`)

	// No video's original is fetched by the grid: the only /smedia URLs
	// of the page are thumbnails, and the image's original.
	hasNot("library", body, "<video", "data-src")
	for _, u := range regexp.MustCompile(`/smedia/[^"]*`).FindAllString(body, -1) {
		if !strings.HasSuffix(u, "/-/thumb") && u != "/smedia/"+img.ID+"/still.png" {
			t.Errorf("the library links %s: only thumbnails, please", u)
		}
	}
	// The list view's columns have their heads.
	has("library", body, `<span>Duration</span><span>Dimensions</span>`)

	// The media page of the ready clip: poster, the rendition to play, the
	// original to download, the details.
	_, rp := h.page("/m/"+ready.ID, owner)
	checkNoInline(t, "ready media page", rp)
	has("the ready clip's page", rp,
		`<video id="player" controls preload="metadata" playsinline src="/smedia/`+ready.ID+`/-/stream" poster="/smedia/`+ready.ID+`/-/poster"`,
		`href="/smedia/`+ready.ID+`/ready%20clip.mp4" download="ready clip.mp4"`,
		`<dd data-testid="info-duration"><time datetime="PT1M5S">1:05</time></dd>`,
		`<dd data-testid="info-dimensions">1280×720</dd>`, `<dd data-testid="info-codecs">H.264 video, AAC audio</dd>`, "2.4 Mbit/s")
	hasNot("the ready clip's page", rp, `data-testid="preview-state"`, `data-testid="retry-preview"`)

	// Pending: the state is announced, no poster yet, the original plays;
	// Retry is there for later but hidden.
	_, pp := h.page("/m/"+pending.ID, owner)
	has("the pending clip's page", pp, `data-testid="preview-state"`, `data-state="pending"`,
		`<p class="preview-status" role="status" aria-live="polite">Preparing the preview…</p>`,
		`src="/smedia/`+pending.ID+`/pending.mp4"`, `data-testid="retry-preview" hidden`)
	hasNot("the pending clip's page", pp, "poster=", "info-duration")

	// Failed: the reason, and Retry for managers only.
	_, fp := h.page("/m/"+failed.ID, owner)
	has("the failed clip's page", fp, `data-state="failed"`, "No preview could be made: the file is cut short.",
		`<button type="button" class="btn btn-small needs-js" data-action="retry-preview" data-testid="retry-preview">Retry</button>`)
	_, vp := h.page("/m/"+failed.ID, viewer)
	has("the failed clip's page for a viewer", vp, "No preview could be made: the file is cut short.")
	hasNot("the failed clip's page for a viewer", vp, "retry-preview")

	// What the Retry button posts flips the state to pending.
	resp = h.do("POST", "/api/media/"+failed.ID+"/pipeline", owner, nil)
	wantStatus(t, resp, 202)
	if it := decode[itemJSON](t, resp); it.Media == nil || it.Media.State != media.InfoPending {
		t.Errorf("after a retry: media %+v, want pending", it.Media)
	}
	wantStatus(t, h.do("POST", "/api/media/"+failed.ID+"/pipeline", viewer, nil), 403)
	_, fp = h.page("/m/"+failed.ID, owner)
	has("the retried clip's page", fp, `data-state="pending"`, "Preparing the preview…")

	// The share pages: the poster and rendition through the link, which
	// serves them.
	b := h.browser()
	l := h.share(owner, "media", ready.ID, `{}`)
	resp = b.get(l.URL)
	wantStatus(t, resp, 200)
	sp := string(readAll(t, resp))
	checkNoInline(t, "share page", sp)
	has("the item link's page", sp, `src="`+l.URL+`/-/stream" poster="`+l.URL+`/-/poster"`,
		`href="`+l.URL+`/download" download`, `<time datetime="PT1M5S">1:05</time>`, "1280×720")
	for _, kind := range []string{"stream", "poster"} {
		wantStatus(t, b.get(l.URL+"/-/"+kind), 200)
	}
	fl := h.share(owner, "folders", folder.ID, `{}`)
	resp = b.get(fl.URL + "/item/" + ready.ID)
	wantStatus(t, resp, 200)
	base := fl.URL + "/download/" + ready.ID
	has("the folder link's item page", string(readAll(t, resp)), `src="`+base+`/-/stream" poster="`+base+`/-/poster"`, `href="`+base+`" download`)
	resp = b.get(fl.URL + "/item/" + pending.ID)
	wantStatus(t, resp, 200)
	has("the folder link's pending item", string(readAll(t, resp)), `src="`+fl.URL+`/download/`+pending.ID+`"`)
}

func TestMediaViewLabels(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v                    mediaView
		length, iso, dims, c string
	}{
		{mediaView{Kind: "video", Duration: 3, Width: 320, Height: 240, VideoCodec: "h264", AudioCodec: "aac"}, "0:03", "PT3S", "320×240", "H.264 video, AAC audio"},
		{mediaView{Kind: "video", Duration: 59.6}, "1:00", "PT1M0S", "", ""},
		{mediaView{Kind: "video", Duration: 3600}, "1:00:00", "PT1H0M0S", "", ""},
		{mediaView{Kind: "video", Duration: 36061, VideoCodec: "vp9"}, "10:01:01", "PT10H1M1S", "", "VP9 video"},
		{mediaView{Kind: "audio", Duration: 0.2, AudioCodec: "pcm_s16le", Width: 1, Height: 1}, "0:01", "PT1S", "", "PCM audio"},
		{mediaView{Kind: "image", Width: 4000, Height: 3000, VideoCodec: "mjpeg"}, "", "", "4000×3000", ""},
		{mediaView{State: media.InfoPending}, "", "", "", ""},
	} {
		if got := c.v.Length(); got != c.length {
			t.Errorf("%+v: Length %q, want %q", c.v, got, c.length)
		}
		if got := c.v.LengthISO(); got != c.iso {
			t.Errorf("%+v: LengthISO %q, want %q", c.v, got, c.iso)
		}
		if got := c.v.Dimensions(); got != c.dims {
			t.Errorf("%+v: Dimensions %q, want %q", c.v, got, c.dims)
		}
		if got := c.v.Codecs(); got != c.c {
			t.Errorf("%+v: Codecs %q, want %q", c.v, got, c.c)
		}
	}
	for rate, want := range map[int64]string{0: "", 96_000: "96 kbit/s", 2_400_000: "2.4 Mbit/s"} {
		if got := (mediaView{Kind: "video", Bitrate: rate}).BitrateLabel(); got != want {
			t.Errorf("bitrate %d: %q, want %q", rate, got, want)
		}
	}
}

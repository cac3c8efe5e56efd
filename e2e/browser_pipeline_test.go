package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mediagate/mediagate/internal/testenv"
)

// The faststart comparison: a clip of 5 MB or so, played over a link of
// 1 MB/s with 150 ms of latency (a modest mobile one), five times each way.
// On an unthrottled loopback, what a player has fetched when its first
// frame shows is its read-ahead (megabytes, at random); at 4 MB/s and
// 40 ms the difference was within that noise.
const (
	fastClipSeconds = 20
	fastClipRate    = "2M" // video bit rate
	fastLinkRate    = 1_000_000
	fastLinkLatency = 150 // ms, until the response headers
	fastRounds      = 5
)

// readyItem uploads data as name through the API and waits until the
// pipeline is done with it, ready.
func (f *browserFixture) readyItem(t *testing.T, name string, data []byte) pipelineItem {
	t.Helper()
	s := f.s
	up := s.mustUpload(t, f.owner.token, name, data)
	var it pipelineItem
	done := eventually(90*time.Second, func() bool {
		a, err := s.try(call{method: http.MethodGet, path: itemPath(up.ID, ""), token: f.owner.token})
		if err != nil || a.Status != http.StatusOK {
			return false
		}
		it = decodeJSON[pipelineItem](t, "GET the item", a)
		return it.Media != nil && it.Media.State != "pending"
	})
	if !done || it.Media == nil || it.Media.State != "ready" {
		t.Fatalf("the pipeline on %s: done %v, %+v", name, done, it.Media)
	}
	return it
}

// ffmpegClip makes a test video with ffmpeg in a temp dir and returns its
// bytes; args go between the inputs and the output.
func ffmpegClip(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	testenv.LookPath(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	if b, err := exec.CommandContext(ctx, "ffmpeg", append(argv, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstFrame is what bytesToFirstFrame measured of one playback.
type firstFrame struct {
	Bytes      int64    // received for src before its first frame was on screen
	After      int64    // received after, until the player was stopped
	Requests   []string // the Range header of each request for src, in order
	PerRequest []int64  // of Bytes, what each request brought
	MS         float64  // from setting src to the first frame on screen
}

func (f firstFrame) String() string {
	var parts []string
	for i, r := range f.Requests {
		parts = append(parts, fmt.Sprintf("%s: %d", r, f.PerRequest[i]))
	}
	return fmt.Sprintf("%d bytes in %d requests (%s) in %.0f ms, %d more after", f.Bytes, len(f.Requests), strings.Join(parts, ", "), f.MS, f.After)
}

// bytesToFirstFrame opens a fresh tab on path (a page of ours without a
// player) over the throttled link, plays src there in a new <video>, and
// counts the bytes the tab received for src (CDP Network.dataReceived,
// encodedDataLength: bytes off the wire) until the first frame is on
// screen. The moment is a request the page makes from its
// requestVideoFrameCallback, so that both ends are times of the same
// clock (CDP's); then the player is stopped.
func (c *chrome) bytesToFirstFrame(t *testing.T, path, src string) firstFrame {
	t.Helper()
	tab, closeTab := chromedp.NewContext(c.ctx)
	defer closeTab()
	if err := chromedp.Do(tab); err != nil { // opens the tab
		t.Fatalf("opening a tab: %v", err)
	}
	const markerURL = "/healthz?first-frame"
	want := c.url(src)
	var mu sync.Mutex
	var out firstFrame
	index := map[network.RequestID]int{} // into out.Requests
	type chunk struct {
		id network.RequestID
		at float64
		n  int64
	}
	var chunks []chunk
	var marker float64
	listen, stop := context.WithCancel(tab)
	defer stop()
	if err := chromedp.Listen(listen, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			switch ev.Request.URL {
			case c.url(markerURL):
				if marker == 0 {
					marker = float64(ev.Timestamp)
				}
			case want:
				if _, ok := index[ev.RequestID]; !ok {
					index[ev.RequestID] = len(out.Requests)
					out.Requests = append(out.Requests, fmt.Sprint(ev.Request.Headers["Range"]))
				}
			}
		case *network.EventDataReceived:
			if _, ok := index[ev.RequestID]; ok {
				chunks = append(chunks, chunk{ev.RequestID, float64(ev.Timestamp), ev.EncodedDataLength})
			}
		}
	}); err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}
	step, cancel := context.WithTimeout(tab, chromeStepTimeout)
	defer cancel()
	if err := chromedp.Do(step, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: fastLinkLatency, DownloadThroughput: fastLinkRate, UploadThroughput: -1}},
		})
		return err
	}), chromedp.Navigate(c.url(path))); err != nil {
		t.Fatalf("opening %s in a throttled tab: %v", path, err)
	}
	play, cancel := context.WithTimeout(tab, 45*time.Second)
	defer cancel()
	ms, err := chromedp.Run(play, chromedp.Evaluate[float64](fmt.Sprintf(`(async (src, marker) => {
		const v = document.createElement("video");
		v.muted = true;
		v.playsInline = true;
		document.body.append(v);
		let t0 = 0;
		const first = new Promise((resolve, reject) => {
			v.requestVideoFrameCallback((now) => {
				fetch(marker, {cache: "no-store"}).catch(() => {});
				v.removeAttribute("src");
				v.load();
				resolve(now - t0);
			});
			v.addEventListener("error", () => reject(new Error("video error " + (v.error ? v.error.code + " " + v.error.message : ""))));
		});
		t0 = performance.now();
		v.src = src;
		v.play().catch(() => {});
		return await first;
	})(%q, %q)`, src, markerURL), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("playing %s to its first frame: %v", src, err)
	}
	// The marker's event, and the last chunks, come a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		seen := marker != 0
		mu.Unlock()
		if seen || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if marker == 0 {
		t.Fatalf("%s: the page's first-frame request never showed", src)
	}
	out.MS = ms
	out.PerRequest = make([]int64, len(out.Requests))
	for _, ch := range chunks {
		if ch.at <= marker {
			out.Bytes += ch.n
			out.PerRequest[index[ch.id]] += ch.n
		} else {
			out.After += ch.n
		}
	}
	return out
}

// median of three or more sizes.
func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// testFaststartBytes is the faststart proof: an MP4 as ffmpeg writes it by
// default (moov after mdat) and the faststart rendition the pipeline made
// of it, each played to its first frame in a fresh tab over the same
// throttled link, in interleaved rounds: the rendition starts with fewer
// bytes fetched (the medians), in one request from the start, where the
// original needs the end of the file first.
func testFaststartBytes(t *testing.T, f *browserFixture) {
	data := ffmpegClip(t, "moov-at-end.mp4",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=25:duration=%d", fastClipSeconds),
		"-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", fastClipRate, "-maxrate", fastClipRate,
		"-bufsize", "1M", "-g", "50", "-pix_fmt", "yuv420p")
	if !moovAfterMdat(t, data) {
		t.Fatal("ffmpeg's default MP4 should have its moov after mdat")
	}
	it := f.readyItem(t, "moov-at-end.mp4", data)
	if it.Media.StreamURL == "" {
		t.Fatalf("no faststart rendition for a moov-at-end MP4: %+v", *it.Media)
	}
	c := f.ownerSignedIn(t)
	var orig, fast []int64
	for round := range fastRounds {
		// A query of its own per round: tabs of one site share Chromium's
		// in-memory media cache, which must not serve a repeat.
		q := fmt.Sprintf("?round=%d", round)
		o := c.bytesToFirstFrame(t, "/account", it.URL+q)
		r := c.bytesToFirstFrame(t, "/account", it.Media.StreamURL+q)
		t.Logf("round %d: original %s; rendition %s", round, o, r)
		orig, fast = append(orig, o.Bytes), append(fast, r.Bytes)
		if len(o.Requests) < 2 || rangeStart(o.Requests[1]) < int64(len(data))/2 {
			t.Errorf("round %d: the original was played with requests %v: want its end fetched before its first frame", round, o.Requests)
		}
		if len(r.Requests) != 1 || rangeStart(r.Requests[0]) != 0 {
			t.Errorf("round %d: the rendition was played with requests %v: want one, from byte 0", round, r.Requests)
		}
	}
	mo, mf := median(orig), median(fast)
	t.Logf("before the first frame of a %d-byte clip, median of %d rounds: original %d bytes %v, rendition %d bytes %v: %.2f of the original",
		len(data), fastRounds, mo, orig, mf, fast, float64(mf)/float64(mo))
	if mo <= 0 || mf <= 0 {
		t.Fatalf("nothing counted: original %v, rendition %v", orig, fast)
	}
	if mf >= mo {
		t.Errorf("the faststart rendition fetched %d bytes (median) before its first frame, the moov-at-end original %d: want fewer", mf, mo)
	}
}

// moovAfterMdat reports whether an MP4's top-level moov box comes after
// its mdat box.
func moovAfterMdat(t *testing.T, b []byte) bool {
	t.Helper()
	top, err := parseBoxes(b)
	if err != nil {
		t.Fatalf("parsing the MP4: %v", err)
	}
	mdat := -1
	for i, bx := range top {
		switch bx.typ {
		case "mdat":
			mdat = i
		case "moov":
			return mdat >= 0
		}
	}
	return false
}

// editorJS reads the poster and captions panels of a media page and its
// player: what the editor sees and what the player has.
const editorJS = `(() => {
	const q = (sel) => document.querySelector(sel);
	const text = (sel) => { const e = q(sel); return e && !e.hidden ? e.textContent.trim() : ""; };
	const img = q("[data-testid=poster-preview]");
	const v = q("#player");
	const tracks = Array.from(v.querySelectorAll("track")).map((t) => ({
		Lang: t.srclang, Label: t.label, Src: t.getAttribute("src"), Mode: t.track.mode, Ready: t.readyState,
		Cues: t.track.cues ? t.track.cues.length : -1, First: t.track.cues && t.track.cues.length ? t.track.cues[0].text : ""}));
	return {
		SamePage: !!window.__mgSamePage,
		Poster: v.getAttribute("poster") || "",
		Preview: img && !img.hidden ? img.getAttribute("src") : "",
		PreviewW: img && img.complete ? img.naturalWidth : 0,
		PreviewH: img && img.complete ? img.naturalHeight : 0,
		Source: text("[data-testid=poster-source]"),
		At: text("[data-testid=poster-at]"),
		AutoShown: !q("[data-testid=poster-auto]").hidden,
		PosterError: text("[data-testid=poster-error]"),
		PosterStatus: text("[data-testid=poster-status]"),
		Busy: q("#poster").getAttribute("aria-busy") === "true",
		Captions: Array.from(document.querySelectorAll("[data-testid=caption] .caption-what")).map((e) => e.textContent.replace(/\s+/g, " ").trim()),
		CaptionError: text("[data-testid=caption-error]"),
		LangInvalid: q("#caption-lang").getAttribute("aria-invalid") || "",
		Tracks: tracks,
		Paused: v.paused, Time: v.currentTime,
	};
})()`

// editorState is what editorJS returns.
type editorState struct {
	SamePage           bool
	Poster, Preview    string
	PreviewW, PreviewH int
	Source, At         string
	AutoShown          bool
	PosterError        string
	PosterStatus       string
	Busy               bool
	Captions           []string
	CaptionError       string
	LangInvalid        string
	Tracks             []trackInfo
	Paused             bool
	Time               float64
}

// trackInfo is one <track> of the player and its TextTrack.
type trackInfo struct {
	Lang, Label, Src, Mode string
	Ready, Cues            int
	First                  string
}

// testEditCaptionsAndPoster drives the media page's editors as an editor
// would: captions refused with the reason next to the form (a bad
// language tag in the page, a file that is not captions from the API),
// then attached, when the player gets the track and loads its cues without
// a reload, then deleted; the poster taken from the frame the player
// shows, from an uploaded image, refused for a file that is not one, then
// back to the automatic one, each time the picture changing in place; and
// the page at a phone's width.
func testEditCaptionsAndPoster(t *testing.T, f *browserFixture) {
	s := f.s
	dir := t.TempDir()
	data := ffmpegClip(t, "editor.mp4", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
	it := f.readyItem(t, "editor.mp4", data)
	if it.Media.PosterURL == "" {
		t.Fatalf("no automatic poster: %+v", *it.Media)
	}
	posterBytes := func(what string) []byte {
		t.Helper()
		a := s.do(t, call{method: http.MethodGet, path: it.Media.PosterURL, token: f.owner.token})
		mustStatus(t, what, a, http.StatusOK)
		if _, err := jpeg.DecodeConfig(bytes.NewReader(a.Body)); err != nil {
			t.Fatalf("%s: not a JPEG: %v", what, err)
		}
		return a.Body
	}
	auto := posterBytes("the automatic poster")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srt := write("fr.srt", []byte("1\n00:00:00,000 --> 00:00:05,000\nUne mire de test\n\n2\n00:00:05,000 --> 00:00:06,000\nFin\n"))
	junk := write("notes.txt", []byte("these are not captions\n"))

	c := f.ownerSignedIn(t)
	if st := c.navigate(t, "/m/"+string(it.ID)); st != http.StatusOK {
		c.fail(t, "GET /m/%s: status %d", it.ID, st)
	}
	evalJS[bool](t, c, `window.__mgSamePage = true`)
	c.watchPlayer(t)
	c.waitMetadata(t)
	st := evalJS[editorState](t, c, editorJS)
	if st.Source != "Chosen automatically" || st.AutoShown || !strings.HasPrefix(st.Preview, it.Media.PosterURL) || len(st.Captions) != 0 || len(st.Tracks) != 0 {
		t.Fatalf("the editors at first: %+v; want the automatic poster, no Back to automatic, no captions", st)
	}
	c.screenshot(t, "editors")

	// Captions: a bad language tag is refused in the page, next to the
	// form, and nothing is sent.
	mark := c.net.mark()
	c.do(t, "filling in the captions form", 0,
		chromedp.SetUploadFiles(chromedp.CSS(`#caption-file`), []string{srt}),
		chromedp.SendKeys(chromedp.CSS(`#caption-lang`), "french"),
		chromedp.SendKeys(chromedp.CSS(`#caption-label`), "Français"),
		chromedp.Click(chromedp.CSS(`[data-testid=caption-add]`)))
	st = pollJS(t, c, "the page to refuse the language", 0, editorJS, func(v editorState) bool { return v.CaptionError != "" })
	if st.CaptionError != "The language must be a language tag such as en, fr or pt-BR." || st.LangInvalid != "true" {
		t.Errorf("a bad language: error %q, aria-invalid %q", st.CaptionError, st.LangInvalid)
	}
	if focused := evalJS[string](t, c, `document.activeElement.id`); focused != "caption-lang" {
		t.Errorf("focus is on #%s, want the language field", focused)
	}
	c.screenshot(t, "caption-bad-language")
	// A file that is not captions: the API's reason, next to the form.
	c.do(t, "a file that is not captions", 0,
		chromedp.SetValue(chromedp.CSS(`#caption-lang`), "fr"),
		chromedp.SetUploadFiles(chromedp.CSS(`#caption-file`), []string{junk}),
		chromedp.Click(chromedp.CSS(`[data-testid=caption-add]`)))
	st = pollJS(t, c, "the API to refuse the file", 0, editorJS, func(v editorState) bool {
		return v.CaptionError != "" && !strings.HasPrefix(v.CaptionError, "The language")
	})
	t.Logf("a file that is not captions: %q", st.CaptionError)
	if !strings.HasPrefix(st.CaptionError, "Not captions we can read: line 1: ") || len(st.Captions) != 0 {
		t.Errorf("the API's refusal shows as %q (captions %v): want its reason in words, no caption", st.CaptionError, st.Captions)
	}
	for _, e := range c.net.since(mark, func(e netEvent) bool { return strings.Contains(e.URL, "/captions") }) {
		if e.Status != http.StatusBadRequest {
			t.Errorf("%s %s: %d; only the junk file should have been sent, and refused", e.Method, e.URL, e.Status)
		}
	}
	// The SRT: listed, and the player has the track, showing, with its cues.
	c.do(t, "attaching the SRT", 0,
		chromedp.SetUploadFiles(chromedp.CSS(`#caption-file`), []string{srt}),
		chromedp.Click(chromedp.CSS(`[data-testid=caption-add]`)))
	st = pollJS(t, c, "the caption's track to load", 15*time.Second, editorJS, func(v editorState) bool {
		return len(v.Tracks) == 1 && (v.Tracks[0].Ready == 2 || v.Tracks[0].Ready == 3)
	})
	tr := st.Tracks[0]
	if !st.SamePage || st.CaptionError != "" || len(st.Captions) != 1 || st.Captions[0] != "Français fr" {
		t.Errorf("after attaching: same page %v, error %q, list %q; want no reload, no error, Français fr", st.SamePage, st.CaptionError, st.Captions)
	}
	if tr.Ready != 2 || tr.Mode != "showing" || tr.Lang != "fr" || tr.Label != "Français" || tr.Cues != 2 || tr.First != "Une mire de test" {
		t.Errorf("the player's track: %+v; want loaded (2), showing, fr, Français, 2 cues, the first %q", tr, "Une mire de test")
	}
	c.play(t)
	c.waitPlaying(t, "the video to play with its captions", 0.5)
	evalJS[bool](t, c, `(document.querySelector("#player").scrollIntoView(), true)`)
	c.screenshot(t, "caption-showing")
	var got pipelineItemCaptions
	got = decodeJSON[pipelineItemCaptions](t, "GET the item", s.do(t, call{method: http.MethodGet, path: itemPath(it.ID, ""), token: f.owner.token}))
	if len(got.Captions) != 1 || got.Captions[0].URL != tr.Src {
		t.Errorf("the API's captions %+v; want the one the player has (%s)", got.Captions, tr.Src)
	}
	// Deleted: gone from the list, the player and the API.
	c.clickCentered(t, "deleting the captions", `[data-testid=caption-delete]`)
	c.do(t, "confirming", 0, chromedp.Click(chromedp.CSS(`[data-testid=confirm-ok]`)))
	st = pollJS(t, c, "the captions to go", 0, editorJS, func(v editorState) bool { return len(v.Captions) == 0 && len(v.Tracks) == 0 })
	got = decodeJSON[pipelineItemCaptions](t, "GET the item", s.do(t, call{method: http.MethodGet, path: itemPath(it.ID, ""), token: f.owner.token}))
	if len(got.Captions) != 0 || !st.SamePage {
		t.Errorf("after deleting: API captions %+v, same page %v", got.Captions, st.SamePage)
	}

	// The poster: the frame the player shows at 4 s.
	evalJS[bool](t, c, `(() => { const v = document.querySelector("#player"); v.pause(); v.currentTime = 4; return true; })()`)
	pollJS(t, c, "the player to show 4 s", 0, editorJS, func(v editorState) bool { return v.Paused && v.At == "(0:04.0)" })
	c.clickCentered(t, "using the current frame", `[data-testid=poster-frame]`)
	st = pollJS(t, c, "the poster from the frame", 30*time.Second, editorJS, func(v editorState) bool {
		return !v.Busy && (v.PosterError != "" || (v.Source == "Chosen by an editor" && v.PreviewW > 0))
	})
	framed := posterBytes("the poster from the frame")
	if st.PosterError != "" || !st.SamePage || st.Poster != st.Preview || !strings.HasPrefix(st.Preview, it.Media.PosterURL+"?v=") ||
		st.PreviewW <= 0 || st.PreviewW > 1280 || st.PreviewH <= 0 || !st.AutoShown || st.PosterStatus != "The poster is now the frame at 0:04.0." {
		t.Errorf("after using the frame at 4 s: %+v", st)
	}
	if bytes.Equal(framed, auto) {
		t.Errorf("the poster from the frame at 4 s is the automatic one, byte for byte")
	}
	c.screenshot(t, "poster-frame")

	// An uploaded image.
	var redPNG bytes.Buffer
	red := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for i := 0; i < len(red.Pix); i += 4 {
		red.Pix[i], red.Pix[i+3] = 220, 255
	}
	if err := png.Encode(&redPNG, red); err != nil {
		t.Fatal(err)
	}
	before := st.Preview
	c.do(t, "uploading an image as the poster", 0, chromedp.SetUploadFiles(chromedp.CSS(`#poster-file`), []string{write("red.png", redPNG.Bytes())}))
	st = pollJS(t, c, "the uploaded poster", 30*time.Second, editorJS, func(v editorState) bool {
		return !v.Busy && (v.PosterError != "" || (v.Preview != before && v.PreviewW > 0))
	})
	uploaded := posterBytes("the uploaded poster")
	if st.PosterError != "" || st.Poster != st.Preview || st.PreviewW != 320 || st.PreviewH != 180 || bytes.Equal(uploaded, framed) {
		t.Errorf("after uploading a 320×180 image: %+v (the same bytes as the frame's: %v)", st, bytes.Equal(uploaded, framed))
	}
	if img, err := jpeg.Decode(bytes.NewReader(uploaded)); err == nil {
		if r, g, b, _ := img.At(100, 100).RGBA(); r < 0xa000 || g > 0x4000 || b > 0x4000 {
			t.Errorf("the uploaded poster is not the red image: %x %x %x", r, g, b)
		}
	}
	c.screenshot(t, "poster-uploaded")
	// Not an image: the API's reason next to the buttons; the poster stays.
	c.do(t, "uploading a text file as the poster", 0, chromedp.SetUploadFiles(chromedp.CSS(`#poster-file`), []string{junk}))
	st = pollJS(t, c, "the refusal", 30*time.Second, editorJS, func(v editorState) bool { return !v.Busy && v.PosterError != "" })
	if !strings.HasPrefix(st.PosterError, "A poster must be a JPEG, PNG, WebP or GIF image") || !bytes.Equal(posterBytes("the poster after a refusal"), uploaded) {
		t.Errorf("a text file as the poster: error %q; want the API's reason and the poster unchanged", st.PosterError)
	}
	c.screenshot(t, "poster-refused")

	// Back to automatic: the pipeline's poster again, byte for byte.
	c.clickCentered(t, "going back to the automatic poster", `[data-testid=poster-auto]`)
	st = pollJS(t, c, "the automatic poster", 30*time.Second, editorJS, func(v editorState) bool {
		return !v.Busy && (v.PosterError != "" || (v.Source == "Chosen automatically" && v.PreviewW > 0))
	})
	if st.PosterError != "" || st.AutoShown || st.Poster != st.Preview || !bytes.Equal(posterBytes("the poster after going back"), auto) || !st.SamePage {
		t.Errorf("after going back: %+v; want the automatic poster, Back to automatic hidden, no reload", st)
	}
	if focused := evalJS[string](t, c, `document.activeElement.dataset.testid || document.activeElement.tagName`); focused != "poster-frame" {
		t.Errorf("focus went to %s when Back to automatic hid, want Use current frame", focused)
	}

	// A phone's width: nothing wider than the screen, the editors' controls
	// on it.
	c.do(t, "a phone's viewport", 0, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	defer c.do(t, "the desktop viewport again", 0, chromedp.EmulateViewport(1280, 900))
	type fit struct {
		Scroll, Width int
		Outside       []string
	}
	v := pollJS(t, c, "the layout at 390 px", 0, `(() => {
		const out = {Scroll: document.documentElement.scrollWidth, Width: window.innerWidth, Outside: []};
		for (const sel of ["#poster h2", "[data-testid=poster-frame]", "[data-testid=poster-upload]", "#caption-file", "#caption-lang", "#caption-label", "[data-testid=caption-add]"]) {
			const r = document.querySelector(sel).getBoundingClientRect();
			if (r.width <= 0 || r.left < 0 || r.right > window.innerWidth) out.Outside.push(sel + " " + Math.round(r.left) + ".." + Math.round(r.right));
		}
		return out;
	})()`, func(v fit) bool { return v.Width == 390 })
	if v.Scroll > v.Width || len(v.Outside) > 0 {
		t.Errorf("at 390 px: the page is %d px wide; outside the screen: %v", v.Scroll, v.Outside)
	}
	evalJS[bool](t, c, `(document.querySelector("#poster").scrollIntoView(), true)`)
	c.screenshot(t, "phone-poster")
	evalJS[bool](t, c, `(document.querySelector("#captions").scrollIntoView(), true)`)
	c.screenshot(t, "phone-captions")
}

// pipelineItemCaptions is an item with its captions, as GET
// /api/media/{id} lists them.
type pipelineItemCaptions struct {
	Captions []struct {
		ID, Lang, Label, URL string
	} `json:"captions"`
}

// clickCentered scrolls the element sel to the middle of the viewport, out
// of the way of the toast at the bottom, and clicks it.
func (c *chrome) clickCentered(t *testing.T, what, sel string) {
	t.Helper()
	evalJS[bool](t, c, fmt.Sprintf(`(document.querySelector(%q).scrollIntoView({block: "center"}), true)`, sel))
	c.do(t, what, 0, chromedp.Click(chromedp.CSS(sel)))
}

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mediagate/mediagate/internal/testenv"
)

// Time limits of the browser tests. Every wait has one of them.
const (
	chromeStartTimeout = 45 * time.Second // until a started chromium answers
	chromeStepTimeout  = 20 * time.Second // one action or one polled condition, unless a call says otherwise
	chromeStopTimeout  = 15 * time.Second // closing a browser
	chromePollEvery    = 50 * time.Millisecond
)

// artifactsVar names the directory where the browser tests write their
// screenshots. It defaults to a directory under os.TempDir(), outside the
// repository.
const artifactsVar = "MEDIAGATE_ARTIFACTS"

var (
	artifactsOnce  sync.Once
	artifactsRoot  string
	artifactsErr   error
	artifactsMu    sync.Mutex
	artifactsFresh = map[string]bool{} // test directories cleared by this process
)

// artifactsDir returns the directory for t's screenshots, one per top-level
// test, creating it. The first call of a process removes the screenshots an
// earlier run left there, so that it holds one run's.
func artifactsDir(t testing.TB) string {
	t.Helper()
	artifactsOnce.Do(func() {
		artifactsRoot = os.Getenv(artifactsVar)
		if artifactsRoot == "" {
			artifactsRoot = filepath.Join(os.TempDir(), "mediagate-browser-artifacts")
		}
		artifactsRoot, artifactsErr = filepath.Abs(artifactsRoot)
	})
	if artifactsErr != nil {
		t.Fatalf("artifacts directory: %v", artifactsErr)
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	dir := filepath.Join(artifactsRoot, top)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	artifactsMu.Lock()
	defer artifactsMu.Unlock()
	if !artifactsFresh[dir] {
		artifactsFresh[dir] = true
		old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
		for _, f := range old {
			os.Remove(f)
		}
	}
	return dir
}

// chrome is one headless chromium with its own, fresh profile: its own
// user-data-dir (which chromedp creates empty and removes afterwards), so
// its cookies and localStorage are its own. It drives one tab and records that
// tab's network events.
type chrome struct {
	name string
	s    *suite
	ctx  context.Context     // the tab; no deadline: each call derives its own
	out  *testenv.SyncBuffer // the browser's stdout and stderr
	net  *netLog
	shot *int // screenshots taken, shared by the browsers of a test
}

// newChrome starts a browser for t; its clean-up closes it. shots numbers the
// screenshots of one test (share it between the test's browsers).
func (s *suite) newChrome(t *testing.T, name string, shots *int) *chrome {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
	c := &chrome{name: name, s: s, out: &testenv.SyncBuffer{}, net: &netLog{byID: map[network.RequestID]*netEvent{}}, shot: shots}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(c.out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	c.ctx = ctx
	t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() {
			cancelTab()
			cancelAlloc() // waits until the process is gone and its profile removed
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(chromeStopTimeout):
			t.Errorf("browser %s did not stop within %v", name, chromeStopTimeout)
		}
		if t.Failed() {
			c.net.mu.Lock()
			notes := strings.Join(c.net.notes, "\n")
			c.net.mu.Unlock()
			if notes != "" {
				t.Logf("browser %s: page exceptions, console errors and dialogs:\n%s", name, notes)
			}
			if out := strings.TrimSpace(c.out.String()); out != "" {
				t.Logf("browser %s output:\n%s", name, tail(out, 4000))
			}
		}
	})

	// The first action starts the browser; it must not carry a deadline (the
	// browser would die with it), so the deadline is kept here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting browser %s (%s): %v\n%s", name, path, err, tail(c.out.String(), 4000))
		}
	case <-time.After(chromeStartTimeout):
		cancelTab()
		t.Fatalf("browser %s did not start within %v\n%s", name, chromeStartTimeout, tail(c.out.String(), 4000))
	}
	if err := chromedp.Listen(ctx, c.net.record); err != nil {
		t.Fatalf("listening to browser %s: %v", name, err)
	}
	// Every request reaches nginx: with Chrome's HTTP cache on, it would
	// revalidate what it has (nginx then answers 304) instead of asking for
	// the bytes again.
	c.do(t, "turning the HTTP cache off", 0, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	}))
	// A page that asks before unloading (uploads running) must not block a
	// navigation the test makes: accept every dialog.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			c.net.note("dialog " + string(ev.Type) + ": " + ev.Message)
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			chromedp.Call(dctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			cancel()
		}
	}()
	return c
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// url is the absolute URL of path on the suite's client-facing address.
func (c *chrome) url(path string) string { return c.s.base + path }

// do runs actions within timeout (chromeStepTimeout when zero) and stops t
// with a screenshot when they fail.
func (c *chrome) do(t testing.TB, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if timeout == 0 {
		timeout = chromeStepTimeout
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.fail(t, "%s: %v", what, err)
	}
}

// fail takes a screenshot of the page and stops t.
func (c *chrome) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	c.screenshot(t, "FAILED")
	t.Fatalf("browser %s: "+format, append([]any{c.name}, args...)...)
}

// navigate opens path and returns the main document's HTTP status.
func (c *chrome) navigate(t testing.TB, path string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, chromeStepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.url(path)))
	if err != nil {
		c.fail(t, "opening %s: %v", path, err)
	}
	if resp == nil {
		c.fail(t, "opening %s: no response", path)
	}
	return resp.Status
}

// evalJS evaluates js in c's page and decodes its value (awaited when it is a
// promise) into a T.
func evalJS[T any](t testing.TB, c *chrome, js string) T {
	t.Helper()
	v, err := tryJS[T](c, js, chromeStepTimeout)
	if err != nil {
		c.fail(t, "evaluating %s: %v", js, err)
	}
	return v
}

// tryJS is evalJS that returns the error.
func tryJS[T any](c *chrome, js string, timeout time.Duration) (T, error) {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// pollJS evaluates js every chromePollEvery until ok accepts its value, and
// returns that value; after timeout (chromeStepTimeout when zero) it stops t,
// naming what it waited for and the last value seen.
func pollJS[T any](t testing.TB, c *chrome, what string, timeout time.Duration, js string, ok func(T) bool) T {
	t.Helper()
	v, err := waitJS(c, timeout, js, ok)
	if err != nil {
		c.fail(t, "waiting for %s: %v", what, err)
	}
	return v
}

// waitJS is pollJS that returns the error.
func waitJS[T any](c *chrome, timeout time.Duration, js string, ok func(T) bool) (T, error) {
	if timeout == 0 {
		timeout = chromeStepTimeout
	}
	deadline := time.Now().Add(timeout)
	var last T
	var lastErr error
	for {
		v, err := tryJS[T](c, js, 5*time.Second)
		if err == nil {
			last, lastErr = v, nil
			if ok(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(last)
			return last, fmt.Errorf("not within %v; last value %s (error %v)", timeout, b, lastErr)
		}
		time.Sleep(chromePollEvery)
	}
}

// screenshot saves the visible part of the page as NN-<name>.png in the
// test's artifacts directory. A failure to take it is only logged.
func (c *chrome) screenshot(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s of browser %s: %v", name, c.name, err)
		return
	}
	*c.shot++
	step := fmt.Sprintf("%02d", *c.shot)
	if _, sub, ok := strings.Cut(t.Name(), "/"); ok {
		step += "-" + strings.ReplaceAll(sub, "/", "-")
	}
	file := filepath.Join(artifactsDir(t), fmt.Sprintf("%s-%s-%s.png", step, c.name, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", file)
}

// login signs in through the login page and waits for the library.
func (c *chrome) login(t testing.TB, u *user) {
	t.Helper()
	if st := c.navigate(t, "/login"); st != 200 {
		c.fail(t, "GET /login: status %d", st)
	}
	c.do(t, "filling in the login form", 0,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=login-email]`), u.email),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=login-password]`), u.password),
	)
	c.screenshot(t, "login-form")
	c.do(t, "signing in", 0, chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)))
	// Its scripts too: they are modules, which run once they are all there.
	pollJS(t, c, "the library after signing in as "+u.email, 0,
		`location.pathname + "|" + (document.body ? document.body.dataset.page : "") + "|" + ((document.querySelector(".who-email") || {}).textContent || "") + "|" + (document.documentElement.dataset.ready || "")`,
		func(v string) bool { return v == "/|library|"+u.email+"|true" })
}

// videoState is what a test reads of the page's #player.
type videoState struct {
	Present      bool      `json:"present"`
	CurrentTime  float64   `json:"currentTime"`
	Duration     float64   `json:"duration"` // 0 while unknown (NaN in the page)
	Paused       bool      `json:"paused"`
	Ended        bool      `json:"ended"`
	ReadyState   int       `json:"readyState"`
	NetworkState int       `json:"networkState"`
	ErrorCode    int       `json:"errorCode"` // 0 when video.error is null
	ErrorMessage string    `json:"errorMessage"`
	Src          string    `json:"src"`
	Buffered     []float64 `json:"buffered"` // start, end, start, end…
	Events       []string  `json:"events"`   // media events seen since watchPlayer, in order
}

// videoStateJS reads #player into a videoState.
const videoStateJS = `(() => {
	const v = document.querySelector("#player");
	if (!v) return {present: false};
	const b = [];
	for (let i = 0; i < v.buffered.length; i++) b.push(v.buffered.start(i), v.buffered.end(i));
	return {present: true, currentTime: v.currentTime, duration: isFinite(v.duration) ? v.duration : 0,
		paused: v.paused, ended: v.ended, readyState: v.readyState, networkState: v.networkState,
		errorCode: v.error ? v.error.code : 0, errorMessage: v.error ? v.error.message : "",
		src: v.currentSrc, buffered: b, events: (window.__mgEvents || []).slice()};
})()`

// String describes a state for failure messages.
func (v videoState) String() string {
	return fmt.Sprintf("currentTime %.3f of %.3f, paused %v, ended %v, readyState %d, networkState %d, error %d %q, buffered %v, events %v",
		v.CurrentTime, v.Duration, v.Paused, v.Ended, v.ReadyState, v.NetworkState, v.ErrorCode, v.ErrorMessage, v.Buffered, v.Events)
}

// video reads the page's #player.
func (c *chrome) video(t testing.TB) videoState {
	t.Helper()
	return evalJS[videoState](t, c, videoStateJS)
}

// watchPlayer waits for #player and records its media events (and those of
// its successors after a navigation: call it again) in window.__mgEvents.
func (c *chrome) watchPlayer(t testing.TB) {
	t.Helper()
	c.do(t, "waiting for the player", 0, chromedp.WaitReady(chromedp.CSS(`#player`)))
	evalJS[bool](t, c, `(() => {
		const v = document.querySelector("#player");
		window.__mgEvents = window.__mgEvents || [];
		for (const e of ["loadedmetadata", "canplay", "playing", "waiting", "stalled", "seeking", "seeked", "error", "ended", "abort", "emptied", "suspend"]) {
			v.addEventListener(e, () => window.__mgEvents.push(e + "@" + v.currentTime.toFixed(2)));
		}
		return true;
	})()`)
}

// waitMetadata waits until #player knows its duration.
func (c *chrome) waitMetadata(t testing.TB) videoState {
	t.Helper()
	return pollJS(t, c, "the player's metadata", 0, videoStateJS, func(v videoState) bool {
		return v.Present && ((v.ReadyState >= 1 && v.Duration > 0) || v.ErrorCode != 0)
	})
}

// play starts #player, muted, and returns once play() resolved.
func (c *chrome) play(t testing.TB) {
	t.Helper()
	_, err := tryJS[bool](c, `(async () => {
		const v = document.querySelector("#player");
		v.muted = true;
		await v.play();
		return true;
	})()`, chromeStepTimeout)
	if err != nil {
		c.fail(t, "play() failed: %v; player: %s", err, c.video(t))
	}
}

// seek sets #player's currentTime.
func (c *chrome) seek(t testing.TB, to float64) {
	t.Helper()
	evalJS[bool](t, c, fmt.Sprintf(`(() => { document.querySelector("#player").currentTime = %g; return true; })()`, to))
}

// waitPlaying waits until #player's currentTime passed beyond, without an
// error: the video plays. It returns the state it saw.
func (c *chrome) waitPlaying(t testing.TB, what string, beyond float64) videoState {
	t.Helper()
	return pollJS(t, c, what, 0, videoStateJS, func(v videoState) bool {
		return v.ErrorCode == 0 && v.CurrentTime > beyond
	})
}

// netEvent is a request the tab made and what became of it.
type netEvent struct {
	ID       network.RequestID
	Method   string
	URL      string
	Type     string
	Request  map[string]string // request headers, names in lower case
	Status   int64             // 0 until a response came
	Response map[string]string // response headers, names in lower case
	Failed   string            // net error text, when the request failed
	Canceled bool
	Seq      int // order of the request
}

// netLog records a tab's requests from its network events.
type netLog struct {
	mu     sync.Mutex
	byID   map[network.RequestID]*netEvent
	events []*netEvent
	notes  []string
}

// record is the tab's event listener; it runs in chromedp's read loop and
// only stores.
func (l *netLog) record(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasPrefix(ev.Request.URL, "data:") {
			return // the player's icons: no network
		}
		e := &netEvent{ID: ev.RequestID, Method: ev.Request.Method, URL: ev.Request.URL, Type: string(ev.Type),
			Request: lowerHeaders(ev.Request.Headers), Seq: len(l.events)}
		l.byID[ev.RequestID] = e // a redirect reuses the id: the last hop wins
		l.events = append(l.events, e)
	case *network.EventResponseReceived:
		if e := l.byID[ev.RequestID]; e != nil && ev.Response != nil {
			e.Status = ev.Response.Status
			e.Response = lowerHeaders(ev.Response.Headers)
			if e.Type == "" {
				e.Type = string(ev.Type)
			}
		}
	case *network.EventLoadingFailed:
		if e := l.byID[ev.RequestID]; e != nil {
			e.Failed, e.Canceled = ev.ErrorText, ev.Canceled
		}
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			l.notes = append(l.notes, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				if a.Description != "" {
					args = append(args, a.Description)
				} else {
					args = append(args, string(a.Value))
				}
			}
			l.notes = append(l.notes, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	}
}

// note keeps a line for failure messages.
func (l *netLog) note(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notes = append(l.notes, s)
}

// mark is the position of the next request; since returns those after it.
func (l *netLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// since returns copies of the requests from mark on that match.
func (l *netLog) since(mark int, match func(netEvent) bool) []netEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []netEvent
	for _, e := range l.events[min(mark, len(l.events)):] {
		if match == nil || match(*e) {
			out = append(out, *e)
		}
	}
	return out
}

// lowerHeaders flattens protocol headers, names in lower case.
func lowerHeaders(h network.Headers) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = fmt.Sprint(v)
	}
	return out
}

// describe lists requests for failure messages.
func describe(events []netEvent) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "\n  #%d %s %s [%s] range=%q -> %d %s", e.Seq, e.Method, e.URL, e.Type, e.Request["range"], e.Status, e.Failed)
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

// accessEntry is one line of nginx's access log.
type accessEntry struct {
	Line   int
	Method string
	URI    string
	Status int
	Agent  string
}

// accessLine takes the fields every format in use has, in the order of
// nginx's "combined": `… [time] "METHOD URI PROTO" STATUS BYTES "referer" "agent"`
// (Mediagate's format adds the request time after that).
var accessLine = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) (?:\d+|-) "[^"]*" "([^"]*)"`)

// accessLog reads nginx's access log under the suite's prefix. It stops t
// when a line does not parse: the test depends on the status being there.
func (s *suite) accessLog(t testing.TB) []accessEntry {
	t.Helper()
	if s.nginx == nil {
		t.Fatal("no nginx in front of this suite")
	}
	b, err := os.ReadFile(filepath.Join(s.root, "nginx", "access.log"))
	if err != nil {
		t.Fatalf("nginx access log: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	lines = lines[:len(lines)-1] // "" after the last newline, or a line nginx is still writing
	var out []accessEntry
	for i, line := range lines {
		m := accessLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("nginx access log line %d does not parse as combined (method, URI, status): %q", i+1, line)
		}
		st, _ := strconv.Atoi(m[3])
		out = append(out, accessEntry{Line: i + 1, Method: m[1], URI: m[2], Status: st, Agent: m[4]})
	}
	return out
}

// accessSince polls the access log until at least want entries after line
// from match (nginx writes a line when a request ends) and returns the
// matching entries; after timeout it returns what there is.
func (s *suite) accessSince(t testing.TB, from int, timeout time.Duration, want int, match func(accessEntry) bool) []accessEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var out []accessEntry
		for _, e := range s.accessLog(t) {
			if e.Line > from && match(e) {
				out = append(out, e)
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(chromePollEvery)
	}
}

// mp4Box is one box of an ISO BMFF file: a container with children, or a
// leaf with its payload (everything after the 8-byte header).
type mp4Box struct {
	typ  string
	data []byte
	kids []*mp4Box
}

// mp4Containers are the boxes whose payload is just more boxes.
var mp4Containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true, "edts": true}

// parseBoxes splits b into boxes, descending into containers.
func parseBoxes(b []byte) ([]*mp4Box, error) {
	var out []*mp4Box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%d stray bytes", len(b))
		}
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return nil, fmt.Errorf("box %q: size %d of %d bytes left (64-bit sizes are not handled)", b[4:8], size, len(b))
		}
		bx := &mp4Box{typ: string(b[4:8]), data: b[8:size]}
		if mp4Containers[bx.typ] {
			kids, err := parseBoxes(bx.data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bx.typ, err)
			}
			bx.kids, bx.data = kids, nil
		}
		out = append(out, bx)
		b = b[size:]
	}
	return out, nil
}

// bytes serializes the box.
func (bx *mp4Box) bytes() []byte {
	payload := bx.data
	if bx.kids != nil {
		payload = nil
		for _, k := range bx.kids {
			payload = append(payload, k.bytes()...)
		}
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
	return append(append(out, bx.typ...), payload...)
}

// child is the first child of type typ, or nil.
func (bx *mp4Box) child(typ string) *mp4Box {
	for _, k := range bx.kids {
		if k.typ == typ {
			return k
		}
	}
	return nil
}

// path follows children by type: path("mdia", "minf", "stbl").
func (bx *mp4Box) path(types ...string) *mp4Box {
	for _, t := range types {
		if bx = bx.child(t); bx == nil {
			return nil
		}
	}
	return bx
}

// fullBoxU32s reads a full box made of 32-bit fields after its version and
// flags: the entry count, then the entries.
func fullBoxU32s(bx *mp4Box) []uint32 {
	var out []uint32
	for i := 4; i+4 <= len(bx.data); i += 4 {
		out = append(out, binary.BigEndian.Uint32(bx.data[i:]))
	}
	return out
}

// fullBox builds a version-0 full box of 32-bit fields.
func fullBox(typ string, fields ...uint32) *mp4Box {
	data := make([]byte, 4, 4+4*len(fields))
	for _, f := range fields {
		data = binary.BigEndian.AppendUint32(data, f)
	}
	return &mp4Box{typ: typ, data: data}
}

// setDuration rewrites the duration field of a version-0 mvhd, tkhd or mdhd.
func setDuration(bx *mp4Box, offset int, d uint32) error {
	if len(bx.data) < offset+4 || bx.data[0] != 0 {
		return fmt.Errorf("%s: not a version-0 box with a duration at %d", bx.typ, offset)
	}
	binary.BigEndian.PutUint32(bx.data[offset:], d)
	return nil
}

// longVideo turns the short MP4 src (one video track of self-contained
// samples, one sample per chunk, no composition offsets) into a longer
// video that plays the same frames repeat times over, with pad bytes of
// filler before every frame. The result is a valid MP4 (moov first) whose
// frames lie far apart in the file, with a key frame at every repeat: a
// player seeking far into it must ask for a new byte range instead of using
// what it already buffered. The audio track is left out.
func longVideo(src []byte, repeat, pad int) ([]byte, error) {
	src = bytes.Clone(src) // the headers are rewritten in place
	top, err := parseBoxes(src)
	if err != nil {
		return nil, err
	}
	var ftyp, moov *mp4Box
	for _, bx := range top {
		switch bx.typ {
		case "ftyp":
			ftyp = bx
		case "moov":
			moov = bx
		}
	}
	if ftyp == nil || moov == nil {
		return nil, errors.New("no ftyp or moov box")
	}
	var video *mp4Box
	var kids []*mp4Box
	for _, k := range moov.kids {
		switch {
		case k.typ == "mvhd":
			kids = append(kids, k)
		case k.typ == "trak" && video == nil:
			if h := k.path("mdia", "hdlr"); h != nil && len(h.data) >= 12 && string(h.data[8:12]) == "vide" {
				video = k
				kids = append(kids, k)
			}
		}
	}
	if video == nil {
		return nil, errors.New("no video track")
	}
	moov.kids = kids // mvhd and the video track; audio and user data go
	stbl := video.path("mdia", "minf", "stbl")
	if stbl == nil || stbl.child("stsd") == nil {
		return nil, errors.New("video track without stbl/stsd")
	}
	if stbl.child("ctts") != nil {
		return nil, errors.New("composition offsets (ctts) are not handled")
	}
	stsz, stco, stsc, stts := stbl.child("stsz"), stbl.child("stco"), stbl.child("stsc"), stbl.child("stts")
	if stsz == nil || stco == nil || stsc == nil || stts == nil {
		return nil, errors.New("video track without stsz, stco, stsc or stts")
	}
	if sc := fullBoxU32s(stsc); len(sc) != 4 || sc[0] != 1 || sc[2] != 1 {
		return nil, fmt.Errorf("stsc %v: want one sample per chunk", sc)
	}
	sz := fullBoxU32s(stsz) // sample_size, count, sizes…
	if len(sz) < 2 || sz[0] != 0 || int(sz[1]) != len(sz)-2 {
		return nil, fmt.Errorf("stsz %v: want one size per sample", sz[:min(len(sz), 3)])
	}
	sizes := sz[2:]
	co := fullBoxU32s(stco)
	if len(co) < 1 || int(co[0]) != len(sizes) || len(co)-1 != len(sizes) {
		return nil, errors.New("stco: want one chunk per sample")
	}
	offsets := co[1:]
	for i, o := range offsets {
		if int(o)+int(sizes[i]) > len(src) {
			return nil, fmt.Errorf("sample %d lies past the end of the file", i)
		}
	}
	n := len(sizes)
	ts := fullBoxU32s(stts) // count, (count, delta)…
	var sttsNew []uint32
	var mediaDur uint32
	for r := 0; r < repeat; r++ {
		for i := 1; i+1 < len(ts); i += 2 {
			sttsNew = append(sttsNew, ts[i], ts[i+1])
			mediaDur += ts[i] * ts[i+1]
		}
	}
	keys := []uint32{1} // no stss: every sample is a key frame
	if ss := stbl.child("stss"); ss != nil {
		keys = fullBoxU32s(ss)[1:]
	}
	var stss []uint32
	var sizesNew []uint32
	for r := 0; r < repeat; r++ {
		for _, k := range keys {
			stss = append(stss, k+uint32(r*n))
		}
		sizesNew = append(sizesNew, sizes...)
	}

	// Durations: media timescale in mdhd, movie timescale elsewhere.
	mdhd, tkhd, mvhd := video.path("mdia", "mdhd"), video.child("tkhd"), moov.child("mvhd")
	if mdhd == nil || tkhd == nil || mvhd == nil || len(mdhd.data) < 20 || len(mvhd.data) < 20 {
		return nil, errors.New("missing or short mdhd, tkhd or mvhd")
	}
	mediaScale := binary.BigEndian.Uint32(mdhd.data[12:])
	movieScale := binary.BigEndian.Uint32(mvhd.data[12:])
	movieDur := uint32(uint64(mediaDur) * uint64(movieScale) / uint64(mediaScale))
	for _, d := range []struct {
		bx  *mp4Box
		off int
		v   uint32
	}{{mdhd, 16, mediaDur}, {tkhd, 20, movieDur}, {mvhd, 16, movieDur}} {
		if err := setDuration(d.bx, d.off, d.v); err != nil {
			return nil, err
		}
	}
	if elst := video.path("edts", "elst"); elst != nil {
		e := fullBoxU32s(elst)
		if len(e) != 4 || e[0] != 1 {
			return nil, fmt.Errorf("elst %v: want one entry", e)
		}
		binary.BigEndian.PutUint32(elst.data[8:], movieDur)
	}

	// The new tables; stco's final values need moov's size, which does not
	// depend on them.
	chunks := make([]uint32, len(sizesNew))
	table := func(count int, vals []uint32) []uint32 { return append([]uint32{uint32(count)}, vals...) }
	var rebuilt []*mp4Box
	for _, k := range stbl.kids {
		switch k.typ {
		case "stsd":
			rebuilt = append(rebuilt, k)
		}
	}
	coBox := fullBox("stco", table(len(chunks), chunks)...)
	rebuilt = append(rebuilt,
		fullBox("stts", table(len(sttsNew)/2, sttsNew)...),
		fullBox("stss", table(len(stss), stss)...),
		fullBox("stsc", 1, 1, 1, 1),
		fullBox("stsz", append([]uint32{0, uint32(len(sizesNew))}, sizesNew...)...),
		coBox,
	)
	stbl.kids = rebuilt

	head := append(ftyp.bytes(), moov.bytes()...)
	var mdat []byte
	at := uint64(len(head) + 8)
	for i := range sizesNew {
		o, s := offsets[i%n], sizes[i%n]
		at += uint64(pad)
		if at+uint64(s) > 1<<32-1 {
			return nil, errors.New("the long video would need 64-bit offsets")
		}
		chunks[i] = uint32(at)
		mdat = append(mdat, make([]byte, pad)...)
		mdat = append(mdat, src[o:o+s]...)
		at += uint64(s)
	}
	*coBox = *fullBox("stco", table(len(chunks), chunks)...)
	out := append(ftyp.bytes(), moov.bytes()...)
	if len(out) != len(head) {
		return nil, errors.New("moov changed size while its offsets were filled in")
	}
	out = binary.BigEndian.AppendUint32(out, uint32(8+len(mdat)))
	out = append(out, "mdat"...)
	return append(out, mdat...), nil
}

// minimalPDF returns a one-page PDF that shows text, with a correct
// cross-reference table.
func minimalPDF(text string) []byte {
	content := fmt.Sprintf("BT /F1 28 Tf 72 720 Td (%s) Tj ET", text)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b strings.Builder
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return []byte(b.String())
}

// tinyPNG returns a 40×30 grey PNG.
func tinyPNG() []byte {
	im := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range im.Pix {
		im.Pix[i] = 200
	}
	var b bytes.Buffer
	if err := png.Encode(&b, im); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return b.Bytes()
}

// moovLast rewrites an MP4 whose moov comes first into one whose moov
// comes after mdat, as cameras and many exports write them: the same
// samples, every chunk offset (stco) moved with the data. A player must
// then fetch the file's end before it can start, which the pipeline's
// faststart rendition fixes.
func moovLast(src []byte) ([]byte, error) {
	top, err := parseBoxes(src)
	if err != nil {
		return nil, err
	}
	var moov *mp4Box
	var rest []*mp4Box
	oldAt, at, oldMdat, newMdat := 0, 0, -1, -1
	for _, bx := range top {
		n := len(bx.bytes())
		if bx.typ == "moov" {
			moov = bx
			oldAt += n
			continue
		}
		if bx.typ == "mdat" {
			oldMdat, newMdat = oldAt, at
		}
		rest = append(rest, bx)
		oldAt += n
		at += n
	}
	if moov == nil || oldMdat < 0 {
		return nil, errors.New("no moov or mdat box")
	}
	if oldMdat < newMdat {
		return nil, errors.New("moov already comes after mdat")
	}
	shift := uint32(oldMdat - newMdat)
	var fix func(boxes []*mp4Box) error
	fix = func(boxes []*mp4Box) error {
		for _, bx := range boxes {
			switch bx.typ {
			case "co64":
				return errors.New("64-bit chunk offsets (co64) are not handled")
			case "stco":
				if len(bx.data) < 8 {
					return errors.New("short stco")
				}
				n := int(binary.BigEndian.Uint32(bx.data[4:]))
				if len(bx.data) < 8+4*n {
					return errors.New("stco shorter than its count")
				}
				for i := range n {
					o := bx.data[8+4*i:]
					binary.BigEndian.PutUint32(o, binary.BigEndian.Uint32(o)-shift)
				}
			}
			if err := fix(bx.kids); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fix(moov.kids); err != nil {
		return nil, err
	}
	var out []byte
	for _, bx := range append(rest, moov) {
		out = append(out, bx.bytes()...)
	}
	return out, nil
}

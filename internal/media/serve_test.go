package media_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
)

func TestHandoff(t *testing.T) {
	t.Parallel()
	tenNet := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	const accel, sendfile = "X-Accel-Redirect", "X-Sendfile"
	const none, byAccel, byNginx, bySendfile = media.HandoffNone, media.HandoffAccel, media.HandoffNginx, media.HandoffSendfile
	tests := []struct {
		name    string
		mode    config.AccelMode
		trusted []netip.Prefix // nil: the default
		remote  string
		header  string // X-Sendfile-Type; empty: absent
		front   string // X-Mediagate-Front; empty: absent
		want    media.Handoff
	}{
		{"off, trusted, announced", config.AccelOff, nil, "127.0.0.1:4000", accel, "", none},
		{"off, untrusted", config.AccelOff, nil, "10.0.0.1:4000", accel, "", none},
		{"off, no header", config.AccelOff, nil, "127.0.0.1:4000", "", "", none},
		// nginx mode hands every file off; to nginx itself only when the
		// proxy says it is nginx (behind Caddy, which copies the app's
		// headers, the mode still gets them all).
		{"nginx, no header", config.AccelNginx, nil, "127.0.0.1:4000", "", "", byAccel},
		{"nginx, untrusted", config.AccelNginx, nil, "10.0.0.1:4000", "", "", byAccel},
		{"nginx, announced", config.AccelNginx, nil, "203.0.113.9:1", accel, "", byAccel},
		{"nginx, nginx says so", config.AccelNginx, nil, "127.0.0.1:4000", accel, "nginx", byNginx},
		{"nginx, nginx says so, nothing announced", config.AccelNginx, nil, "127.0.0.1:4000", "", "nginx", byNginx},
		{"nginx, nginx says so, untrusted", config.AccelNginx, nil, "10.0.0.1:4000", accel, "nginx", byAccel},
		// nginx-config's proxy says it is nginx too; only a trusted proxy is
		// believed, only with the announcement, and only with its exact word.
		{"auto, nginx says so", config.AccelAuto, nil, "127.0.0.1:4000", accel, "nginx", byNginx},
		{"auto, nginx says so, untrusted", config.AccelAuto, nil, "203.0.113.9:4000", accel, "nginx", none},
		{"auto, nginx says so, nothing announced", config.AccelAuto, nil, "127.0.0.1:4000", "", "nginx", none},
		{"auto, nginx says so, sendfile announced", config.AccelAuto, nil, "127.0.0.1:4000", sendfile, "nginx", bySendfile},
		{"auto, front in other words", config.AccelAuto, nil, "127.0.0.1:4000", accel, "Nginx", byAccel},
		{"auto, front with junk", config.AccelAuto, nil, "127.0.0.1:4000", accel, "nginx, caddy", byAccel},
		{"auto, other front", config.AccelAuto, nil, "127.0.0.1:4000", accel, "caddy", byAccel},
		{"caddy, nginx says so", config.AccelCaddy, nil, "127.0.0.1:4000", accel, "nginx", byAccel},
		{"apache, nginx says so", config.AccelApache, nil, "127.0.0.1:4000", accel, "nginx", bySendfile},
		{"auto, loopback, announced", config.AccelAuto, nil, "127.0.0.1:4000", accel, "", byAccel},
		{"auto, 127/8, announced", config.AccelAuto, nil, "127.3.2.1:4000", accel, "", byAccel},
		{"auto, ::1, announced", config.AccelAuto, nil, "[::1]:4000", accel, "", byAccel},
		{"auto, v4-mapped loopback", config.AccelAuto, nil, "[::ffff:127.0.0.1]:4000", accel, "", byAccel},
		{"auto, header in lower case", config.AccelAuto, nil, "127.0.0.1:4000", "x-accel-redirect", "", byAccel},
		{"auto, untrusted 10.0.0.1", config.AccelAuto, nil, "10.0.0.1:4000", accel, "", none},
		{"auto, untrusted public", config.AccelAuto, nil, "203.0.113.9:4000", accel, "", none},
		{"auto, untrusted ::2", config.AccelAuto, nil, "[::2]:4000", accel, "", none},
		{"auto, zoned link-local", config.AccelAuto, nil, "[fe80::1%eth0]:4000", accel, "", none},
		{"auto, header missing", config.AccelAuto, nil, "127.0.0.1:4000", "", "", none},
		{"auto, other sendfile type", config.AccelAuto, nil, "127.0.0.1:4000", "X-Lighttpd-Send-File", "", none},
		{"auto, sendfile announced", config.AccelAuto, nil, "127.0.0.1:4000", sendfile, "", bySendfile},
		{"auto, sendfile in lower case", config.AccelAuto, nil, "[::1]:4000", "x-sendfile", "", bySendfile},
		{"auto, sendfile untrusted", config.AccelAuto, nil, "203.0.113.9:4000", sendfile, "", none},
		{"auto, sendfile with junk", config.AccelAuto, nil, "127.0.0.1:4000", "X-Sendfile; x", "", none},
		{"caddy, no header", config.AccelCaddy, nil, "203.0.113.9:1", "", "", byAccel},
		{"caddy, sendfile announced", config.AccelCaddy, nil, "127.0.0.1:4000", sendfile, "", byAccel},
		{"apache, no header", config.AccelApache, nil, "203.0.113.9:1", "", "", bySendfile},
		{"apache, accel announced", config.AccelApache, nil, "127.0.0.1:4000", accel, "", bySendfile},
		{"off, sendfile announced", config.AccelOff, nil, "127.0.0.1:4000", sendfile, "", none},
		{"auto, header with junk", config.AccelAuto, nil, "127.0.0.1:4000", "X-Accel-Redirect, X-Sendfile", "", none},
		{"auto, no port", config.AccelAuto, nil, "127.0.0.1", accel, "", none},
		{"auto, garbage address", config.AccelAuto, nil, "localhost:80", accel, "", none},
		{"auto, empty address", config.AccelAuto, nil, "", accel, "", none},
		{"auto, custom trusted", config.AccelAuto, tenNet, "10.0.0.1:4000", accel, "", byAccel},
		{"auto, custom trusted excludes loopback", config.AccelAuto, tenNet, "127.0.0.1:4000", accel, "", none},
		{"auto, nothing trusted", config.AccelAuto, []netip.Prefix{}, "127.0.0.1:4000", accel, "", none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.Accel = tt.mode
			if tt.trusted != nil {
				cfg.TrustedProxies = tt.trusted
			}
			s := media.NewSender(nil, cfg, discardLog)
			r := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
			r.RemoteAddr = tt.remote
			if tt.header != "" {
				r.Header.Set("X-Sendfile-Type", tt.header)
			}
			if tt.front != "" {
				r.Header.Set(config.FrontHeader, tt.front)
			}
			if got := s.Handoff(r); got != tt.want {
				t.Errorf("Handoff = %v, want %v", got, tt.want)
			}
		})
	}
}

// servedItem puts content on a fresh Disk as a stored blob would be and
// returns the Item a Store would give for it.
func servedItem(t *testing.T, cfg config.Config, data []byte, filename string) (*media.Disk, media.Item) {
	t.Helper()
	d := openDisk(t, cfg)
	rec, err := d.Receive(bytes.NewReader(data), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Discard()
	writeFile(t, d.BlobPath(rec.SHA256), data)
	return d, media.Item{
		ID: "6b1f3a52-2f4e-4a8e-9d1c-0d6c1f2a3b4c", Filename: filename, SHA256: rec.SHA256,
		Size: rec.Size, ContentType: rec.ContentType, Extension: rec.Extension,
		CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), StoredAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
	}
}

func TestSendPrivateAccel(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelAuto
	d, it := servedItem(t, cfg, sampleMP4(t), `Holiday "best" clip.mp4`)
	s := media.NewSender(d, cfg, discardLog)

	r := httptest.NewRequest(http.MethodGet, config.PrivatePrefix+it.ID+"/x.mp4", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("X-Sendfile-Type", "X-Accel-Redirect")
	w := httptest.NewRecorder()
	s.SendPrivate(w, r, it)

	if w.Code != http.StatusOK {
		t.Errorf("status %d, want 200", w.Code)
	}
	if w.Body.Len() != 0 {
		t.Errorf("body has %d bytes, want none: nginx sends the file", w.Body.Len())
	}
	h := w.Header()
	target := h.Get("X-Accel-Redirect")
	if target != media.AccelPath(it.SHA256) {
		t.Errorf("X-Accel-Redirect %q, want %q", target, media.AccelPath(it.SHA256))
	}
	if want := config.AccelPrefix + it.SHA256[:2] + "/" + it.SHA256[2:4] + "/" + it.SHA256; target != want {
		t.Errorf("X-Accel-Redirect %q, want %q", target, want)
	}
	rest := strings.TrimPrefix(target, config.AccelPrefix)
	if !strings.HasPrefix(target, config.AccelPrefix) || strings.Trim(strings.ReplaceAll(rest, "/", ""), "0123456789abcdef") != "" {
		t.Errorf("X-Accel-Redirect %q holds more than the prefix and the hash", target)
	}
	if strings.Contains(target, "..") || strings.Contains(target, "Holiday") || strings.Contains(target, it.ID) {
		t.Errorf("X-Accel-Redirect %q is built from client-controlled data", target)
	}
	if got := h.Get("Content-Type"); got != "video/mp4" {
		t.Errorf("Content-Type %q, want video/mp4", got)
	}
	if got, want := h.Get("Content-Disposition"), media.ContentDisposition(it.Filename, true); got != want || !strings.HasPrefix(got, "inline;") {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	if got := h.Get("Cache-Control"); got != config.PrivateCacheControl || !strings.Contains(got, "private") || !strings.Contains(got, "no-cache") {
		t.Errorf("Cache-Control %q, want %q (private, no-cache)", got, config.PrivateCacheControl)
	}
	// The proxy didn't say it is nginx: it may pass every header on.
	assertSandboxed(t, h)
}

// To nginx, which passes on only a few of the headers of an
// X-Accel-Redirect answer and sets the security headers from its own
// config, the answer is those few and the target: whatever else was set
// before (here as the app's middleware sets it) is gone.
func TestSendPrivateToNginx(t *testing.T) {
	t.Parallel()
	for _, mode := range []config.AccelMode{config.AccelNginx, config.AccelAuto} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			cfg.Accel = mode
			d, it := servedItem(t, cfg, []byte("<svg onload=alert(1)>"), "x.svg")
			r := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
			r.RemoteAddr = "127.0.0.1:5555"
			r.Header.Set("X-Sendfile-Type", "X-Accel-Redirect")
			r.Header.Set(config.FrontHeader, config.FrontNginx)
			w := httptest.NewRecorder()
			for k, v := range map[string]string{
				"X-Request-Id": "abc", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
				"Vary": config.CallerVary, "Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Set-Cookie": "a=b",
			} {
				w.Header().Set(k, v)
			}
			media.NewSender(d, cfg, discardLog).SendPrivate(w, r, it)
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Errorf("status %d with %d bytes, want 200 and no body", w.Code, w.Body.Len())
			}
			want := http.Header{
				"X-Accel-Redirect":    {media.AccelPath(it.SHA256)},
				"Content-Type":        {it.ContentType},
				"Content-Disposition": {media.ContentDisposition("x.svg", false)},
				"Cache-Control":       {config.PrivateCacheControl},
				"Set-Cookie":          {"a=b"},
				"X-Robots-Tag":        {"noindex"},
			}
			if got := w.Header(); !reflect.DeepEqual(got, want) {
				t.Errorf("headers\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// An answer handed to the front end carries every header the client must
// get, for Caddy and Apache, which pass the app's headers on (nginx replaces
// the security headers with its own).
func TestSendPrivateHandoffHeaders(t *testing.T) {
	t.Parallel()
	// nginx mode without nginx's word (behind Caddy, say) is Caddy's answer.
	for _, mode := range []config.AccelMode{config.AccelCaddy, config.AccelApache, config.AccelNginx} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			cfg.Accel = mode
			d, it := servedItem(t, cfg, []byte("<svg onload=alert(1)>"), "x.svg")
			w := httptest.NewRecorder()
			media.NewSender(d, cfg, discardLog).SendPrivate(w, httptest.NewRequest(http.MethodGet, "/smedia/x", nil), it)
			h := w.Header()
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Errorf("status %d with %d bytes, want 200 and no body", w.Code, w.Body.Len())
			}
			if got := h.Get("Content-Security-Policy"); got != config.MediaCSP {
				t.Errorf("Content-Security-Policy %q, want %q", got, config.MediaCSP)
			}
			if got := h.Get("Referrer-Policy"); got != config.MediaReferrerPolicy {
				t.Errorf("Referrer-Policy %q, want %q", got, config.MediaReferrerPolicy)
			}
			if got, want := h.Get("Content-Disposition"), media.ContentDisposition("x.svg", false); got != want {
				t.Errorf("Content-Disposition %q, want %q", got, want)
			}
			assertSandboxed(t, h)
		})
	}
}

// X-Sendfile names the blob's file by its absolute path, built from the hash
// alone and escaped, so that a data dir with odd characters still works.
func TestSendPrivateSendfile(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"data", "my data 100%", "d\u00e9j\u00e0"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.DataDir = filepath.Join(t.TempDir(), dir)
			cfg.Accel = config.AccelAuto
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d, it := servedItem(t, cfg, sampleMP4(t), "Holiday clip.mp4")
			r := httptest.NewRequest(http.MethodHead, config.PrivatePrefix+it.ID+"/x.mp4", nil)
			r.RemoteAddr = "127.0.0.1:5555"
			r.Header.Set("X-Sendfile-Type", "X-Sendfile")
			w := httptest.NewRecorder()
			media.NewSender(d, cfg, discardLog).SendPrivate(w, r, it)

			h := w.Header()
			if w.Code != http.StatusOK || w.Body.Len() != 0 || h.Get("X-Accel-Redirect") != "" {
				t.Errorf("status %d, %d bytes, X-Accel-Redirect %q; want 200, no body, none", w.Code, w.Body.Len(), h.Get("X-Accel-Redirect"))
			}
			value := h.Get("X-Sendfile")
			path, err := url.PathUnescape(value)
			if err != nil || path != d.BlobPath(it.SHA256) {
				t.Fatalf("X-Sendfile %q names %q (%v), want %q", value, path, err, d.BlobPath(it.SHA256))
			}
			if !filepath.IsAbs(path) || filepath.Dir(filepath.Dir(filepath.Dir(path))) != cfg.PrivateDir() {
				t.Errorf("X-Sendfile %q is not a file two levels under the private dir %s", path, cfg.PrivateDir())
			}
			for _, b := range []byte(value) {
				if b <= ' ' || b >= 0x7f {
					t.Errorf("X-Sendfile %q holds the byte %#x", value, b)
					break
				}
			}
			if got := h.Get("Content-Type"); got != "video/mp4" {
				t.Errorf("Content-Type %q, want video/mp4", got)
			}
			if got := h.Get("Cache-Control"); got != config.PrivateCacheControl {
				t.Errorf("Cache-Control %q, want %q", got, config.PrivateCacheControl)
			}
		})
	}
}

// Apache mode over a store without local files (S3, here a Disk seen only
// as Blobs) streams the bytes rather than naming a file.
func TestSendPrivateSendfileNeedsFiles(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelApache
	video := sampleMP4(t)
	d, it := servedItem(t, cfg, video, "a.mp4")
	w := httptest.NewRecorder()
	media.NewSender(struct{ media.Blobs }{d}, cfg, discardLog).SendPrivate(w, httptest.NewRequest(http.MethodGet, "/smedia/x", nil), it)
	if w.Header().Get("X-Sendfile") != "" || !bytes.Equal(w.Body.Bytes(), video) {
		t.Errorf("X-Sendfile %q and %d bytes, want none and the file", w.Header().Get("X-Sendfile"), w.Body.Len())
	}
}

// A blob the row names but the disk lacks is a 500 without X-Sendfile:
// mod_xsendfile would only pass such a header on to the client.
func TestSendPrivateSendfileBadKey(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelApache
	d, it := servedItem(t, cfg, []byte("x"), "a.txt")
	it.SHA256 = "../../etc/passwd"
	w := httptest.NewRecorder()
	media.NewSender(d, cfg, discardLog).SendPrivate(w, httptest.NewRequest(http.MethodGet, "/smedia/x", nil), it)
	if w.Code < 500 || w.Header().Get("X-Sendfile") != "" || w.Header().Get("Content-Disposition") != "" {
		t.Errorf("status %d, X-Sendfile %q, Content-Disposition %q; want a 5xx with neither", w.Code, w.Header().Get("X-Sendfile"), w.Header().Get("Content-Disposition"))
	}
}

func TestAccelPath(t *testing.T) {
	t.Parallel()
	sha := sha256Hex([]byte("x"))
	if got, want := media.AccelPath(sha), "/pmedia/"+sha[:2]+"/"+sha[2:4]+"/"+sha; got != want {
		t.Errorf("AccelPath = %q, want %q", got, want)
	}
	cfg := newConfig(t)
	d := openDisk(t, cfg)
	// The accel path and the blob path name the same file under their roots.
	if rel := strings.TrimPrefix(d.BlobPath(sha), cfg.PrivateDir()); "/pmedia"+rel != media.AccelPath(sha) {
		t.Errorf("BlobPath %q and AccelPath %q disagree", d.BlobPath(sha), media.AccelPath(sha))
	}
}

// An untrusted client cannot ask for X-Accel-Redirect: it gets the bytes.
func TestSendPrivateUntrustedGetsBody(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	video := sampleMP4(t)
	d, it := servedItem(t, cfg, video, "a.mp4")
	s := media.NewSender(d, cfg, discardLog)
	r := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	r.Header.Set("X-Sendfile-Type", "X-Accel-Redirect")
	w := httptest.NewRecorder()
	s.SendPrivate(w, r, it)
	if w.Header().Get("X-Accel-Redirect") != "" || !bytes.Equal(w.Body.Bytes(), video) {
		t.Errorf("untrusted client: X-Accel-Redirect %q, %d bytes", w.Header().Get("X-Accel-Redirect"), w.Body.Len())
	}
}

func assertSandboxed(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q lacks sandbox or default-src 'none'", csp)
	}
}

func TestSendPrivateDirect(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelOff
	video := sampleMP4(t)
	d, it := servedItem(t, cfg, video, "Café clip.mp4")
	s := media.NewSender(d, cfg, discardLog)

	r := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("X-Sendfile-Type", "X-Accel-Redirect") // off means off
	w := httptest.NewRecorder()
	s.SendPrivate(w, r, it)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), video) {
		t.Fatalf("status %d, %d bytes; want 200 and the %d-byte file", w.Code, w.Body.Len(), len(video))
	}
	h := w.Header()
	want := map[string]string{
		"Content-Type":        "video/mp4",
		"Content-Length":      strconv.Itoa(len(video)),
		"Content-Disposition": media.ContentDisposition("Café clip.mp4", true),
		"Cache-Control":       config.PrivateCacheControl,
		"ETag":                `"` + it.SHA256 + `"`,
		"Last-Modified":       it.StoredAt.UTC().Format(http.TimeFormat),
		"Accept-Ranges":       "bytes",
		"X-Accel-Redirect":    "",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	assertSandboxed(t, h)
}

// Active content served by the app is a sandboxed download.
func TestSendPrivateDirectHTML(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelOff
	page := []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>")
	d, it := servedItem(t, cfg, page, "page.html")
	w := httptest.NewRecorder()
	media.NewSender(d, cfg, discardLog).SendPrivate(w, httptest.NewRequest(http.MethodGet, "/smedia/x", nil), it)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), page) {
		t.Fatalf("status %d, body %q", w.Code, w.Body.String())
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition %q, want attachment", cd)
	}
	assertSandboxed(t, w.Header())
}

func TestSendPrivateRanges(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelOff
	video := sampleMP4(t)
	n := len(video)
	d, it := servedItem(t, cfg, video, "clip.mp4")
	s := media.NewSender(d, cfg, discardLog)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.SendPrivate(w, r, it)
	}))
	t.Cleanup(srv.Close) // after the parallel subtests
	etag := `"` + it.SHA256 + `"`

	tests := []struct {
		name         string
		method       string
		header       map[string]string
		status       int
		contentRange string
		body         []byte
	}{
		{"full", "GET", nil, 200, "", video},
		{"head", "HEAD", nil, 200, "", nil},
		{"first 100", "GET", map[string]string{"Range": "bytes=0-99"}, 206, fmt.Sprintf("bytes 0-99/%d", n), video[:100]},
		{"middle", "GET", map[string]string{"Range": "bytes=100-199"}, 206, fmt.Sprintf("bytes 100-199/%d", n), video[100:200]},
		{"open-ended", "GET", map[string]string{"Range": "bytes=44000-"}, 206, fmt.Sprintf("bytes 44000-%d/%d", n-1, n), video[44000:]},
		{"suffix", "GET", map[string]string{"Range": "bytes=-500"}, 206, fmt.Sprintf("bytes %d-%d/%d", n-500, n-1, n), video[n-500:]},
		{"last byte", "GET", map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", n-1, n-1)}, 206, fmt.Sprintf("bytes %d-%d/%d", n-1, n-1, n), video[n-1:]},
		{"end past the file", "GET", map[string]string{"Range": "bytes=44000-999999"}, 206, fmt.Sprintf("bytes 44000-%d/%d", n-1, n), video[44000:]},
		{"unsatisfiable", "GET", map[string]string{"Range": "bytes=50000-60000"}, 416, fmt.Sprintf("bytes */%d", n), nil},
		{"start at size", "GET", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n)}, 416, fmt.Sprintf("bytes */%d", n), nil},
		{"zero suffix", "GET", map[string]string{"Range": "bytes=-0"}, 416, fmt.Sprintf("bytes */%d", n), nil},
		{"zero suffix among others", "GET", map[string]string{"Range": "bytes=-0,10-19"}, 206, fmt.Sprintf("bytes 10-19/%d", n), video[10:20]},
		{"more than max_ranges", "GET", map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", config.MaxRanges) + "1-1"}, 200, "", video},
		{"not modified", "GET", map[string]string{"If-None-Match": etag}, 304, "", []byte{}},
		{"not modified, weak", "GET", map[string]string{"If-None-Match": "W/" + etag}, 304, "", []byte{}},
		{"not modified, in a list", "GET", map[string]string{"If-None-Match": `"abc", ` + etag}, 304, "", []byte{}},
		{"other etag", "GET", map[string]string{"If-None-Match": `"abc"`}, 200, "", video},
		{"not modified with a range", "GET", map[string]string{"If-None-Match": etag, "Range": "bytes=0-9"}, 304, "", []byte{}},
		{"if-range matches", "GET", map[string]string{"If-Range": etag, "Range": "bytes=10-19"}, 206, fmt.Sprintf("bytes 10-19/%d", n), video[10:20]},
		{"if-range stale", "GET", map[string]string{"If-Range": `"old"`, "Range": "bytes=10-19"}, 200, "", video},
		{"if-modified-since", "GET", map[string]string{"If-Modified-Since": it.StoredAt.Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, "", []byte{}},
		{"modified since", "GET", map[string]string{"If-Modified-Since": it.StoredAt.Add(-time.Hour).UTC().Format(http.TimeFormat)}, 200, "", video},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+"/smedia/"+it.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tt.contentRange)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body: %d bytes, want %d (content differs: %v)", len(body), len(tt.body), len(body) == len(tt.body))
			}
			if tt.method == "HEAD" && (len(body) != 0 || resp.ContentLength != int64(n)) {
				t.Errorf("HEAD: %d bytes of body, Content-Length %d", len(body), resp.ContentLength)
			}
			if tt.status == 206 && resp.ContentLength != int64(len(tt.body)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(tt.body))
			}
			if tt.status == 200 || tt.status == 206 {
				if resp.Header.Get("ETag") != etag || resp.Header.Get("Content-Type") != "video/mp4" {
					t.Errorf("ETag %q, Content-Type %q", resp.Header.Get("ETag"), resp.Header.Get("Content-Type"))
				}
			}
			assertSandboxed(t, resp.Header)
		})
	}
}

func TestSendPrivateMissingFile(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	cfg.Accel = config.AccelOff
	d, it := servedItem(t, cfg, content("missing", 100), "x.bin")
	if err := os.Remove(d.BlobPath(it.SHA256)); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	media.NewSender(d, cfg, discardLog).SendPrivate(w, httptest.NewRequest(http.MethodGet, "/smedia/x", nil), it)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	if bytes.Contains(w.Body.Bytes(), []byte(cfg.DataDir)) {
		t.Errorf("the error shows the data dir: %q", w.Body.String())
	}
}

func TestSendPublic(t *testing.T) {
	t.Parallel()
	video := sampleMP4(t)
	for _, tt := range []struct {
		publicName, contentType string
	}{
		{"0123456789abcdef0123456789abcdef.mp4", "video/mp4"},
		{"0123456789abcdef0123456789abcdef.png", "image/png"},
		{"0123456789abcdef0123456789abcdef", "application/octet-stream"},
		{"0123456789abcdef0123456789abcdef.html", "application/octet-stream"},
		{"0123456789abcdef0123456789abcdef.svg", "application/octet-stream"},
	} {
		cfg := newConfig(t)
		cfg.Accel = config.AccelOff
		d, it := servedItem(t, cfg, video, "clip.mp4")
		it.PublicName = tt.publicName
		if err := os.Link(d.BlobPath(it.SHA256), d.PublicPath(it.PublicName)); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, config.PublicPrefix+it.PublicName, nil)
		r.Header.Set("Range", "bytes=0-9")
		media.NewSender(d, cfg, discardLog).SendPublic(w, r, it)
		if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), video[:10]) {
			t.Errorf("%s: status %d, %d bytes", tt.publicName, w.Code, w.Body.Len())
		}
		h := w.Header()
		if h.Get("Content-Type") != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tt.publicName, h.Get("Content-Type"), tt.contentType)
		}
		if h.Get("Cache-Control") != config.PublicCacheControl {
			t.Errorf("%s: Cache-Control %q", tt.publicName, h.Get("Cache-Control"))
		}
		assertSandboxed(t, h)
	}
}

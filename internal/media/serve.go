package media

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mediagate/mediagate/internal/config"
)

// Sender delivers blobs: by X-Accel-Redirect when nginx is in front and the
// storage is an Accelerator, else by streaming the blob itself.
type Sender struct {
	blobs   Blobs
	log     *slog.Logger
	mode    config.AccelMode
	trusted []netip.Prefix
	idle    time.Duration // a client that takes no bytes this long is dropped
}

// NewSender returns a Sender of blobs for cfg.
func NewSender(blobs Blobs, cfg config.Config, log *slog.Logger) *Sender {
	return &Sender{blobs: blobs, log: log, mode: cfg.Accel, trusted: cfg.TrustedProxies, idle: cfg.BodyIdleTimeout}
}

// Trusted reports whether the request's peer is a trusted proxy.
func (s *Sender) Trusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// UseAccel reports whether r should be answered with X-Accel-Redirect. In
// auto mode that is when a trusted proxy announced it can (the
// Rack::Sendfile convention), so the same app also works without nginx.
func (s *Sender) UseAccel(r *http.Request) bool {
	switch s.mode {
	case config.AccelNginx:
		return true
	case config.AccelAuto:
		return strings.EqualFold(r.Header.Get("X-Sendfile-Type"), "X-Accel-Redirect") && s.Trusted(r)
	}
	return false
}

// SendPrivate answers r with the item's bytes for someone already authorized.
func (s *Sender) SendPrivate(w http.ResponseWriter, r *http.Request, it Item) {
	h := w.Header()
	h.Set("Content-Type", it.ContentType)
	h.Set("Content-Disposition", ContentDisposition(it.Filename, Inline(it.ContentType) || Previewable(it.ContentType)))
	h.Set("Cache-Control", config.PrivateCacheControl)
	if acc, ok := s.blobs.(Accelerator); ok && s.UseAccel(r) {
		// nginx serves the body, Range and conditionals; the headers above
		// are among those it keeps on an internal redirect, and its accel
		// location adds nosniff, the CSP (config.MediaCSPFor of the type)
		// and Vary.
		req := AccelRequest{Method: r.Method}
		if acc.Proxied() {
			var status int
			if status, req.Whole = precheck(r, `"`+it.SHA256+`"`, it.Size); status != 0 {
				s.answerItself(w, it, status)
				return
			}
			req.ContentType, req.ContentDisposition = h.Get("Content-Type"), h.Get("Content-Disposition")
			h.Del("Content-Disposition") // the engine sends it, or nothing on failure
		}
		target, err := acc.AccelPath(r.Context(), it.SHA256, req)
		if err != nil {
			s.failed(w, r, it, err)
			return
		}
		h.Set("X-Accel-Redirect", target)
		w.WriteHeader(http.StatusOK)
		return
	}
	s.stream(w, r, it)
}

// SendPublic answers r with a published item's bytes, as nginx would serve
// them from the public files (the app does this only when it runs alone).
func (s *Sender) SendPublic(w http.ResponseWriter, r *http.Request, it Item) {
	ct := "application/octet-stream"
	if i := strings.LastIndexByte(it.PublicName, '.'); i >= 0 {
		if t, ok := config.PublicTypes[it.PublicName[i:]]; ok {
			ct = t
		}
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", config.PublicCacheControl)
	s.stream(w, r, it)
}

// stream sends the blob itself, with Range and conditionals.
func (s *Sender) stream(w http.ResponseWriter, r *http.Request, it Item) {
	f, err := s.blobs.Open(r.Context(), it.SHA256, it.Size)
	if err != nil {
		s.failed(w, r, it, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", config.MediaCSPFor(h.Get("Content-Type")))
	h.Set("ETag", `"`+it.SHA256+`"`)
	iw := s.idleWriter(w)
	http.ServeContent(iw, r, "", it.StoredAt, f)
	if iw != w {
		// The next request on the connection, maybe a long download, must
		// not inherit the deadline.
		http.NewResponseController(w).SetWriteDeadline(time.Time{}) //nolint:errcheck
	}
}

// answerItself answers a conditional or a Range that precheck settled
// without the blob: 304, 412 or 416, with the headers nginx would add. The
// CSP is the file's, whatever the answer: a 304 updates the headers the
// browser keeps with its copy.
func (s *Sender) answerItself(w http.ResponseWriter, it Item, status int) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", config.MediaCSPFor(h.Get("Content-Type")))
	h.Set("ETag", `"`+it.SHA256+`"`)
	switch status {
	case http.StatusNotModified:
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		w.WriteHeader(status)
	case http.StatusRequestedRangeNotSatisfiable:
		h.Del("Content-Disposition")
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(it.Size, 10))
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte("range not satisfiable\n"))
	default:
		h.Del("Content-Disposition")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(http.StatusText(status) + "\n"))
	}
}

// failed answers a blob the row says exists but storage cannot give: our
// fault, not the client's, and never a file. A missing blob is a 500, storage
// that cannot be reached a 502.
func (s *Sender) failed(w http.ResponseWriter, r *http.Request, it Item, err error) {
	s.log.Error("deliver blob", "item", it.ID, "sha256", it.SHA256, "storage", s.blobs.Describe(), "err", err)
	h := w.Header()
	for _, k := range []string{"Content-Disposition", "X-Accel-Redirect", "ETag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	if errors.Is(err, ErrBlobMissing) {
		http.Error(w, "media file missing", http.StatusInternalServerError)
		return
	}
	http.Error(w, "media storage unavailable", http.StatusBadGateway)
}

// idleWriter returns w with a write deadline pushed forward before each
// write, so that a client that stops reading is dropped once the idle
// timeout passes without progress, not held forever (the server has no
// write timeout: large files take as long as they take).
func (s *Sender) idleWriter(w http.ResponseWriter) http.ResponseWriter {
	if s.idle <= 0 {
		return w
	}
	return &idleWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: s.idle}
}

type idleWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.idle)) //nolint:errcheck // a writer without deadlines just waits
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Inline reports whether a type may be shown in the browser rather than
// downloaded: audio, video and raster images. Everything else, and anything
// active such as SVG, HTML or XML, is an attachment.
func Inline(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "audio/"):
		return true
	case strings.HasPrefix(mt, "image/"):
		return mt != "image/svg+xml"
	}
	return false
}

// Previewable reports whether a type that the media pipeline leaves alone is
// still shown inline, opened directly or in the media page's preview: PDFs,
// which the browser's viewer renders in its own origin under MediaCSP, so
// nothing in them runs in ours.
func Previewable(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/pdf"
}

// ContentDisposition returns the header for a file named name (RFC 6266):
// an ASCII fallback in filename and the exact name in filename* (RFC 8187).
// Quotes, backslashes, semicolons and control characters can't break out.
func ContentDisposition(name string, inline bool) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	fallback := strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\' || r == ';' || r == '%':
			return '_'
		case r < 0x20 || r == 0x7f:
			return -1
		case r > 0x7e:
			return '_'
		}
		return r
	}, name)
	if fallback == "" {
		fallback = "download"
	}
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, kind, fallback, encodeRFC8187(name))
}

// encodeRFC8187 percent-encodes everything but RFC 8187's attr-char.
func encodeRFC8187(s string) string {
	var b strings.Builder
	for _, c := range []byte(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

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
	"unicode/utf8"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/header"
)

// Sender delivers blobs: handed to the web server in front (nginx or Caddy
// by X-Accel-Redirect, Apache by X-Sendfile) when there is one and the
// storage can, else by streaming the blob itself.
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

// Trusted reports whether the request's peer is a trusted proxy. A peer on
// the app's Unix socket is: the socket's mode already says who may connect.
func (s *Sender) Trusted(r *http.Request) bool {
	if OnUnixSocket(r) {
		return true
	}
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

// OnUnixSocket reports whether r came in on a Unix socket.
func OnUnixSocket(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && la.Network() == "unix"
}

// Handoff is how a file's delivery is handed to the web server in front.
type Handoff int

// The handoffs.
const (
	HandoffNone     Handoff = iota // the app streams the file
	HandoffAccel                   // X-Accel-Redirect with a path under config.AccelPrefix, to Caddy or an unknown front end
	HandoffNginx                   // the same, to nginx, which sets the security headers of its answer itself
	HandoffSendfile                // X-Sendfile with the blob's absolute path (Apache's mod_xsendfile)
)

// The headers of the handoff. SendfileTypeHeader is how a proxy announces
// what it can follow (the Rack::Sendfile convention); the rendered configs
// set it on every proxied request, replacing a client's.
const (
	SendfileTypeHeader = "X-Sendfile-Type"
	AccelHeader        = "X-Accel-Redirect"
	SendfileHeader     = "X-Sendfile"
)

// Handoff says how r's file should be delivered. In auto mode that is what
// a trusted proxy announced, so the same app also works alone and an
// untrusted client never gets an empty answer with a path in it. An
// X-Accel-Redirect goes to nginx (HandoffNginx: nginx drops the app's
// security headers from such an answer and sets its own) only when a
// trusted proxy says so in config.FrontHeader, as the rendered nginx config
// does, whatever the mode: `nginx` mode behind Caddy, which copies the
// app's headers, still gets them all.
func (s *Sender) Handoff(r *http.Request) Handoff {
	switch s.mode {
	case config.AccelNginx:
		if saysNginx(r) && s.Trusted(r) {
			return HandoffNginx
		}
		return HandoffAccel
	case config.AccelCaddy:
		return HandoffAccel
	case config.AccelApache:
		return HandoffSendfile
	case config.AccelAuto:
		announced := r.Header.Get(SendfileTypeHeader)
		switch {
		case strings.EqualFold(announced, AccelHeader) && s.Trusted(r):
			if saysNginx(r) {
				return HandoffNginx
			}
			return HandoffAccel
		case strings.EqualFold(announced, SendfileHeader) && s.Trusted(r):
			return HandoffSendfile
		}
	}
	return HandoffNone
}

// saysNginx reports whether r says nginx is in front (config.FrontHeader);
// only a trusted proxy's word counts, which Handoff checks once.
func saysNginx(r *http.Request) bool {
	return r.Header.Get(config.FrontHeader) == config.FrontNginx
}

// SendPrivate answers r with the item's bytes for someone already authorized.
func (s *Sender) SendPrivate(w http.ResponseWriter, r *http.Request, it Item) {
	header.Set(w.Header(), "Content-Type", it.ContentType,
		"Content-Disposition", ContentDisposition(it.Filename, Inline(it.ContentType) || Previewable(it.ContentType)),
		"Cache-Control", config.PrivateCacheControl)
	switch how := s.Handoff(r); how {
	case HandoffAccel, HandoffNginx:
		if acc, ok := s.blobs.(Accelerator); ok {
			s.accel(w, r, it, acc, how == HandoffNginx)
			return
		}
	case HandoffSendfile:
		if files, ok := s.blobs.(FileSender); ok {
			s.sendfile(w, r, it, files)
			return
		}
	}
	s.stream(w, r, it)
}

// accel answers with X-Accel-Redirect. The front end serves the body,
// Range and conditionals. Caddy, or a front end the app doesn't know, gets
// every header the client must see (Caddy's handle_response copies them).
// nginx passes on only those in nginxKeeps and drops the rest, and the
// config nginx-config renders adds nosniff, the CSP, Referrer-Policy, Vary
// and the request id itself; so when toNginx, the answer holds those kept
// headers and the target alone, as any header more would only cost both
// sides the work of writing and reading it.
func (s *Sender) accel(w http.ResponseWriter, r *http.Request, it Item, acc Accelerator, toNginx bool) {
	h := w.Header()
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
	if toNginx {
		for k := range h {
			if !nginxKeeps[k] {
				delete(h, k)
			}
		}
		h.Set(AccelHeader, target)
	} else {
		handoffHeaders(h, AccelHeader, target)
	}
	w.WriteHeader(http.StatusOK)
}

// nginxKeeps are the headers of an X-Accel-Redirect answer that reach the
// client through nginx: those its upstream module keeps on a redirect
// (ngx_http_upstream_headers_in), and X-Robots-Tag (share downloads' noindex),
// which the rendered config's internal locations copy from the app's answer.
// nginx drops every other one.
var nginxKeeps = map[string]bool{
	"Content-Type": true, "Content-Disposition": true, "Cache-Control": true,
	"Expires": true, "Set-Cookie": true, "Accept-Ranges": true, "X-Robots-Tag": true,
}

// sendfile answers with X-Sendfile. Apache's mod_xsendfile keeps every
// header of this answer but the length, adds the file's Last-Modified, and
// does Range, HEAD and the conditionals with the ETag given here: its own
// would be "0" for every blob, as it only half describes the file to Apache.
// The app answers what Apache would answer badly itself: an unsatisfiable
// Range (Apache's 416 is an HTML page without Content-Range), and with it
// the conditionals. Apache announces no Accept-Ranges for a proxied answer;
// the app does.
func (s *Sender) sendfile(w http.ResponseWriter, r *http.Request, it Item, files FileSender) {
	path, err := files.SendfilePath(it.SHA256)
	if err != nil {
		s.failed(w, r, it, err)
		return
	}
	if status, _ := precheck(r, `"`+it.SHA256+`"`, it.Size); status != 0 {
		s.answerItself(w, it, status)
		return
	}
	h := w.Header()
	handoffHeaders(h, SendfileHeader, escapeSendfilePath(path))
	h.Set("ETag", `"`+it.SHA256+`"`)
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
}

// handoffHeaders sets on a handoff answer what the front end must pass on
// with the file: the headers the app's own streaming sends (fileHeaders'),
// the Referrer-Policy nginx's private location sends, and name: value (the
// handoff itself, or the ETag), all in one group (header.Set).
func handoffHeaders(h http.Header, name, value string) {
	header.Set(h, "X-Content-Type-Options", "nosniff", "Content-Security-Policy", config.MediaCSPFor(h.Get("Content-Type")),
		"Referrer-Policy", config.MediaReferrerPolicy, name, value)
}

// fileHeaders sets what every answer carrying a file's bytes has, whoever
// sends them: nosniff and the CSP of its type (config.MediaCSPFor), which
// lets a browser's own viewer show media and keeps anything scriptable
// opened as a page from running. h's Content-Type must be set.
func fileHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", config.MediaCSPFor(h.Get("Content-Type")))
}

// escapeSendfilePath percent-encodes an absolute path for X-Sendfile, which
// mod_xsendfile decodes (XSendFileUnescape, on by default): a data dir with
// a space or a percent sign in its name still names the right file.
func escapeSendfilePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
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
	fileHeaders(h)
	h.Set("ETag", `"`+it.SHA256+`"`)
	if rng := r.Header.Get("Range"); rng != "" {
		if fixed := directRange(rng, it.Size); fixed != rng {
			r = r.Clone(r.Context())
			r.Header.Set("Range", fixed)
		}
	}
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
	handoffHeaders(h, "ETag", `"`+it.SHA256+`"`)
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
	s.log.ErrorContext(r.Context(), "deliver blob", "item", it.ID, "sha256", it.SHA256, "storage", s.blobs.Describe(), "err", err)
	h := w.Header()
	for _, k := range []string{"Content-Disposition", AccelHeader, SendfileHeader, "ETag", "Last-Modified"} {
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
	mt := mediaType(contentType)
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
	return mediaType(contentType) == "application/pdf"
}

// mediaType is the media type of mime.ParseMediaType(v), lower-case, or ""
// when v does not parse. What the store keeps for nearly every item, a bare
// type in lower case or a text type with "; charset=utf-8", is answered
// without the parameter map ParseMediaType makes.
func mediaType(v string) string {
	if bareType(v) {
		return v
	}
	if base, ok := strings.CutSuffix(v, "; charset=utf-8"); ok && bareType(base) {
		return base
	}
	mt, _, _ := mime.ParseMediaType(v)
	return mt
}

// bareType reports whether v is type/subtype in lower case, made of
// characters that need neither quoting nor case folding.
func bareType(v string) bool {
	slash := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '/' && slash == 0 && i > 0 && i < len(v)-1:
			slash = i
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return slash > 0
}

// ContentDisposition returns the header for a file named name (RFC 6266):
// an ASCII fallback in filename and the exact name in filename* (RFC 8187).
// Quotes, backslashes, semicolons and control characters can't break out.
func ContentDisposition(name string, inline bool) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	// One string built in place: it is on every request of the streaming
	// path. Room for the usual case; a name with many escapes grows it.
	var b strings.Builder
	b.Grow(len(kind) + len(`; filename=""; filename*=UTF-8''`) + len("download") + 4*len(name))
	b.WriteString(kind)
	b.WriteString(`; filename="`)
	// The fallback: printable ASCII, '_' for what could break the quoted
	// string or be decoded (and for anything else), no control characters.
	start := b.Len()
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == ';' || r == '%':
			b.WriteByte('_')
		case r < 0x20 || r == 0x7f:
		case r > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(byte(r))
		}
	}
	if b.Len() == start {
		b.WriteString("download")
	}
	b.WriteString(`"; filename*=UTF-8''`)
	writeRFC8187(&b, name)
	return b.String()
}

// writeRFC8187 writes s without its control characters, percent-encoding
// everything but RFC 8187's attr-char. A byte that is not UTF-8 is written
// as U+FFFD.
func writeRFC8187(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	var enc [utf8.UTFMax]byte
	for _, r := range s {
		if unicode.IsControl(r) {
			continue
		}
		for _, c := range utf8.AppendRune(enc[:0], r) {
			if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
				b.WriteByte(c)
				continue
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
	}
}

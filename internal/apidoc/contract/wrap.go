package contract

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Handler checks every exchange under /api/ that next serves, and fails t
// on any mismatch. It must be outermost: it sees the request as it came and
// the answer as it leaves.
func (d *Document) Handler(t testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		req := r.Clone(r.Context())
		var body *keptBody
		if r.Body != nil && r.Body != http.NoBody && d.takesJSON(r) {
			body = &keptBody{ReadCloser: r.Body}
			r.Body = body
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		ex := Exchange{Request: req, Status: rec.status, Header: rec.header, Response: rec.body.Bytes()}
		if rec.status == 0 { // nothing written: an empty 200
			ex.Status, ex.Header = http.StatusOK, w.Header().Clone()
		}
		if rec.over {
			ex.Response = nil
		}
		if body != nil && body.eof && !body.over {
			ex.Body = body.buf.Bytes()
		}
		if err := d.Check(ex); err != nil {
			t.Errorf("API contract: %v", err)
		}
	})
}

// keptBody keeps what is read of a request body.
type keptBody struct {
	io.ReadCloser
	buf  bytes.Buffer
	eof  bool // read to its end
	over bool // longer than maxBody: not kept
}

func (b *keptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.over {
		b.buf.Write(p[:n])
		b.over = b.buf.Len() > maxBody
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// recorder keeps an answer's status, headers (as they were when it began)
// and body while passing them on.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
	over   bool
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status, w.header = status, w.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.over {
		w.body.Write(b)
		w.over = w.body.Len() > maxBody
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on.
func (w *recorder) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Transport checks every exchange under /api/ that next carries, and fails
// t on any mismatch. It reads each such answer whole before handing it on.
func (d *Document) Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	return roundTripper{d: d, t: t, next: next}
}

type roundTripper struct {
	d    *Document
	t    testing.TB
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return rt.next.RoundTrip(r)
	}
	ex := Exchange{Request: r}
	if r.GetBody != nil && r.ContentLength <= maxBody && rt.d.takesJSON(r) {
		if rc, err := r.GetBody(); err == nil {
			ex.Body, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	resp, err := rt.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	ex.Status, ex.Header = resp.StatusCode, resp.Header
	if r.Method != http.MethodHead {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if len(b) <= maxBody {
			ex.Response = b
		}
	}
	if err := rt.d.Check(ex); err != nil {
		rt.t.Errorf("API contract: %v", err)
	}
	return resp, nil
}

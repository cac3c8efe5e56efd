package app

import (
	"io"
	"mime"
	"net/http"

	"github.com/mediagate/mediagate/internal/metrics"
)

// MetricsHandler serves this app's metrics in Prometheus's formats. It is
// for a listener of its own (MEDIAGATE_METRICS_ADDR), never for Routes.
func (a *App) MetricsHandler() http.Handler { return a.metrics.Handler() }

// countUpload counts the bytes r's body gives from now on; the func it
// returns counts the upload, failed or not, once the handler is done with it.
func (a *App) countUpload(r *http.Request) func(failed bool) {
	kind := metrics.UploadRaw
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		kind = metrics.UploadForm
	}
	return a.count(r, kind)
}

// countResumable is countUpload for a request of a resumable upload that
// sends bytes (POST, PATCH); others are not counted.
func (a *App) countResumable(r *http.Request) func(failed bool) {
	if r.Method != http.MethodPost && r.Method != http.MethodPatch {
		return func(bool) {}
	}
	return a.count(r, metrics.UploadTus)
}

func (a *App) count(r *http.Request, kind metrics.UploadKind) func(failed bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return func(failed bool) { a.metrics.Upload(kind, 0, failed) }
	}
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	return func(failed bool) { a.metrics.Upload(kind, body.n, failed) }
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

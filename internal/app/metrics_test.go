package app

import (
	"bufio"
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
)

// scrape returns the app's metrics as series (name{labels} as written) and
// values.
func (h *harness) scrape() map[string]float64 {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("scrape: %d", rec.Code)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			h.t.Fatalf("scrape line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

// TestMetricsCountUploads sends a file each way (raw, a form, tus in two
// PATCHes, one of them refused) and a refused upload, and reads the counts.
func TestMetricsCountUploads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, token := h.user(acl.RoleEditor)
	_, viewer := h.user(acl.RoleViewer)
	video := sampleMP4(t)
	before := h.scrape()

	h.upload(token, "raw.mp4", video)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "form.mp4")
	fw.Write(video)
	mw.Close()
	formLen := form.Len()
	wantStatus(t, h.do("POST", "/api/media", token, &form, "Content-Type", mw.FormDataContentType()), http.StatusCreated)
	// A raw upload that stores nothing: not a file name in sight.
	wantStatus(t, h.do("POST", "/api/media", token, strings.NewReader("no name")), http.StatusBadRequest)
	// A viewer may not upload: refused before a byte is read, not counted.
	wantStatus(t, h.do("POST", "/api/media?filename=x.bin", viewer, strings.NewReader("x")), http.StatusForbidden)
	half := len(video) / 2
	loc := h.tusStart(token, len(video), tusMeta("filename", "tus.mp4"))
	wantStatus(t, h.tusPatch(token, loc, 0, video[:half]), http.StatusNoContent)
	wantStatus(t, h.tusPatch(token, loc, half+1, video[half+1:]), http.StatusConflict)
	wantStatus(t, h.tusPatch(token, loc, half, video[half:]), http.StatusNoContent)

	after := h.scrape()
	delta := func(series string) float64 { return after[series] - before[series] }
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`mediagate_uploads_total{kind="raw"}`, 2},
		{`mediagate_upload_bytes_total{kind="raw"}`, float64(len(video))}, // the refused one read nothing
		{`mediagate_upload_failures_total{kind="raw"}`, 1},
		{`mediagate_uploads_total{kind="form"}`, 1},
		{`mediagate_upload_bytes_total{kind="form"}`, float64(formLen)},
		{`mediagate_upload_failures_total{kind="form"}`, 0},
		{`mediagate_uploads_total{kind="tus"}`, 4}, // the POST and three PATCHes
		{`mediagate_upload_failures_total{kind="tus"}`, 1},
		{`mediagate_http_requests_total{method="PATCH",route="/api/uploads/{id}",status="409"}`, 1},
		{`mediagate_http_requests_total{method="POST",route="/api/media",status="403"}`, 1},
	} {
		if got := delta(c.series); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.series, got, c.want)
		}
	}
	// The refused PATCH's bytes may have been read or not; the rest were.
	if got := delta(`mediagate_upload_bytes_total{kind="tus"}`); got < float64(len(video)) || got > float64(len(video)+len(video[half+1:])) {
		t.Errorf("tus bytes moved by %v, want the file's %d (and perhaps the refused chunk's)", got, len(video))
	}
}

package media

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPrecheck(t *testing.T) {
	const etag = `"abc"`
	const size = 100
	for _, tt := range []struct {
		name    string
		headers map[string]string
		status  int
		whole   bool
	}{
		{"plain", nil, 0, true},
		{"one range", map[string]string{"Range": "bytes=0-9"}, 0, false},
		{"open range", map[string]string{"Range": "bytes=90-"}, 0, false},
		{"suffix", map[string]string{"Range": "bytes=-5"}, 0, false},
		{"past the end", map[string]string{"Range": "bytes=95-200"}, 0, false},
		{"unsatisfiable", map[string]string{"Range": "bytes=100-"}, http.StatusRequestedRangeNotSatisfiable, true},
		{"zero suffix", map[string]string{"Range": "bytes=-0"}, http.StatusRequestedRangeNotSatisfiable, true},
		{"several", map[string]string{"Range": "bytes=0-1,5-6"}, 0, true},
		{"reversed", map[string]string{"Range": "bytes=9-0"}, 0, true},
		{"not bytes", map[string]string{"Range": "items=0-1"}, 0, true},
		{"garbage", map[string]string{"Range": "bytes=a-b"}, 0, true},
		{"signed", map[string]string{"Range": "bytes=+1-5"}, 0, true},
		{"if-none-match hit", map[string]string{"If-None-Match": `"x", ` + etag}, http.StatusNotModified, true},
		{"if-none-match weak hit", map[string]string{"If-None-Match": `W/` + etag}, http.StatusNotModified, true},
		{"if-none-match star", map[string]string{"If-None-Match": "*"}, http.StatusNotModified, true},
		{"if-none-match miss", map[string]string{"If-None-Match": `"x"`, "Range": "bytes=0-1"}, 0, false},
		{"if-match miss", map[string]string{"If-Match": `"x"`}, http.StatusPreconditionFailed, true},
		{"if-match weak is no match", map[string]string{"If-Match": `W/` + etag}, http.StatusPreconditionFailed, true},
		{"if-match hit", map[string]string{"If-Match": etag, "Range": "bytes=0-1"}, 0, false},
		{"if-range hit", map[string]string{"If-Range": etag, "Range": "bytes=0-1"}, 0, false},
		{"if-range stale", map[string]string{"If-Range": `"x"`, "Range": "bytes=0-1"}, 0, true},
		{"if-range date", map[string]string{"If-Range": "Sat, 01 Jan 2000 00:00:00 GMT", "Range": "bytes=0-1"}, 0, true},
		{"if-range weak", map[string]string{"If-Range": "W/" + etag, "Range": "bytes=0-1"}, 0, true},
		{"if-range stale, unsatisfiable", map[string]string{"If-Range": `"x"`, "Range": "bytes=500-"}, 0, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/smedia/x", nil)
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		status, whole := precheck(r, etag, size)
		if status != tt.status || whole != tt.whole {
			t.Errorf("%s: precheck = %d, whole %v; want %d, whole %v", tt.name, status, whole, tt.status, tt.whole)
		}
	}
}

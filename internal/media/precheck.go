package media

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/mediagate/mediagate/internal/config"
)

// precheck decides, for a blob that nginx will fetch from a store it cannot
// leave conditionals to (see Accelerator.Proxied), or that Apache will send
// (it answers a bad Range poorly), what the app answers itself and whether
// nginx fetches the whole blob: 304 for an
// If-None-Match that names etag, 412 for an If-Match that does not, 416 for
// a Range that no byte of size satisfies; otherwise 0, with whole set when
// the Range must be ignored: none at all, several (the engine cannot send
// multipart/byteranges), a malformed one, or an If-Range that is not etag
// (a date never matches: these answers carry no Last-Modified).
func precheck(r *http.Request, etag string, size int64) (status int, whole bool) {
	if im := r.Header.Get("If-Match"); im != "" && !etagListMatches(im, etag, false) {
		return http.StatusPreconditionFailed, true
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, etag, true) {
		return http.StatusNotModified, true
	}
	rng := r.Header.Get("Range")
	if rng == "" {
		return 0, true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && strings.TrimSpace(ir) != etag {
		return 0, true
	}
	switch satisfiable(rng, size) {
	case rangeOK:
		return 0, false
	case rangeUnsatisfiable:
		return http.StatusRequestedRangeNotSatisfiable, true
	}
	return 0, true
}

// etagListMatches reports whether the comma-separated entity tags of an
// If-Match or If-None-Match header name etag ("*" names any), comparing
// weakly (W/ ignored) or strongly.
func etagListMatches(list, etag string, weak bool) bool {
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if strings.HasPrefix(t, "W/") {
			if !weak {
				continue
			}
			t = t[2:]
		}
		if t == etag {
			return true
		}
	}
	return false
}

type rangeKind int

const (
	rangeIgnored       rangeKind = iota // malformed or several: the whole blob
	rangeOK                             // one range, some bytes of it exist
	rangeUnsatisfiable                  // one range, no byte of it exists
)

// satisfiable classifies a Range header against a blob of size bytes.
func satisfiable(h string, size int64) rangeKind {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return rangeIgnored
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return rangeIgnored
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if first == "" { // the last n bytes
		n, ok := num(last)
		switch {
		case !ok:
			return rangeIgnored
		case n == 0 || size == 0:
			return rangeUnsatisfiable
		}
		return rangeOK
	}
	start, ok := num(first)
	if !ok {
		return rangeIgnored
	}
	if last != "" {
		end, ok := num(last)
		if !ok || end < start {
			return rangeIgnored
		}
	}
	if start >= size {
		return rangeUnsatisfiable
	}
	return rangeOK
}

// directRange returns the Range header to hand http.ServeContent for a blob
// of size bytes, which answers a range of no bytes (a suffix of 0, any
// range of an empty blob) with a 206 and a Content-Range such as
// "bytes 10-9/10" (golang/go#81262), and any number of ranges with as many
// parts. Ranges of
// no bytes go, as RFC 9110 has unsatisfiable ones do (so none left is a
// 416, and an empty blob is sent whole); more than config.MaxRanges mean
// the whole blob, as nginx answers. Anything else is left as it is.
func directRange(h string, size int64) string {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return h
	}
	var kept []string
	dropped := false
	for ra := range strings.SplitSeq(spec, ",") {
		ra = textproto.TrimString(ra)
		if ra == "" {
			continue
		}
		first, last, _ := strings.Cut(ra, "-")
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		if first == "" && last != "" && last[0] != '-' {
			if n, err := strconv.ParseInt(last, 10, 64); err == nil && n == 0 {
				dropped = true
				continue
			}
		}
		kept = append(kept, ra)
	}
	switch {
	case size == 0 || len(kept) > config.MaxRanges:
		return ""
	case !dropped:
		return h
	case len(kept) == 0:
		return "bytes=" + strconv.FormatInt(size, 10) + "-" // no byte of it: a 416
	}
	return "bytes=" + strings.Join(kept, ",")
}

// Served returns how many bytes of a blob of size, whose ETag is etag, the
// answer to r carries, for the read audit: none for HEAD and for an answer
// precheck settles without the blob (304, 412, 416), one range's length, or
// the whole blob (no Range, a Range that is ignored, or several ranges,
// counted whole). A client that hangs up early took fewer.
func Served(r *http.Request, etag string, size int64) int64 {
	if r.Method == http.MethodHead {
		return 0
	}
	status, whole := precheck(r, etag, size)
	switch {
	case status != 0:
		return 0
	case whole:
		return size
	}
	spec := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.Header.Get("Range")), "bytes="))
	first, last, _ := strings.Cut(spec, "-")
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // the last n bytes
		n, _ := strconv.ParseInt(last, 10, 64)
		return min(n, size)
	}
	start, _ := strconv.ParseInt(first, 10, 64)
	end := size - 1
	if last != "" {
		if e, err := strconv.ParseInt(last, 10, 64); err == nil {
			end = min(e, size-1)
		}
	}
	return end - start + 1
}

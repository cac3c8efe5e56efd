package media_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
)

// FuzzSendPrivateRange sends any Range header for a file of any size
// through the app's own delivery (no nginx in front) and checks the answer
// against an independent reading of RFC 9110: 200 with the whole file, 206
// with exactly the bytes the Content-Range names, each range one the client
// asked for, or 416; never a panic, never a byte outside the file.
func FuzzSendPrivateRange(f *testing.F) {
	for _, s := range []struct {
		rng  string
		size uint16
	}{
		{"bytes=0-0", 10}, {"bytes=0-99", 100}, {"bytes=5-", 10}, {"bytes=-5", 10}, {"bytes=-1", 1},
		{"bytes=9-", 10}, {"bytes=10-", 10}, {"bytes=0-", 1}, {"bytes=3-2", 10}, {"bytes=0-1,3-4", 10},
		{"bytes= 0-1 , 3-4", 10}, {"bytes=0-1,,5-6", 10}, {"bytes=,0-1", 10}, {"bytes=0-9999999999999999999", 10},
		{"bytes=99999999999999999999-", 10}, {"BYTES=0-1", 10}, {"bytes=+1-2", 10}, {"bytes=a-b", 10},
		{"items=0-1", 10}, {"bytes=0-1\x00", 10}, {"bytes=0-4,2-6", 10}, {"bytes=-100", 10}, {"bytes=0-5,-3", 8},
		{"bytes=20-30,0-0", 10}, {"bytes=0 -1", 10}, {"bytes=0-0,1-1,2-2,3-3,4-4", 40}, {"bytes=-", 10}, {"bytes=", 10},
		{"bytes=-0", 10}, {"bytes=-0", 0}, {"bytes=-5", 0}, {"bytes=0-1,-0", 10}, {"bytes=-00,-+0", 10}, {"bytes=-0,20-", 10},
		{"bytes=" + strings.Repeat("0-0,", 16) + "1-1", 100}, {"bytes=" + strings.Repeat("1-1,", 16), 100},
	} {
		f.Add(s.rng, s.size, false, false)
	}
	f.Add("bytes=0-1", uint16(10), true, false)
	f.Add("bytes=0-1,4-5", uint16(10), false, true)

	cfg := newConfig(f)
	cfg.Accel = config.AccelOff
	d := openDisk(f, cfg)
	s := media.NewSender(d, cfg, discardLog)
	items := map[int]media.Item{}
	file := func(t *testing.T, size int) ([]byte, media.Item) {
		data := content("range", max(size, 1))[:size]
		if it, ok := items[size]; ok {
			return data, it
		}
		sum := sha256.Sum256(data)
		it := media.Item{
			ID: "6b1f3a52-2f4e-4a8e-9d1c-0d6c1f2a3b4c", Filename: "clip.bin", SHA256: hex.EncodeToString(sum[:]),
			Size: int64(size), ContentType: "application/octet-stream",
			StoredAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		}
		writeFile(t, d.BlobPath(it.SHA256), data)
		items[size] = it
		return data, it
	}

	f.Fuzz(func(t *testing.T, rng string, n uint16, head, staleIfRange bool) {
		data, it := file(t, int(n)%2049)
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		r := httptest.NewRequest(method, "/smedia/"+it.ID+"/clip.bin", nil)
		r.Header["Range"] = []string{rng} // as sent: Set would canonicalize nothing here, but keep it raw
		if staleIfRange {
			r.Header.Set("If-Range", `"not-this-one"`)
		}
		w := httptest.NewRecorder()
		s.SendPrivate(w, r, it)
		checkRangeAnswer(t, rng, staleIfRange, head, data, w.Result())
	})
}

// checkRangeAnswer checks one answer to a Range request for data.
func checkRangeAnswer(t *testing.T, rng string, stale, head bool, data []byte, resp *http.Response) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	want := refRanges(rng, size)
	if stale {
		want = rangeVerdict{kind: refIgnore} // a failed If-Range means the whole file
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("Range %q on %d bytes: status %d, Content-Range %q: %s", rng, size, resp.StatusCode,
			resp.Header.Get("Content-Range"), fmt.Sprintf(format, args...))
	}
	if !head && resp.Header.Get("Content-Length") != "" && resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		fail("Content-Length %s, body %d bytes", resp.Header.Get("Content-Length"), len(body))
	}

	switch resp.StatusCode {
	case http.StatusOK:
		if !head && !bytes.Equal(body, data) {
			fail("a 200 that is not the whole file (%d bytes)", len(body))
		}
		if head && resp.Header.Get("Content-Length") != strconv.FormatInt(size, 10) {
			fail("HEAD: Content-Length %q", resp.Header.Get("Content-Length"))
		}
		switch {
		case want.kind == refIgnore, want.kind == refInvalid:
		case want.kind == refNone && size == 0: // an empty file is whole either way
		case want.kind == refSome && len(want.ranges) > 1 && (want.sum > size || want.specs > config.MaxRanges):
			// Many or overlapping ranges may be answered with the file once.
		default:
			fail("200, want %s", want)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if cr := resp.Header.Get("Content-Range"); want.kind == refNone && cr != fmt.Sprintf("bytes */%d", size) {
			fail("416 with Content-Range %q, want bytes */%d", cr, size)
		}
		if want.kind != refNone && want.kind != refInvalid {
			fail("416, want %s", want)
		}
		if len(data) > 0 && len(body) >= len(data) && bytes.Contains(body, data) {
			fail("a 416 with the file in it")
		}
	case http.StatusPartialContent:
		got := partsOf(t, fail, resp, body, head, data)
		switch want.kind {
		case refInvalid: // whatever was understood, the bytes matched what they claim
		case refSome:
			if !head && !sameRanges(got, want.ranges) {
				fail("ranges %v, want %v", got, want.ranges)
			}
		default:
			fail("206, want %s", want)
		}
	default:
		fail("unexpected status")
	}
}

// partsOf checks a 206's body (one range, or multipart/byteranges) and
// returns the ranges it holds.
func partsOf(t *testing.T, fail func(string, ...any), resp *http.Response, body []byte, head bool, data []byte) [][2]int64 {
	t.Helper()
	size := int64(len(data))
	check := func(cr string, part []byte) [2]int64 {
		first, last, ok := parseContentRange(cr, size)
		if !ok {
			fail("part with Content-Range %q, not bytes first-last/%d inside the file", cr, size)
		}
		if !head && !bytes.Equal(part, data[first:last+1]) {
			fail("part %q: %d bytes that are not bytes %d-%d of the file", cr, len(part), first, last)
		}
		return [2]int64{first, last}
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return [][2]int64{check(resp.Header.Get("Content-Range"), body)}
	}
	if resp.Header.Get("Content-Range") != "" {
		fail("multipart answer with a Content-Range of its own")
	}
	if head {
		return nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var got [][2]int64
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("malformed multipart body: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			fail("malformed part: %v", err)
		}
		if p.Header.Get("Content-Type") != "application/octet-stream" {
			fail("part with Content-Type %q", p.Header.Get("Content-Type"))
		}
		got = append(got, check(p.Header.Get("Content-Range"), b))
	}
	if len(got) < 2 {
		fail("multipart answer with %d parts", len(got))
	}
	if len(got) > config.MaxRanges {
		fail("%d parts, more than nginx's max_ranges %d", len(got), config.MaxRanges)
	}
	return got
}

// parseContentRange reads "bytes first-last/size" for a range inside the file.
func parseContentRange(cr string, size int64) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, 0, false
	}
	spec, total, ok := strings.Cut(spec, "/")
	if !ok || total != strconv.FormatInt(size, 10) {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || !allDigits(a) || !allDigits(b) {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first <= last && last < size
}

func sameRanges(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type refKind int

const (
	refInvalid refKind = iota // not a byte-range set this reading vouches for: 200, 416 or honest bytes
	refIgnore                 // the Range must be ignored: 200
	refNone                   // valid, but no range overlaps the file: 416
	refSome                   // valid, these ranges overlap the file: 206 with them
)

type rangeVerdict struct {
	kind   refKind
	ranges [][2]int64 // first and last byte, in the order asked
	specs  int        // how many range-specs the header has
	sum    int64      // their total length
}

func (v rangeVerdict) String() string {
	return [...]string{"anything honest", "200", "416", fmt.Sprintf("206 with %v", v.ranges)}[v.kind]
}

// refRanges reads a Range header by RFC 9110 section 14.1.1, written apart
// from the code under test: "bytes=" then a comma-separated list (spaces
// and tabs around the commas, empty elements skipped) of first-last,
// first- or -suffix, digits only. Numbers of more than 18 digits and unit
// names in another case are left to the server (refInvalid).
func refRanges(h string, size int64) rangeVerdict {
	set, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return rangeVerdict{kind: refInvalid}
	}
	v := rangeVerdict{kind: refSome}
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		a, b, ok := strings.Cut(spec, "-")
		if !ok || (a == "" && b == "") || !allDigits(a) || !allDigits(b) || len(a) > 18 || len(b) > 18 {
			return rangeVerdict{kind: refInvalid}
		}
		v.specs++
		switch {
		case a == "": // the last n bytes
			n, _ := strconv.ParseInt(b, 10, 64)
			if n > 0 && size > 0 {
				v.ranges = append(v.ranges, [2]int64{size - min(n, size), size - 1})
			}
		default:
			first, _ := strconv.ParseInt(a, 10, 64)
			last := size - 1
			if b != "" {
				if last, _ = strconv.ParseInt(b, 10, 64); last < first {
					return rangeVerdict{kind: refInvalid}
				}
				last = min(last, size-1)
			}
			if first < size {
				v.ranges = append(v.ranges, [2]int64{first, last})
			}
		}
	}
	if v.specs == 0 {
		return rangeVerdict{kind: refInvalid}
	}
	for _, r := range v.ranges {
		v.sum += r[1] - r[0] + 1
	}
	if len(v.ranges) == 0 {
		v.kind = refNone
	}
	return v
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

package media_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// assertNoTempFiles fails t when an upload was left under the temp dir.
func assertNoTempFiles(t *testing.T, cfg config.Config) {
	t.Helper()
	if files := tempFiles(t, cfg); len(files) != 0 {
		t.Errorf("left in %s: %v", cfg.TmpDir(), files)
	}
}

func TestReceiveSizes(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	n := media.SniffLen
	for _, tt := range []struct {
		name string
		size int
	}{
		{"1 byte", 1},
		{"under sniff length", n - 1},
		{"sniff length", n},
		{"over sniff length", n + 1},
		{"copy buffer boundary", 256<<10 + n},
		{"exactly the limit", limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			d := openDisk(t, cfg)
			data := content(tt.name, tt.size)
			rec, err := d.Receive(bytes.NewReader(data), limit)
			if err != nil {
				t.Fatalf("Receive %d bytes: %v", tt.size, err)
			}
			if rec.Size != int64(tt.size) {
				t.Errorf("Size = %d, want %d", rec.Size, tt.size)
			}
			if want := sha256Hex(data); rec.SHA256 != want {
				t.Errorf("SHA256 = %s, want %s", rec.SHA256, want)
			}
			onDisk, err := os.ReadFile(rec.TempPath())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, data) {
				t.Errorf("the temp file (%d bytes) differs from what was sent", len(onDisk))
			}
			if files := tempFiles(t, cfg); len(files) != 1 || files[0] != rec.TempPath() {
				t.Errorf("temp files %v, want only %s", files, rec.TempPath())
			}
			rec.Discard()
			assertNoTempFiles(t, cfg)
			rec.Discard() // twice is harmless
		})
	}
}

// failingReader returns n bytes of data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errBoom = errors.New("connection reset by peer")

func TestReceiveFailures(t *testing.T) {
	t.Parallel()
	n := media.SniffLen
	big := content("big", 1<<20)
	for _, tt := range []struct {
		name   string
		body   func() io.Reader
		limit  int64
		target error
	}{
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, 1 << 20, errs.ErrInvalid},
		{"limit+1 under sniff length", func() io.Reader { return bytes.NewReader(big[:101]) }, 100, errs.ErrTooLarge},
		{"limit+1 at sniff length", func() io.Reader { return bytes.NewReader(big[:n]) }, int64(n - 1), errs.ErrTooLarge},
		{"limit+1", func() io.Reader { return bytes.NewReader(big[:64<<10+1]) }, 64 << 10, errs.ErrTooLarge},
		{"far over the limit", func() io.Reader { return bytes.NewReader(big) }, 64 << 10, errs.ErrTooLarge},
		{"reader fails at once", func() io.Reader { return &failingReader{err: errBoom} }, 1 << 20, errBoom},
		{"reader fails in the head", func() io.Reader { return &failingReader{big[:1000], errBoom} }, 1 << 20, errBoom},
		{"reader fails midway", func() io.Reader { return &failingReader{big[:300<<10], errBoom} }, 1 << 20, errBoom},
		{"unexpected EOF midway", func() io.Reader { return &failingReader{big[:300<<10], io.ErrUnexpectedEOF} }, 1 << 20, io.ErrUnexpectedEOF},
		{"MaxBytesReader cut in the head", func() io.Reader {
			return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(big)), 1000)
		}, 1 << 30, errs.ErrTooLarge},
		{"MaxBytesReader cut midway", func() io.Reader {
			return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(big)), 300<<10)
		}, 1 << 30, errs.ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			d := openDisk(t, cfg)
			rec, err := d.Receive(tt.body(), tt.limit)
			if !errors.Is(err, tt.target) {
				t.Errorf("Receive = %+v, %v; want %v", rec, err, tt.target)
			}
			if errors.Is(tt.target, errBoom) && !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("a failed read is %v, want it to wrap ErrInvalid", err)
			}
			if rec != nil {
				t.Errorf("Receive returned %+v with its error", rec)
			}
			assertNoTempFiles(t, cfg)
		})
	}
}

// eofAfterErrReader is how net/http's request body ends when the client
// closes the connection before sending all of its Content-Length: the data,
// one io.ErrUnexpectedEOF, then io.EOF.
type eofAfterErrReader struct {
	data   []byte
	failed bool
}

func (r *eofAfterErrReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	if !r.failed {
		r.failed = true
		return 0, io.ErrUnexpectedEOF
	}
	return 0, io.EOF
}

// A body that ends with io.ErrUnexpectedEOF is truncated, wherever that
// happens: it must not be stored as if complete.
func TestReceiveTruncatedBody(t *testing.T) {
	t.Parallel()
	for _, sent := range []int{1000, media.SniffLen - 1, media.SniffLen, 300 << 10} {
		cfg := newConfig(t)
		d := openDisk(t, cfg)
		rec, err := d.Receive(&eofAfterErrReader{data: content("trunc", sent)}, 1<<20)
		if err == nil {
			t.Errorf("a body cut after %d bytes with io.ErrUnexpectedEOF was received as a complete %d-byte file", sent, rec.Size)
			rec.Discard()
		}
		assertNoTempFiles(t, cfg)
	}
}

// The same through a real HTTP server: the client announces 500000 bytes,
// sends fewer and closes its side.
func TestReceiveTruncatedHTTPBody(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	d := openDisk(t, cfg)
	type result struct {
		rec *media.Received
		err error
	}
	results := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, err := d.Receive(r.Body, 1<<20)
		results <- result{rec, err}
	}))
	defer srv.Close()
	for _, sent := range []int{1000, 200 << 10} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n")
		conn.Write(content("http", sent))
		conn.(*net.TCPConn).CloseWrite()
		res := <-results
		conn.Close()
		if res.err == nil {
			t.Errorf("a request body cut after %d of 500000 bytes was received as a complete %d-byte file", sent, res.rec.Size)
			res.rec.Discard()
		}
	}
	assertNoTempFiles(t, cfg)
}

// Any size up to the limit is accepted, even with the largest limit there is.
func TestReceiveHugeLimit(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	d := openDisk(t, cfg)
	data := content("huge limit", 10)
	for _, limit := range []int64{1 << 40, math.MaxInt64 - 1, math.MaxInt64} {
		rec, err := d.Receive(bytes.NewReader(data), limit)
		if err != nil {
			t.Errorf("Receive of 10 bytes with limit %d: %v", limit, err)
			continue
		}
		if rec.Size != 10 {
			t.Errorf("limit %d: %d bytes", limit, rec.Size)
		}
		rec.Discard()
	}
	assertNoTempFiles(t, cfg)
}

// A MaxBytesReader that is not cut off is no error.
func TestReceiveMaxBytesReaderExact(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	d := openDisk(t, cfg)
	data := content("exact", 300<<10)
	body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	rec, err := d.Receive(body, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Discard()
	if rec.Size != int64(len(data)) || rec.SHA256 != sha256Hex(data) {
		t.Errorf("got %d bytes %s, want %d %s", rec.Size, rec.SHA256, len(data), sha256Hex(data))
	}
}

func TestReceiveSniffsType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		data      []byte
		mediaType string
		ext       string
	}{
		{"mp4", sampleMP4(t), "video/mp4", ".mp4"},
		{"html", []byte("<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(document.cookie)</script></body></html>\n"), "text/html", ".html"},
		{"html named like a video", []byte("<html><body onload=alert(1)>"), "text/html", ".html"},
		{"svg", []byte(`<?xml version="1.0"?>` + "\n" + `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`), "image/svg+xml", ".svg"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), "image/png", ".png"},
		{"binary", []byte{0, 1, 2, 3, 0xff}, "application/octet-stream", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			d := openDisk(t, cfg)
			rec, err := d.Receive(bytes.NewReader(tt.data), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Discard()
			mt, _, err := mime.ParseMediaType(rec.ContentType)
			if err != nil || mt != tt.mediaType {
				t.Errorf("ContentType = %q (%v), want %s", rec.ContentType, err, tt.mediaType)
			}
			if rec.Extension != tt.ext {
				t.Errorf("Extension = %q, want %q", rec.Extension, tt.ext)
			}
			if rec.Size != int64(len(tt.data)) || rec.SHA256 != sha256Hex(tt.data) {
				t.Errorf("got %d bytes %s, want %d %s", rec.Size, rec.SHA256, len(tt.data), sha256Hex(tt.data))
			}
		})
	}
}

// patternReader yields size deterministic bytes without allocating.
type patternReader struct {
	remaining int64
	off       int
}

var pattern = func() []byte {
	b := make([]byte, 64<<10+13) // not a power of two: the bytes don't repeat on buffer edges
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func (r *patternReader) Read(p []byte) (int, error) {
	if r.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(pattern)
	}
	r.remaining -= int64(n)
	return n, nil
}

// TestReceiveMemoryIsConstant streams 512 MiB and checks that Receive's heap
// use does not grow with the upload. It is not parallel: TotalAlloc counts the
// whole process, and the parallel tests wait while it runs.
func TestReceiveMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 512 MiB to disk")
	}
	const size = 512 << 20
	h := sha256.New()
	if _, err := io.Copy(h, &patternReader{remaining: size}); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	cfg := newConfig(t)
	d := openDisk(t, cfg)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec, err := d.Receive(&patternReader{remaining: size}, size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Discard()
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("receiving 512 MiB allocated %d bytes (%.2f MiB)", grew, float64(grew)/(1<<20))
	if grew >= 8<<20 {
		t.Errorf("receiving 512 MiB allocated %.1f MiB, want under 8 MiB", float64(grew)/(1<<20))
	}
	if rec.Size != size || rec.SHA256 != want {
		t.Errorf("got %d bytes %s, want %d %s", rec.Size, rec.SHA256, size, want)
	}
	if fi, err := os.Stat(rec.TempPath()); err != nil || fi.Size() != size {
		t.Errorf("temp file: %v, %v", fi, err)
	}
}

const benchSize = 64 << 20

// BenchmarkReceive streams 64 MiB through Disk.Receive: temp file, sha256,
// sniffing and fsync.
func BenchmarkReceive(b *testing.B) {
	cfg := newConfig(b)
	d := openDisk(b, cfg)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		rec, err := d.Receive(&patternReader{remaining: benchSize}, benchSize)
		if err != nil {
			b.Fatal(err)
		}
		if rec.Size != benchSize {
			b.Fatalf("received %d bytes", rec.Size)
		}
		rec.Discard()
	}
}

// BenchmarkReceiveBaseline is the floor BenchmarkReceive is compared with:
// the same bytes io.Copy'd into a plain file and sha256, fsynced as Receive
// does, so the ratio is Receive's own overhead.
func BenchmarkReceiveBaseline(b *testing.B) {
	dir := b.TempDir()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.CreateTemp(dir, "baseline-*")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), &patternReader{remaining: benchSize})
		if err != nil || n != benchSize {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		_ = h.Sum(nil)
		os.Remove(f.Name())
	}
}

package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/s3store"
	"github.com/mediagate/mediagate/internal/testweed"
)

func newStore(t *testing.T, prefix string) (*s3store.Store, testweed.Bucket) {
	t.Helper()
	b := testweed.New(t)
	s, err := s3store.New(s3store.Options{Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Name, Prefix: prefix,
		AccessKey: b.AccessKey, SecretKey: b.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return s, b
}

// spooled writes data to a file, as the spool would, and returns its path
// and content key.
func spooled(t *testing.T, data []byte) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return p, hex.EncodeToString(sum[:])
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestPutOpenWalkRemove(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, "mg/")
	ctx := t.Context()
	data := random(300 << 10)
	path, key := spooled(t, data)
	if err := s.Put(ctx, key, path); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// Again: already stored, a no-op that leaves the file to the caller.
	if err := s.Put(ctx, key, path); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Put took the caller's file: %v", err)
	}
	r, err := s.Open(ctx, key, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole read: %d bytes, %v", len(got), err)
	}
	// As http.ServeContent reads a range: seek to the end for the size, then
	// to the start, then read a part.
	if n, err := r.Seek(0, io.SeekEnd); err != nil || n != int64(len(data)) {
		t.Fatalf("Seek end = %d, %v", n, err)
	}
	if _, err := r.Seek(100_000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 5000)
	if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, data[100_000:105_000]) {
		t.Fatalf("ranged read: %v", err)
	}
	r.Close()

	var keys []string
	if err := s.Walk(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{key}) {
		t.Errorf("Walk = %v, want [%s]", keys, key)
	}
	if err := s.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, key); err != nil {
		t.Errorf("removing a missing blob: %v", err)
	}
	r, _ = s.Open(ctx, key, int64(len(data)))
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, media.ErrBlobMissing) {
		t.Errorf("reading a removed blob: %v, want ErrBlobMissing", err)
	}
	for _, bad := range []string{"../etc/passwd", strings.Repeat("A", 64), ""} {
		if err := s.Put(ctx, bad, path); err == nil {
			t.Errorf("Put(%q) = nil, want a refusal", bad)
		}
	}
}

// fetch requests the presigned URL behind an accel path as nginx would:
// the path after the mode, with its query, on the engine's host.
func fetch(t *testing.T, b testweed.Bucket, accel, method string, header http.Header) *http.Response {
	t.Helper()
	rest, ok := strings.CutPrefix(accel, s3store.AccelPrefix)
	if !ok || len(rest) < 2 || (rest[0] != 'r' && rest[0] != 'w') {
		t.Fatalf("accel path %q does not start with %sr or %sw", accel, s3store.AccelPrefix, s3store.AccelPrefix)
	}
	req, err := http.NewRequest(method, b.Endpoint+rest[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAccelPath(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, "")
	ctx := t.Context()
	data := random(10 << 10)
	path, key := spooled(t, data)
	if err := s.Put(ctx, key, path); err != nil {
		t.Fatal(err)
	}
	get, err := s.AccelPath(ctx, key, media.AccelRequest{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(get, s3store.AccelPrefix+"r/") || !strings.Contains(get, key+"?") || !strings.Contains(get, "X-Amz-Signature=") {
		t.Errorf("GET accel path %q", get)
	}
	resp := fetch(t, b, get, http.MethodGet, http.Header{"Range": {"bytes=10-19"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[10:20]) {
		t.Errorf("presigned GET with Range: %d, %d bytes", resp.StatusCode, len(body))
	}
	whole, _ := s.AccelPath(ctx, key, media.AccelRequest{Method: http.MethodGet, Whole: true})
	if !strings.HasPrefix(whole, s3store.AccelPrefix+"w/") {
		t.Errorf("whole accel path %q", whole)
	}
	// HEAD needs a HEAD signature: a GET one is refused.
	head, _ := s.AccelPath(ctx, key, media.AccelRequest{Method: http.MethodHead})
	if resp := fetch(t, b, head, http.MethodHead, http.Header{}); resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
		t.Errorf("presigned HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	if resp := fetch(t, b, get, http.MethodHead, http.Header{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("HEAD with a GET signature: %d, want 403 (if the engine now allows it, AccelPath may stop signing HEAD apart)", resp.StatusCode)
	}
	// The signature covers the key: another key with the same query fails.
	other := strings.Replace(get, key, strings.Repeat("0", 64), 1)
	if resp := fetch(t, b, other, http.MethodGet, http.Header{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a signature moved to another key: %d, want 403", resp.StatusCode)
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, "site/media/")
	ctx := t.Context()
	data := random(4 << 10)
	path, key := spooled(t, data)
	if err := s.Put(ctx, key, path); err != nil {
		t.Fatal(err)
	}
	const name = "0123456789abcdef0123456789abcdef.mp4"
	if err := s.Publish(ctx, key, name); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := s.Publish(ctx, key, name); err != nil {
		t.Fatalf("Publish again: %v", err)
	}
	anon := func(p string) *http.Response {
		t.Helper()
		resp, err := http.Get("http://" + s.Host() + p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := anon(s.PublicPath(name))
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("anonymous GET of the published copy: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
	// The private blob is not readable without a signature.
	if resp := anon(strings.Replace(s.PublicPath(name), "public/"+name, "blobs/"+key, 1)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET of the private blob: %d, want 403", resp.StatusCode)
	}
	var names []string
	s.WalkPublic(ctx, func(n string) error { names = append(names, n); return nil })
	if !slices.Equal(names, []string{name}) {
		t.Errorf("WalkPublic = %v", names)
	}
	if err := s.Unpublish(ctx, name); err != nil {
		t.Fatal(err)
	}
	if resp := anon(s.PublicPath(name)); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("after Unpublish: %d, want 404 or 403", resp.StatusCode)
	}
	_ = b
}

func TestCheckRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	b := testweed.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for name, o := range map[string]s3store.Options{
		"no such bucket": {Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Name + "-missing", AccessKey: b.AccessKey, SecretKey: b.SecretKey, PathStyle: true},
		"wrong secret":   {Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Name, AccessKey: b.AccessKey, SecretKey: "wrong-secret", PathStyle: true},
		"nothing there":  {Endpoint: "http://127.0.0.1:1", Region: b.Region, Bucket: b.Name, AccessKey: b.AccessKey, SecretKey: b.SecretKey, PathStyle: true},
	} {
		s, err := s3store.New(o)
		if err != nil {
			t.Fatalf("%s: New: %v", name, err)
		}
		err = s.Check(ctx)
		if err == nil {
			t.Errorf("%s: Check = nil, want an error", name)
			continue
		}
		if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), b.SecretKey) {
			t.Errorf("%s: the error shows a secret: %v", name, err)
		}
	}
	for _, bad := range []s3store.Options{{Endpoint: "ftp://x"}, {Endpoint: "http://x", Prefix: "../x"}, {Endpoint: "http://x", Prefix: "a b/"}} {
		if _, err := s3store.New(bad); err == nil {
			t.Errorf("New(%+v) = nil error", bad)
		}
	}
}

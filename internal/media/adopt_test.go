package media_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// finishedUpload writes data where a resumable upload would have left it.
func finishedUpload(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAdopt(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	n := media.SniffLen
	for _, tt := range []struct {
		name     string
		data     []byte
		wantType string
	}{
		{"1 byte", content("one", 1), ""},
		{"under sniff length", content("under", n-1), ""},
		{"over sniff length", content("over", n+1), ""},
		{"copy buffer boundary", content("boundary", 256<<10+1), ""},
		{"exactly the limit", content("limit", limit), ""},
		{"video", sampleMP4(t), "video/mp4"},
		{"text", bytes.Repeat([]byte("plain words\n"), 500), "text/plain; charset=utf-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			d := openDisk(t, cfg)
			src := finishedUpload(t, cfg.UploadsDir(), "0123abcd", tt.data)
			// What Receive makes of the same bytes is what Adopt must make.
			want, err := d.Receive(bytes.NewReader(tt.data), limit)
			if err != nil {
				t.Fatal(err)
			}
			want.Discard()

			rec, err := d.Adopt(src, limit)
			if err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if rec.SHA256 != sha256Hex(tt.data) || rec.Size != int64(len(tt.data)) {
				t.Errorf("Adopt = sha %s size %d, want %s %d", rec.SHA256, rec.Size, sha256Hex(tt.data), len(tt.data))
			}
			if rec.ContentType != want.ContentType || rec.Extension != want.Extension {
				t.Errorf("type %q %q, Receive sniffs %q %q", rec.ContentType, rec.Extension, want.ContentType, want.Extension)
			}
			if tt.wantType != "" && rec.ContentType != tt.wantType {
				t.Errorf("type %q, want %q", rec.ContentType, tt.wantType)
			}
			if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the adopted file is still at %s (%v)", src, err)
			}
			if filepath.Dir(rec.TempPath()) != d.WorkDir() {
				t.Errorf("adopted into %s, want this process's temp dir %s", rec.TempPath(), d.WorkDir())
			}
			onDisk, err := os.ReadFile(rec.TempPath())
			if err != nil || !bytes.Equal(onDisk, tt.data) {
				t.Errorf("the adopted file differs from the upload (%v)", err)
			}
			rec.Discard()
			assertNoTempFiles(t, cfg)
		})
	}
}

func TestAdoptRefusals(t *testing.T) {
	t.Parallel()
	const limit = 4096
	for _, tt := range []struct {
		name    string
		data    []byte // nil: no file at all
		dir     bool
		want    error
		stays   bool // the file must be left where it was
		anyFail bool // any error will do
	}{
		{name: "over the limit", data: content("big", limit+1), want: errs.ErrTooLarge, stays: true},
		{name: "empty", data: []byte{}, want: errs.ErrInvalid, stays: true},
		{name: "missing", want: fs.ErrNotExist},
		{name: "a directory", dir: true, anyFail: true, stays: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t)
			d := openDisk(t, cfg)
			src := filepath.Join(cfg.UploadsDir(), "upload")
			switch {
			case tt.dir:
				if err := os.MkdirAll(src, 0o700); err != nil {
					t.Fatal(err)
				}
			case tt.data != nil:
				finishedUpload(t, cfg.UploadsDir(), "upload", tt.data)
			}
			rec, err := d.Adopt(src, limit)
			if err == nil {
				rec.Discard()
				t.Fatal("Adopt accepted it")
			}
			if !tt.anyFail && !errors.Is(err, tt.want) {
				t.Errorf("Adopt: %v, want %v", err, tt.want)
			}
			if _, serr := os.Stat(src); tt.stays && serr != nil {
				t.Errorf("the refused file is gone from %s: %v", src, serr)
			}
			assertNoTempFiles(t, cfg)
		})
	}
}

func TestAdoptTwiceFails(t *testing.T) {
	t.Parallel()
	cfg := newConfig(t)
	d := openDisk(t, cfg)
	src := finishedUpload(t, cfg.UploadsDir(), "once", content("once", 100))
	rec, err := d.Adopt(src, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Discard()
	if again, err := d.Adopt(src, 1<<20); err == nil {
		again.Discard()
		t.Fatal("the same file was adopted twice")
	}
	if files := tempFiles(t, cfg); !slices.Equal(files, []string{rec.TempPath()}) {
		t.Errorf("temp files %v, want only %s", files, rec.TempPath())
	}
}

// TestAdoptThenCreate checks that an adopted file becomes an item exactly as
// a received one does: same blob, stored once.
func TestAdoptThenCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.user(acl.RoleEditor)
	video := sampleMP4(t)
	src := finishedUpload(t, e.cfg.UploadsDir(), "resumed", video)
	rec, err := e.disk.Adopt(src, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := e.store.Create(context.Background(), owner, rec, "resumed.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := e.upload(owner, video, "plain.mp4")
	if adopted.SHA256 != sha256Hex(video) || adopted.Size != int64(len(video)) || adopted.ContentType != "video/mp4" {
		t.Errorf("adopted item = %+v", adopted)
	}
	if adopted.SHA256 != plain.SHA256 || adopted.ID == plain.ID {
		t.Errorf("adopted %s/%s, plain %s/%s: want one blob, two items", adopted.ID, adopted.SHA256, plain.ID, plain.SHA256)
	}
	if rows := e.blobRows(); len(rows) != 1 {
		t.Errorf("%d blob rows, want 1", len(rows))
	}
	stored, err := os.ReadFile(e.disk.BlobPath(adopted.SHA256))
	if err != nil || !bytes.Equal(stored, video) {
		t.Errorf("the stored blob differs from the upload (%v)", err)
	}
	e.assertConsistent()
}

package media

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gabriel-vasile/mimetype"

	"github.com/mediagate/mediagate/internal/errs"
)

// Adopt takes a file that is already on disk, on the data dir's filesystem (a
// finished resumable upload), as a received upload: it is moved into this
// process's temp dir, then hashed and sniffed by streaming it as Receive does
// a request body, and fsynced, so that Store.Create can consume it. A file
// over limit bytes is ErrTooLarge and an empty one ErrInvalid; both are left
// where they were. Once moved, the file is removed on any failure, so nothing
// is left behind. Whoever writes the file must be done with it.
func (d *Disk) Adopt(path string, limit int64) (_ *Received, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("adopt upload: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("adopt upload: %s is not a regular file", path)
	}
	if err := checkAdoptSize(fi.Size(), limit); err != nil {
		return nil, err
	}
	// Moving it first claims it: a second Adopt of the same path fails.
	tmp := filepath.Join(d.work, "adopt-"+randomHex(8))
	if err := os.Rename(path, tmp); err != nil {
		return nil, StorageError("adopt upload", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	f, err := os.Open(tmp)
	if err != nil {
		return nil, fmt.Errorf("adopt upload: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	head := &headWriter{b: make([]byte, 0, sniffLen)}
	// The struct hides the file's WriterTo, so the copy uses this buffer.
	size, err := io.CopyBuffer(io.MultiWriter(h, head), struct{ io.Reader }{f}, make([]byte, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if err := checkAdoptSize(size, limit); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, StorageError("sync upload", err)
	}
	mt := mimetype.Detect(head.b)
	return &Received{
		path:        tmp,
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		Size:        size,
		ContentType: mt.String(),
		Extension:   mt.Extension(),
	}, nil
}

// checkAdoptSize applies Receive's size rules.
func checkAdoptSize(size, limit int64) error {
	if size > limit {
		return fmt.Errorf("%w: uploads are limited to %d bytes", errs.ErrTooLarge, limit)
	}
	if size == 0 {
		return fmt.Errorf("%w: the file is empty", errs.ErrInvalid)
	}
	return nil
}

// headWriter keeps the first sniffLen bytes written to it.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	if n := sniffLen - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

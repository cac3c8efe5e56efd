package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode"

	"github.com/gabriel-vasile/mimetype"

	"github.com/mediagate/mediagate/internal/errs"
)

// sniffLen is how much of the start of a file the type is sniffed from.
const sniffLen = 3072

// Received is an upload written to a temp file and fsynced, not yet stored.
type Received struct {
	path        string
	SHA256      string
	Size        int64
	ContentType string
	Extension   string
}

// Discard removes the temp file; it is safe after the file was stored.
func (r *Received) Discard() {
	if r.path != "" {
		os.Remove(r.path)
	}
}

// Receive streams body into a temp file in this process's temp dir, hashing
// as it goes, and sniffs the type from the content. It never holds the file
// in memory. A file over limit bytes (or a body cut short by
// http.MaxBytesReader) is ErrTooLarge; on any error nothing is left on disk.
func (d *Disk) Receive(body io.Reader, limit int64) (_ *Received, err error) {
	body = io.LimitReader(body, limit+1)
	f, err := os.CreateTemp(d.work, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("temp file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, readError(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the file is empty", errs.ErrInvalid)
	}
	head = head[:n]
	if _, err := w.Write(head); err != nil {
		return nil, fmt.Errorf("write upload: %w", err)
	}
	rest, err := io.CopyBuffer(w, onlyReader{body}, make([]byte, 256<<10))
	if err != nil {
		return nil, readError(err)
	}
	if size := int64(n) + rest; size > limit {
		return nil, fmt.Errorf("%w: uploads are limited to %d bytes", errs.ErrTooLarge, limit)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close upload: %w", err)
	}
	mt := mimetype.Detect(head)
	return &Received{
		path:        f.Name(),
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		Size:        int64(n) + rest,
		ContentType: mt.String(),
		Extension:   mt.Extension(),
	}, nil
}

// onlyReader hides a reader's WriterTo so CopyBuffer uses our buffer size.
type onlyReader struct{ io.Reader }

func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: uploads are limited to %d bytes", errs.ErrTooLarge, tooLarge.Limit)
	}
	return fmt.Errorf("%w: reading the upload failed: %w", errs.ErrInvalid, err)
}

// CleanFilename makes a client's file name safe to store and show: the last
// path element, valid UTF-8, no control characters, at most 255 bytes. It is
// only ever metadata: files on disk are named by their hash.
func CleanFilename(name string) (string, error) {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		r := []rune(name)
		name = string(r[:len(r)-1])
	}
	if name == "" || name == "." || name == ".." {
		return "", fmt.Errorf("%w: a file name is required", errs.ErrInvalid)
	}
	return name, nil
}

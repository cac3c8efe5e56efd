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
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"github.com/mediagate/mediagate/internal/config"
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

// TempPath is where the upload waits to be stored, for tools that read a
// file (ffmpeg); nothing may write it.
func (r *Received) TempPath() string { return r.path }

// Discard removes the temp file; it is safe after the file was stored.
func (r *Received) Discard() {
	if r.path != "" {
		os.Remove(r.path)
	}
}

// Receive streams body into a temp file in this process's temp dir, hashing
// as it goes, and sniffs the type from the content. It never holds the file
// in memory. A file over limit bytes (or a body cut short by
// http.MaxBytesReader) is ErrTooLarge, a body that ends early (a client gone
// mid-upload) is ErrInvalid, a full disk is ErrInsufficientStorage (see
// StorageError) and another failing disk a plain error; in every case nothing
// is left on disk.
func (s *Spool) Receive(body io.Reader, limit int64) (_ *Received, err error) {
	f, err := os.CreateTemp(s.work, "upload-*")
	if err != nil {
		return nil, StorageError("temp file", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	head := make([]byte, 0, sniffLen)
	buf := make([]byte, 256<<10)
	var size int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			size += int64(n)
			if size > limit {
				return nil, fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(limit))
			}
			if len(head) < sniffLen {
				head = append(head, buf[:min(n, sniffLen-len(head))]...)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return nil, StorageError("write upload", err)
			}
			h.Write(buf[:n])
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, readError(rerr, limit)
		}
	}
	if size == 0 {
		return nil, fmt.Errorf("%w: the file is empty", errs.ErrInvalid)
	}
	if err := f.Sync(); err != nil {
		return nil, StorageError("sync upload", err)
	}
	if err := f.Close(); err != nil {
		return nil, StorageError("close upload", err)
	}
	mt := mimetype.Detect(head)
	return &Received{
		path:        f.Name(),
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		Size:        size,
		ContentType: mt.String(),
		Extension:   mt.Extension(),
	}, nil
}

// readError is a failed read of an upload of at most limit bytes. A body
// cut short by http.MaxBytesReader (whose limit allows for a multipart
// form's overhead) is told as the file's limit.
func readError(err error, limit int64) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: uploads are limited to %s", errs.ErrTooLarge, config.HumanSize(limit))
	}
	return fmt.Errorf("%w: reading the upload failed: %w", errs.ErrInvalid, err)
}

// CleanFilename makes a client's file name safe to store and show: the last
// path element, valid UTF-8, no control or bidirectional-override characters,
// not only dots, at most 255 bytes. It is only ever metadata: files on disk are named by
// their hash.
func CleanFilename(name string) (string, error) {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || isBidiControl(r) {
			return -1
		}
		return r
	}, name)
	if len(name) > 255 {
		cut := 255
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	name = strings.TrimSpace(name)
	// Dots alone are no name: "." and ".." are path elements, and Windows
	// saves "..." as nothing (it drops trailing dots).
	if strings.Trim(name, ".") == "" {
		return "", fmt.Errorf("%w: a file name is required (dots alone are none)", errs.ErrInvalid)
	}
	return name, nil
}

// isBidiControl reports the characters that reorder text on screen, with
// which "evil\u202Egpj.exe" shows as "evilexe.jpg".
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

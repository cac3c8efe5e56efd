// Package media stores and serves media: content-addressed blobs on disk,
// items in PostgreSQL, streaming uploads, and delivery by X-Accel-Redirect or
// by the app itself.
package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Disk is the data directory: private blobs named by their sha256, published
// links, and per-instance temporary files.
type Disk struct {
	private, public, tmp, trash string
	// work is this process's own temp dir; its lock file, held with flock for
	// the life of the process, tells a starting instance it is not a leftover.
	work string
	lock *os.File
}

// OpenDisk makes the data directory's layout and claims a temp dir for this
// process. Directories are world-readable so nginx workers can read blobs.
func OpenDisk(cfg config.Config) (*Disk, error) {
	d := &Disk{private: cfg.PrivateDir(), public: cfg.PublicDir(), tmp: cfg.TmpDir(), trash: cfg.TrashDir()}
	for _, dir := range []string{d.private, d.public, d.tmp, d.trash} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	// The lock file is locked under a name the cleaners ignore and only then
	// renamed into place, so no starting instance can take it for a dead one.
	name := randomHex(8)
	lock, err := os.OpenFile(filepath.Join(d.tmp, name+pendingSuffix), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock temp dir: %w", err)
	}
	if err := os.Rename(lock.Name(), filepath.Join(d.tmp, name+".lock")); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock temp dir: %w", err)
	}
	d.work, d.lock = filepath.Join(d.tmp, name), lock
	if err := os.Mkdir(d.work, 0o700); err != nil {
		d.Close()
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return d, nil
}

// pendingSuffix marks a lock file being set up.
const pendingSuffix = ".pending"

// Close removes this process's temp dir and releases its lock.
func (d *Disk) Close() error {
	err := os.RemoveAll(d.work)
	os.Remove(d.work + ".lock")
	return errors.Join(err, d.lock.Close())
}

// BlobPath is where the blob with sha lives: private/ab/cd/<sha>.
func (d *Disk) BlobPath(sha string) string {
	return filepath.Join(d.private, sha[0:2], sha[2:4], sha)
}

// AccelPath is the X-Accel-Redirect target for the blob with sha. It is built
// from the content hash alone, never from anything a client sent.
func AccelPath(sha string) string {
	return config.AccelPrefix + sha[0:2] + "/" + sha[2:4] + "/" + sha
}

// PublicPath is where the published link with name lives.
func (d *Disk) PublicPath(name string) string { return filepath.Join(d.public, name) }

func (d *Disk) trashPath(sha string) string { return filepath.Join(d.trash, sha) }

// place moves a finished temp file to the blob's path unless the blob is
// already there, in which case the temp file is dropped.
func (d *Disk) place(tmp, sha string) error {
	dst := d.BlobPath(sha)
	if _, err := os.Stat(dst); err == nil {
		return os.Remove(tmp)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(dir)
}

// publish links the blob into the public dir under name.
func (d *Disk) publish(sha, name string) error {
	dst := d.PublicPath(name)
	if err := os.Link(d.BlobPath(sha), dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(d.public)
}

// unpublish removes the public link name; a missing one is fine.
func (d *Disk) unpublish(name string) error {
	if err := os.Remove(d.PublicPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(d.public)
}

// StorageError is err, from the write named what, as a client may be told of
// it: a full disk or quota (ENOSPC, EDQUOT) is errs.ErrInsufficientStorage,
// anything else a plain error. err itself, with its path, stays for the log.
func StorageError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: %w", errs.ErrInsufficientStorage, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// publicNameRE matches the names Publish makes: 32 hex digits and an optional
// extension from config.PublicTypes.
var publicNameRE = regexp.MustCompile(`^[0-9a-f]{32}(\.[a-z0-9]{1,5})?$`)

// newPublicName returns a fresh unguessable public name for a blob whose
// sniffed extension is ext.
func newPublicName(ext string) string {
	ext = strings.ToLower(ext)
	if _, ok := config.PublicTypes[ext]; !ok {
		ext = ""
	}
	return randomHex(16) + ext
}

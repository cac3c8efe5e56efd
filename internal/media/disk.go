// Package media stores and serves media: content-addressed blobs behind one
// storage seam (Blobs: local disk here, S3 in package s3store), items in
// PostgreSQL, streaming uploads, and delivery by X-Accel-Redirect, by
// X-Sendfile or by the app itself.
package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
)

// ValidKey reports whether key is a content key: a SHA-256 in lower-case hex
// (64 digits). A loop rather than a regular expression: it is on every
// request of the streaming path.
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Disk is local storage in the data directory: private blobs named by their
// SHA-256, published hard links, and this process's spool for uploads. It
// implements Blobs, Accelerator (nginx's internal /pmedia/ location maps
// onto the private dir), FileSender (Apache's X-Sendfile), Publisher and
// TrashRecoverer.
type Disk struct {
	*Spool
	private, public, trash string
	fsckTrash              string // made when fsck first moves something there
}

// OpenDisk makes the data directory's layout and claims a temp dir for this
// process. Directories are world-readable so nginx workers can read blobs.
func OpenDisk(cfg config.Config) (*Disk, error) {
	d := &Disk{private: cfg.PrivateDir(), public: cfg.PublicDir(), trash: cfg.TrashDir(), fsckTrash: cfg.FsckTrashDir()}
	for _, dir := range []string{d.private, d.public, d.trash} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	sp, err := OpenSpool(cfg.TmpDir())
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	d.Spool = sp
	return d, nil
}

// Describe names the private dir.
func (d *Disk) Describe() string { return "local disk " + d.private }

// BlobPath is where the blob with sha lives: private/ab/cd/<sha>.
func (d *Disk) BlobPath(sha string) string {
	return filepath.Join(d.private, sha[0:2], sha[2:4], sha)
}

// AccelPath is the X-Accel-Redirect target for the blob with sha. It is built
// from the content hash alone, never from anything a client sent.
func AccelPath(sha string) string {
	return config.AccelPrefix + sha[0:2] + "/" + sha[2:4] + "/" + sha
}

// AccelPath implements Accelerator: nginx's /pmedia/ location serves the
// private dir itself, Range and conditionals included.
func (d *Disk) AccelPath(_ context.Context, key string, _ AccelRequest) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("accel path: %q is not a content key", key)
	}
	return AccelPath(key), nil
}

// Proxied is false: nginx serves a local file itself, with Range and
// conditionals.
func (d *Disk) Proxied() bool { return false }

// SendfilePath implements FileSender: the blob's file in the private dir,
// named by its content hash alone, never by anything a client sent.
func (d *Disk) SendfilePath(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("sendfile path: %q is not a content key", key)
	}
	return d.BlobPath(key), nil
}

// PublicPath is where the published link with name lives.
func (d *Disk) PublicPath(name string) string { return filepath.Join(d.public, name) }

func (d *Disk) trashPath(sha string) string { return filepath.Join(d.trash, sha) }

// Put moves the finished temp file at path to the blob's path unless the
// blob is already there (path stays then, for the caller to remove). The
// rename is atomic and the directory is synced, so a blob is whole or
// absent.
func (d *Disk) Put(_ context.Context, key, path string) error {
	if !ValidKey(key) {
		return fmt.Errorf("store blob: %q is not a content key", key)
	}
	dst := d.BlobPath(key)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return StorageError("store blob", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return StorageError("store blob", err)
	}
	if err := os.Rename(path, dst); err != nil {
		return StorageError("store blob", err)
	}
	return StorageError("store blob", syncDir(dir))
}

// Remove unlinks the blob; a missing one is fine.
func (d *Disk) Remove(_ context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("remove blob: %q is not a content key", key)
	}
	if err := ignoreMissing(os.Remove(d.BlobPath(key))); err != nil {
		return fmt.Errorf("remove blob: %w", err)
	}
	return nil
}

// Open opens the blob's file.
func (d *Disk) Open(_ context.Context, key string, _ int64) (io.ReadSeekCloser, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("open blob: %q is not a content key", key)
	}
	f, err := os.Open(d.BlobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", key, ErrBlobMissing)
	}
	return f, err
}

// Walk calls fn with the key of every blob file in the private dir; files
// that are not where a blob would be are logged by the caller's fsck, and
// skipped here.
func (d *Disk) Walk(ctx context.Context, fn func(key string) error) error {
	return filepath.WalkDir(d.private, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if key := e.Name(); ValidKey(key) && path == d.BlobPath(key) {
			return fn(key)
		}
		return nil
	})
}

// Inventory implements Inspector: every file (or anything else but a
// directory) under the private dir, by its path relative to it.
func (d *Disk) Inventory(ctx context.Context, fn func(StoredObject) error) error {
	return filepath.WalkDir(d.private, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.private, path)
		if err != nil {
			return err
		}
		o := StoredObject{Name: filepath.ToSlash(rel), Size: fi.Size()}
		if key := e.Name(); ValidKey(key) && path == d.BlobPath(key) && fi.Mode().IsRegular() {
			o.Key = key
		}
		return fn(o)
	})
}

// runRE matches the names fsck gives its runs' trash dirs.
var runRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// Trash implements Inspector: the file at name in the private dir is
// renamed to fsck-trash/<run>/name, both dirs synced.
func (d *Disk) Trash(_ context.Context, name, run string) (string, error) {
	if !runRE.MatchString(run) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("trash: bad name %q or run %q", name, run)
	}
	src := filepath.Join(d.private, filepath.FromSlash(name))
	dst := filepath.Join(d.fsckTrash, run, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", StorageError("trash", err)
	}
	if err := os.Rename(src, dst); err != nil {
		return "", StorageError("trash", err)
	}
	if err := errors.Join(syncDir(filepath.Dir(src)), syncDir(filepath.Dir(dst))); err != nil {
		return "", StorageError("trash", err)
	}
	return dst, nil
}

// Publish links the blob into the public dir under name.
func (d *Disk) Publish(_ context.Context, key, name string) error {
	if !ValidKey(key) || !publicNameRE.MatchString(name) {
		return fmt.Errorf("publish: bad key or name")
	}
	if err := os.Link(d.BlobPath(key), d.PublicPath(name)); err != nil && !errors.Is(err, fs.ErrExist) {
		return StorageError("publish blob", err)
	}
	return StorageError("publish blob", syncDir(d.public))
}

// Serves reports whether the public file name is the blob key's file. A
// blob whose own file is missing counts as served: the public link may hold
// the last copy of its bytes (fsck reports the missing blob).
func (d *Disk) Serves(_ context.Context, name, key string) (bool, error) {
	if !ValidKey(key) || !publicNameRE.MatchString(name) {
		return false, fmt.Errorf("serves: bad key or name")
	}
	pub, err := os.Stat(d.PublicPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	blob, err := os.Stat(d.BlobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(pub, blob), nil
}

// Unpublish removes the public link name; a missing one is fine.
func (d *Disk) Unpublish(_ context.Context, name string) error {
	if !publicNameRE.MatchString(name) {
		return fmt.Errorf("unpublish: bad name")
	}
	if err := ignoreMissing(os.Remove(d.PublicPath(name))); err != nil {
		return err
	}
	return syncDir(d.public)
}

// WalkPublic calls fn with every name in the public dir. Anything there
// that Publish would not have made (a directory, an odd name) is removed on
// the way: only published files may be reachable under PublicPrefix.
func (d *Disk) WalkPublic(_ context.Context, fn func(name string) error) error {
	entries, err := os.ReadDir(d.public)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !publicNameRE.MatchString(e.Name()) {
			if err := ignoreMissing(os.RemoveAll(d.PublicPath(e.Name()))); err != nil {
				return err
			}
			continue
		}
		if err := fn(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// RecoverTrash implements TrashRecoverer: blobs that an older version moved
// to the trash before a delete's commit are put back when their row is
// still there and removed when not.
func (d *Disk) RecoverTrash(ctx context.Context, keep func(ctx context.Context, key string, fn func(keep bool) error) error) error {
	entries, err := os.ReadDir(d.trash)
	if err != nil {
		return err
	}
	for _, e := range entries {
		sha := e.Name()
		if !ValidKey(sha) {
			os.RemoveAll(filepath.Join(d.trash, sha))
			continue
		}
		err := keep(ctx, sha, func(keep bool) error {
			if !keep {
				return ignoreMissing(os.Remove(d.trashPath(sha)))
			}
			if _, err := os.Stat(d.trashPath(sha)); errors.Is(err, fs.ErrNotExist) {
				return nil // a live instance settled it already
			}
			if err := os.MkdirAll(filepath.Dir(d.BlobPath(sha)), 0o755); err != nil {
				return err
			}
			if _, err := os.Stat(d.BlobPath(sha)); err == nil {
				return ignoreMissing(os.Remove(d.trashPath(sha)))
			}
			return ignoreMissing(os.Rename(d.trashPath(sha), d.BlobPath(sha)))
		})
		if err != nil {
			return fmt.Errorf("recover trash: %w", err)
		}
	}
	return nil
}

// StorageError is err, from the write named what, as a client may be told of
// it: a full disk or quota (ENOSPC, EDQUOT) is errs.ErrInsufficientStorage,
// anything else a plain error. err itself, with its path, stays for the log.
// A nil err stays nil.
func StorageError(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: %w", errs.ErrInsufficientStorage, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ignoreMissing treats a file already gone as done: another live instance
// got there first.
func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
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

// ValidPublicName reports whether name has the form of a published name.
func ValidPublicName(name string) bool { return publicNameRE.MatchString(name) }

// newPublicName returns a fresh unguessable public name for a blob whose
// sniffed extension is ext.
func newPublicName(ext string) string {
	ext = strings.ToLower(ext)
	if _, ok := config.PublicTypes[ext]; !ok {
		ext = ""
	}
	return randomHex(16) + ext
}

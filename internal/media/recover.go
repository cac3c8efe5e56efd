package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Recover settles what a crash or a killed client may have left: temp files
// of dead processes, blobs in the trash, blob files without a row, and public
// links that disagree with the database. It runs at start, before serving.
// Every blob decision takes the blob's lock, so other live instances are safe.
func (s *Store) Recover(ctx context.Context) error {
	var errList []error
	if err := s.disk.cleanDeadTemps(); err != nil {
		errList = append(errList, err)
	}
	if err := s.recoverTrash(ctx); err != nil {
		errList = append(errList, err)
	}
	if err := s.sweepOrphanBlobs(ctx); err != nil {
		errList = append(errList, err)
	}
	if err := s.syncPublic(ctx); err != nil {
		errList = append(errList, err)
	}
	return errors.Join(errList...)
}

// cleanDeadTemps removes the temp dirs of processes that no longer hold their
// lock.
func (d *Disk) cleanDeadTemps() error {
	entries, err := os.ReadDir(d.tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), pendingSuffix) {
			// Another instance may be setting up this very moment; only a
			// stale one is a crash's leftover.
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(filepath.Join(d.tmp, e.Name()))
			}
			continue
		}
		name, isLock := strings.CutSuffix(e.Name(), ".lock")
		if !isLock {
			if _, err := os.Stat(filepath.Join(d.tmp, e.Name()+".lock")); errors.Is(err, fs.ErrNotExist) {
				os.RemoveAll(filepath.Join(d.tmp, e.Name()))
			}
			continue
		}
		if filepath.Join(d.tmp, name) == d.work {
			continue
		}
		f, err := os.OpenFile(filepath.Join(d.tmp, e.Name()), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(filepath.Join(d.tmp, name))
			os.Remove(f.Name())
		}
		f.Close()
	}
	return nil
}

// withBlob runs fn in a transaction holding sha's lock, telling it whether the
// blob has a row.
func (s *Store) withBlob(ctx context.Context, sha string, fn func(hasRow bool) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := blobLock(ctx, tx, sha); err != nil {
			return err
		}
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)`, sha).Scan(&has); err != nil {
			return err
		}
		return fn(has)
	})
}

// recoverTrash puts back blobs whose delete never committed and removes the rest.
func (s *Store) recoverTrash(ctx context.Context) error {
	entries, err := os.ReadDir(s.disk.trash)
	if err != nil {
		return err
	}
	for _, e := range entries {
		sha := e.Name()
		if !shaRE.MatchString(sha) {
			os.RemoveAll(filepath.Join(s.disk.trash, sha))
			continue
		}
		err := s.withBlob(ctx, sha, func(hasRow bool) error {
			if !hasRow {
				return ignoreMissing(os.Remove(s.disk.trashPath(sha)))
			}
			// A live instance may have unlinked it already (its delete
			// committed and a new upload re-made the row): nothing to do then.
			if _, err := os.Stat(s.disk.trashPath(sha)); errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			s.log.Warn("restoring a blob whose delete did not commit", "sha256", sha)
			if err := os.MkdirAll(filepath.Dir(s.disk.BlobPath(sha)), 0o755); err != nil {
				return err
			}
			if _, err := os.Stat(s.disk.BlobPath(sha)); err == nil {
				return ignoreMissing(os.Remove(s.disk.trashPath(sha)))
			}
			return ignoreMissing(os.Rename(s.disk.trashPath(sha), s.disk.BlobPath(sha)))
		})
		if err != nil {
			return fmt.Errorf("recover trash: %w", err)
		}
	}
	return nil
}

// sweepOrphanBlobs removes blob files that have no row (an upload whose
// transaction never committed).
func (s *Store) sweepOrphanBlobs(ctx context.Context) error {
	return filepath.WalkDir(s.disk.private, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sha := d.Name()
		if !shaRE.MatchString(sha) || path != s.disk.BlobPath(sha) {
			s.log.Warn("unexpected file in the private dir", "path", path)
			return nil
		}
		return s.withBlob(ctx, sha, func(hasRow bool) error {
			if hasRow {
				return nil
			}
			s.log.Info("removing a blob without a row", "sha256", sha)
			return ignoreMissing(os.Remove(path))
		})
	})
}

// ignoreMissing treats a file already gone as done: another live instance
// got there first.
func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// syncPublic makes the public dir hold exactly the links the database says
// are published. It holds the lock Publish and Unpublish take, so it never
// sees one of them half done.
func (s *Store) syncPublic(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := publicLock(ctx, tx); err != nil {
			return err
		}
		return s.syncPublicLocked(ctx, tx)
	})
}

func (s *Store) syncPublicLocked(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT public_name, blob FROM media WHERE public_name IS NOT NULL`)
	if err != nil {
		return err
	}
	want := map[string]string{}
	var name, sha string
	_, err = pgx.ForEachRow(rows, []any{&name, &sha}, func() error {
		want[name] = sha
		return nil
	})
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(s.disk.public)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; ok {
			delete(want, e.Name())
			continue
		}
		s.log.Info("removing an unpublished public file", "name", e.Name())
		if err := ignoreMissing(os.RemoveAll(s.disk.PublicPath(e.Name()))); err != nil {
			return err
		}
	}
	for name, sha := range want {
		if err := s.disk.publish(sha, name); err != nil {
			return fmt.Errorf("relink %s: %w", name, err)
		}
	}
	return nil
}

package media

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Spool is this process's own local temp space, where uploads are received
// (hashed and sniffed as they stream in) before they are put to storage. It
// lives in a directory shared with other instances on the same machine;
// each claims a subdirectory and holds a flock on its lock file for its
// whole life, so that a starting instance can tell a dead one's leftovers.
type Spool struct {
	tmp  string // the shared directory
	work string // this process's own directory in it
	lock *os.File
}

// OpenSpool claims a temp dir for this process in dir, making dir if needed.
func OpenSpool(dir string) (*Spool, error) {
	s := &Spool{tmp: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	// The lock file is locked under a name the cleaners ignore and only then
	// renamed into place, so no starting instance can take it for a dead one.
	name := randomHex(8)
	lock, err := os.OpenFile(filepath.Join(dir, name+pendingSuffix), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock temp dir: %w", err)
	}
	if err := os.Rename(lock.Name(), filepath.Join(dir, name+".lock")); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock temp dir: %w", err)
	}
	s.work, s.lock = filepath.Join(dir, name), lock
	if err := os.Mkdir(s.work, 0o700); err != nil {
		s.Close()
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	return s, nil
}

// pendingSuffix marks a lock file being set up.
const pendingSuffix = ".pending"

// Dir is this process's own temp dir: what is put there goes with the
// process (and with its leftovers, should it die).
func (s *Spool) Dir() string { return s.work }

// Close removes this process's temp dir and releases its lock.
func (s *Spool) Close() error {
	err := os.RemoveAll(s.work)
	os.Remove(s.work + ".lock")
	return errors.Join(err, s.lock.Close())
}

// CleanDead removes the temp dirs of processes that no longer hold their
// lock: what a crash or kill -9 left.
func (s *Spool) CleanDead() error {
	_, err := s.dead(true)
	return err
}

// SpoolLeftover is what a dead process left in the shared temp dir.
type SpoolLeftover struct {
	Name  string // in the shared temp dir
	Bytes int64  // what it holds
}

// Leftovers returns what CleanDead would remove now, removing nothing.
func (s *Spool) Leftovers() ([]SpoolLeftover, error) { return s.dead(false) }

// dead finds, and with remove removes, the leftovers of dead processes: a
// temp dir whose lock file is not locked (it dies with its process) or is
// gone, a lock file of a dead process, a stray file, a stale half-made lock.
func (s *Spool) dead(remove bool) ([]SpoolLeftover, error) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, err
	}
	var out []SpoolLeftover
	// found notes the leftover named by the first of names (a dir and its
	// lock file are one process's) and removes them all.
	found := func(names ...string) {
		l := SpoolLeftover{Name: names[0]}
		for _, name := range names {
			p := filepath.Join(s.tmp, name)
			l.Bytes += treeBytes(p)
			if remove {
				os.RemoveAll(p)
			}
		}
		out = append(out, l)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), pendingSuffix) {
			// Another instance may be setting up this very moment; only a
			// stale one is a crash's leftover.
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				found(e.Name())
			}
			continue
		}
		name, isLock := strings.CutSuffix(e.Name(), ".lock")
		if !isLock {
			if _, err := os.Stat(filepath.Join(s.tmp, e.Name()+".lock")); errors.Is(err, fs.ErrNotExist) {
				found(e.Name())
			}
			continue
		}
		if filepath.Join(s.tmp, name) == s.work {
			continue
		}
		f, err := os.OpenFile(filepath.Join(s.tmp, e.Name()), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		// Held while the dir goes, so that no other cleaner takes it for
		// a live one's.
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			found(name, e.Name())
		}
		f.Close()
	}
	return out, nil
}

// treeBytes adds up the sizes of the files under path.
func treeBytes(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Adopt takes a finished file in this process's temp dir (Dir), such as one
// ffmpeg wrote, as a received upload: hashed and sniffed by reading it once,
// so that it can be stored like one. The file stays where it is until the
// Received is discarded or stored.
func (s *Spool) Adopt(path string) (*Received, error) {
	if filepath.Dir(path) != s.work {
		return nil, fmt.Errorf("adopt %s: not in this process's temp dir", filepath.Base(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	rec, err := s.Receive(f, fi.Size())
	if err != nil {
		return nil, err
	}
	// Receive made a copy; the original is not needed.
	os.Remove(path)
	return rec, nil
}

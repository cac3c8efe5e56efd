package uploads

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Run removes the uploads, finished or not, that saw no activity for the
// expiry: at once, then every quarter of the expiry (at least every second,
// at most every hour) until ctx is done. Every instance may run it: an
// upload is removed under its lock, by one of them.
func (u *Uploads) Run(ctx context.Context) {
	t := time.NewTicker(min(max(u.expiry/4, time.Second), time.Hour))
	defer t.Stop()
	for {
		n, err := u.Expire(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			u.log.Warn("clean uploads", "err", err)
		}
		if n > 0 {
			u.log.Info("removed expired uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expireBatch bounds the receipts one Expire looks at; the next run takes
// the rest.
const expireBatch = 1000

// Expire removes the uploads last active more than the expiry before now,
// their bytes and then their receipts, and returns how many it removed. An
// upload whose lock is held is in use and left alone. With a Files store it
// also removes the files older than that which belong to no receipt (an
// upload half removed, or from before receipts were in PostgreSQL).
func (u *Uploads) Expire(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-u.expiry)
	ids, err := u.idle(ctx, cutoff, expireBatch)
	if err != nil {
		return 0, err
	}
	var n int
	var errList []error
	for _, id := range ids {
		removed, err := u.expire(ctx, id, cutoff)
		if err != nil {
			errList = append(errList, err)
		}
		if removed {
			n++
		}
	}
	if u.store.dir != "" {
		swept, err := u.sweep(ctx, cutoff)
		n += swept
		if err != nil {
			errList = append(errList, err)
		}
	}
	return n, errors.Join(errList...)
}

// expire removes the upload id if it is still idle since before cutoff and
// nobody holds its lock.
func (u *Uploads) expire(ctx context.Context, id string, cutoff time.Time) (bool, error) {
	lock, ok, err := u.locker.TryLock(ctx, id)
	if err != nil || !ok {
		return false, err
	}
	defer lock.Unlock()
	// A write may have come between the listing and the lock.
	r, err := u.receipt(ctx, id)
	if errors.Is(err, errNoReceipt) {
		return false, nil
	}
	if err != nil || !r.Active.Before(cutoff) {
		return false, err
	}
	if err := u.remove(ctx, r); err != nil {
		return false, err
	}
	return true, nil
}

// sweep removes from the Files store's dir the uploads that have no
// receipt and whose files were all last modified before cutoff, and returns
// how many it removed. An upload's files are those whose names start with
// its id and a dot, and the data file named by the id alone; the data goes
// first. A receipt is always recorded before its upload's first file, so a
// file without one is a leftover.
func (u *Uploads) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(u.store.dir)
	if err != nil {
		return 0, err
	}
	last := map[string]time.Time{}
	files := map[string][]string{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, _, _ := strings.Cut(e.Name(), ".")
		files[id] = append(files[id], e.Name())
		if fi.ModTime().After(last[id]) {
			last[id] = fi.ModTime()
		}
	}
	var stale []string
	for id := range files {
		if last[id].Before(cutoff) {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return 0, nil
	}
	known, err := u.known(ctx, stale)
	if err != nil {
		return 0, err
	}
	var n int
	var errList []error
	for _, id := range stale {
		if known[id] {
			continue // the receipt's expiry decides
		}
		names := files[id]
		// The data file, named by the id alone, sorts first.
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(len(a), len(b)) })
		for _, name := range names {
			if err := os.Remove(filepath.Join(u.store.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errList = append(errList, err)
			}
		}
		n++
	}
	return n, errors.Join(errList...)
}

// Package uploads keeps resumable uploads: where their partial data lives,
// who may touch them, the lock every instance honours, their receipts and
// their expiry. The tus protocol itself is tusd's; the HTTP handlers that
// serve it are internal/app's.
//
// An upload is a row in PostgreSQL (its receipt, see Receipt) from its
// creation until it expires, and its bytes in a tusd data store (Store)
// until it is finished. Finished, it becomes an item through
// media.Store.Upload, its bytes are dropped and its receipt names the item.
// Any instance can answer for any upload: the receipts are in PostgreSQL,
// the bytes where every instance reaches them, and the lock (Locker) is a
// PostgreSQL advisory lock.
package uploads

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// Upload-Metadata keys. The client names the file and the folder; the rest
// is the server's, and whatever else a client sends is dropped.
const (
	metaFilename = "filename"
	metaFolder   = "folder"          // a folder id; absent is the root
	metaOwner    = "mediagate-owner" // the creator's user id
	metaItem     = "mediagate-item"  // the item the upload became, once finished
)

// idRE matches the ids NewID gives uploads. Nothing else is ever looked up
// or turned into a path.
var idRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidID reports whether id has the form of an upload's id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// NewID returns 128 random bits in the form ValidID takes.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Changes is what a new upload's creation changes in what the client sent:
// a new id, and metadata that keep only the (cleaned) file name and the
// folder (nil: the root) and name p as the creator.
func Changes(p acl.Principal, filename string, folder *string) tusd.FileInfoChanges {
	meta := tusd.MetaData{metaFilename: filename, metaOwner: p.UserID}
	if folder != nil {
		meta[metaFolder] = *folder
	}
	return tusd.FileInfoChanges{ID: NewID(), MetaData: meta}
}

// Uploads keeps the resumable uploads of every instance.
type Uploads struct {
	pool   *pgxpool.Pool
	items  *media.Store
	store  Store
	locker *Locker
	expiry time.Duration
	log    *slog.Logger
}

// Options configure Uploads.
type Options struct {
	// Store is where the partial uploads' bytes live (Files or S3).
	Store Store
	// Expiry is how long an upload, finished or not, may see no activity
	// before the janitor removes it.
	Expiry time.Duration
	// Locks tunes the lock; its zero value is the defaults.
	Locks LockerOptions
	Log   *slog.Logger
}

// New returns the uploads kept in pool, which become items in items. Close
// it when done.
func New(pool *pgxpool.Pool, items *media.Store, o Options) (*Uploads, error) {
	if o.Store.data == nil {
		return nil, errors.New("uploads: no store")
	}
	if o.Expiry <= 0 {
		return nil, errors.New("uploads: the expiry must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Locks.Log == nil {
		o.Locks.Log = o.Log
	}
	locker, err := NewLocker(pool, o.Locks)
	if err != nil {
		return nil, err
	}
	return &Uploads{pool: pool, items: items, store: o.Store, locker: locker, expiry: o.Expiry, log: o.Log}, nil
}

// Close lets go of the lock's connections, asking the requests that still
// hold a lock to stop first.
func (u *Uploads) Close() { u.locker.Close() }

// Locker returns the lock every instance honours, the one tusd uses.
func (u *Uploads) Locker() *Locker { return u.locker }

// Owned returns the receipt of the upload id if p created it. For anyone
// else, as for an id never used, it is ErrNotFound.
func (u *Uploads) Owned(ctx context.Context, p acl.Principal, id string) (Receipt, error) {
	notFound := fmt.Errorf("%w: no such upload", errs.ErrNotFound)
	if !ValidID(id) || !p.Valid() {
		return Receipt{}, notFound
	}
	r, err := u.receipt(ctx, id)
	if errors.Is(err, errNoReceipt) || (err == nil && r.Owner != p.UserID) {
		return Receipt{}, notFound
	}
	return r, err
}

// Finish makes the complete upload id an item owned by p, exactly as
// POST /api/media would (sniffed, hashed, deduplicated, edit on the folder
// checked again), drops its bytes and keeps its receipt naming the item; for
// a finished upload it returns that item. The caller holds the upload's
// lock. A refusal (the folder gone or edit revoked meanwhile, a size that is
// not the one announced) ends the upload; a passing failure (the database
// away) leaves it complete, for Item to finish later.
func (u *Uploads) Finish(ctx context.Context, p acl.Principal, id string) (media.Item, error) {
	ctx = context.WithoutCancel(ctx) // the bytes are all here: finish even if the client goes
	r, err := u.Owned(ctx, p, id)
	if err != nil {
		return media.Item{}, err
	}
	if r.Finished() {
		return u.items.Get(ctx, p, r.Item)
	}
	it, err := u.makeItem(ctx, p, r)
	if err != nil {
		if refused(err) {
			if rerr := u.remove(ctx, r); rerr != nil {
				u.log.ErrorContext(ctx, "remove a refused upload", "upload", id, "err", rerr)
			}
		}
		return media.Item{}, err
	}
	if err := u.finished(ctx, id, it.ID); err != nil {
		// The item is made; only a client that missed this answer loses.
		// The bytes stay: without the receipt they are all the upload is.
		u.log.ErrorContext(ctx, "keep the receipt of a finished upload", "upload", id, "item", it.ID, "err", err)
		return it, nil
	}
	if err := u.dropData(ctx, r); err != nil {
		u.log.ErrorContext(ctx, "remove the data of a finished upload", "upload", id, "err", err)
	}
	return it, nil
}

// makeItem reads the upload's bytes from the store into a new item.
func (u *Uploads) makeItem(ctx context.Context, p acl.Principal, r Receipt) (media.Item, error) {
	if err := u.items.CheckUpload(ctx, p, r.Folder); err != nil {
		return media.Item{}, err
	}
	up, err := u.store.data.GetUpload(ctx, r.dataID())
	if err != nil {
		return media.Item{}, u.dataError("read upload", err)
	}
	rc, err := up.GetReader(ctx)
	if err != nil {
		// All the bytes came, but the store was not told (the process
		// stopped in between): an S3 multipart upload is completed only
		// then, and its object read only after.
		if ferr := up.FinishUpload(ctx); ferr == nil {
			rc, err = up.GetReader(ctx)
		}
	}
	if err != nil {
		return media.Item{}, u.dataError("read upload", err)
	}
	defer rc.Close()
	return u.items.Upload(ctx, p, &exactReader{r: rc, want: r.Size}, r.Filename, r.Folder)
}

// dataError is err from the store: a missing upload is ErrNotFound.
func (u *Uploads) dataError(what string, err error) error {
	if errors.Is(err, tusd.ErrNotFound) {
		return fmt.Errorf("%w: no such upload", errs.ErrNotFound)
	}
	return media.StorageError(what, err)
}

// Item answers the item the upload id of p's became, for a client that
// missed the final answer. A complete upload that could not be finished then
// (the database away) is finished now; an incomplete one is an *Incomplete.
func (u *Uploads) Item(ctx context.Context, p acl.Principal, id string) (media.Item, error) {
	r, err := u.Owned(ctx, p, id)
	if err != nil {
		return media.Item{}, err
	}
	if !r.Finished() {
		// Checked before taking the lock, which would interrupt a running PATCH.
		if err := u.complete(ctx, r); err != nil {
			return media.Item{}, err
		}
		lock, err := u.locker.NewLock(id)
		if err != nil {
			return media.Item{}, err
		}
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := lock.Lock(lctx, func() {}); err != nil {
			if errors.Is(err, errs.ErrUnavailable) {
				return media.Item{}, err
			}
			return media.Item{}, fmt.Errorf("%w: the upload is busy, try again", errs.ErrConflict)
		}
		defer lock.Unlock()
		if r, err = u.Owned(ctx, p, id); err != nil {
			return media.Item{}, err
		}
		if !r.Finished() {
			if err := u.complete(ctx, r); err != nil {
				return media.Item{}, err
			}
		}
	}
	return u.Finish(ctx, p, id)
}

// Incomplete is the error of an upload asked for its item before all its
// bytes arrived. It is an errs.ErrConflict.
type Incomplete struct {
	Offset, Size int64
}

func (e *Incomplete) Error() string {
	return fmt.Sprintf("%v: the upload is not complete: %d of %d bytes received", errs.ErrConflict, e.Offset, e.Size)
}

func (e *Incomplete) Unwrap() error { return errs.ErrConflict }

// complete says whether all of the upload's bytes are in the store.
func (u *Uploads) complete(ctx context.Context, r Receipt) error {
	up, err := u.store.data.GetUpload(ctx, r.dataID())
	if err != nil {
		return u.dataError("upload "+r.ID, err)
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return u.dataError("upload "+r.ID, err)
	}
	if info.Offset < r.Size {
		return &Incomplete{Offset: info.Offset, Size: r.Size}
	}
	return nil
}

// remove ends an upload: its bytes first, so that a half-removed upload is
// one the janitor finds again.
func (u *Uploads) remove(ctx context.Context, r Receipt) error {
	if err := u.dropData(ctx, r); err != nil {
		return err
	}
	return u.forget(ctx, r.ID)
}

// dropData removes the upload's bytes from the store; bytes already gone
// are no error.
func (u *Uploads) dropData(ctx context.Context, r Receipt) error {
	up, err := u.store.data.GetUpload(ctx, r.dataID())
	if err == nil {
		err = u.store.data.AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil && !errors.Is(err, tusd.ErrNotFound) {
		return fmt.Errorf("remove upload %s: %w", r.ID, err)
	}
	return nil
}

// exactReader reads r, which must hold exactly want bytes: an upload that
// turns out shorter or longer than it announced is refused.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want || (errors.Is(err, io.EOF) && e.n != e.want) {
		return n, fmt.Errorf("%w: the upload holds %d bytes, %d were announced", errs.ErrInvalid, e.n, e.want)
	}
	return n, err
}

// refused reports the errors that will not pass by themselves.
func refused(err error) bool {
	for _, e := range []error{errs.ErrForbidden, errs.ErrNotFound, errs.ErrInvalid, errs.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

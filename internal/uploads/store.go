package uploads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// Store is where the partial uploads' bytes live: a tusd data store that
// can terminate uploads, chosen by one of the constructors (Files, S3).
// Every instance must reach the same one.
type Store struct {
	data     dataStore
	describe string
	// dir is the directory of a Files store, whose leftovers the janitor
	// sweeps; "" for other stores.
	dir string
	// bucket is where an S3 store keeps its objects, whose leftovers the
	// janitor sweeps too; nil for other stores.
	bucket *bucketPlace
}

// bucketPlace is an S3 store's bucket and key prefix.
type bucketPlace struct {
	client *s3.Client
	name   string
	prefix string
}

// dataStore is what tusd needs of a store for the extensions we offer
// (creation, creation-with-upload, termination).
type dataStore interface {
	tusd.DataStore
	tusd.TerminaterDataStore
}

// Files keeps partial uploads in dir with tusd's filestore: the bytes of an
// upload are the file <id>, tusd's own info <id>.info. Instances share them
// when they share dir at the same path (the info names the file by its
// absolute path).
func Files(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Store{}, fmt.Errorf("uploads dir: %w", err)
	}
	files := filestore.New(dir)
	files.DirModePerm, files.FileModePerm = 0o700, 0o600
	return Store{data: files, describe: "local dir " + dir, dir: dir}, nil
}

// S3 keeps partial uploads in bucket under prefix (such as the blobs'
// prefix and "uploads/") with tusd's s3store: an upload is an S3 multipart
// upload in parts of at least 5 MiB, with <id>.info beside it and, while
// its last bytes are fewer than that, <id>.part. Parts wait in tmp, a local
// directory, on their way to the bucket: at most 4 parts of at most 16 MiB
// per PATCH (s3store's defaults would allow 20 of 50 MiB).
func S3(client *s3.Client, bucket, prefix, tmp string) Store {
	st := s3store.New(bucket, client)
	st.ObjectPrefix = prefix
	st.TemporaryDirectory = tmp
	st.PreferredPartSize = 16 << 20
	st.MaxBufferedParts = 4
	return Store{data: st, describe: "bucket " + bucket + " under " + prefix,
		bucket: &bucketPlace{client: client, name: bucket, prefix: prefix}}
}

// bucketed is the ability of blob stores that live in an S3 bucket
// (s3store.Store): resumable uploads then keep their partial data there too.
type bucketed interface {
	Client() *s3.Client
	Bucket() string
	Prefix() string
}

// For returns where resumable uploads keep their partial data beside blobs:
// the same bucket, under <prefix>uploads/, when blobs are in S3, so that
// every instance reaches them; else the local dir (shared by instances that
// share the data dir). tmp holds parts on their way to the bucket.
func For(blobs media.Blobs, dir, tmp string) (Store, error) {
	if b, ok := blobs.(bucketed); ok {
		return S3(b.Client(), b.Bucket(), b.Prefix()+"uploads/", tmp), nil
	}
	return Files(dir)
}

// Describe names where the partial uploads are, for logs: no secret.
func (s Store) Describe() string { return s.describe }

// Answer turns an error that the store or the locker returns to tusd into
// the one tusd sends as it is (a tusd.Error), so that clients see the app's
// errors, not paths or system messages. After a chunk is written without
// error it is called with nil, so that a failure of the request itself (a
// body that stalled, which tusd hides from stores) is answered too; nil
// means there is none.
type Answer func(ctx context.Context, err error) error

// UseIn makes composer use the uploads' store, wrapped so that receipts are
// kept, finished uploads read as complete and errors pass through answer,
// and the locker every instance honours.
func (u *Uploads) UseIn(composer *tusd.StoreComposer, answer Answer) {
	s := tusStore{u: u, answer: answer}
	composer.UseCore(s)
	composer.UseTerminater(s)
	composer.UseLocker(answeringLocker{u.locker, answer})
}

// tusStore is the uploads' store as tusd sees it. An upload exists when it
// has a receipt: creating one records the receipt before any byte is
// stored, and terminating one removes its bytes, then its receipt. A
// finished upload, whose bytes became an item, reads as complete from its
// receipt alone: a client that missed the final answer sees Upload-Offset
// equal to Upload-Length, not a 404 that would make it upload again.
type tusStore struct {
	u      *Uploads
	answer Answer
}

func (s tusStore) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	r := Receipt{ID: info.ID, Owner: info.MetaData[metaOwner], Size: info.Size, Filename: info.MetaData[metaFilename]}
	if folder, ok := info.MetaData[metaFolder]; ok {
		r.Folder = &folder
	}
	if !ValidID(r.ID) || r.Owner == "" || r.Filename == "" || info.SizeIsDeferred || r.Size <= 0 {
		// preCreate makes every upload's info; another is a bug.
		return nil, s.answer(ctx, fmt.Errorf("create upload: info %s not made by the app", r.ID))
	}
	if err := s.u.begin(ctx, r); err != nil {
		return nil, s.answer(ctx, err)
	}
	up, err := s.create(ctx, info, &r)
	if err != nil {
		if rerr := s.u.remove(context.WithoutCancel(ctx), r); rerr != nil {
			s.u.log.ErrorContext(ctx, "remove an upload that could not be created", "upload", r.ID, "err", rerr)
		}
		return nil, s.answer(ctx, err)
	}
	return tusUpload{Upload: up, s: s, r: r}, nil
}

// create makes the upload r in the store, and records the store's own id
// for it when the store gives it another.
func (s tusStore) create(ctx context.Context, info tusd.FileInfo, r *Receipt) (tusd.Upload, error) {
	up, err := s.u.store.data.NewUpload(ctx, info)
	if err != nil {
		return nil, media.StorageError("create upload", err)
	}
	created, err := up.GetInfo(ctx)
	if err != nil {
		return nil, media.StorageError("create upload", err)
	}
	if created.ID != r.ID {
		r.stored = created.ID
		if err := s.u.renamed(ctx, r.ID, created.ID); err != nil {
			return nil, err
		}
	}
	return up, nil
}

func (s tusStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	if !ValidID(id) {
		return nil, tusd.ErrNotFound
	}
	r, err := s.u.receipt(ctx, id)
	if errors.Is(err, errNoReceipt) {
		return nil, tusd.ErrNotFound
	}
	if err != nil {
		return nil, s.answer(ctx, err)
	}
	if r.Finished() {
		return tusUpload{Upload: finishedUpload{r}, s: s, r: r}, nil
	}
	up, err := s.u.store.data.GetUpload(ctx, r.dataID())
	if errors.Is(err, tusd.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, s.answer(ctx, fmt.Errorf("read upload: %w", err))
	}
	return tusUpload{Upload: up, s: s, r: r}, nil
}

// AsTerminatableUpload takes the uploads NewUpload and GetUpload return.
func (s tusStore) AsTerminatableUpload(up tusd.Upload) tusd.TerminatableUpload { return up.(tusUpload) }

// tusUpload is an upload of the store's, or a finishedUpload, under the
// id of its receipt whatever the store calls it.
type tusUpload struct {
	tusd.Upload
	s tusStore
	r Receipt
}

// WriteChunk appends src to the upload and notes the activity. tusd's
// reader hides a failed read of the body from stores (it answers it itself,
// a stalled body as a 500), so answer is asked about the request even when
// the write went well. What was written stays, for the client to resume
// from.
func (u tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := u.Upload.WriteChunk(ctx, offset, src)
	if terr := u.s.u.touch(context.WithoutCancel(ctx), u.r.ID); terr != nil {
		u.s.u.log.WarnContext(ctx, "note activity on an upload", "upload", u.r.ID, "err", terr)
	}
	if err != nil {
		return n, u.s.answer(ctx, media.StorageError("write upload", err))
	}
	return n, u.s.answer(ctx, nil)
}

func (u tusUpload) GetInfo(ctx context.Context) (tusd.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	if err != nil {
		return info, u.s.answer(ctx, err)
	}
	info.ID = u.r.ID // what the client calls it: tusd builds Location from it
	return info, nil
}

func (u tusUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	rc, err := u.Upload.GetReader(ctx)
	if err != nil {
		return nil, u.s.answer(ctx, err)
	}
	return rc, nil
}

func (u tusUpload) FinishUpload(ctx context.Context) error {
	if err := u.Upload.FinishUpload(ctx); err != nil {
		return u.s.answer(ctx, err)
	}
	return nil
}

// Terminate forgets the upload: its bytes, if any are left, then its
// receipt. The item a finished upload became stays.
func (u tusUpload) Terminate(ctx context.Context) error {
	if err := u.s.u.remove(ctx, u.r); err != nil {
		return u.s.answer(ctx, err)
	}
	return nil
}

// finishedUpload is an upload that became an item: only its receipt is
// left.
type finishedUpload struct{ r Receipt }

// errFinished answers what can no longer be done to a finished upload.
var errFinished = tusd.NewError("ERR_UPLOAD_FINISHED", "the upload is finished", http.StatusConflict)

func (f finishedUpload) WriteChunk(context.Context, int64, io.Reader) (int64, error) {
	return 0, errFinished
}

// GetInfo is the upload as it was finished: all of its bytes received.
func (f finishedUpload) GetInfo(context.Context) (tusd.FileInfo, error) {
	meta := tusd.MetaData{metaFilename: f.r.Filename, metaOwner: f.r.Owner, metaItem: f.r.Item}
	if f.r.Folder != nil {
		meta[metaFolder] = *f.r.Folder
	}
	return tusd.FileInfo{ID: f.r.ID, Size: f.r.Size, Offset: f.r.Size, MetaData: meta}, nil
}

func (f finishedUpload) GetReader(context.Context) (io.ReadCloser, error) { return nil, errFinished }
func (f finishedUpload) FinishUpload(context.Context) error               { return nil }

// answeringLocker is the Locker whose own errors (PostgreSQL away, every
// lock connection taken) pass through answer; tusd's (a lock held elsewhere
// that was not released in time) stay tusd's.
type answeringLocker struct {
	l      *Locker
	answer Answer
}

func (a answeringLocker) NewLock(id string) (tusd.Lock, error) {
	lock, err := a.l.NewLock(id)
	if err != nil {
		return nil, err
	}
	return answeringLock{lock, a.answer}, nil
}

type answeringLock struct {
	lock   tusd.Lock
	answer Answer
}

func (a answeringLock) Lock(ctx context.Context, requestRelease func()) error {
	err := a.lock.Lock(ctx, requestRelease)
	if err != nil && errors.Is(err, errs.ErrUnavailable) {
		return a.answer(ctx, err)
	}
	return err
}

func (a answeringLock) Unlock() error { return a.lock.Unlock() }

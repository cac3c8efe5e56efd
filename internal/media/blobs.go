package media

import (
	"context"
	"errors"
	"io"
)

// Blobs keeps blobs under their content keys: the SHA-256 of the content in
// lower-case hex, never anything a client sent. Like tusd's DataStore it is
// a small core; what only some stores can do is an optional ability, an
// extra interface (Accelerator, FileSender, Publisher, TrashRecoverer,
// Inspector) that the Store
// and the Sender look for. Local disk (Disk) and S3 (package s3store)
// implement it.
type Blobs interface {
	// Put stores the complete, verified local file at path under key,
	// unless key is stored already (the content is the same). It never
	// leaves a partial blob under key, and it leaves path to the caller.
	Put(ctx context.Context, key, path string) error
	// Remove removes key's blob; one that is not there is no error.
	Remove(ctx context.Context, key string) error
	// Open opens key's blob, of the given size, for the app to stream.
	Open(ctx context.Context, key string, size int64) (io.ReadSeekCloser, error)
	// Walk calls fn with every stored key, for recovery and fsck. An error
	// from fn stops the walk and is returned.
	Walk(ctx context.Context, fn func(key string) error) error
	// Describe names where the blobs are, for logs and errors: no secret.
	Describe() string
}

// Accelerator is the ability of stores that nginx can deliver from.
type Accelerator interface {
	// AccelPath returns the X-Accel-Redirect target for key's blob.
	AccelPath(ctx context.Context, key string, req AccelRequest) (string, error)
	// Proxied reports whether nginx proxies these targets from a remote
	// engine rather than serving a file itself. Then the Sender answers the
	// conditionals and the unsatisfiable ranges, tells AccelPath whether
	// nginx should fetch the whole blob (no Range, or one the Sender decided
	// to ignore), and hands the engine the file's own headers (type and
	// disposition) to answer with, so that none of them sticks to an error
	// page when the engine fails.
	Proxied() bool
}

// FileSender is the ability of stores that keep every blob as a local file
// that the web server in front can send itself, given its absolute path
// (Apache's mod_xsendfile).
type FileSender interface {
	// SendfilePath returns the absolute path of key's blob file.
	SendfilePath(key string) (string, error)
}

// AccelRequest is what an accel target is for.
type AccelRequest struct {
	Method             string // GET or HEAD
	Whole              bool   // deliver the whole blob, whatever Range the client sent
	ContentType        string // what the blob is sent as, for Proxied stores
	ContentDisposition string // likewise
}

// Publisher is the ability of stores that can put a blob where nginx serves
// it to anyone under PublicPrefix, with no app hop.
type Publisher interface {
	// Publish makes key's blob public under name; publishing it again is
	// no error.
	Publish(ctx context.Context, key, name string) error
	// Unpublish takes name down; it is gone when this returns. A name that
	// is not published is no error.
	Unpublish(ctx context.Context, name string) error
	// WalkPublic calls fn with every published name.
	WalkPublic(ctx context.Context, fn func(name string) error) error
}

// PublicChecker is the ability of stores that can tell which blob a public
// name serves (local disk: the public file is a link to the blob's). Recover
// then also mends a public name that serves another blob, as a crash
// between a replace's switch of the public file and its commit leaves it.
type PublicChecker interface {
	// Serves reports whether name is published as key's blob.
	Serves(ctx context.Context, name, key string) (bool, error)
}

// TrashRecoverer is the ability of stores that may hold blobs set aside by
// a delete that never finished (local disk, from before deletes happened
// after the commit): RecoverTrash calls keep for each, which says whether a
// row still needs it, and then restores or removes it.
type TrashRecoverer interface {
	RecoverTrash(ctx context.Context, keep func(ctx context.Context, key string, fn func(keep bool) error) error) error
}

// Inspector is the ability fsck needs of a store: everything in its blob
// area as it is, blob or not, and a trash area beside it that nothing
// serves, where fsck moves what it takes away instead of deleting it.
type Inspector interface {
	// Inventory calls fn with every object in the blob area. An error from
	// fn stops it and is returned.
	Inventory(ctx context.Context, fn func(StoredObject) error) error
	// Size tells the size of key's blob: an error wrapping ErrBlobMissing
	// when there is none.
	Size(ctx context.Context, key string) (int64, error)
	// Trash moves the object name (as Inventory named it) into the trash
	// area under run, bytes and all, and returns where it went, for the
	// report.
	Trash(ctx context.Context, name, run string) (string, error)
}

// StoredObject is one object in a store's blob area.
type StoredObject struct {
	Name string // where it is, relative to the blob area
	Key  string // the content key it is stored under; "" when Name is not where a blob would be
	Size int64
}

// ErrBlobMissing is a blob that the database says exists but the store does
// not have.
var ErrBlobMissing = errors.New("blob missing from storage")

package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5"
)

// CopyProgress is how far a copy has got.
type CopyProgress struct {
	Done, Total           int   // blobs
	DoneBytes, TotalBytes int64 // their bytes
	Copied, Present       int   // blobs put now, and found there already
}

// localPather is the ability of stores whose blobs are local files.
type localPather interface{ BlobPath(key string) string }

// CopyTo copies every blob the database knows from the store's storage to
// dst, and republishes the published items there: what switching an
// installation to another storage needs. Each blob is read back and checked
// against its SHA-256 before it is put (a damaged source is reported, not
// copied) and again after (what dst holds is what was meant). A blob dst
// holds already is only checked for its size, so a copy cut short resumes
// where it stopped. progress, when not nil, is called after every blob.
func (s *Store) CopyTo(ctx context.Context, dst Blobs, progress func(CopyProgress)) (CopyProgress, error) {
	var p CopyProgress
	type blob struct {
		sha  string
		size int64
	}
	rows, err := s.pool.Query(ctx, `SELECT sha256, size FROM blobs ORDER BY sha256`)
	if err != nil {
		return p, fmt.Errorf("list blobs: %w", err)
	}
	blobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (blob, error) {
		var b blob
		return b, r.Scan(&b.sha, &b.size)
	})
	if err != nil {
		return p, fmt.Errorf("list blobs: %w", err)
	}
	p.Total = len(blobs)
	for _, b := range blobs {
		p.TotalBytes += b.size
	}
	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		copied, err := s.copyBlob(ctx, dst, b.sha, b.size)
		if err != nil {
			return p, fmt.Errorf("blob %s: %w", b.sha, err)
		}
		p.Done++
		p.DoneBytes += b.size
		if copied {
			p.Copied++
		} else {
			p.Present++
		}
		if progress != nil {
			progress(p)
		}
	}
	if err := s.republish(ctx, dst); err != nil {
		return p, err
	}
	return p, nil
}

// copyBlob copies one blob unless dst has it with the right size, and
// reports whether it did.
func (s *Store) copyBlob(ctx context.Context, dst Blobs, sha string, size int64) (bool, error) {
	if n, err := blobSize(ctx, dst, sha, size); err == nil && n == size {
		return false, nil
	}
	path, cleanup, err := s.LocalCopy(ctx, sha, size)
	if err != nil {
		return false, err
	}
	defer cleanup()
	if err := dst.Put(ctx, sha, path); err != nil {
		return false, err
	}
	r, err := dst.Open(ctx, sha, size)
	if err != nil {
		return false, fmt.Errorf("read back: %w", err)
	}
	defer r.Close()
	if err := checkSum(r, sha, size); err != nil {
		return false, fmt.Errorf("read back: %w", err)
	}
	return true, nil
}

// LocalCopy returns a local file holding sha's blob, checked against its
// hash: the blob's own file on local disk, else a copy in the spool, which
// cleanup removes. Tools that need a file (ffmpeg) read it.
func (s *Store) LocalCopy(ctx context.Context, sha string, size int64) (string, func(), error) {
	r, err := s.blobs.Open(ctx, sha, size)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	if lp, ok := s.blobs.(localPather); ok {
		if err := checkSum(r, sha, size); err != nil {
			return "", nil, fmt.Errorf("source: %w", err)
		}
		return lp.BlobPath(sha), func() {}, nil
	}
	rec, err := s.spool.Receive(r, size)
	if err != nil {
		return "", nil, fmt.Errorf("source: %w", err)
	}
	if rec.SHA256 != sha || rec.Size != size {
		rec.Discard()
		return "", nil, fmt.Errorf("source: holds %d bytes with SHA-256 %s, want %d bytes", rec.Size, rec.SHA256, size)
	}
	return rec.path, rec.Discard, nil
}

// blobSize tells how large dst's copy of sha is, reading it only when dst
// cannot tell otherwise.
func blobSize(ctx context.Context, dst Blobs, sha string, size int64) (int64, error) {
	if st, ok := dst.(interface {
		Size(ctx context.Context, key string) (int64, error)
	}); ok {
		return st.Size(ctx, sha)
	}
	r, err := dst.Open(ctx, sha, size)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(io.Discard, r)
}

// checkSum reads r to its end and checks its size and SHA-256.
func checkSum(r io.Reader, sha string, size int64) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha {
		return fmt.Errorf("holds %d bytes with SHA-256 %s, want %d bytes", n, got, size)
	}
	return nil
}

// republish publishes on dst what the database says is published.
func (s *Store) republish(ctx context.Context, dst Blobs) error {
	pub, ok := dst.(Publisher)
	if !ok {
		return nil
	}
	rows, err := s.pool.Query(ctx, publishedSQL)
	if err != nil {
		return fmt.Errorf("list published items: %w", err)
	}
	var name, sha string
	_, err = pgx.ForEachRow(rows, []any{&name, &sha}, func() error {
		return pub.Publish(ctx, sha, name)
	})
	if err != nil {
		return fmt.Errorf("republish: %w", err)
	}
	return nil
}

// Size tells the size of the blob's file.
func (d *Disk) Size(_ context.Context, key string) (int64, error) {
	if !ValidKey(key) {
		return 0, errors.New("not a content key")
	}
	fi, err := os.Stat(d.BlobPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", key, ErrBlobMissing)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

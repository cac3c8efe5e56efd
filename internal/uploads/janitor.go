package uploads

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
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
// upload whose lock is held is in use and left alone. It also removes the
// bytes older than that which belong to no receipt (an upload half
// removed, or from before receipts were in PostgreSQL), in the Files
// store's dir or the S3 store's bucket.
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
	swept, err := u.sweep(ctx, cutoff)
	n += swept
	if err != nil {
		errList = append(errList, err)
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

// sweep removes the orphans (see orphans) and returns how many uploads'
// worth it removed.
func (u *Uploads) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	found, err := u.orphans(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	var n int
	var errList []error
	for _, o := range found {
		if err := u.removeOrphan(ctx, o); err != nil {
			errList = append(errList, err)
			continue
		}
		n++
	}
	return n, errors.Join(errList...)
}

// orphan is what the store holds of an upload that has no receipt.
type orphan struct {
	id    string
	names []string // files in the dir, or object keys; the data first
	parts []multipart
	bytes int64
	last  time.Time // the last write to any of it
}

// multipart is an S3 multipart upload in progress.
type multipart struct{ key, uploadID string }

// orphans returns the uploads in the store that have no receipt and whose
// bytes were all last written before cutoff. An upload's files (or
// objects) are those whose names start with its id and a dot, and the data
// named by the id alone; with S3 also the multipart upload of that key. A
// receipt is always recorded before its upload's first byte is stored, so
// bytes without one are a leftover.
func (u *Uploads) orphans(ctx context.Context, cutoff time.Time) ([]orphan, error) {
	var all map[string]*orphan
	var err error
	switch {
	case u.store.dir != "":
		all, err = u.store.dirContents()
	case u.store.bucket != nil:
		all, err = u.store.bucket.contents(ctx)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stale []string
	for id, o := range all {
		if o.last.Before(cutoff) {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	known, err := u.known(ctx, stale)
	if err != nil {
		return nil, err
	}
	var out []orphan
	for _, id := range stale {
		if known[id] {
			continue // the receipt's expiry decides
		}
		o := all[id]
		// The data, named by the id alone, sorts first.
		slices.SortFunc(o.names, func(a, b string) int { return cmp.Compare(len(a), len(b)) })
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b orphan) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// removeOrphan removes what orphans found of one upload, the data first.
func (u *Uploads) removeOrphan(ctx context.Context, o orphan) error {
	if u.store.bucket != nil {
		return u.store.bucket.remove(ctx, o)
	}
	var errList []error
	for _, name := range o.names {
		if err := os.Remove(filepath.Join(u.store.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errList = append(errList, err)
		}
	}
	return errors.Join(errList...)
}

// dirContents groups the Files store's files by upload.
func (s Store) dirContents() (map[string]*orphan, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	all := map[string]*orphan{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, _, _ := strings.Cut(e.Name(), ".")
		o := all[id]
		if o == nil {
			o = &orphan{id: id}
			all[id] = o
		}
		o.names = append(o.names, e.Name())
		o.bytes += fi.Size()
		if fi.ModTime().After(o.last) {
			o.last = fi.ModTime()
		}
	}
	return all, nil
}

// contents groups the bucket's objects and multipart uploads under the
// prefix by upload.
func (b *bucketPlace) contents(ctx context.Context) (map[string]*orphan, error) {
	all := map[string]*orphan{}
	get := func(name string) *orphan {
		id, _, _ := strings.Cut(name, ".")
		o := all[id]
		if o == nil {
			o = &orphan{id: id}
			all[id] = o
		}
		return o
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.name, Prefix: &b.prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", b.prefix, err)
		}
		for _, obj := range page.Contents {
			o := get(strings.TrimPrefix(aws.ToString(obj.Key), b.prefix))
			o.names = append(o.names, aws.ToString(obj.Key))
			o.bytes += aws.ToInt64(obj.Size)
			if t := aws.ToTime(obj.LastModified); t.After(o.last) {
				o.last = t
			}
		}
	}
	in := &s3.ListMultipartUploadsInput{Bucket: &b.name, Prefix: &b.prefix}
	for {
		page, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads under %s: %w", b.prefix, err)
		}
		for _, mp := range page.Uploads {
			o := get(strings.TrimPrefix(aws.ToString(mp.Key), b.prefix))
			o.parts = append(o.parts, multipart{key: aws.ToString(mp.Key), uploadID: aws.ToString(mp.UploadId)})
			if t := aws.ToTime(mp.Initiated); t.After(o.last) {
				o.last = t
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return all, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// remove aborts o's multipart uploads and deletes its objects.
func (b *bucketPlace) remove(ctx context.Context, o orphan) error {
	var errList []error
	for _, mp := range o.parts {
		_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.name, Key: &mp.key, UploadId: &mp.uploadID})
		if err != nil && !isNotFound(err) {
			errList = append(errList, fmt.Errorf("abort multipart upload %s: %w", mp.key, err))
		}
	}
	for _, key := range o.names {
		if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.name, Key: &key}); err != nil && !isNotFound(err) {
			errList = append(errList, fmt.Errorf("delete %s: %w", key, err))
		}
	}
	return errors.Join(errList...)
}

// isNotFound reports an S3 error for a key or upload that is not there.
func isNotFound(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchUpload")
}

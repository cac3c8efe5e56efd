package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/mediagate/mediagate/internal/testweed"
)

// TestS3Store keeps partial uploads in a bucket on a real SeaweedFS, with
// tusd's s3store and its multipart uploads: an upload keeps the id of its
// receipt whatever s3store calls it, PATCHes shorter and longer than a part
// resume at the right offset, an upload whose last byte came but that was
// never completed becomes an item, and nothing is left in the bucket after
// it, nor after a terminated or expired upload.
func TestS3Store(t *testing.T) {
	t.Parallel()
	b := testweed.New(t)
	client := b.Client()
	const prefix = "mg/uploads/"
	tmp := t.TempDir()
	e := newEnv(t, time.Hour, func() Store { return S3(client, b.Name, prefix, tmp) })
	ctx := context.Background()
	objects := func() []string {
		t.Helper()
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.Name), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, *o.Key)
		}
		// Parts of multipart uploads in progress are not objects yet.
		mp, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b.Name), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range mp.Uploads {
			keys = append(keys, "multipart "+*u.Key)
		}
		return keys
	}

	data := make([]byte, 11<<20+1234)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	sum := sha256.Sum256(data)
	c := Changes(e.owner, "big.bin", nil)
	up, err := e.core.NewUpload(ctx, tusd.FileInfo{ID: c.ID, Size: int64(len(data)), MetaData: c.MetaData})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := up.GetInfo(ctx); err != nil || info.ID != c.ID {
		t.Fatalf("new upload's id %q (%v), want %s", info.ID, err, c.ID)
	}
	r, err := e.u.receipt(ctx, c.ID)
	if err != nil || !strings.HasPrefix(r.stored, c.ID+"+") {
		t.Fatalf("receipt %+v (%v): want s3store's id recorded", r, err)
	}

	// As tusd writes them: each PATCH at the offset the last one left.
	var off int64
	for _, n := range []int64{1 << 20, 6 << 20, int64(len(data)) - 7<<20} {
		up, err := e.core.GetUpload(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		info, err := up.GetInfo(ctx)
		if err != nil || info.Offset != off || info.ID != c.ID {
			t.Fatalf("before writing %d bytes: %+v, %v; want offset %d", n, info, err, off)
		}
		written, err := up.WriteChunk(ctx, off, bytes.NewReader(data[off:off+n]))
		if err != nil || written != n {
			t.Fatalf("write %d at %d: %d, %v", n, off, written, err)
		}
		off += n
		t.Logf("offset %d: %v", off, objects())
	}

	// The process stopped after the last byte, before tusd completed the
	// multipart upload: Finish completes it.
	it, err := e.u.Finish(ctx, e.owner, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if it.Size != int64(len(data)) || it.SHA256 != hex.EncodeToString(sum[:]) || it.Filename != "big.bin" {
		t.Errorf("item %+v", it)
	}
	if keys := objects(); len(keys) != 0 {
		t.Errorf("a finished upload left %v", keys)
	}
	finished, err := e.core.GetUpload(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := finished.GetInfo(ctx); err != nil || info.Offset != info.Size || info.MetaData[metaItem] != it.ID {
		t.Errorf("finished upload reads %+v, %v", info, err)
	}

	// Terminated, and expired, unfinished uploads leave nothing either.
	terminated, expired := e.create(3<<20, 1<<20), e.create(3<<20, 2<<20)
	up, err = e.core.GetUpload(ctx, terminated)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.(tusd.TerminatableUpload).Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE resumable_uploads SET active_at = now() - interval '2 hours' WHERE id = $1`, expired)
	if n, err := e.u.Expire(ctx, time.Now()); n != 1 || err != nil {
		t.Errorf("Expire = %d, %v; want 1", n, err)
	}
	if keys := objects(); len(keys) != 0 {
		t.Errorf("terminated and expired uploads left %v", keys)
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d receipts, want the finished upload's", n)
	}
}

func (e *env) count() int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM resumable_uploads`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

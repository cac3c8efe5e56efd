package uploads

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/testweed"
)

// TestFsck makes every kind of upload leftover for real, in a Files store
// and in a bucket on SeaweedFS, and checks that Fsck finds exactly those
// (an upload in progress is none), removes them with repair except the one
// a running instance holds, and is clean after that one is released.
func TestFsck(t *testing.T) {
	t.Parallel()
	for _, inBucket := range []bool{false, true} {
		t.Run(map[bool]string{false: "files", true: "s3"}[inBucket], func(t *testing.T) {
			t.Parallel()
			var store func() Store
			var hasBytes func(e *env, id string) bool
			if inBucket {
				b := testweed.New(t)
				client := b.Client()
				const prefix = "mg/uploads/"
				tmp := t.TempDir()
				store = func() Store { return S3(client, b.Name, prefix, tmp) }
				hasBytes = func(e *env, id string) bool {
					ctx := context.Background()
					objs, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b.Name, Prefix: aws.String(prefix + id)})
					if err != nil {
						t.Fatal(err)
					}
					mp, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b.Name, Prefix: aws.String(prefix + id)})
					if err != nil {
						t.Fatal(err)
					}
					return len(objs.Contents)+len(mp.Uploads) > 0
				}
			} else {
				hasBytes = func(e *env, id string) bool { return e.hasFiles(id) }
			}
			e := newEnv(t, time.Hour, store)
			ctx := context.Background()
			fsck := func(at time.Time, repair bool) FsckReport {
				t.Helper()
				rep, err := e.u.Fsck(ctx, at, repair)
				if err != nil {
					t.Fatalf("Fsck: %v", err)
				}
				return rep
			}
			names := func(rep FsckReport) []string {
				var out []string
				for _, f := range rep.Findings {
					if f.Kind != media.FindUpload {
						t.Errorf("finding of kind %s", f.Kind)
					}
					out = append(out, f.Name)
				}
				sort.Strings(out)
				return out
			}
			if rep := fsck(time.Now(), false); len(rep.Findings) != 0 || rep.InProgress != 0 {
				t.Fatalf("no uploads: %+v", rep)
			}

			// Two hours from now, for an expiry of one.
			at := time.Now().Add(2 * time.Hour)
			active := e.create(100, 10)
			idle := e.create(100, 10)
			finished := e.create(100, 100)
			if err := e.u.finished(ctx, finished, "5b0d3a8e-6a1f-4c3e-9d7b-2f1e0c9a8b7d"); err != nil {
				t.Fatal(err)
			}
			if err := e.u.dropData(ctx, Receipt{ID: finished}); err != nil {
				t.Fatal(err)
			}
			locked := e.create(100, 10)
			orphan := e.create(100, 10) // its receipt goes, its bytes stay
			if err := e.u.forget(ctx, orphan); err != nil {
				t.Fatal(err)
			}
			e.exec(`UPDATE resumable_uploads SET active_at = now() + interval '2 hours' WHERE id = $1`, active)
			// Bytes without a receipt that are younger than the expiry may
			// be an upload being removed: the janitor waits.
			var fresh string
			if !inBucket {
				fresh = NewID()
				p := filepath.Join(e.dir, fresh)
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			other, err := NewLocker(e.pool, LockerOptions{}) // another instance
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			release, _, _ := signal()
			held := hold(t, other, locked, release)
			defer held.Unlock()

			// Now, nothing is a leftover yet.
			if rep := fsck(time.Now(), false); len(rep.Findings) != 0 || rep.InProgress != 3 {
				t.Errorf("within the expiry: %v, %d in progress", names(rep), rep.InProgress)
			}
			want := []string{idle, finished, locked, orphan}
			sort.Strings(want)
			rep := fsck(at, false)
			if got := names(rep); !slices.Equal(got, want) {
				t.Errorf("found %v, want %v", got, want)
			}
			if rep.InProgress != 1 {
				t.Errorf("%d in progress, want 1", rep.InProgress)
			}
			for _, id := range []string{active, idle, locked, orphan} {
				if !hasBytes(e, id) {
					t.Errorf("fsck without repair removed the bytes of %s", id)
				}
			}

			rep = fsck(at, true)
			if got := names(rep); !slices.Equal(got, want) {
				t.Errorf("repairing found %v, want %v", got, want)
			}
			for _, f := range rep.Findings {
				if f.Repaired == (f.Name == locked) {
					t.Errorf("%s: repaired %v (%s)", f.Name, f.Repaired, f.Action)
				}
			}
			for id, keep := range map[string]bool{active: true, locked: true, idle: false, orphan: false} {
				if hasBytes(e, id) != keep {
					t.Errorf("after repair, the bytes of %s kept = %v, want %v", id, !keep, keep)
				}
			}
			if fresh != "" && !e.hasFiles(fresh) {
				t.Error("repair removed a fresh file without a receipt")
			}
			if got := names(fsck(at, false)); !slices.Equal(got, []string{locked}) {
				t.Errorf("after repair found %v, want the locked one", got)
			}
			held.Unlock()
			fsck(at, true)
			if rep := fsck(at, false); len(rep.Findings) != 0 || rep.InProgress != 1 || !hasBytes(e, active) {
				t.Errorf("after the release and a repair: %v, %d in progress", names(rep), rep.InProgress)
			}
			for _, f := range rep.Findings {
				if !strings.Contains(f.Detail, "past the expiry") && !strings.Contains(f.Detail, "no receipt") {
					t.Errorf("%s: %s", f.Name, f.Detail)
				}
			}
		})
	}
}

package media_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/s3store"
	"github.com/mediagate/mediagate/internal/testweed"
)

// fsckStorage is a storage fsck is tested on, with the means to damage it
// behind the Store's back.
type fsckStorage struct {
	name  string
	blobs media.Blobs
	// write puts data at name in the blob area as it is (a blob's name is
	// its key's path there).
	write func(t *testing.T, name string, data []byte)
	// trashed lists what the trash area holds, by name.
	trashed func(t *testing.T) []string
	// blobName is where the blob area holds key.
	blobName func(key string) string
}

func diskStorage(e *env) fsckStorage {
	return fsckStorage{name: "disk", blobs: e.disk,
		write: func(t *testing.T, name string, data []byte) {
			writeFile(t, filepath.Join(e.cfg.PrivateDir(), filepath.FromSlash(name)), data)
		},
		trashed: func(t *testing.T) []string {
			var names []string
			filepath.WalkDir(e.cfg.FsckTrashDir(), func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					names = append(names, filepath.Base(path))
				}
				return nil
			})
			sort.Strings(names)
			return names
		},
		blobName: func(key string) string { return key[0:2] + "/" + key[2:4] + "/" + key },
	}
}

func s3Storage(t *testing.T) fsckStorage {
	b := testweed.New(t)
	st, err := s3store.New(s3store.Options{Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Name, Prefix: "mg/",
		AccessKey: b.AccessKey, SecretKey: b.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	client := b.Client()
	list := func(t *testing.T, prefix string) []string {
		out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b.Name, Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range out.Contents {
			names = append(names, (*o.Key)[strings.LastIndexByte(*o.Key, '/')+1:])
		}
		sort.Strings(names)
		return names
	}
	return fsckStorage{name: "s3", blobs: st,
		write: func(t *testing.T, name string, data []byte) {
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b.Name, Key: aws.String("mg/blobs/" + name), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
		},
		trashed:  func(t *testing.T) []string { return list(t, "mg/fsck-trash/") },
		blobName: func(key string) string { return key },
	}
}

// newFsckEnv is an env whose store keeps its blobs in st (the env's Disk
// when st is nil).
func newFsckEnv(t *testing.T, s3 bool) (*env, fsckStorage) {
	e := newEnv(t)
	st := diskStorage(e)
	if s3 {
		st = s3Storage(t)
		e.store = media.NewStore(e.pool, media.Storage{Blobs: st.blobs, Spool: e.disk.Spool, MaxUpload: 1 << 30}, acl.NewDecider(e.pool), discardLog)
	}
	return e, st
}

func (e *env) fsck(o media.FsckOptions) media.FsckReport {
	e.t.Helper()
	rep, err := e.store.Fsck(context.Background(), o)
	if err != nil {
		e.t.Fatalf("Fsck: %v", err)
	}
	return rep
}

// kinds lists a report's findings as "kind name", sorted.
func kinds(rep media.FsckReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, string(f.Kind)+" "+f.Name)
	}
	sort.Strings(out)
	return out
}

// TestFsck makes each kind of damage for real, on local disk and on
// SeaweedFS, and checks that fsck finds exactly it, changes nothing without
// Repair, repairs what it can keeping every byte in the trash, and is clean
// once the missing files are uploaded again.
func TestFsck(t *testing.T) {
	t.Parallel()
	for _, s3 := range []bool{false, true} {
		t.Run(map[bool]string{false: "disk", true: "s3"}[s3], func(t *testing.T) {
			t.Parallel()
			e, st := newFsckEnv(t, s3)
			ctx := context.Background()
			editor := e.user(acl.RoleEditor)

			// A store in good order, with an item of each kind of blob.
			original := content("original", 5000)
			video := e.upload(editor, original, "clip.bin")
			thumbBytes := content("thumb", 700)
			thumbPath := filepath.Join(e.disk.WorkDir(), "thumb")
			writeFile(t, thumbPath, thumbBytes)
			if err := e.store.PutDerived(ctx, video.SHA256, "thumb", thumbPath); err != nil {
				t.Fatal(err)
			}
			vtt := []byte("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
			if _, err := e.store.AddCaption(ctx, editor, video.ID, "en", "English", vtt); err != nil {
				t.Fatal(err)
			}
			sizeBytes := content("resized", 3000)
			resized := e.upload(editor, sizeBytes, "resized.bin")
			flipBytes := content("flipped", 3000)
			flipped := e.upload(editor, flipBytes, "flipped.bin")
			keep := e.upload(editor, content("keep", 4000), "keep.bin")

			if rep := e.fsck(media.FsckOptions{Verify: true}); len(rep.Findings) != 0 || rep.Rows != 6 || rep.Stored != 6 || rep.Verified != 6 {
				t.Fatalf("a store in good order: %+v", rep)
			}

			// The damage.
			thumbSHA, captionSHA := sha256Hex(thumbBytes), sha256Hex(vtt)
			for _, key := range []string{video.SHA256, thumbSHA, captionSHA} {
				if err := st.blobs.Remove(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			st.write(t, st.blobName(resized.SHA256), sizeBytes[:1000])
			bad := bytes.Clone(flipBytes)
			bad[1234] ^= 0x40
			st.write(t, st.blobName(flipped.SHA256), bad)
			orphanBytes := content("orphan", 900)
			orphanSHA := sha256Hex(orphanBytes)
			st.write(t, st.blobName(orphanSHA), orphanBytes)
			strayName := "ab/cd/upload-123.tmp"
			if s3 {
				strayName = "not-a-blob"
			}
			st.write(t, strayName, []byte("stray"))
			unusedBytes := content("unused", 800)
			unusedSHA := sha256Hex(unusedBytes)
			st.write(t, st.blobName(unusedSHA), unusedBytes)
			if _, err := e.pool.Exec(ctx, `INSERT INTO blobs (sha256, size, content_type) VALUES ($1, 800, 'application/octet-stream')`, unusedSHA); err != nil {
				t.Fatal(err)
			}
			deadDir := "0123456789abcdef"
			writeFile(t, filepath.Join(e.cfg.TmpDir(), deadDir, "upload-1"), []byte("half an upload"))
			writeFile(t, filepath.Join(e.cfg.TmpDir(), deadDir+".lock"), nil)

			want := []string{
				"missing " + captionSHA,
				"missing " + thumbSHA,
				"missing " + video.SHA256,
				"orphan " + orphanSHA,
				"size " + resized.SHA256,
				"spool " + deadDir,
				"stray " + strayName,
				"unreferenced " + unusedSHA,
			}
			withSHA := append(slices.Clone(want), "sha256 "+flipped.SHA256)
			sort.Strings(want)
			sort.Strings(withSHA)

			// Looking changes nothing, and finds the flipped bit only when
			// reading.
			before := snapshot(t, e.cfg.DataDir)
			if got := kinds(e.fsck(media.FsckOptions{})); !slices.Equal(got, want) {
				t.Errorf("found\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			rep := e.fsck(media.FsckOptions{Verify: true})
			if got := kinds(rep); !slices.Equal(got, withSHA) {
				t.Errorf("with Verify found\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(withSHA, "\n"))
			}
			if after := snapshot(t, e.cfg.DataDir); !slices.Equal(before, after) {
				t.Errorf("fsck without Repair changed the data dir:\n%v\n%v", before, after)
			}
			if got := st.trashed(t); len(got) != 0 {
				t.Errorf("fsck without Repair trashed %v", got)
			}
			for _, f := range rep.Findings {
				if f.Repaired {
					t.Errorf("without Repair, %s %s says repaired", f.Kind, f.Name)
				}
				if f.Kind == media.FindMissing && !strings.Contains(f.Detail, video.ID) {
					t.Errorf("missing %s does not name the item it belongs to: %s", f.Name, f.Detail)
				}
			}

			// Repair.
			rep = e.fsck(media.FsckOptions{Verify: true, Repair: true})
			if got := kinds(rep); !slices.Equal(got, withSHA) {
				t.Errorf("repairing found\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(withSHA, "\n"))
			}
			for _, f := range rep.Findings {
				if f.Repaired == (f.Kind == media.FindMissing) {
					t.Errorf("%s %s: repaired %v (%s)", f.Kind, f.Name, f.Repaired, f.Action)
				}
			}
			strayTrashed := filepath.Base(strayName)
			if s3 {
				strayTrashed = "stray-" + strayName
			}
			wantTrash := []string{flipped.SHA256, orphanSHA, resized.SHA256, unusedSHA, strayTrashed}
			sort.Strings(wantTrash)
			if got := st.trashed(t); !slices.Equal(got, wantTrash) {
				t.Errorf("trash holds %v, want %v", got, wantTrash)
			}
			if rows := e.blobRows(); slices.Contains(rows, unusedSHA) || !slices.Contains(rows, video.SHA256) {
				t.Errorf("blob rows after repair: %v", rows)
			}
			if files := tempFiles(t, e.cfg); len(files) != 0 {
				t.Errorf("temp dir holds %v after repair", files)
			}
			// What repair cannot do, uploading the same files again does.
			want = []string{"missing " + captionSHA, "missing " + flipped.SHA256, "missing " + thumbSHA,
				"missing " + resized.SHA256, "missing " + video.SHA256}
			sort.Strings(want)
			if got := kinds(e.fsck(media.FsckOptions{Verify: true})); !slices.Equal(got, want) {
				t.Errorf("after repair found\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			e.upload(editor, original, "again.bin")
			e.upload(editor, sizeBytes, "again.bin")
			e.upload(editor, flipBytes, "again.bin")
			writeFile(t, thumbPath, thumbBytes)
			if err := e.store.PutDerived(ctx, video.SHA256, "thumb", thumbPath); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.AddCaption(ctx, editor, video.ID, "en", "English again", vtt); err != nil {
				t.Fatal(err)
			}
			if rep := e.fsck(media.FsckOptions{Verify: true}); len(rep.Findings) != 0 {
				t.Errorf("after the uploads: %v", kinds(rep))
			}
			for _, it := range []media.Item{video, resized, flipped, keep} {
				if _, err := e.store.Get(ctx, editor, it.ID); err != nil {
					t.Errorf("item %s: %v", it.Filename, err)
				}
			}
		})
	}
}

// Fsck with Repair while another instance uploads never takes a blob
// whose upload is in flight for an orphan, nor trashes anything a row
// has: every blob is decided under its lock. (A blob whose delete has
// committed but not yet removed the bytes is an orphan for that moment:
// fsck may trash it first, which is what the delete does next anyway.)
func TestFsckWhileUploading(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	other := e.secondInstance()
	churned := content("churned", 2000)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var kept []media.Item
	work := func(fn func(i int) error) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// New content every time: each upload's blob is stored before its row
	// commits.
	work(func(i int) error {
		rec, err := e.disk.Receive(bytesReader(content(fmt.Sprint("new", i), 3000)), 1<<20)
		if err != nil {
			return err
		}
		it, err := e.store.Create(ctx, editor, rec, "new.bin", nil)
		kept = append(kept, it)
		return err
	})
	// The same content made and deleted.
	work(func(int) error {
		rec, err := e.disk.Receive(bytesReader(churned), 1<<20)
		if err != nil {
			return err
		}
		it, err := e.store.Create(ctx, editor, rec, "churned.bin", nil)
		if err != nil {
			return err
		}
		return deleteNow(ctx, e.store, editor, it.ID)
	})
	deadline := time.Now().Add(3 * time.Second)
	runs, inFlightDeletes := 0, 0
	for ; time.Now().Before(deadline); runs++ {
		rep, err := other.Fsck(ctx, media.FsckOptions{Repair: true})
		if err != nil {
			t.Errorf("Fsck: %v", err)
			break
		}
		for _, f := range rep.Findings {
			if f.Kind == media.FindOrphan && f.Name == sha256Hex(churned) {
				inFlightDeletes++
				continue
			}
			t.Errorf("fsck during the uploads found %s %s: %s", f.Kind, f.Name, f.Detail)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d fscks while %d items were made (%d deletes caught in flight)", runs, len(kept), inFlightDeletes)
	if len(kept) == 0 || runs < 2 {
		t.Fatalf("no uploads (%d) or too few fscks (%d)", len(kept), runs)
	}
	for _, it := range kept {
		if !exists(t, e.disk.BlobPath(it.SHA256)) {
			t.Errorf("item %s lost its blob", it.ID)
		}
	}
	if rep := e.fsck(media.FsckOptions{Verify: true}); len(rep.Findings) != 0 {
		t.Errorf("after the uploads: %v", kinds(rep))
	}
	e.assertConsistent()
}

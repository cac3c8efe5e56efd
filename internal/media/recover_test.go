package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func (e *env) recover() {
	e.t.Helper()
	if err := e.store.Recover(context.Background()); err != nil {
		e.t.Fatalf("Recover: %v", err)
	}
}

// (a) Temp dirs of dead processes go; those of live Disks stay.
func TestRecoverDeadTemps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tmp := e.cfg.TmpDir()
	// A dead instance: its dir, an upload in it, and its lock file, unlocked.
	writeFile(t, filepath.Join(tmp, "0123456789abcdef", "upload-123"), []byte("half an upload"))
	writeFile(t, filepath.Join(tmp, "0123456789abcdef.lock"), nil)
	// A dir whose lock file is already gone, and a lock file without a dir.
	writeFile(t, filepath.Join(tmp, "fedcba9876543210", "upload-9"), []byte("x"))
	writeFile(t, filepath.Join(tmp, "1111111111111111.lock"), nil)
	// A stray file.
	writeFile(t, filepath.Join(tmp, "stray"), []byte("x"))

	// Two live instances on this data dir, each with an upload in progress.
	other := openDisk(t, e.cfg)
	mine := e.receive(content("mine", 100))
	theirs, err := other.Receive(bytesReader(content("theirs", 100)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}

	e.recover()

	for _, gone := range []string{"0123456789abcdef", "0123456789abcdef.lock", "fedcba9876543210", "1111111111111111.lock", "stray"} {
		if exists(t, filepath.Join(tmp, gone)) {
			t.Errorf("tmp/%s survived Recover", gone)
		}
	}
	for _, dir := range []string{e.disk.WorkDir(), other.WorkDir()} {
		if !exists(t, dir) || !exists(t, dir+".lock") {
			t.Errorf("live temp dir %s or its lock was removed", dir)
		}
	}
	for _, rec := range []interface{ TempPath() string }{mine, theirs} {
		if !exists(t, rec.TempPath()) {
			t.Errorf("the live upload %s was removed", rec.TempPath())
		}
	}
	want := []string{filepath.Base(e.disk.WorkDir()), filepath.Base(e.disk.WorkDir()) + ".lock",
		filepath.Base(other.WorkDir()), filepath.Base(other.WorkDir()) + ".lock"}
	slices.Sort(want)
	if got := dirNames(t, tmp); !slices.Equal(got, want) {
		t.Errorf("tmp holds %v, want %v", got, want)
	}
	// The live instance can still finish its upload.
	if _, err := e.store.Create(context.Background(), e.user(acl.RoleEditor), mine, "mine.bin", nil); err != nil {
		t.Errorf("Create after Recover: %v", err)
	}
	theirs.Discard()
	e.assertConsistent()
}

// (b) A blob file without a row (an upload whose transaction never
// committed) is removed; files Recover does not understand are left alone.
func TestRecoverOrphanBlobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	editor := e.user(acl.RoleEditor)
	kept := e.upload(editor, content("kept", 500), "kept.bin")
	orphan := content("orphan", 500)
	orphanSHA := sha256Hex(orphan)
	writeFile(t, e.disk.BlobPath(orphanSHA), orphan)
	// Not a blob's name, and a blob's name in the wrong place.
	odd := filepath.Join(e.cfg.PrivateDir(), "ab", "cd", "notes.txt")
	misplaced := filepath.Join(e.cfg.PrivateDir(), orphanSHA)
	writeFile(t, odd, []byte("x"))
	writeFile(t, misplaced, orphan)

	e.recover()

	if exists(t, e.disk.BlobPath(orphanSHA)) {
		t.Error("the blob without a row survived")
	}
	if !exists(t, e.disk.BlobPath(kept.SHA256)) {
		t.Error("the blob with a row was removed")
	}
	if !exists(t, odd) || !exists(t, misplaced) {
		t.Error("Recover removed a file it does not own")
	}
	if got, err := os.ReadFile(e.disk.BlobPath(kept.SHA256)); err != nil || !bytes.Equal(got, content("kept", 500)) {
		t.Errorf("kept blob: %v", err)
	}
	os.Remove(odd)
	os.Remove(misplaced)
	e.assertConsistent()
}

// (c) A trashed blob whose row still exists (a delete that never committed)
// goes back; one without a row is deleted.
func TestRecoverTrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	editor := e.user(acl.RoleEditor)
	data := content("restore me", 10<<10)
	it := e.upload(editor, data, "a.bin")
	name, err := e.store.Publish(context.Background(), editor, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The crash: Delete moved the blob to the trash, then never committed.
	if err := os.Rename(e.disk.BlobPath(it.SHA256), filepath.Join(e.cfg.TrashDir(), it.SHA256)); err != nil {
		t.Fatal(err)
	}
	// A committed delete whose unlink never happened.
	deleted := content("deleted", 300)
	writeFile(t, filepath.Join(e.cfg.TrashDir(), sha256Hex(deleted)), deleted)
	// Something that is not a blob at all.
	writeFile(t, filepath.Join(e.cfg.TrashDir(), "junk"), []byte("x"))

	e.recover()

	if got := dirNames(t, e.cfg.TrashDir()); len(got) != 0 {
		t.Errorf("trash holds %v after Recover", got)
	}
	got, err := os.ReadFile(e.disk.BlobPath(it.SHA256))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("restored blob: %d bytes, %v", len(got), err)
	}
	if exists(t, e.disk.BlobPath(sha256Hex(deleted))) {
		t.Error("a trashed blob without a row was restored")
	}
	if item, err := e.store.ByPublicName(context.Background(), name); err != nil || item.ID != it.ID {
		t.Errorf("published item after Recover: %+v, %v", item, err)
	}
	e.assertConsistent()
}

// (d) The public dir ends holding exactly what the database publishes.
func TestRecoverPublic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	video := sampleMP4(t)
	a := e.upload(editor, video, "a.mp4")
	b := e.upload(editor, content("b", 5000), "b.bin")
	c := e.upload(editor, video, "c.mp4") // shares a's blob
	e.upload(editor, content("d", 5000), "d.bin")
	nameA, err := e.store.Publish(ctx, editor, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	nameB, err := e.store.Publish(ctx, editor, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	nameC, err := e.store.Publish(ctx, editor, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Lost links, and links the database does not know.
	for _, n := range []string{nameB, nameC} {
		if err := os.Remove(e.disk.PublicPath(n)); err != nil {
			t.Fatal(err)
		}
	}
	stray := "0123456789abcdef0123456789abcdef.mp4"
	if err := os.Link(e.disk.BlobPath(a.SHA256), e.disk.PublicPath(stray)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.disk.PublicPath("index.html"), []byte("<script>"))
	writeFile(t, filepath.Join(e.disk.PublicPath("subdir"), "x"), []byte("x"))
	// An unpublish whose update failed after the link went: the row says
	// unpublished, the link is gone — and one whose link remained.
	if _, err := e.pool.Exec(ctx, `UPDATE media SET public_name = NULL WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}

	e.recover()

	want := []string{nameB, nameC}
	slices.Sort(want)
	if got := dirNames(t, e.cfg.PublicDir()); !slices.Equal(got, want) {
		t.Errorf("public dir %v, want %v", got, want)
	}
	if exists(t, e.disk.PublicPath(nameA)) {
		t.Error("the link of an item the database says is unpublished survived")
	}
	for _, n := range want {
		if it, err := e.store.ByPublicName(ctx, n); err != nil {
			t.Errorf("ByPublicName(%s): %+v %v", n, it, err)
		}
	}
	e.assertConsistent() // each link is its blob's inode
}

// (e) Everything at once, twice: rows and files agree afterwards, and a
// second Recover changes nothing.
func TestRecoverEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	a := e.upload(editor, sampleMP4(t), "a.mp4")
	b := e.upload(editor, content("b", 3000), "b.bin")
	if _, err := e.store.Publish(ctx, editor, a.ID); err != nil {
		t.Fatal(err)
	}
	nameB, err := e.store.Publish(ctx, editor, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.cfg.TmpDir(), "aaaaaaaaaaaaaaaa", "upload-1"), []byte("x"))
	writeFile(t, filepath.Join(e.cfg.TmpDir(), "aaaaaaaaaaaaaaaa.lock"), nil)
	orphan := content("orphan", 100)
	writeFile(t, e.disk.BlobPath(sha256Hex(orphan)), orphan)
	os.Rename(e.disk.BlobPath(b.SHA256), filepath.Join(e.cfg.TrashDir(), b.SHA256))
	os.Remove(e.disk.PublicPath(nameB))
	gone := content("gone", 100)
	writeFile(t, filepath.Join(e.cfg.TrashDir(), sha256Hex(gone)), gone)
	writeFile(t, e.disk.PublicPath("ffffffffffffffffffffffffffffffff"), []byte("x"))

	e.recover()
	e.assertConsistent()
	if rows := e.blobRows(); len(rows) != 2 {
		t.Errorf("blob rows %v, want 2", rows)
	}

	before := snapshot(t, e.cfg.DataDir)
	e.recover()
	if after := snapshot(t, e.cfg.DataDir); !slices.Equal(before, after) {
		t.Errorf("a second Recover changed the data dir:\n%v\n%v", before, after)
	}
	e.assertConsistent()
}

// snapshot lists every path under dir.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		paths = append(paths, path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// secondInstance is another live instance on e's database and data dir.
func (e *env) secondInstance() *media.Store {
	e.t.Helper()
	d := openDisk(e.t, e.cfg)
	return media.NewStore(e.pool, media.Storage{Blobs: d, Spool: d.Spool, MaxUpload: 1 << 30}, acl.NewDecider(e.pool), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// Recover says other live instances are safe: an instance starting (and
// recovering) while another creates and deletes must neither fail nor
// break the other's blobs.
func TestRecoverWhileAnotherInstanceWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	starting := e.secondInstance()
	data := content("live", 2000)
	keep := e.upload(editor, content("keep", 2000), "keep.bin")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rec, err := e.disk.Receive(bytesReader(data), 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				it, err := e.store.Create(ctx, editor, rec, fmt.Sprintf("w%d-%d.bin", w, i), nil)
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if err := deleteNow(ctx, e.store, editor, it.ID); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
			}
		})
	}
	var failures []error
	deadline := time.Now().Add(2 * time.Second)
	runs := 0
	for ; time.Now().Before(deadline); runs++ {
		if err := starting.Recover(ctx); err != nil {
			failures = append(failures, err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d Recovers during the churn, %d failed", runs, len(failures))
	for i, err := range failures {
		if i < 3 {
			t.Errorf("Recover while another instance deletes: %v", err)
		}
	}
	if got, err := e.store.Get(ctx, editor, keep.ID); err != nil || !exists(t, e.disk.BlobPath(got.SHA256)) {
		t.Errorf("kept item: %v", err)
	}
	e.assertConsistent()
}

// Unpublish promises the public file is gone when it returns; an instance
// recovering meanwhile must not bring it back (nor drop a fresh Publish's).
func TestRecoverWhilePublishing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	starting := e.secondInstance()
	it := e.upload(editor, sampleMP4(t), "clip.mp4")

	var relinked, dropped int
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for ; time.Now().Before(deadline) && relinked+dropped < 3; rounds++ {
		name, err := e.store.Publish(ctx, editor, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Unpublish while the other instance recovers, both at once.
		done := make(chan error, 1)
		go func() { done <- starting.Recover(ctx) }()
		time.Sleep(time.Duration(rounds%7) * 150 * time.Microsecond)
		if err := e.store.Unpublish(ctx, editor, it.ID); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Recover: %v", err)
		}
		if exists(t, e.disk.PublicPath(name)) {
			relinked++
			t.Errorf("round %d: after Unpublish returned, a concurrent Recover re-created the public file %s", rounds, name)
			os.Remove(e.disk.PublicPath(name))
		}

		// And Publish while the other instance recovers.
		go func() { done <- starting.Recover(ctx) }()
		time.Sleep(time.Duration(rounds%5) * 150 * time.Microsecond)
		name, err = e.store.Publish(ctx, editor, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Recover: %v", err)
		}
		if !exists(t, e.disk.PublicPath(name)) {
			dropped++
			t.Errorf("round %d: a concurrent Recover removed the link of a committed Publish %s", rounds, name)
		}
		if err := e.store.Unpublish(ctx, editor, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds: %d links re-created after Unpublish, %d dropped after Publish", rounds, relinked, dropped)
	e.assertConsistent()
}

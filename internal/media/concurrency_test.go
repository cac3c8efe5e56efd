package media_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/media"
)

// TestConcurrentCreateAndDelete races uploads of identical content with
// deletes of items sharing it: the blob's row and file must agree whatever
// the interleaving.
func TestConcurrentCreateAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	data := content("concurrent", 40<<10)
	sha := sha256Hex(data)

	// run starts n goroutines at once and waits for them.
	run := func(n int, fn func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errc := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				if err := fn(i); err != nil {
					errc <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
	}
	create := func(name string) (media.Item, error) {
		rec, err := e.disk.Receive(bytesReader(data), 1<<20)
		if err != nil {
			return media.Item{}, err
		}
		return e.store.Create(ctx, editor, rec, name, nil)
	}

	// 8 identical uploads at once: 8 items, one blob.
	items := make([]media.Item, 8)
	run(8, func(i int) error {
		it, err := create(fmt.Sprintf("same-%d.bin", i))
		items[i] = it
		return err
	})
	if t.Failed() {
		t.FailNow()
	}
	for _, it := range items {
		if it.SHA256 != sha {
			t.Errorf("item %+v has the wrong blob", it)
		}
	}
	if rows, files := e.blobRows(), blobFiles(t, e.disk, e.cfg); !slices.Equal(rows, []string{sha}) || !slices.Equal(files, []string{sha}) {
		t.Errorf("after 8 identical uploads: rows %v, files %v; want one %s", rows, files, sha)
	}
	e.assertConsistent()

	// 4 deletes while 4 more uploads of the same content.
	more := make([]media.Item, 4)
	run(8, func(i int) error {
		if i < 4 {
			return deleteNow(ctx, e.store, editor, items[i].ID)
		}
		it, err := create(fmt.Sprintf("more-%d.bin", i))
		more[i-4] = it
		return err
	})
	if n := len(e.itemBlobs()); n != 8 {
		t.Errorf("%d items, want 8", n)
	}
	e.assertConsistent()

	// Delete every item while new ones arrive, so the blob's row and file
	// go and come back: each goroutine uploads, deletes what it uploaded
	// (and one older item), and finally keeps one upload in three.
	old := slices.Concat(items[4:], more)
	run(8, func(i int) error {
		if err := deleteNow(ctx, e.store, editor, old[i].ID); err != nil {
			return fmt.Errorf("delete old %d: %w", i, err)
		}
		for j := range 4 {
			it, err := create(fmt.Sprintf("churn-%d-%d.bin", i, j))
			if err != nil {
				return fmt.Errorf("churn create: %w", err)
			}
			if (i+j)%3 == 0 && j == 3 {
				continue // keep it
			}
			if err := deleteNow(ctx, e.store, editor, it.ID); err != nil {
				return fmt.Errorf("churn delete: %w", err)
			}
		}
		return nil
	})
	kept := e.itemBlobs()
	t.Logf("%d items kept after the churn", len(kept))
	if want := []string{sha}; len(kept) > 0 && !slices.Equal(e.blobRows(), want) {
		t.Errorf("blob rows %v, want %v", e.blobRows(), want)
	}
	e.assertConsistent()

	// And finally delete all that is left, concurrently.
	var remaining []string
	for id := range kept {
		remaining = append(remaining, id)
	}
	run(len(remaining), func(i int) error { return deleteNow(ctx, e.store, editor, remaining[i]) })
	if rows, files := e.blobRows(), blobFiles(t, e.disk, e.cfg); len(rows) != 0 || len(files) != 0 {
		t.Errorf("after deleting everything: rows %v, files %v", rows, files)
	}
	e.assertConsistent()
}

// TestConcurrentDistinctContent uploads and deletes several contents at once.
func TestConcurrentDistinctContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	contents := [][]byte{content("one", 5000), content("two", 70<<10), content("three", 1)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var keep []media.Item
	for i := range 9 {
		wg.Go(func() {
			data := contents[i%len(contents)]
			for j := range 3 {
				rec, err := e.disk.Receive(bytesReader(data), 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				it, err := e.store.Create(ctx, editor, rec, "x.bin", nil)
				if err != nil {
					t.Error(err)
					return
				}
				if j == 0 {
					mu.Lock()
					keep = append(keep, it)
					mu.Unlock()
				} else if err := deleteNow(ctx, e.store, editor, it.ID); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(keep) != 9 {
		t.Fatalf("kept %d items, want 9", len(keep))
	}
	var want []string
	for _, c := range contents {
		want = append(want, sha256Hex(c))
	}
	slices.Sort(want)
	if rows := e.blobRows(); !slices.Equal(rows, want) {
		t.Errorf("blob rows %v, want %v", rows, want)
	}
	e.assertConsistent()
}

// Concurrent Publishes of one item agree on one name and one link.
func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	it := e.upload(editor, sampleMP4(t), "clip.mp4")
	names := make([]string, 6)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range names {
		wg.Go(func() {
			<-start
			name, err := e.store.Publish(ctx, editor, it.ID)
			if err != nil {
				t.Error(err)
			}
			names[i] = name
		})
	}
	close(start)
	wg.Wait()
	for _, n := range names {
		if n != names[0] || !publishedMP4.MatchString(n) {
			t.Errorf("concurrent Publish gave names %q", names)
			break
		}
	}
	if got := dirNames(t, e.cfg.PublicDir()); !slices.Equal(got, []string{names[0]}) {
		t.Errorf("public dir %v, want only %s", got, names[0])
	}
	e.assertConsistent()
}

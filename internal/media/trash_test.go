package media_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// folder makes a folder of p's under parent ("" for the root).
func (e *env) folder(p acl.Principal, name, parent string) string {
	e.t.Helper()
	var par *string
	if parent != "" {
		par = &parent
	}
	f, err := acl.NewDecider(e.pool).CreateFolder(context.Background(), p, name, par)
	if err != nil {
		e.t.Fatalf("create folder %s: %v", name, err)
	}
	return f.ID
}

// uploadIn is upload into folder.
func (e *env) uploadIn(p acl.Principal, content []byte, name, folder string) media.Item {
	e.t.Helper()
	it, err := e.store.Create(context.Background(), p, e.receive(content), name, &folder)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return it
}

// link makes a share link on an item or a folder and returns its token.
func (e *env) link(p acl.Principal, id string, folder bool) string {
	e.t.Helper()
	_, token, err := acl.NewLinks(acl.NewDecider(e.pool), nil).Create(context.Background(), p,
		acl.LinkTarget{Folder: folder, ID: id}, acl.LinkOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// reachable reports whether each way to an item answers: its owner's Get,
// the listing, the share link token (through item when it is a folder
// link), and the public file's bytes (nil when there is none).
type reach struct {
	get, listed, link bool
	public            []byte
}

func (e *env) reach(p acl.Principal, it media.Item, token, via string) reach {
	e.t.Helper()
	ctx := context.Background()
	var r reach
	_, err := e.store.Get(ctx, p, it.ID)
	r.get = err == nil
	page, err := e.store.List(ctx, p, media.ListOptions{Limit: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	r.listed = slices.ContainsFunc(page.Items, func(x media.Item) bool { return x.ID == it.ID })
	if token != "" {
		_, _, err := acl.NewLinks(acl.NewDecider(e.pool), nil).Item(ctx, token, via, nil)
		r.link = err == nil
	}
	if it.PublicName != "" {
		r.public, _ = os.ReadFile(e.disk.PublicPath(it.PublicName))
	}
	return r
}

func (e *env) publish(p acl.Principal, id string) media.Item {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.Publish(ctx, p, id); err != nil {
		e.t.Fatal(err)
	}
	it, err := e.store.Get(ctx, p, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

func (e *env) trashEntries(p acl.Principal) map[string]media.TrashEntry {
	e.t.Helper()
	out := map[string]media.TrashEntry{}
	for cursor := ""; ; {
		page, err := e.store.ListTrash(context.Background(), p, media.TrashOptions{Cursor: cursor})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, en := range page.Entries {
			out[en.ID] = en
		}
		if cursor = page.Next; cursor == "" {
			return out
		}
	}
}

// TestTrashItem: a trashed item is gone from every way in (its owner's and a
// grantee's Get, the listing, an admin's decision, its share link, its
// published file) and comes back whole with Restore.
func TestTrashItem(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor, viewer, admin := e.user(acl.RoleEditor), e.user(acl.RoleViewer), e.user(acl.RoleAdmin)
	f := e.folder(editor, "Shows", "")
	data := content("trash-item", 5000)
	it := e.publish(editor, e.uploadIn(editor, data, "clip.mp4", f).ID)
	e.grant(it.ID, viewer, acl.View)
	token := e.link(editor, it.ID, false)
	live := reach{get: true, listed: true, link: true, public: data}
	if got := e.reach(editor, it, token, ""); got.get != live.get || got.listed != live.listed || got.link != live.link || !bytes.Equal(got.public, data) {
		t.Fatalf("before the trash: %+v", got)
	}

	if err := e.store.Delete(ctx, viewer, it.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("Delete by a viewer = %v, want ErrForbidden", err)
	}
	before := time.Now()
	if err := e.store.Delete(ctx, editor, it.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, editor, it.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	for _, p := range []acl.Principal{editor, viewer, admin} {
		if got := e.reach(p, it, token, ""); got.get || got.listed || got.link || got.public != nil {
			t.Errorf("in the trash, for %s: %+v, want nothing", p.Role, got)
		}
		if l, err := acl.NewDecider(e.pool).Level(ctx, p, it.ID); err != nil || l != acl.None {
			t.Errorf("decision for %s = %v, %v; want none", p.Role, l, err)
		}
	}
	if _, err := e.store.ByPublicName(ctx, it.PublicName); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName in the trash = %v, want ErrNotFound", err)
	}
	if _, err := e.store.Publish(ctx, admin, it.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Publish in the trash = %v, want ErrNotFound", err)
	}
	// The blob stays (a restore needs it) and nothing disagrees.
	if _, err := os.Stat(e.disk.BlobPath(it.SHA256)); err != nil {
		t.Errorf("blob of a trashed item: %v", err)
	}
	e.assertConsistent()

	en, ok := e.trashEntries(editor)[it.ID]
	if !ok {
		t.Fatalf("the owner's trash lacks the item")
	}
	if en.Kind != media.TrashItem || en.Name != "clip.mp4" || en.FolderPath != "Shows" || en.DeletedBy != editor.Email ||
		en.Size != int64(len(data)) || en.DeletedAt.Before(before.Add(-time.Second)) || !en.PurgeAt.Equal(en.DeletedAt.Add(media.DefaultTrashRetention)) {
		t.Errorf("entry %+v", en)
	}
	if _, ok := e.trashEntries(admin)[it.ID]; !ok {
		t.Errorf("an admin's trash lacks the item")
	}
	if got := e.trashEntries(viewer); len(got) != 0 {
		t.Errorf("a viewer (view only) sees %v in the trash", got)
	}

	if _, err := e.store.Restore(ctx, viewer, it.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("Restore by a viewer = %v, want ErrForbidden", err)
	}
	stranger := e.user(acl.RoleEditor)
	if _, err := e.store.Restore(ctx, stranger, it.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Restore by a stranger = %v, want ErrNotFound", err)
	}
	if err := e.store.Purge(ctx, stranger, it.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Purge by a stranger = %v, want ErrNotFound", err)
	}
	r, err := e.store.Restore(ctx, editor, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r != (media.Restored{ID: it.ID, Kind: media.TrashItem, Name: "clip.mp4"}) {
		t.Errorf("Restore = %+v", r)
	}
	back, err := e.store.Get(ctx, viewer, it.ID) // the grant is back
	if err != nil || back.PublicName != it.PublicName || back.Folder == nil || *back.Folder != f {
		t.Fatalf("after Restore, the grantee's Get = %+v, %v", back, err)
	}
	if got := e.reach(editor, it, token, ""); !got.get || !got.listed || !got.link || !bytes.Equal(got.public, data) {
		t.Errorf("after Restore: %+v", got)
	}
	if _, err := e.store.Restore(ctx, editor, it.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Restore = %v, want ErrNotFound", err)
	}
	if got := e.trashEntries(editor); len(got) != 0 {
		t.Errorf("trash after Restore: %v", got)
	}
	e.assertConsistent()
}

// TestTrashFolder: a trashed folder takes everything below it out of reach
// (items, subfolders, folder links, published files) and one restore
// brings it all back; its name is free meanwhile, and a restore into a
// taken name is a conflict.
func TestTrashFolder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor, admin := e.user(acl.RoleEditor), e.user(acl.RoleAdmin)
	d := acl.NewDecider(e.pool)
	top := e.folder(editor, "Top", "")
	sub := e.folder(editor, "Sub", top)
	a := e.uploadIn(editor, content("folder-a", 3000), "a.bin", top)
	bData := content("folder-b", 4000)
	b := e.publish(editor, e.uploadIn(editor, bData, "b.bin", sub).ID)
	token := e.link(editor, top, true)

	if err := e.store.TrashFolder(ctx, editor, top); err != nil {
		t.Fatal(err)
	}
	for _, it := range []media.Item{a, b} {
		if got := e.reach(admin, it, token, it.ID); got.get || got.listed || got.link || got.public != nil {
			t.Errorf("%s below a trashed folder: %+v", it.Filename, got)
		}
	}
	for _, id := range []string{top, sub} {
		if l, err := d.FolderLevel(ctx, admin, id); err != nil || l != acl.None {
			t.Errorf("folder decision = %v, %v; want none", l, err)
		}
	}
	if kids, err := d.Children(ctx, admin, nil); err != nil || len(kids) != 0 {
		t.Errorf("root folders with Top in the trash: %v, %v", kids, err)
	}
	if _, err := acl.NewLinks(d, nil).Open(ctx, token, nil); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("folder link of a trashed folder = %v, want ErrNotFound", err)
	}
	if _, err := e.store.Update(ctx, editor, e.upload(editor, content("mover", 10), "m.bin").ID, media.Change{Folder: ptr(&sub)}); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("move into a trashed folder = %v, want ErrNotFound", err)
	}
	en, ok := e.trashEntries(editor)[top]
	if !ok || en.Kind != media.TrashFolder || en.Name != "Top" || en.FolderPath != "" || en.Size != 7000 {
		t.Errorf("folder entry %+v (%v)", en, ok)
	}
	e.assertConsistent()

	// The name is free now; restoring over it is a conflict until it is
	// free again.
	other := e.folder(editor, "top", "")
	if _, err := e.store.Restore(ctx, editor, top); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("Restore into a taken name = %v, want ErrConflict", err)
	}
	if err := e.store.TrashFolder(ctx, editor, other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Restore(ctx, editor, top); err != nil {
		t.Fatal(err)
	}
	for _, it := range []media.Item{a, b} {
		if got := e.reach(editor, it, token, it.ID); !got.get || !got.listed || !got.link {
			t.Errorf("%s after Restore: %+v", it.Filename, got)
		}
	}
	if got := e.reach(editor, b, "", ""); !bytes.Equal(got.public, bData) {
		t.Errorf("published file after Restore: %d bytes", len(got.public))
	}
	e.assertConsistent()
}

func ptr[T any](v *T) **T { return &v }

// TestRestoreWithoutFolder: an item whose folder is in the trash, or was
// purged, is restored to the root, with a note.
func TestRestoreWithoutFolder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	f := e.folder(editor, "Gone", "")
	x := e.uploadIn(editor, content("x", 100), "x.bin", f)
	y := e.uploadIn(editor, content("y", 100), "y.bin", f)
	keep := e.uploadIn(editor, content("keep", 100), "keep.bin", f)
	for _, id := range []string{x.ID, y.ID} {
		if err := e.store.Delete(ctx, editor, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.TrashFolder(ctx, editor, f); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Restore(ctx, editor, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Note == "" {
		t.Errorf("restore out of a trashed folder: no note")
	}
	if it, err := e.store.Get(ctx, editor, x.ID); err != nil || it.Folder != nil {
		t.Errorf("restored item %+v, %v; want it at the root", it, err)
	}
	// Purging the folder takes keep along but leaves y, trashed on its own.
	if err := e.store.Purge(ctx, editor, f); err != nil {
		t.Fatal(err)
	}
	entries := e.trashEntries(editor)
	if _, ok := entries[y.ID]; !ok || len(entries) != 1 {
		t.Fatalf("trash after the folder's purge: %v, want only y", entries)
	}
	// Who could see the purged folder is no longer known: only an admin
	// is told its name.
	if entries[y.ID].FolderPath != "…" {
		t.Errorf("y's folder path = %q, want …", entries[y.ID].FolderPath)
	}
	if path := e.trashEntries(e.user(acl.RoleAdmin))[y.ID].FolderPath; path != "Gone" {
		t.Errorf("y's folder path for an admin = %q, want Gone", path)
	}
	if _, ok := e.itemBlobs()[keep.ID]; ok {
		t.Errorf("an item of the purged folder is still there")
	}
	r, err = e.store.Restore(ctx, editor, y.ID)
	if err != nil || r.Note == "" {
		t.Errorf("restore out of a purged folder = %+v, %v; want a note", r, err)
	}
	if it, err := e.store.Get(ctx, editor, y.ID); err != nil || it.Folder != nil {
		t.Errorf("restored item %+v, %v; want it at the root", it, err)
	}

	// A viewer who manages an item may trash it; with its folder gone,
	// restoring it would put it at the root, where a viewer's role may
	// not put anything: refused, and it stays in the trash.
	viewer := e.user(acl.RoleViewer)
	f2 := e.folder(editor, "Also gone", "")
	z := e.uploadIn(editor, content("z", 100), "z.bin", f2)
	e.grant(z.ID, viewer, acl.Manage)
	if err := e.store.Delete(ctx, viewer, z.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.TrashFolder(ctx, editor, f2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Restore(ctx, viewer, z.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("a viewer's restore to the root: %v, want ErrForbidden", err)
	}
	if _, ok := e.trashEntries(editor)[z.ID]; !ok {
		t.Errorf("z left the trash on a refused restore")
	}
	if r, err := e.store.Restore(ctx, editor, z.ID); err != nil || r.Note == "" {
		t.Errorf("the editor's restore of z = %+v, %v; want it at the root with a note", r, err)
	}
	e.assertConsistent()
}

// TestPurgeKeepsReferencedBlobs: a purge removes the blob only once no item,
// trashed or not, refers to it; fsck sees no orphan in between.
func TestPurgeKeepsReferencedBlobs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	data := content("shared", 2000)
	a, b := e.upload(editor, data, "a.bin"), e.upload(editor, data, "b.bin")
	for _, id := range []string{a.ID, b.ID} {
		if err := e.store.Delete(ctx, editor, id); err != nil {
			t.Fatal(err)
		}
	}
	if rep := e.fsck(media.FsckOptions{}); len(rep.Findings) != 0 {
		t.Errorf("fsck with trashed items: %v", kinds(rep))
	}
	if err := e.store.Purge(ctx, editor, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Purge(ctx, editor, a.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Purge = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(e.disk.BlobPath(a.SHA256)); err != nil {
		t.Errorf("blob still held by trashed b is gone: %v", err)
	}
	e.assertConsistent()
	if err := e.store.Purge(ctx, editor, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.disk.BlobPath(a.SHA256)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob after the last purge: %v", err)
	}
	if rows := e.blobRows(); len(rows) != 0 {
		t.Errorf("blob rows after the last purge: %v", rows)
	}
	var purges int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM access_log WHERE action IN ('trash', 'purge')`).Scan(&purges); err != nil || purges != 4 {
		t.Errorf("audit has %d trash and purge entries (%v), want 4", purges, err)
	}
	e.assertConsistent()
}

// TestTrashJanitor: PurgeExpired purges what was deleted more than the
// retention before the time it is given, and nothing younger.
func TestTrashJanitor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.store.SetTrashRetention(time.Hour)
	editor := e.user(acl.RoleEditor)
	old := e.upload(editor, content("old", 500), "old.bin")
	f := e.folder(editor, "Old", "")
	inF := e.uploadIn(editor, content("in-f", 500), "in.bin", f)
	young := e.upload(editor, content("young", 500), "young.bin")
	for _, id := range []string{old.ID, young.ID} {
		if err := e.store.Delete(ctx, editor, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.TrashFolder(ctx, editor, f); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE media SET deleted_at = deleted_at - interval '2 hours' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE folders SET deleted_at = deleted_at - interval '2 hours' WHERE id = $1`, f); err != nil {
		t.Fatal(err)
	}
	n, err := e.store.PurgeExpired(ctx, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired = %d, %v; want 2", n, err)
	}
	items := e.itemBlobs()
	for _, it := range []media.Item{old, inF} {
		if _, ok := items[it.ID]; ok {
			t.Errorf("%s survived the janitor", it.Filename)
		}
	}
	if _, ok := items[young.ID]; !ok {
		t.Errorf("the young entry was purged")
	}
	// An hour and a bit later it is due too.
	if n, err := e.store.PurgeExpired(ctx, time.Now().Add(61*time.Minute)); err != nil || n != 1 {
		t.Errorf("later PurgeExpired = %d, %v; want 1", n, err)
	}
	if rows := e.blobRows(); len(rows) != 0 {
		t.Errorf("blob rows after the janitor: %v", rows)
	}
	e.assertConsistent()
}

// TestTrashJanitorsConcurrent: two instances' janitors purging the same
// expired entries purge each once, between them, and leave the database and
// the disk in agreement.
func TestTrashJanitorsConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	shared := content("shared", 700)
	var entries int
	for i := range 30 {
		data := content("item"+string(rune('a'+i)), 300+i)
		if i%3 == 0 {
			data = shared
		}
		it := e.upload(editor, data, "x.bin")
		if err := e.store.Delete(ctx, editor, it.ID); err != nil {
			t.Fatal(err)
		}
		entries++
	}
	for i := range 4 {
		f := e.folder(editor, "F"+string(rune('a'+i)), "")
		e.uploadIn(editor, shared, "s.bin", f)
		e.uploadIn(editor, content("f"+string(rune('a'+i)), 100), "t.bin", f)
		if err := e.store.TrashFolder(ctx, editor, f); err != nil {
			t.Fatal(err)
		}
		entries++
	}
	kept := e.upload(editor, shared, "kept.bin")

	stores := []*media.Store{e.store, e.secondInstance()}
	counts := make([]int, len(stores))
	errList := make([]error, len(stores))
	var wg sync.WaitGroup
	later := time.Now().Add(media.DefaultTrashRetention + time.Minute)
	for i, s := range stores {
		wg.Go(func() { counts[i], errList[i] = s.PurgeExpired(ctx, later) })
	}
	wg.Wait()
	if err := errors.Join(errList...); err != nil {
		t.Fatal(err)
	}
	if counts[0]+counts[1] != entries {
		t.Errorf("janitors purged %v, want %d in all", counts, entries)
	}
	if got := e.itemBlobs(); len(got) != 1 || got[kept.ID] != kept.SHA256 {
		t.Errorf("items after the janitors: %v, want only %s", got, kept.ID)
	}
	if rows := e.blobRows(); !slices.Equal(rows, []string{kept.SHA256}) {
		t.Errorf("blob rows %v, want the kept item's", rows)
	}
	var audited int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM access_log WHERE action = 'purge'`).Scan(&audited); err != nil || audited != 38 {
		t.Errorf("%d purges audited (%v), want 38", audited, err)
	}
	e.assertConsistent()
}

// TestTrashPathsOutOfReach: the trash says where an entry was deleted from
// as FolderPaths says where an item is: the folders the caller may not see
// are one "…", in the listing and in a restore's note, and their names
// never reach the caller.
func TestTrashPathsOutOfReach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, other, admin := e.user(acl.RoleEditor), e.user(acl.RoleEditor), e.user(acl.RoleAdmin)
	secret := e.folder(owner, "Secret plans", "")
	inner := e.folder(owner, "Inner", secret)
	shared := e.folder(owner, "Shared", secret)
	x := e.uploadIn(owner, content("x", 100), "x.bin", inner)
	y := e.uploadIn(owner, content("y", 100), "y.bin", shared)
	e.grant(x.ID, other, acl.Manage)
	if _, err := e.pool.Exec(ctx, `INSERT INTO grants (folder_id, subject_type, subject_id, permission) VALUES ($1,'user',$2,$3)`,
		shared, other.UserID, int16(acl.Manage)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{x.ID, y.ID} {
		if err := e.store.Delete(ctx, other, id); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{x.ID: "…", y.ID: "…/Shared"}
	check := func(when string) {
		t.Helper()
		got := e.trashEntries(other)
		for id, path := range want {
			if got[id].FolderPath != path {
				t.Errorf("%s: the grantee's folder path of %s = %q, want %q", when, got[id].Name, got[id].FolderPath, path)
			}
		}
		for _, p := range []acl.Principal{owner, admin} {
			got := e.trashEntries(p)
			if got[x.ID].FolderPath != "Secret plans/Inner" || got[y.ID].FolderPath != "Secret plans/Shared" {
				t.Errorf("%s: %s's folder paths %q, %q", when, p.Role, got[x.ID].FolderPath, got[y.ID].FolderPath)
			}
		}
	}
	check("in their folders")
	if err := e.store.TrashFolder(ctx, owner, secret); err != nil {
		t.Fatal(err)
	}
	check("their folders in the trash too")
	r, err := e.store.Restore(ctx, other, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Note == "" || strings.Contains(r.Note, "Secret") || strings.Contains(r.Note, "Inner") {
		t.Errorf("the grantee's restore note %q: want one naming no folder out of their reach", r.Note)
	}
}

// waitLockWaiters polls until n backends of the test's database wait for a
// lock, or done is closed (what was to wait did not).
func (e *env) waitLockWaiters(n int, done <-chan struct{}) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			e.t.Fatal(err)
		}
		select {
		case <-done:
			return
		default:
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d backends wait for a lock, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMoveOutOfFolderBeingTrashed: a move decided just before the folder
// it leaves went to the trash either happens first or finds it in the
// trash; it never brings an item or folder out of the trash after the
// trash withdrew their published files (the database would say published,
// the public URL answer 404).
func TestMoveOutOfFolderBeingTrashed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	var root *string

	// An item: its move waits for its row, held here, after the decision;
	// meanwhile its folder goes to the trash.
	f1 := e.folder(editor, "Doomed 1", "")
	x := e.publish(editor, e.uploadIn(editor, content("x", 300), "x.bin", f1).ID)
	hold, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT 1 FROM media WHERE id = $1 FOR NO KEY UPDATE`, x.ID); err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	go func() {
		_, err := e.store.Update(ctx, editor, x.ID, media.Change{Folder: &root})
		moved <- err
	}()
	e.waitLockWaiters(1, nil)
	trashed := make(chan error, 1)
	go func() { trashed <- e.store.TrashFolder(ctx, editor, f1) }()
	e.waitLockWaiters(2, trashDone(trashed))
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkMove(t, e, editor, x, <-moved, <-trashed)

	// A folder: its move is decided while the trash of the folder above it
	// waits for the folder tree's lock, held here, and waits behind it.
	f2 := e.folder(editor, "Doomed 2", "")
	sub := e.folder(editor, "Sub", f2)
	y := e.publish(editor, e.uploadIn(editor, content("y", 300), "y.bin", sub).ID)
	hold, err = e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.folders', 0))`); err != nil {
		t.Fatal(err)
	}
	go func() { trashed <- e.store.TrashFolder(ctx, editor, f2) }()
	e.waitLockWaiters(1, nil)
	go func() {
		_, err := acl.NewDecider(e.pool).UpdateFolder(ctx, editor, sub, acl.FolderChange{Parent: &root})
		moved <- err
	}()
	e.waitLockWaiters(2, nil)
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	trashErr := <-trashed
	checkMove(t, e, editor, y, <-moved, trashErr)
	e.assertConsistent()
}

// trashDone is closed once the trash in c answered (and puts its answer back).
func trashDone(c chan error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		err := <-c
		close(done)
		c <- err
	}()
	return done
}

// checkMove checks what a move racing the trash left of it: moved out
// (live, its published file there), or refused as not found (in the trash).
func checkMove(t *testing.T, e *env, p acl.Principal, it media.Item, moveErr, trashErr error) {
	t.Helper()
	if trashErr != nil {
		t.Fatalf("trash the folder: %v", trashErr)
	}
	_, getErr := e.store.Get(context.Background(), p, it.ID)
	_, fileErr := os.Stat(e.disk.PublicPath(it.PublicName))
	switch {
	case moveErr == nil && (getErr != nil || fileErr != nil):
		t.Errorf("%s moved out: Get %v, its published file %v; want it live and published", it.Filename, getErr, fileErr)
	case moveErr != nil && !errors.Is(moveErr, errs.ErrNotFound):
		t.Errorf("%s's move = %v, want nil or ErrNotFound", it.Filename, moveErr)
	case moveErr != nil && getErr == nil:
		t.Errorf("%s's move refused but it is not in the trash", it.Filename)
	}
}

// TestTrashPages: the trash comes a page at a time, the most recently
// deleted first and by id among entries deleted at the same moment, items and
// folders interleaved; following the cursors lists every entry the caller
// manages exactly once, and nothing of anyone else's. A cursor of another
// kind or a broken one is refused.
func TestTrashPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	editor, other := e.user(acl.RoleEditor), e.user(acl.RoleEditor)
	var mine []string
	for i := range 5 {
		it := e.upload(editor, content(fmt.Sprint("page-", i), 100), fmt.Sprint(i, ".bin"))
		if err := e.store.Delete(ctx, editor, it.ID); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, it.ID)
	}
	for _, name := range []string{"A", "B", "C"} {
		f := e.folder(editor, name, "")
		if err := e.store.TrashFolder(ctx, editor, f); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, f)
	}
	theirs := e.upload(other, content("theirs", 100), "theirs.bin")
	if err := e.store.Delete(ctx, other, theirs.ID); err != nil {
		t.Fatal(err)
	}
	// Two items and a folder deleted at the same moment, the rest a second apart.
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, id := range mine {
		when := at.Add(-time.Duration(i) * time.Second)
		if i <= 2 || i == 6 {
			when = at
		}
		for _, table := range []string{"media", "folders"} {
			if _, err := e.pool.Exec(ctx, `UPDATE `+table+` SET deleted_at = $2 WHERE id = $1`, id, when); err != nil {
				t.Fatal(err)
			}
		}
	}

	var got []media.TrashEntry
	pages := 0
	for cursor := ""; ; pages++ {
		page, err := e.store.ListTrash(ctx, editor, media.TrashOptions{Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) > 3 || (page.Next != "" && len(page.Entries) != 3) {
			t.Fatalf("page %d: %d entries, next %q", pages, len(page.Entries), page.Next)
		}
		got = append(got, page.Entries...)
		if cursor = page.Next; cursor == "" {
			break
		}
		if pages > len(mine) {
			t.Fatal("the cursors never end")
		}
	}
	ids := make([]string, len(got))
	for i, en := range got {
		ids[i] = en.ID
	}
	if want := slices.Sorted(slices.Values(mine)); !slices.Equal(slices.Sorted(slices.Values(ids)), want) {
		t.Errorf("the pages listed %v, want each of %v once", ids, want)
	}
	if !slices.IsSortedFunc(got, func(a, b media.TrashEntry) int {
		if c := b.DeletedAt.Compare(a.DeletedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}) {
		t.Errorf("the pages are not newest first, then by id: %v", ids)
	}

	for _, bad := range []string{"x", base64.RawURLEncoding.EncodeToString([]byte("trash|yesterday|" + mine[0])),
		base64.RawURLEncoding.EncodeToString([]byte("2026-01-01T00:00:00Z|" + mine[0]))} {
		if _, err := e.store.ListTrash(ctx, editor, media.TrashOptions{Cursor: bad}); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
}

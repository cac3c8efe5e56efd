package acl_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// trash marks an item or a folder as the trash does (internal/media), with
// SQL; restore unmarks it. Both fire the tables' triggers.
func (f *fixture) trash(t *testing.T, table, id string) {
	t.Helper()
	if _, err := f.pool.Exec(ctxT(t), `UPDATE `+table+` SET deleted_at = now(), deleted_path = '' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) restore(t *testing.T, table, id string) {
	t.Helper()
	if _, err := f.pool.Exec(ctxT(t), `UPDATE `+table+` SET deleted_at = NULL, deleted_path = NULL WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

// TestTrashedDecisions: an item in the trash, and everything below a folder
// in the trash, is none for everybody, admins and owners included, and on
// every way the decision is asked (Level, FolderLevel, Children, share
// links); a restore gives every level back.
func TestTrashedDecisions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	viewer := f.user(t, "viewer@example.com", acl.RoleViewer)
	admin := f.user(t, "admin@example.com", acl.RoleAdmin)
	top := f.folder(t, "Top", "", owner.UserID)
	sub := f.folder(t, "Sub", top, owner.UserID)
	deep := f.itemIn(t, owner.UserID, sub)
	loose := f.item(t, owner.UserID)
	f.grant(t, deep, viewer, acl.View)
	f.grant(t, loose, viewer, acl.Edit)
	if _, err := f.pool.Exec(ctx, `INSERT INTO grants (folder_id, subject_type, subject_id, permission) VALUES ($1, 'user', $2, 2)`,
		top, viewer.UserID); err != nil {
		t.Fatal(err)
	}
	ls, hub := cachedLinks(t, f)
	// The links' decisions are cached: flush after each change, as the
	// writer on this instance does (the NOTIFY way is the next test's).
	trash := func(table, id string) { f.trash(t, table, id); hub.Changed(invalidate.All) }
	restore := func(table, id string) { f.restore(t, table, id); hub.Changed(invalidate.All) }
	_, itemToken := createLink(t, ls, owner, acl.LinkTarget{ID: deep}, acl.LinkOptions{})
	_, folderToken := createLink(t, ls, owner, acl.LinkTarget{Folder: true, ID: top}, acl.LinkOptions{})

	type want struct{ owner, viewer, admin acl.Level }
	check := func(what string, level func(acl.Principal) (acl.Level, error), w want) {
		t.Helper()
		for _, c := range []struct {
			p    acl.Principal
			want acl.Level
		}{{owner, w.owner}, {viewer, w.viewer}, {admin, w.admin}} {
			if got, err := level(c.p); err != nil || got != c.want {
				t.Errorf("%s for %s: %v, %v; want %v", what, c.p.Email, got, err, c.want)
			}
		}
	}
	itemLevel := func(id string) func(acl.Principal) (acl.Level, error) {
		return func(p acl.Principal) (acl.Level, error) { return f.d.Level(ctx, p, id) }
	}
	folderLevel := func(id string) func(acl.Principal) (acl.Level, error) {
		return func(p acl.Principal) (acl.Level, error) { return f.d.FolderLevel(ctx, p, id) }
	}
	links := func(wantOK bool) {
		t.Helper()
		_, _, err := ls.Item(ctx, itemToken, "", nil)
		if (err == nil) != wantOK || (err != nil && !errors.Is(err, errs.ErrNotFound)) {
			t.Errorf("item link: %v, want reachable %v", err, wantOK)
		}
		_, _, err = ls.Item(ctx, folderToken, deep, nil)
		if (err == nil) != wantOK || (err != nil && !errors.Is(err, errs.ErrNotFound)) {
			t.Errorf("folder link to the item: %v, want reachable %v", err, wantOK)
		}
	}
	live := func() {
		t.Helper()
		check("deep", itemLevel(deep), want{acl.Manage, acl.Edit, acl.Manage})
		check("sub", folderLevel(sub), want{acl.Manage, acl.Edit, acl.Manage})
		check("loose", itemLevel(loose), want{acl.Manage, acl.Edit, acl.Manage})
		links(true)
	}
	live()

	// The top folder in the trash: everything below is out of every decision.
	trash("folders", top)
	none := want{acl.None, acl.None, acl.None}
	check("deep, top in the trash", itemLevel(deep), none)
	check("sub, top in the trash", folderLevel(sub), none)
	check("top in the trash", folderLevel(top), none)
	check("loose, top in the trash", itemLevel(loose), want{acl.Manage, acl.Edit, acl.Manage})
	links(false)
	if _, err := ls.Open(ctx, folderToken, nil); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("folder link of a trashed folder: %v, want ErrNotFound", err)
	}
	for _, p := range []acl.Principal{owner, viewer, admin} {
		if kids, err := f.d.Children(ctx, p, nil); err != nil || len(kids) != 0 {
			t.Errorf("root folders for %s: %v, %v; want none", p.Email, kids, err)
		}
	}
	restore("folders", top)
	live()

	// An item in the trash on its own.
	trash("media", deep)
	check("deep in the trash", itemLevel(deep), none)
	check("sub, deep in the trash", folderLevel(sub), want{acl.Manage, acl.Edit, acl.Manage})
	links(false)
	restore("media", deep)
	live()
}

// TestTrashInvalidatesOtherInstances: a trash and a restore made on one
// instance reach another instance's decision cache by NOTIFY, as any other
// change to the access rules does.
func TestTrashInvalidatesOtherInstances(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com", acl.RoleEditor)
	top := f.folder(t, "Top", "", owner.UserID)
	item := f.itemIn(t, owner.UserID, top)
	cached := acl.NewDecider(f.pool).Cached(startHub(t, f.url))
	eventually := func(what string, want acl.Level) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			l, err := cached.Level(ctxT(t), owner, item)
			if err == nil && l == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the other instance's cache says %v (%v), want %v", what, l, err, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	eventually("before", acl.Manage) // now cached
	f.trash(t, "folders", top)
	eventually("folder trashed", acl.None)
	f.restore(t, "folders", top)
	eventually("folder restored", acl.Manage)
	f.trash(t, "media", item)
	eventually("item trashed", acl.None)
}

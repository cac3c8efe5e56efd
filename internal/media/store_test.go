package media_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor, admin, stranger, viewer := e.user(acl.RoleEditor), e.user(acl.RoleAdmin), e.user(acl.RoleEditor), e.user(acl.RoleViewer)
	video := sampleMP4(t)

	start := time.Now()
	it, err := e.store.Create(ctx, editor, e.receive(video), `C:\clips\Café clip.mp4`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !acl.ValidID(it.ID) {
		t.Errorf("ID %q is not a uuid", it.ID)
	}
	want := media.Item{
		ID: it.ID, Filename: "Café clip.mp4", SHA256: sha256Hex(video), Size: int64(len(video)),
		ContentType: "video/mp4", Extension: ".mp4", Owner: editor.Email, Permission: acl.Manage,
		CreatedAt: it.CreatedAt, StoredAt: it.StoredAt,
	}
	if !sameItem(it, want) {
		t.Errorf("Create returned\n%+v, want\n%+v", it, want)
	}
	for _, ts := range []time.Time{it.CreatedAt, it.StoredAt} {
		if ts.Before(start.Add(-time.Minute)) || ts.After(time.Now().Add(time.Minute)) {
			t.Errorf("timestamp %v is not about now (%v)", ts, start)
		}
	}
	if fi, err := os.Stat(e.disk.BlobPath(it.SHA256)); err != nil || fi.Size() != int64(len(video)) {
		t.Errorf("blob file: %v %v", fi, err)
	}

	got, err := e.store.Get(ctx, editor, it.ID)
	if err != nil || !sameItem(got, it) {
		t.Errorf("owner's Get = %+v, %v; want %+v", got, err, it)
	}
	got, err = e.store.Get(ctx, admin, it.ID)
	want.Permission = acl.Manage
	if err != nil || !sameItem(got, want) {
		t.Errorf("admin's Get = %+v, %v; want %+v", got, err, want)
	}
	for name, p := range map[string]acl.Principal{"another editor": stranger, "a viewer": viewer} {
		if got, err := e.store.Get(ctx, p, it.ID); !errors.Is(err, errs.ErrNotFound) || errors.Is(err, errs.ErrForbidden) {
			t.Errorf("%s's Get = %+v, %v; want ErrNotFound", name, got, err)
		}
	}
	e.grant(it.ID, viewer, acl.View)
	got, err = e.store.Get(ctx, viewer, it.ID)
	want.Permission = acl.View
	if err != nil || !sameItem(got, want) {
		t.Errorf("granted viewer's Get = %+v, %v; want %+v", got, err, want)
	}
	for _, id := range []string{"", "nope", "1", it.ID + "x", "' OR 1=1 --", "00000000-0000-0000-0000-000000000000", "AAAAAAAA-0000-0000-0000-000000000000"} {
		if _, err := e.store.Get(ctx, admin, id); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := e.store.Get(ctx, acl.Principal{}, it.ID); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("Get without a principal = %v, want ErrUnauthenticated", err)
	}

	// Once the owner is gone the item stays, ownerless.
	if _, err := e.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, editor.UserID); err != nil {
		t.Fatal(err)
	}
	got, err = e.store.Get(ctx, admin, it.ID)
	if err != nil || got.Owner != "" || got.ID != it.ID {
		t.Errorf("after the owner left: %+v, %v", got, err)
	}
	e.assertConsistent()
}

func TestCreateRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	viewer, editor := e.user(acl.RoleViewer), e.user(acl.RoleEditor)
	data := content("refused", 5000)
	for _, tt := range []struct {
		name     string
		p        acl.Principal
		filename string
		target   error
	}{
		{"viewer", viewer, "a.bin", errs.ErrForbidden},
		{"no role", acl.Principal{UserID: editor.UserID}, "a.bin", errs.ErrForbidden},
		{"empty name", editor, "", errs.ErrInvalid},
		{"dot-dot name", editor, "../..", errs.ErrInvalid},
	} {
		it, err := e.store.Create(ctx, tt.p, e.receive(data), tt.filename, nil)
		if !errors.Is(err, tt.target) {
			t.Errorf("%s: Create = %+v, %v; want %v", tt.name, it, err, tt.target)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if it, err := e.store.Create(cancelled, editor, e.receive(data), "a.bin", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a cancelled context = %+v, %v", it, err)
	}
	if rows := e.blobRows(); len(rows) != 0 {
		t.Errorf("refused uploads left blob rows %v", rows)
	}
	if n := len(e.itemBlobs()); n != 0 {
		t.Errorf("refused uploads left %d items", n)
	}
	// The temp files were consumed: nothing in tmp/, nothing in private/.
	e.assertConsistent()
}

func TestAdminCanUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.user(acl.RoleAdmin)
	it := e.upload(admin, content("admin", 100), "a.bin")
	if it.Owner != admin.Email || it.Permission != acl.Manage {
		t.Errorf("admin's item: %+v", it)
	}
}

func TestDedupAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor, other, viewer := e.user(acl.RoleEditor), e.user(acl.RoleEditor), e.user(acl.RoleViewer)
	data := sampleMP4(t)

	a := e.upload(editor, data, "first.mp4")
	time.Sleep(10 * time.Millisecond)
	b := e.upload(other, data, "second.mp4")
	if a.ID == b.ID {
		t.Fatal("two uploads gave one item")
	}
	if a.SHA256 != b.SHA256 || !a.StoredAt.Equal(b.StoredAt) {
		t.Errorf("same content, different blobs: %+v %+v", a, b)
	}
	if b.Filename != "second.mp4" || b.Owner != other.Email {
		t.Errorf("second item: %+v", b)
	}
	if files := blobFiles(t, e.disk, e.cfg); len(files) != 1 || files[0] != a.SHA256 {
		t.Errorf("blob files %v, want only %s", files, a.SHA256)
	}
	if rows := e.blobRows(); len(rows) != 1 {
		t.Errorf("blob rows %v, want one", rows)
	}
	e.assertConsistent()

	// Who may not delete.
	e.grant(a.ID, viewer, acl.Edit)
	if err := deleteNow(ctx, e.store, viewer, a.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("Delete with edit permission = %v, want ErrForbidden", err)
	}
	if err := deleteNow(ctx, e.store, other, a.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Delete by a stranger = %v, want ErrNotFound", err)
	}
	if err := deleteNow(ctx, e.store, editor, "not-an-id"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Delete of a malformed id = %v, want ErrNotFound", err)
	}
	if err := deleteNow(ctx, e.store, acl.Principal{}, a.ID); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("Delete without a principal = %v, want ErrUnauthenticated", err)
	}

	// Deleting one keeps the shared file.
	if err := deleteNow(ctx, e.store, editor, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, editor, a.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := deleteNow(ctx, e.store, editor, a.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(e.disk.BlobPath(a.SHA256)); err != nil {
		t.Errorf("the blob still used by %s is gone: %v", b.ID, err)
	}
	if got, err := e.store.Get(ctx, other, b.ID); err != nil || got.SHA256 != b.SHA256 {
		t.Errorf("remaining item: %+v, %v", got, err)
	}
	e.assertConsistent()

	// Deleting the last one (by an admin) removes file and row.
	admin := e.user(acl.RoleAdmin)
	if err := deleteNow(ctx, e.store, admin, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.disk.BlobPath(a.SHA256)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob file after the last Delete: %v", err)
	}
	if rows := e.blobRows(); len(rows) != 0 {
		t.Errorf("blob rows after the last Delete: %v", rows)
	}
	if names := dirNames(t, e.cfg.TrashDir()); len(names) != 0 {
		t.Errorf("trash after Delete: %v", names)
	}
	e.assertConsistent()

	// The same content again is stored afresh.
	c := e.upload(editor, data, "again.mp4")
	if c.StoredAt.Equal(a.StoredAt) {
		t.Errorf("re-upload kept the deleted blob's StoredAt %v", c.StoredAt)
	}
	e.assertConsistent()
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor, stranger, admin := e.user(acl.RoleEditor), e.user(acl.RoleViewer), e.user(acl.RoleAdmin)
	var created []media.Item
	for i := range 7 {
		// Two items share content, to show List is per item, not per blob.
		seed := "list" + string(rune('a'+i))
		if i == 6 {
			seed = "lista"
		}
		created = append(created, e.upload(editor, content(seed, 2000), seed+".bin"))
	}
	newestFirst := slices.Clone(created)
	slices.Reverse(newestFirst)

	ids := func(items []media.Item) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	walk := func(p acl.Principal, limit int) [][]string {
		t.Helper()
		var pages [][]string
		cursor := ""
		for range 20 {
			page, err := e.store.List(ctx, p, media.ListOptions{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatalf("List(%q): %v", cursor, err)
			}
			pages = append(pages, ids(page.Items))
			for _, it := range page.Items {
				if it.Permission < acl.View {
					t.Errorf("listed %s with permission %v", it.ID, it.Permission)
				}
			}
			if page.Next == "" {
				return pages
			}
			cursor = page.Next
		}
		t.Fatal("List never ended")
		return nil
	}

	pages := walk(editor, 3)
	if want := [][]string{ids(newestFirst[0:3]), ids(newestFirst[3:6]), ids(newestFirst[6:7])}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("editor's pages\n%v, want\n%v", pages, want)
	}
	page, err := e.store.List(ctx, editor, media.ListOptions{Cursor: "", Limit: 0})
	if err != nil || !slices.Equal(ids(page.Items), ids(newestFirst)) || page.Next != "" {
		t.Errorf("List with the default limit = %v, %q, %v", ids(page.Items), page.Next, err)
	}
	if !sameItem(page.Items[0], media.Item{
		ID: newestFirst[0].ID, Filename: newestFirst[0].Filename, SHA256: newestFirst[0].SHA256, Size: 2000,
		ContentType: newestFirst[0].ContentType, Extension: newestFirst[0].Extension, Owner: editor.Email,
		CreatedAt: newestFirst[0].CreatedAt, StoredAt: newestFirst[0].StoredAt, Permission: acl.Manage,
	}) {
		t.Errorf("listed item %+v differs from the created one %+v", page.Items[0], newestFirst[0])
	}
	if pages := walk(admin, 7); len(pages) != 1 || len(pages[0]) != 7 {
		t.Errorf("admin with limit 7: %v", pages)
	}

	// The stranger sees nothing, then exactly what is granted.
	page, err = e.store.List(ctx, stranger, media.ListOptions{Cursor: "", Limit: 3})
	if err != nil || len(page.Items) != 0 || page.Items == nil || page.Next != "" {
		t.Errorf("stranger's List = %+v, %v; want an empty, non-nil page", page, err)
	}
	e.grant(created[1].ID, stranger, acl.View)
	e.grant(created[4].ID, stranger, acl.Manage)
	e.grant(created[5].ID, stranger, acl.Edit)
	if pages, want := walk(stranger, 1), [][]string{{created[5].ID}, {created[4].ID}, {created[1].ID}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("stranger's pages %v, want %v", pages, want)
	}
	page, _ = e.store.List(ctx, stranger, media.ListOptions{Cursor: "", Limit: 10})
	if levels := []acl.Level{page.Items[0].Permission, page.Items[1].Permission, page.Items[2].Permission}; !slices.Equal(levels, []acl.Level{acl.Edit, acl.Manage, acl.View}) {
		t.Errorf("stranger's permissions %v", levels)
	}

	// Items made in one instant are ordered by id and still paged without
	// gaps or repeats.
	if _, err := e.pool.Exec(ctx, `UPDATE media SET created_at = '2024-01-02 03:04:05.123456+00'`); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 3, 6} {
		var seen []string
		for _, p := range walk(editor, limit) {
			seen = append(seen, p...)
		}
		want := ids(created)
		slices.Sort(want)
		slices.Reverse(want)
		if !slices.Equal(seen, want) {
			t.Errorf("limit %d over equal times: %v, want %v", limit, seen, want)
		}
	}

	if _, err := e.store.List(ctx, acl.Principal{}, media.ListOptions{Cursor: "", Limit: 3}); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("List without a principal = %v, want ErrUnauthenticated", err)
	}
}

func TestListLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor := e.user(acl.RoleEditor)
	it := e.upload(editor, content("many", 100), "many.bin")
	// 204 more items on the same blob, made directly: only List is tested.
	if _, err := e.pool.Exec(ctx, `INSERT INTO media (filename, blob, owner_id, created_at)
		SELECT 'f' || i, $1, $2, now() - i * interval '1 second' FROM generate_series(1, 204) AS i`,
		it.SHA256, editor.UserID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{{0, 50}, {-3, 50}, {1, 1}, {200, 200}, {201, 200}, {100000, 200}} {
		page, err := e.store.List(ctx, editor, media.ListOptions{Cursor: "", Limit: tt.limit})
		if err != nil || len(page.Items) != tt.want || page.Next == "" {
			t.Errorf("List(limit %d) = %d items, next %q, %v; want %d and a next page", tt.limit, len(page.Items), page.Next, err, tt.want)
		}
	}
	total := 0
	seen := map[string]bool{}
	for cursor := ""; ; {
		page, err := e.store.List(ctx, editor, media.ListOptions{Cursor: cursor, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Errorf("%s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		total += len(page.Items)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if total != 205 {
		t.Errorf("paged through %d items, want 205", total)
	}
}

func TestListMalformedCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	editor := e.user(acl.RoleEditor)
	enc := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{
		"!!!",
		"not base64 at all",
		enc([]byte("garbage")),
		enc([]byte("2024-01-02T03:04:05Z")),
		enc([]byte("2024-01-02T03:04:05Z|not-a-uuid")),
		enc([]byte("yesterday|00000000-0000-0000-0000-000000000000")),
		enc([]byte("2024-01-02T03:04:05Z|00000000-0000-0000-0000-000000000000'; DROP TABLE media; --")),
		base64.StdEncoding.EncodeToString([]byte("2024-01-02T03:04:05.5Z|00000000-0000-0000-0000-000000000000")), // padded
	} {
		if page, err := e.store.List(context.Background(), editor, media.ListOptions{Cursor: c, Limit: 3}); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("List(%q) = %+v, %v; want ErrInvalid", c, page, err)
		}
	}
	// What Go reads but PostgreSQL would refuse is malformed too, not a
	// database error (FuzzList found these).
	const id = "|00000000-0000-0000-0000-000000000000"
	for _, o := range []media.ListOptions{
		{Cursor: enc([]byte("0000-01-01T00:00:00Z" + id))},
		{Cursor: enc([]byte("oldest|0001-01-01T00:00:00+01:00" + id)), Sort: media.SortOldest}, // year 0 in UTC
		{Cursor: enc([]byte("name|a\x00b" + id)), Sort: media.SortName},
		{Cursor: enc([]byte("name|a\xffb" + id)), Sort: media.SortName},
		{Search: "a\x00"},
		{Search: "\x90"},
	} {
		if page, err := e.store.List(context.Background(), editor, o); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("List(%+v) = %+v, %v; want ErrInvalid", o, page, err)
		}
	}
	// A well-formed cursor from before everything is an empty page.
	c := enc([]byte("2000-01-01T00:00:00Z|00000000-0000-0000-0000-000000000000"))
	e.upload(editor, content("x", 10), "x")
	if page, err := e.store.List(context.Background(), editor, media.ListOptions{Cursor: c, Limit: 3}); err != nil || len(page.Items) != 0 {
		t.Errorf("List from year 2000 = %+v, %v", page, err)
	}
}

var publishedMP4 = regexp.MustCompile(`^[0-9a-f]{32}\.mp4$`)

func TestPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	editor, viewer, stranger := e.user(acl.RoleEditor), e.user(acl.RoleViewer), e.user(acl.RoleEditor)
	video := e.upload(editor, sampleMP4(t), "clip.mp4")
	page := e.upload(editor, []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), "page.mp4")

	// Only a manager may publish.
	e.grant(video.ID, viewer, acl.Edit)
	if _, err := e.store.Publish(ctx, viewer, video.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("Publish with edit permission = %v, want ErrForbidden", err)
	}
	if _, err := e.store.Publish(ctx, stranger, video.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Publish by a stranger = %v, want ErrNotFound", err)
	}
	if err := e.store.Unpublish(ctx, stranger, video.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Unpublish by a stranger = %v, want ErrNotFound", err)
	}
	if names := dirNames(t, e.cfg.PublicDir()); len(names) != 0 {
		t.Errorf("refused Publish left %v", names)
	}

	name, err := e.store.Publish(ctx, editor, video.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !publishedMP4.MatchString(name) {
		t.Errorf("public name %q is not 32 hex digits + .mp4", name)
	}
	pub, err := os.Stat(e.disk.PublicPath(name))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := os.Stat(e.disk.BlobPath(video.SHA256))
	if err != nil || !os.SameFile(pub, blob) {
		t.Errorf("public file is not a hard link of the blob (%v)", err)
	}
	if again, err := e.store.Publish(ctx, editor, video.ID); err != nil || again != name {
		t.Errorf("second Publish = %q, %v; want %q", again, err, name)
	}
	if names := dirNames(t, e.cfg.PublicDir()); !slices.Equal(names, []string{name}) {
		t.Errorf("public dir %v, want only %s", names, name)
	}
	if got, err := e.store.Get(ctx, editor, video.ID); err != nil || got.PublicName != name {
		t.Errorf("Get after Publish: PublicName %q, %v", got.PublicName, err)
	}
	got, err := e.store.ByPublicName(ctx, name)
	if err != nil || got.ID != video.ID || got.SHA256 != video.SHA256 || got.PublicName != name {
		t.Errorf("ByPublicName = %+v, %v", got, err)
	}
	e.assertConsistent()

	// Active content is published without an extension a browser would run.
	pageName, err := e.store.Publish(ctx, editor, page.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(pageName) {
		t.Errorf("HTML published as %q, want 32 hex digits and no extension", pageName)
	}
	if got, err := e.store.ByPublicName(ctx, pageName); err != nil || got.ID != page.ID {
		t.Errorf("ByPublicName(%q) = %+v, %v", pageName, got, err)
	}

	for _, bad := range []string{
		"", "x", "../private", name + "/", "/" + name, name[:31] + ".mp4", "0" + name,
		publishedUpper(name), name[:32] + ".MP4", name[:32] + ".mp4x1", name[:32] + ".", name + ".mp4",
		name[:32] + "/../" + name, name + "\x00", "%2e%2e%2f",
	} {
		if got, err := e.store.ByPublicName(ctx, bad); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("ByPublicName(%q) = %+v, %v; want ErrNotFound", bad, got, err)
		}
	}
	if _, err := e.store.ByPublicName(ctx, "0123456789abcdef0123456789abcdef.mp4"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName of an unused name = %v, want ErrNotFound", err)
	}

	if err := e.store.Unpublish(ctx, editor, video.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.disk.PublicPath(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("public file after Unpublish: %v", err)
	}
	if _, err := e.store.ByPublicName(ctx, name); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName after Unpublish = %v, want ErrNotFound", err)
	}
	if got, _ := e.store.Get(ctx, editor, video.ID); got.PublicName != "" {
		t.Errorf("PublicName after Unpublish = %q", got.PublicName)
	}
	if err := e.store.Unpublish(ctx, editor, video.ID); err != nil {
		t.Errorf("Unpublish of an unpublished item = %v", err)
	}
	if _, err := os.Stat(e.disk.BlobPath(video.SHA256)); err != nil {
		t.Errorf("Unpublish touched the blob: %v", err)
	}
	e.assertConsistent()

	// Publishing again brings the same URL back.
	if again, err := e.store.Publish(ctx, editor, video.ID); err != nil || again != name {
		t.Errorf("republish = %q, %v; want the old name %q", again, err, name)
	}
	if got, err := e.store.ByPublicName(ctx, name); err != nil || got.ID != video.ID {
		t.Errorf("ByPublicName after republish = %+v, %v", got, err)
	}
	if _, err := os.Stat(e.disk.PublicPath(name)); err != nil {
		t.Errorf("public file after republish: %v", err)
	}
	e.assertConsistent()

	// A new URL replaces the old one for good, published or withdrawn; the
	// new name is random too.
	if _, err := e.store.PublishNewURL(ctx, viewer, video.ID); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("PublishNewURL with edit permission = %v, want ErrForbidden", err)
	}
	name2, err := e.store.PublishNewURL(ctx, editor, video.ID)
	if err != nil || name2 == name || !publishedMP4.MatchString(name2) {
		t.Errorf("PublishNewURL = %q, %v (old %q)", name2, err, name)
	}
	if names := dirNames(t, e.cfg.PublicDir()); !slices.Contains(names, name2) || slices.Contains(names, name) {
		t.Errorf("public dir after PublishNewURL %v: want %s and not %s", names, name2, name)
	}
	if _, err := e.store.ByPublicName(ctx, name); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName of the replaced name = %v, want ErrNotFound", err)
	}
	if err := e.store.Unpublish(ctx, editor, video.ID); err != nil {
		t.Fatal(err)
	}
	name3, err := e.store.PublishNewURL(ctx, editor, video.ID)
	if err != nil || name3 == name2 || name3 == name {
		t.Errorf("PublishNewURL of a withdrawn item = %q, %v (old %q, %q)", name3, err, name2, name)
	}
	if again, err := e.store.Publish(ctx, editor, video.ID); err != nil || again != name3 {
		t.Errorf("Publish after PublishNewURL = %q, %v; want %q", again, err, name3)
	}
	if _, err := e.store.ByPublicName(ctx, name2); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName of the withdrawn, replaced name = %v, want ErrNotFound", err)
	}
	e.assertConsistent()
	name2 = name3
	// Deleting a published item takes its link down.
	if err := deleteNow(ctx, e.store, editor, video.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.disk.PublicPath(name2)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("public file after Delete: %v", err)
	}
	if _, err := e.store.ByPublicName(ctx, name2); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("ByPublicName after Delete = %v, want ErrNotFound", err)
	}
	e.assertConsistent()

	// A Publish that cannot link commits nothing.
	lost := e.upload(editor, content("lost", 100), "lost.bin")
	blobPath := e.disk.BlobPath(lost.SHA256)
	if err := os.Rename(blobPath, blobPath+".away"); err != nil {
		t.Fatal(err)
	}
	if name, err := e.store.Publish(ctx, editor, lost.ID); err == nil {
		t.Errorf("Publish without a blob file = %q, nil; want an error", name)
	}
	if got, err := e.store.Get(ctx, editor, lost.ID); err != nil || got.PublicName != "" {
		t.Errorf("after a failed Publish: PublicName %q, %v", got.PublicName, err)
	}
	if err := os.Rename(blobPath+".away", blobPath); err != nil {
		t.Fatal(err)
	}
	e.assertConsistent()
}

func publishedUpper(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
			return string(b)
		}
	}
	return "A" + name[1:]
}

// sameItem compares items field by field, times by instant.
func sameItem(a, b media.Item) bool {
	ta, tb := a, b
	ta.CreatedAt, ta.StoredAt, tb.CreatedAt, tb.StoredAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.CreatedAt.Equal(b.CreatedAt) && a.StoredAt.Equal(b.StoredAt)
}

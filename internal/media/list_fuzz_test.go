package media_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
	"github.com/mediagate/mediagate/internal/testdb"
)

// FuzzList lists with any cursor and search text, in each order and with
// each type filter, against real PostgreSQL. A cursor or search the client
// made up is either read or refused as invalid (a 400), never an error of
// the database (a 500); a cursor List made itself always reads back, and
// the next page goes on from it, repeating nothing; asked for, every item
// has its folder's path.
func FuzzList(f *testing.F) {
	enc := func(s string) []byte { return []byte(s) }
	const id = "|00000000-0000-0000-0000-000000000000"
	for _, s := range []struct {
		sort    uint8
		cursor  []byte
		encoded bool
		search  string
	}{
		{0, nil, true, ""},
		{0, enc("2024-01-02T03:04:05Z" + id), true, ""},
		{0, enc("2024-01-02T03:04:05.123456789+02:00" + id), true, "a"},
		{1, enc("oldest|2000-01-01T00:00:00Z" + id), true, ""},
		{2, enc("name|b.mp4" + id), true, "mp4"},
		{2, enc("name|a|b" + id), true, "|"},
		{3, enc("size|100" + id), true, "%"},
		{3, enc("size|-1" + id), true, "_"},
		{1, enc("newest|2024-01-02T03:04:05Z" + id), true, ""},
		{0, enc("2024-01-02T03:04:05Z|not-a-uuid"), true, `\`},
		{0, enc("!!!"), false, "Ä"},
		{2, enc("name|" + id), true, ""},
	} {
		f.Add(s.sort, s.cursor, s.encoded, s.search, uint8(1))
	}

	pool, _ := testdb.New(f)
	cfg := newConfig(f)
	disk := openDisk(f, cfg)
	store := media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: 1 << 20}, acl.NewDecider(pool), discardLog)
	ctx := context.Background()
	u, err := session.NewUsers(pool).Create(ctx, "lister@example.com", acl.RoleEditor, "password123")
	if err != nil {
		f.Fatal(err)
	}
	p := u.Principal()
	folder, err := acl.NewDecider(pool).CreateFolder(ctx, p, "Ä F", nil)
	if err != nil {
		f.Fatal(err)
	}
	for i, name := range []string{"b.mp4", "A.mp4", "a|b.txt", "Ä 日本.mov"} {
		rec, err := disk.Receive(bytes.NewReader(content(name, 10+i*7)), 1<<20)
		if err != nil {
			f.Fatal(err)
		}
		var in *string
		if i%2 == 1 {
			in = &folder.ID
		}
		if _, err := store.Create(ctx, p, rec, name, in); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, sort uint8, cursor []byte, encoded bool, search string, limit uint8) {
		// limit's upper bits pick a type filter too (none, or one of Types).
		types := append([]string{""}, media.Types...)
		o := media.ListOptions{Sort: media.Sorts[int(sort)%len(media.Sorts)], Search: search, Limit: 1 + int(limit)%3,
			Type: types[int(limit)/3%len(types)], Paths: limit%2 == 0}
		o.Cursor = string(cursor)
		if encoded {
			o.Cursor = base64.RawURLEncoding.EncodeToString(cursor)
		}
		page, err := store.List(ctx, p, o)
		if err != nil {
			if !errors.Is(err, errs.ErrInvalid) {
				t.Fatalf("List(%+v): %v, want a page or ErrInvalid", o, err)
			}
			return
		}
		for seen := page.Items; page.Next != ""; seen = append(seen, page.Items...) {
			o.Cursor = page.Next
			if page, err = store.List(ctx, p, o); err != nil {
				t.Fatalf("List with its own cursor %q: %v", o.Cursor, err)
			}
			for _, it := range page.Items {
				if want := map[bool]string{true: "Ä F", false: ""}[it.Folder != nil]; o.Paths && (it.Path == nil || it.Path.Path != want) {
					t.Fatalf("List(%+v): %q has path %+v, want %q", o, it.Filename, it.Path, want)
				}
				if slices.ContainsFunc(seen, func(s media.Item) bool { return s.ID == it.ID }) {
					t.Fatalf("List(%+v) repeats %s (%q)", o, it.ID, it.Filename)
				}
			}
		}
	})
}
